"""End to end: the official Anthropic SDK -> the real proxy (translation mode) -> a fake
OpenAI-compatible backend replaying OpenRouter-shaped streams. The SDK's accumulated message
must be exactly what Anthropic would have sent, and every raw stream must be grammatical."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import anthropic
import pytest

from tests.conftest import RunningProxy
from tests.fakes.openai_upstream import (
    FakeOpenAI,
    JSONReply,
    Reset,
    StreamReply,
    completion,
    completion_chunks,
    cut_multibyte,
    data,
    mid_stream_error,
    openai_error,
    tool_call,
)
from tests.translate.grammar import check_grammar, parse_sse
from tests.translated.conftest import BACKEND_KEY

USER = [{"role": "user", "content": "hi"}]
WEATHER = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


async def raw_stream(proxy: RunningProxy, body: dict[str, Any]) -> tuple[int, bytes]:
    """POST a streaming request without the SDK; the body as the client received it."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{proxy.url}/v1/messages",
            json=body,
            headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
        ) as response,
    ):
        return response.status, await response.read()


def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    return data(
        {
            "id": "gen-x",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )


async def test_non_stream_text_echoes_the_requested_model(
    client: anthropic.AsyncAnthropic, oai: FakeOpenAI
) -> None:
    oai.enqueue(
        completion("Hello there", prompt_tokens=120, completion_tokens=4, cached_tokens=100)
    )
    message = await client.messages.create(
        model="claude-sonnet-4-6", max_tokens=1000, messages=USER
    )  # type: ignore[arg-type]
    assert [b.type for b in message.content] == ["text"] and message.content[
        0
    ].text == "Hello there"  # type: ignore[union-attr]
    assert message.model == "claude-sonnet-4-6" and message.id.startswith("msg_")
    assert message.stop_reason == "end_turn"
    assert (
        message.usage.input_tokens,
        message.usage.cache_read_input_tokens,
        message.usage.output_tokens,
    ) == (20, 100, 4)
    sent = oai.requests_to("/v1/chat/completions")[-1]
    assert sent.json()["model"] == "anthropic/claude-sonnet-4.6"
    assert sent.headers["authorization"] == f"Bearer {BACKEND_KEY}"
    assert sent.headers["http-referer"] and sent.headers["x-title"]


async def test_stream_thinking_text_and_tool_use_accumulate_exactly(
    client: anthropic.AsyncAnthropic, oai: FakeOpenAI
) -> None:
    oai.enqueue(
        completion(
            "Checking.",
            reasoning="The user wants weather",
            tool_calls=[tool_call("get_weather", {"city": "Paris"})],
            cached_tokens=30,
        )
    )
    async with client.messages.stream(
        model="claude-opus-4-1",
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        tools=[WEATHER],  # type: ignore[list-item]
        messages=USER,  # type: ignore[arg-type]
    ) as stream:
        message = await stream.get_final_message()
    kinds = [b.type for b in message.content]
    assert kinds == ["thinking", "text", "tool_use"]
    thinking, text, tool = message.content
    assert thinking.thinking == "The user wants weather" and thinking.signature.startswith("orp1:")  # type: ignore[union-attr]
    assert text.text == "Checking."  # type: ignore[union-attr]
    assert tool.name == "get_weather" and tool.input == {"city": "Paris"}  # type: ignore[union-attr]
    assert message.stop_reason == "tool_use" and message.model == "claude-opus-4-1"
    assert message.usage.input_tokens == 70 and message.usage.cache_read_input_tokens == 30


async def test_interleaved_parallel_tool_calls(
    client: anthropic.AsyncAnthropic, oai: FakeOpenAI
) -> None:
    a = {
        "index": 0,
        "id": "call_a",
        "type": "function",
        "function": {"name": "Read", "arguments": '{"file'},
    }
    b = {
        "index": 1,
        "id": "call_b",
        "type": "function",
        "function": {"name": "Glob", "arguments": '{"pattern"'},
    }
    steps = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"tool_calls": [a, b]}),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": ': "*.py"}'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '_path": "a.py"}'}}]}),
        chunk({}, "tool_calls"),
        data({"id": "gen-x", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3}}),
        b"data: [DONE]\n\n",
    ]
    oai.enqueue(StreamReply(steps))
    async with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=100, messages=USER
    ) as stream:  # type: ignore[arg-type]
        message = await stream.get_final_message()
    assert [(b.name, b.input) for b in message.content] == [
        ("Read", {"file_path": "a.py"}),
        ("Glob", {"pattern": "*.py"}),
    ]  # type: ignore[union-attr]
    assert len({b.id for b in message.content}) == 2  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [("length", "max_tokens"), ("content_filter", "refusal"), ("stop", "end_turn")],
)
async def test_stop_reasons(
    client: anthropic.AsyncAnthropic, oai: FakeOpenAI, finish: str, stop_reason: str
) -> None:
    oai.enqueue(completion("partial", finish_reason=finish))
    async with client.messages.stream(
        model="claude-haiku-4-5-20251001", max_tokens=5, messages=USER
    ) as stream:  # type: ignore[arg-type]
        message = await stream.get_final_message()
    assert message.stop_reason == stop_reason and message.model == "claude-haiku-4-5-20251001"
    assert (
        oai.requests_to("/v1/chat/completions")[-1].json()["model"] == "anthropic/claude-haiku-4.5"
    )


