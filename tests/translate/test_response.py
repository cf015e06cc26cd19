"""Non-stream replies, errors, usage, models and token estimates."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import pytest

from anthropic_proxy.translate.errors import upstream_http_error
from anthropic_proxy.translate.models import (
    ModelMapping,
    ModelRule,
    normalise,
    published_models,
    resolve,
)
from anthropic_proxy.translate.response import UpstreamFailure, openai_to_anthropic_message
from anthropic_proxy.translate.stream import StreamContext
from anthropic_proxy.translate.tokens import count_text, estimate_input_tokens, image_size
from anthropic_proxy.translate.usage import openai_to_anthropic_usage

CTX = StreamContext(model="claude-haiku-4-5-20251001", message_id="msg_r1")


def reply(message: dict[str, Any], finish: str | None = "stop", **extra: Any) -> dict[str, Any]:
    usage = {
        "prompt_tokens": 30,
        "completion_tokens": 9,
        "prompt_tokens_details": {"cached_tokens": 10},
    }
    return {
        "id": "gen-1",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, **extra}],
        "usage": usage,
    }


async def test_non_stream_thinking_text_and_tool_use_in_anthropic_order() -> None:
    message = {
        "role": "assistant",
        "content": "I'll read it.",
        "reasoning": "need file",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "Read", "arguments": '{"file_path": "a.py"}'},
            }
        ],
    }
    out = await openai_to_anthropic_message(reply(message, "tool_calls"), CTX)
    assert [b["type"] for b in out["content"]] == ["thinking", "text", "tool_use"]
    assert out["content"][0]["thinking"] == "need file" and out["content"][0][
        "signature"
    ].startswith("orp1:")
    assert out["content"][2]["input"] == {"file_path": "a.py"} and out["content"][2][
        "id"
    ].startswith("toolu_")
    assert out["model"] == "claude-haiku-4-5-20251001" and out["id"] == "msg_r1"
    assert out["stop_reason"] == "tool_use" and out["stop_sequence"] is None
    assert out["usage"] == {
        "input_tokens": 20,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 10,
        "output_tokens": 9,
    }


async def test_non_stream_tool_only_reply_has_no_empty_text_block() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c", "function": {"name": "Ls", "arguments": ""}}],
    }
    out = await openai_to_anthropic_message(reply(message, "tool_calls"), CTX)
    assert out["content"] == [{"type": "tool_use", "id": "toolu_r100", "name": "Ls", "input": {}}]


async def test_e44_error_with_partial_content_is_an_error() -> None:
    failed = reply({"content": "half"}, "error", error={"code": 502, "message": "provider died"})
    with pytest.raises(UpstreamFailure) as caught:
        await openai_to_anthropic_message(failed, CTX)
    assert caught.value.error_type == "api_error" and "provider died" in caught.value.message


async def test_200_body_with_an_error_object() -> None:
    with pytest.raises(UpstreamFailure) as caught:
        await openai_to_anthropic_message({"error": {"code": 429, "message": "slow"}}, CTX)
    assert caught.value.error_type == "rate_limit_error"


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        pytest.param(
            429,
            {
                "error": {
                    "code": 429,
                    "message": "Rate limited",
                    "metadata": {"error_type": "rate_limit_exceeded"},
                }
            },
            {"Retry-After": "7"},
            (429, "rate_limit_error", {"retry-after": "7", "retry-after-ms": "7000"}),
            id="429-retry-after",
        ),
        pytest.param(
            503,
            {"error": {"code": 503, "message": "No provider"}},
            {},
            (529, "overloaded_error", {}),
            id="503",
        ),
        pytest.param(
            502,
            {
                "error": {
                    "code": 502,
                    "message": "down",
                    "metadata": {"error_type": "provider_unavailable"},
                }
            },
            {},
            (500, "api_error", {}),
            id="502",
        ),
        pytest.param(
            402,
            {"error": {"code": 402, "message": "credits"}},
            {},
            (402, "billing_error", {"x-should-retry": "false"}),
            id="402",
        ),
        pytest.param(
            401,
            {"error": {"code": 401, "message": "bad key"}},
            {},
            (401, "authentication_error", {"x-should-retry": "false"}),
            id="401",
        ),
        pytest.param(
            404, {"error": {"message": "no model"}}, {}, (404, "not_found_error", {}), id="404"
        ),
        pytest.param(408, b"timeout", {}, (504, "timeout_error", {}), id="408-text-body"),
        pytest.param(
            422, {"error": {"message": "bad"}}, {}, (400, "invalid_request_error", {}), id="422"
        ),
        pytest.param(
            413, {"error": {"message": "big"}}, {}, (413, "request_too_large", {}), id="413"
        ),
    ],
)
def test_upstream_http_errors(
    status: int, body: Any, headers: dict[str, str], expected: tuple[int, str, dict[str, str]]
) -> None:
    raw = body if isinstance(body, bytes) else __import__("orjson").dumps(body)
    error = upstream_http_error(status, raw, headers)
    assert (error.status, error.error_type, error.headers) == expected
    assert error.body("req_1")["error"]["message"]


def test_context_overflow_uses_the_wording_claude_code_compacts_on() -> None:
    body = b'{"error":{"code":400,"message":"This endpoint\'s maximum context length is 200000 tokens. However, you requested about 250123 tokens.","metadata":{"error_type":"context_length_exceeded"}}}'
    error = upstream_http_error(400, body, {})
    assert (error.status, error.message) == (
        400,
        "prompt is too long: 250123 tokens > 200000 maximum",
    )


def test_usage_variants() -> None:
    assert openai_to_anthropic_usage({"prompt_tokens": 100, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 60, "cache_creation_tokens": 30}, "completion_tokens_details": {"reasoning_tokens": 2}}) == {
        "input_tokens": 10, "cache_creation_input_tokens": 30, "cache_read_input_tokens": 60, "output_tokens": 5, "output_tokens_details": {"thinking_tokens": 2},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ("claude-sonnet-4-6", "s"),
        ("claude-opus-4-6[1m]", "o"),
        ("claude-haiku-4-5-20251001", "h"),
        ("claude-3-5-haiku-latest", "h"),
        ("claude-fable-1", "f"),
        ("some-unknown", "d"),
        ("z-ai/glm-4.6", "z-ai/glm-4.6"),
        ("", "d"),
    ],
)
def test_model_mapping(requested: str, expected: str) -> None:
    mapping = ModelMapping(
        {"sonnet": "s", "opus": "o", "haiku": "h"}, (ModelRule("claude-fable*", "f"),), "d"
    )
    assert resolve(requested, mapping) == expected


def test_normalise_and_published_ids() -> None:
    assert normalise("Claude-Opus-4-6[1m]") == "claude-opus-4-6"
    ids = [m["id"] for m in published_models(ModelMapping({"sonnet": "s", "glm": "z-ai/glm"}))]
    assert ids == ["claude-sonnet-4-6", "claude-glm"]


def _png(width: int, height: int) -> str:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + chunk).decode()


def test_image_sizes_from_headers() -> None:
    assert image_size(base64.b64decode(_png(640, 480))) == (640, 480)
    assert image_size(b"GIF89a" + struct.pack("<HH", 10, 20)) == (10, 20)
    jpeg = (
        b"\xff\xd8"
        + b"\xff\xe0"
        + struct.pack(">H", 4)
        + b"JF"
        + b"\xff\xc0"
        + struct.pack(">HBHH", 17, 8, 300, 400)
    )
    assert image_size(jpeg) == (400, 300)


def test_token_estimate_counts_everything_and_errs_high() -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 20
    plain = estimate_input_tokens({"messages": [{"role": "user", "content": text}]})
    assert plain >= count_text(text) * 1.2
    richer = estimate_input_tokens(
        {
            "system": [{"type": "text", "text": text}],
            "tools": [{"name": "Bash", "description": text, "input_schema": {"type": "object"}}],
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": text},
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/png",
                                "data": _png(750, 750),
                            },
                        },
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": "t", "name": "Bash", "input": {"command": text}}
                    ],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t", "content": text}],
                },
            ],
        }
    )
    assert richer > 5 * plain - 100
    assert (
        estimate_input_tokens(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image", "source": {"type": "url", "url": "x"}}],
                    }
                ]
            }
        )
        >= 1600
    )
