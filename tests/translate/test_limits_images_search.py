"""E36 (max_tokens clamp, tiny max_tokens cut back), E8 (images for text-only models) and E41
(web search: the web plugin, and url_citation annotations -> server_tool_use +
web_search_tool_result), pure: dicts in, events out, every stream grammar-checked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from anthropic_proxy.translate.limits import is_output_limit_error, limit_output
from anthropic_proxy.translate.messages import IMAGE_OMITTED
from anthropic_proxy.translate.request import Target, anthropic_to_openai_request
from anthropic_proxy.translate.response import openai_to_anthropic_message
from anthropic_proxy.translate.stream import StreamContext, anthropic_events
from anthropic_proxy.translate.tokens import count_text
from tests.translate.grammar import check_grammar, summary

USER = [{"role": "user", "content": "hi"}]
IMG = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}}
LONG = "Hello there, this is a much longer answer than the client asked for."
SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 8}


def translate(body: dict[str, Any], **target: Any) -> Any:
    full = {"model": "claude-sonnet-4-6", "max_tokens": 1024, "messages": USER, **body}
    return anthropic_to_openai_request(full, Target(model="vendor/m", **target))


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "gen-1",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


USAGE = {"prompt_tokens": 50, "completion_tokens": 16, "cost": 0.0002}


async def events(chunks: list[dict[str, Any]], ctx: StreamContext) -> list[tuple[str, Any]]:
    async def source() -> AsyncIterator[dict[str, Any]]:
        for c in chunks:
            yield c

    out = [e async for e in anthropic_events(source(), ctx)]
    check_grammar(out)
    return out


# -- E36: clamp to the model's output limit


def test_max_tokens_clamped_to_the_models_output_limit() -> None:
    out = translate({"max_tokens": 64000}, max_output=8192)
    assert out.body["max_tokens"] == 8192 and out.output_limit is None
    assert "clamped max_tokens 64000 -> 8192 (the model's output limit)" in out.changes


def test_max_tokens_untouched_within_the_limit_or_when_the_limit_is_unknown() -> None:
    assert translate({"max_tokens": 4000}, max_output=8192).body["max_tokens"] == 4000
    unknown = translate({"max_tokens": 64000})
    assert unknown.body["max_tokens"] == 64000 and not unknown.changes
    openai = translate(
        {"max_tokens": 9000}, max_output=4096, max_tokens_key="max_completion_tokens"
    )
    assert openai.body["max_completion_tokens"] == 4096 and "max_tokens" not in openai.body


# -- E36: the max_tokens 1 probe


def test_tiny_max_tokens_is_raised_and_remembered() -> None:
    out = translate({"max_tokens": 1})
    assert out.body["max_tokens"] == 16 and out.output_limit == 1
    assert any("max_tokens 1 -> 16" in c and "cut back to 1" in c for c in out.changes)
    assert translate({"max_tokens": 16}).output_limit is None


async def test_reply_to_a_raised_max_tokens_is_cut_back_to_the_request() -> None:
    ctx = StreamContext(model="m", message_id="msg_1", output_limit=1)
    chunks = [chunk({"content": LONG[:20]}), chunk({"content": LONG[20:]}), chunk({}, "stop")]
    out = await events([*chunks, {"choices": [], "usage": USAGE}], ctx)
    text = "".join(d["delta"]["text"] for n, d in out if n == "content_block_delta")
    assert text and count_text(text) == 1 and LONG.startswith(text)
    delta = next(d for n, d in out if n == "message_delta")
    assert delta["delta"]["stop_reason"] == "max_tokens" and delta["usage"]["output_tokens"] == 1


async def test_a_reply_that_fits_keeps_its_stop_reason() -> None:
    ctx = StreamContext(model="m", message_id="msg_1", output_limit=5)
    out = await events([chunk({"content": "Hi"}, "stop")], ctx)
    assert summary(out) == ["start text", "text Hi", "stop", "end end_turn"]


async def test_tool_calls_past_the_budget_are_dropped_and_reasoning_never_shown() -> None:
    ctx = StreamContext(model="m", message_id="msg_1", output_limit=2, thinking=True)
    call = {"index": 0, "id": "c1", "function": {"name": "Read", "arguments": "{}"}}
    chunks = [
        chunk({"reasoning": "let me think"}),
        chunk({"content": LONG}),
        chunk({"tool_calls": [call]}, "tool_calls"),
    ]
    out = await events(chunks, ctx)
    assert summary(out)[0] == "start text" and summary(out)[-1] == "end max_tokens"
    assert not any(
        n == "content_block_start" and d["content_block"]["type"] != "text" for n, d in out
    )


async def test_non_stream_reply_is_cut_back_too() -> None:
    ctx = StreamContext(model="m", message_id="msg_1", output_limit=1)
    reply = {"choices": [{"message": {"content": LONG}, "finish_reason": "stop"}], "usage": USAGE}
    message = await openai_to_anthropic_message(reply, ctx)
    assert message["stop_reason"] == "max_tokens" and message["usage"]["output_tokens"] == 1
    assert count_text(message["content"][0]["text"]) == 1


async def test_usage_limiter_leaves_cost_alone() -> None:
    async def one() -> AsyncIterator[dict[str, Any]]:
        yield {"choices": [], "usage": USAGE}

    [limited] = [c async for c in limit_output(one(), 1)]
    assert limited["usage"] == {**USAGE, "completion_tokens": 1}


def test_output_limit_errors_are_recognised() -> None:
    def body(message: str, error_type: str = "invalid_request") -> bytes:
        meta = {"error_type": error_type}
        return orjson.dumps({"error": {"code": 400, "message": message, "metadata": meta}})

    assert is_output_limit_error(
        body("Could not finish the message because max_tokens was reached")
    )
    assert is_output_limit_error(body("too small", "max_tokens_exceeded"))
    assert is_output_limit_error(body("max_completion_tokens must be >= 16"))
    assert not is_output_limit_error(body("model not found"))
    assert not is_output_limit_error(b"<html>")


# -- E8: images for text-only models


def test_images_become_text_for_models_without_image_input() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "look"}, IMG]},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "Shot", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "content": [{"type": "text", "text": "done"}, IMG],
                }
            ],
        },
    ]
    out = translate({"messages": messages}, images=False)
    sent = orjson.dumps(out.body).decode()
    assert "image_url" not in sent and "iVBOR" not in sent
    assert out.body["messages"][0]["content"] == f"look\n\n{IMAGE_OMITTED}"
    tool = out.body["messages"][2]
    assert tool["role"] == "tool" and tool["content"] == f"done\n{IMAGE_OMITTED}"
    assert len(out.body["messages"]) == 3  # no user message left for the tool result's image
    assert any("does not accept images" in c for c in out.changes)


def test_images_kept_for_models_that_take_them() -> None:
    out = translate({"messages": [{"role": "user", "content": [IMG]}]})
    assert out.body["messages"][0]["content"][0]["type"] == "image_url" and not out.changes


# -- E41: web search


def test_web_search_tool_becomes_the_web_plugin_with_the_query() -> None:
    ask = [{"role": "user", "content": "Perform a web search for the query: aiohttp 4 release"}]
    newer = {**SEARCH, "type": "web_search_20260209"}
    out = translate({"messages": ask, "tools": [newer]})
    assert out.body["plugins"] == [{"id": "web", "max_results": 8}]
    assert out.web_search == "aiohttp 4 release"
    plain = translate({"tools": [SEARCH]})
    assert plain.web_search == "hi"
    assert translate({}).web_search is None
    assert translate({"tools": [SEARCH]}, openrouter=False).web_search is None


CITES = [
    {"type": "url_citation", "url_citation": {"url": "https://a.example/1", "title": "One", "start_index": 0, "end_index": 4}},
    {"type": "url_citation", "url_citation": {"url": "https://b.example/2", "title": "", "content": "snippet"}},
]  # fmt: skip


async def test_stream_annotations_become_search_blocks_grammatically() -> None:
    ctx = StreamContext(model="m", message_id="msg_ws", web_search="aiohttp")
    chunks = [
        chunk({"content": "Found "}),
        chunk({"content": "it.", "annotations": CITES}),
        chunk({"annotations": CITES[:1]}, "stop"),  # repeated citations: no second search
        {"choices": [], "usage": USAGE},
    ]
    out = await events(chunks, ctx)
    assert summary(out) == [
        "start text", "text Found ", "stop",
        "start server_tool_use web_search", 'json {"query":"aiohttp"}', "stop",
        "start web_search_tool_result", "stop",
        "start text", "text it.", "stop",
        "end end_turn",
    ]  # fmt: skip
    starts = [d["content_block"] for n, d in out if n == "content_block_start"]
    call, result = starts[1], starts[2]
    assert call["id"].startswith("srvtoolu_") and result["tool_use_id"] == call["id"]
    assert result["content"] == [
        {"type": "web_search_result", "url": "https://a.example/1", "title": "One", "encrypted_content": "", "page_age": None},
        {"type": "web_search_result", "url": "https://b.example/2", "title": "https://b.example/2", "encrypted_content": "", "page_age": None},
    ]  # fmt: skip
    usage = next(d for n, d in out if n == "message_delta")["usage"]
    assert usage["server_tool_use"] == {"web_search_requests": 1}


async def test_non_stream_annotations_put_the_search_before_the_text() -> None:
    ctx = StreamContext(model="m", message_id="msg_ws", web_search="aiohttp")
    message = {"role": "assistant", "content": "Found it.", "annotations": CITES}
    usage = {**USAGE, "server_tool_use_details": {"web_search_requests": 2}}
    reply = {"choices": [{"message": message, "finish_reason": "stop"}], "usage": usage}
    out = await openai_to_anthropic_message(reply, ctx)
    assert [b["type"] for b in out["content"]] == [
        "server_tool_use",
        "web_search_tool_result",
        "text",
    ]
    assert (
        out["content"][0]["input"] == {"query": "aiohttp"}
        and out["content"][0]["name"] == "web_search"
    )
    assert out["content"][2]["text"] == "Found it."
    assert out["usage"]["server_tool_use"] == {"web_search_requests": 2}  # the backend's own count


async def test_annotations_ignored_without_a_web_search_request_or_citations() -> None:
    plain = StreamContext(model="m", message_id="msg_1")
    out = await events([chunk({"content": "x", "annotations": CITES}, "stop")], plain)
    assert summary(out) == ["start text", "text x", "stop", "end end_turn"]
    searching = StreamContext(model="m", message_id="msg_1", web_search="q")
    out = await events(
        [chunk({"content": "x", "annotations": [{"type": "file"}]}, "stop")], searching
    )
    assert summary(out) == ["start text", "text x", "stop", "end end_turn"]
    assert "server_tool_use" not in next(d for n, d in out if n == "message_delta")["usage"]


async def test_usage_callback_sees_the_upstream_usage() -> None:
    seen: list[dict[str, Any]] = []
    ctx = StreamContext(model="m", message_id="msg_1", on_usage=seen.append)
    await events([chunk({"content": "x"}, "stop"), {"choices": [], "usage": USAGE}], ctx)
    assert seen == [USAGE]