async def test_stop_sequence_reported_with_the_sequence(
    client: anthropic.AsyncAnthropic, oai: FakeOpenAI
) -> None:
    steps = [
        chunk({"content": "one two"}),
        data(
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {},
                        "finish_reason": "stop",
                        "native_finish_reason": "stop_sequence",
                    }
                ]
            }
        ),
        b"data: [DONE]\n\n",
    ]
    oai.enqueue(StreamReply(steps))
    async with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=50, stop_sequences=["three"], messages=USER
    ) as stream:  # type: ignore[arg-type]
        message = await stream.get_final_message()
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "three")
    assert oai.requests_to("/v1/chat/completions")[-1].json()["stop"] == ["three"]


@pytest.mark.parametrize(
    ("status", "error_type", "exception", "retry_after"),
    [
        (429, "rate_limit_exceeded", anthropic.RateLimitError, "3"),
        (503, "provider_overloaded", anthropic.OverloadedError, "5"),
        (402, "payment_required", anthropic.PaymentRequiredError, None),
        (401, "authentication", anthropic.AuthenticationError, None),
        (400, "invalid_request", anthropic.BadRequestError, None),
    ],
)
async def test_upstream_errors_become_the_right_sdk_exception(
    client: anthropic.AsyncAnthropic,
    oai: FakeOpenAI,
    status: int,
    error_type: str,
    exception: type[Exception],
    retry_after: str | None,
) -> None:
    headers = {"retry-after": retry_after} if retry_after else {}
    oai.enqueue(JSONReply(openai_error(status, error_type), status, headers))
    with pytest.raises(exception) as caught:
        await client.messages.create(
            model="claude-sonnet-4-6", max_tokens=10, messages=USER, stream=True
        )  # type: ignore[arg-type]
    error: anthropic.APIStatusError = caught.value  # type: ignore[assignment]
    assert error.body["type"] == "error" and error.body["error"]["message"] == f"fake {error_type}"  # type: ignore[index]
    assert error.response.headers.get("retry-after") == retry_after
    assert error.response.headers.get("request-id", "").startswith("req_")


async def test_context_overflow_reads_prompt_is_too_long(
    client: anthropic.AsyncAnthropic, oai: FakeOpenAI
) -> None:
    message = "This endpoint's maximum context length is 131072 tokens. However, you requested about 140000 tokens."
    oai.enqueue(JSONReply(openai_error(400, "context_length_exceeded", message), 400))
    with pytest.raises(
        anthropic.BadRequestError, match=r"prompt is too long: 140000 tokens > 131072 maximum"
    ):
        await client.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=USER)  # type: ignore[arg-type]


async def test_mid_stream_error_raises_api_error(
    client: anthropic.AsyncAnthropic, oai: FakeOpenAI
) -> None:
    # OpenRouter ends the response right after the error chunk.
    steps = [*completion_chunks(completion("Hello world, this is long"))[:3], mid_stream_error()]
    oai.enqueue(StreamReply(steps))
    with pytest.raises(anthropic.APIError, match="Provider disconnected"):
        async with client.messages.stream(
            model="claude-sonnet-4-6", max_tokens=50, messages=USER
        ) as stream:  # type: ignore[arg-type]
            await stream.get_final_message()


async def test_dropped_stream_is_an_error_never_a_clean_stop(
    client: anthropic.AsyncAnthropic, oai: FakeOpenAI, translating: RunningProxy
) -> None:
    oai.enqueue(StreamReply([*completion_chunks(completion("Hello world"))[:4], Reset()]))
    with pytest.raises(anthropic.APIError):
        async with client.messages.stream(
            model="claude-sonnet-4-6", max_tokens=50, messages=USER
        ) as stream:  # type: ignore[arg-type]
            await stream.get_final_message()
    oai.enqueue(
        StreamReply(completion_chunks(completion("Hello world"))[:4])
    )  # clean EOF, no finish
    status, raw = await raw_stream(
        translating,
        {"model": "claude-sonnet-4-6", "max_tokens": 5, "stream": True, "messages": USER},
    )
    events = parse_sse(raw)
    check_grammar(events)
    assert (
        status == 200
        and events[-1][0] == "error"
        and not any(n == "message_stop" for n, _ in events)
    )


async def test_multibyte_characters_split_across_reads(
    client: anthropic.AsyncAnthropic, oai: FakeOpenAI
) -> None:
    text = "héllo wörld — 漢字 🙂 done"
    oai.enqueue(
        StreamReply(
            cut_multibyte(b"".join(completion_chunks(completion(text), parts=7))), gap=0.001
        )
    )
    async with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=50, messages=USER
    ) as stream:  # type: ignore[arg-type]
        message = await stream.get_final_message()
    assert message.content[0].text == text  # type: ignore[union-attr]


async def test_every_stream_is_grammatical(translating: RunningProxy, oai: FakeOpenAI) -> None:
    for reply in (
        completion("a", reasoning="r", tool_calls=[tool_call("X", {"a": 1}), tool_call("Y", "{}")]),
        completion(None, tool_calls=[tool_call("X", '{"a": ')], finish_reason="length"),
        completion(""),
    ):
        oai.enqueue(reply)
        status, raw = await raw_stream(
            translating,
            {
                "model": "claude-sonnet-4-6",
                "max_tokens": 5,
                "stream": True,
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "messages": USER,
            },
        )
        assert status == 200
        check_grammar(parse_sse(raw))


async def test_client_disconnect_closes_the_upstream(
    translating: RunningProxy, oai: FakeOpenAI
) -> None:
    from tests.fakes.openai_upstream import Sleep

    oai.enqueue(StreamReply([*completion_chunks(completion("slow"))[:3], Sleep(30)]))
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{translating.url}/v1/messages",
            json={"model": "claude-sonnet-4-6", "max_tokens": 5, "stream": True, "messages": USER},
        )
        assert b"message_start" in await response.content.readuntil(b"\n\n")
        response.close()
    chat = oai.requests.index(oai.requests_to("/v1/chat/completions")[-1])  # not the model list
    await oai.wait_disconnect(chat, timeout=10)


async def test_count_tokens_is_local(client: anthropic.AsyncAnthropic, oai: FakeOpenAI) -> None:
    counted = await client.messages.count_tokens(
        model="claude-sonnet-4-6",
        system="You are helpful.",
        tools=[WEATHER],
        messages=[{"role": "user", "content": "What is the weather in Paris? " * 50}],
    )  # type: ignore[list-item]
    assert counted.input_tokens > 400
    assert not oai.requests_to("/v1/chat/completions")


async def test_models_list_publishes_claude_ids(client: anthropic.AsyncAnthropic) -> None:
    ids = [m.id async for m in client.models.list()]
    assert ids == ["claude-sonnet-4-6", "claude-opus-4-6", "claude-haiku-4-5"]


async def test_max_tokens_zero_is_answered_locally(
    client: anthropic.AsyncAnthropic, oai: FakeOpenAI
) -> None:
    message = await client.messages.create(model="claude-sonnet-4-6", max_tokens=0, messages=USER)  # type: ignore[arg-type]
    assert (
        message.stop_reason == "max_tokens"
        and message.content == []
        and message.usage.output_tokens == 0
    )
    assert not oai.requests_to("/v1/chat/completions")


async def test_session_id_and_tool_round_trip_request(
    client: anthropic.AsyncAnthropic, oai: FakeOpenAI
) -> None:
    history = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {"type": "text", "text": "thanks"},
            ],
        },
    ]
    await client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=10,
        tools=[WEATHER],
        messages=history,
        extra_headers={"x-claude-code-session-id": "sess-42"},
    )  # type: ignore[arg-type, list-item]
    sent = oai.requests_to("/v1/chat/completions")[-1].json()
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "tool", "user"]
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"}


async def test_exchange_is_recorded_like_pass_through(
    client: anthropic.AsyncAnthropic, translating: RunningProxy, oai: FakeOpenAI
) -> None:
    oai.enqueue(completion("recorded"))
    async with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=10, messages=USER
    ) as stream:  # type: ignore[arg-type]
        await stream.get_final_message()
    rows = await translating.rows(1)
    assert rows and rows[0]["state"] == "success"
    assert json.dumps(rows[0], default=str).count("anthropic/claude-sonnet-4.6") >= 1


async def test_ping_is_sent_during_upstream_silence(start_proxy: Any, oai: FakeOpenAI) -> None:
    from tests.fakes.openai_upstream import Sleep

    proxy = await start_proxy(
        mode="openrouter", openrouter_base_url=oai.url, openrouter_api_key=BACKEND_KEY
    )
    proxy.state.translation = type(proxy.state.translation)(
        session=proxy.state.translation.session,
        settings=proxy.state.settings,
        config=proxy.state.config,
        ping_interval_s=0.05,
    )
    chunks = completion_chunks(completion("late"))
    oai.enqueue(StreamReply([*chunks[:2], Sleep(0.5), *chunks[2:]]))
    _, raw = await raw_stream(
        proxy, {"model": "claude-sonnet-4-6", "max_tokens": 5, "stream": True, "messages": USER}
    )
    events = parse_sse(raw)
    check_grammar(events)
    assert [n for n, _ in events].count("ping") >= 2  # the one after message_start, then silence


async def test_backend_that_ignores_stream_still_gives_a_stream(
    client: anthropic.AsyncAnthropic, oai: FakeOpenAI
) -> None:
    oai.enqueue(
        JSONReply(completion("json instead", tool_calls=[tool_call("Read", {"p": 1})], model="m"))
    )
    async with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=50, messages=USER
    ) as stream:  # type: ignore[arg-type]
        message = await stream.get_final_message()
    assert [b.type for b in message.content] == [
        "text",
        "tool_use",
    ] and message.stop_reason == "tool_use"


async def test_error_inside_a_200_json_body_is_an_http_error(
    client: anthropic.AsyncAnthropic, oai: FakeOpenAI
) -> None:
    oai.enqueue(JSONReply(openai_error(429, "rate_limit_exceeded"), 200))
    with pytest.raises(anthropic.RateLimitError):
        async with client.messages.stream(
            model="claude-sonnet-4-6", max_tokens=50, messages=USER
        ) as stream:  # type: ignore[arg-type]
            await stream.get_final_message()
