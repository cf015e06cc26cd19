"""Pass-through mode through the real server, driven by the official anthropic SDK."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import anthropic
import pytest

from anthropic_proxy.monitor.details import stored_payload
from anthropic_proxy.routing import preset
from anthropic_proxy.storage.bodies import join
from tests.conftest import API_KEY, RunningProxy, StartProxy
from tests.fakes.anthropic_upstream import (
    FakeAnthropic,
    Reset,
    Sleep,
    StreamReply,
    cut_multibyte,
    error_event,
    error_reply,
    message,
    message_events,
    text_block,
    thinking_block,
    tool_use_block,
    usage,
)

TOOLS = [
    {
        "name": "Bash",
        "description": "run",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
    }
]


def client(proxy: RunningProxy, **kw: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=proxy.url, api_key=API_KEY, max_retries=0, **kw)


def ask(text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


async def test_non_stream_round_trip_is_recorded(proxy: RunningProxy, fake: FakeAnthropic) -> None:
    fake.enqueue(message(text_block("hello there"), usage_=usage(input_tokens=11, output_tokens=7)))
    reply = await client(proxy).messages.create(**ask("say hello"))
    assert reply.content[0].text == "hello there"  # type: ignore[union-attr]
    [row] = await proxy.rows(kind="messages")
    assert (row["state"], row["status"], row["model"], row["stream"]) == (
        "success",
        200,
        "claude-sonnet-4-6",
        0,
    )
    assert (row["input_tokens"], row["output_tokens"]) == (11, 7)
    assert (row["cache_creation_tokens"], row["cache_read_tokens"]) == (40, 800)
    assert row["cost_usd"] > 0 and row["price_version"].startswith("genai-prices")
    assert row["duration_ms"] >= row["ttfb_ms"] > 0
    # SDK 2.x sends its api_key as a Bearer token
    assert (
        stored_payload(row)["request_headers"]["authorization"]
        == f"Bearer {API_KEY[:10]}...{API_KEY[-4:]}"
    )
    body = join(row["request_ref"], proxy.state.store.blob)
    assert body == json.loads(fake.requests[-1].body)


async def test_request_bytes_reach_upstream_unchanged(
    proxy: RunningProxy, fake: FakeAnthropic
) -> None:
    raw = b'{"model":"claude-haiku-4-5",  "max_tokens":5,"messages":[{"role":"user","content":"\\u00e9 x"}]}'
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{proxy.url}/v1/messages?beta=true",
            data=raw,
            headers={
                "x-api-key": API_KEY,
                "anthropic-version": "2023-06-01",
                "anthropic-beta": "a-1,b-2",
                "content-type": "application/json",
                "x-claude-code-session-id": "sess-1",
            },
        ) as resp,
    ):
        assert resp.status == 200
    seen = fake.requests[-1]
    assert seen.body == raw
    assert seen.query_string == "beta=true"
    assert seen.headers["anthropic-beta"] == "a-1,b-2"
    assert seen.headers["x-api-key"] == API_KEY
    [row] = await proxy.rows()
    assert (row["query"], row["session_id"]) == ("beta=true", "sess-1")
    assert stored_payload(row)["request_headers"]["x-api-key"] == f"{API_KEY[:10]}...{API_KEY[-4:]}"


async def test_stream_is_rebuilt_with_usage_ttft_and_timeline(
    proxy: RunningProxy, fake: FakeAnthropic
) -> None:
    msg = message(
        thinking_block("let me think"),
        text_block("Bonjour à tous"),
        usage_=usage(input_tokens=50, output_tokens=20),
    )
    fake.enqueue(msg)
    async with client(proxy).messages.stream(**ask("greet")) as stream:
        final = await stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    [row] = await proxy.rows()
    assert row["stream"] == 1 and row["state"] == "success" and row["stop_reason"] == "end_turn"
    assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"]) == (50, 20, 800)
    assert 0 < row["ttfb_ms"] <= row["ttft_ms"] <= row["duration_ms"]
    rebuilt = stored_payload(row)["response"]
    assert rebuilt["content"][0] == {
        "type": "thinking",
        "thinking": "let me think",
        "signature": msg["content"][0]["signature"],
    }
    assert rebuilt["content"][1] == {"type": "text", "text": "Bonjour à tous"}
    timeline = stored_payload(row)["timeline"]
    labels = [label for _, label, _ in timeline]
    assert labels[0] == "message_start" and labels[-1] == "message_stop"
    assert "thinking_delta" in labels and "signature_delta" in labels and "text_delta" in labels
    assert all(size > 0 for _, _, size in timeline)
    assert sum(size for _, _, size in timeline) == row["response_bytes"]


async def test_tool_use_round_trip(proxy: RunningProxy, fake: FakeAnthropic) -> None:
    call = tool_use_block("Bash", {"command": "ls -la /tmp", "description": "list ✓"})
    fake.enqueue(message(text_block("I'll look."), call), message(text_block("Done.")))
    sdk = client(proxy)
    async with sdk.messages.stream(**ask("list files", tools=TOOLS)) as stream:
        first = await stream.get_final_message()
    tool = first.content[1]
    assert tool.type == "tool_use" and tool.input == call["input"]
    follow = ask("list files", tools=TOOLS)
    follow["messages"] += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "a\nb"}],
        },
    ]
    second = await sdk.messages.create(**follow)
    assert second.content[0].text == "Done."  # type: ignore[union-attr]
    rows = await proxy.rows(2)
    rebuilt = stored_payload(rows[0])["response"]
    assert rebuilt["content"][1]["input"] == call["input"] and rows[0]["stop_reason"] == "tool_use"
    assert join(rows[1]["request_ref"], proxy.state.store.blob) == json.loads(
        fake.requests[-1].body
    )


async def test_count_tokens_is_its_own_kind(proxy: RunningProxy, fake: FakeAnthropic) -> None:
    fake.count_tokens = 42
    counted = await client(proxy).messages.count_tokens(
        model="claude-sonnet-4-6", messages=[{"role": "user", "content": "x"}]
    )
    assert counted.input_tokens == 42
    [row] = await proxy.rows(kind="count_tokens")
    assert row["state"] == "success" and row["path"] == "/v1/messages/count_tokens"


@pytest.mark.parametrize(
    ("status", "exc"),
    [
        (400, anthropic.BadRequestError),
        (401, anthropic.AuthenticationError),
        (429, anthropic.RateLimitError),
        (500, anthropic.InternalServerError),
        (529, anthropic.InternalServerError),
    ],
)
async def test_upstream_errors_pass_through_unmodified(
    proxy: RunningProxy, fake: FakeAnthropic, status: int, exc: type[Exception]
) -> None:
    reply = error_reply(
        status, headers={"retry-after": "7", "x-should-retry": "true", "request-id": "req_up1"}
    )
    fake.enqueue(reply)
    with pytest.raises(exc) as caught:
        await client(proxy).messages.create(**ask(stream=True))
    err = caught.value
    assert isinstance(err, anthropic.APIStatusError)
    assert err.status_code == status
    assert err.response.headers["retry-after"] == "7"
    assert err.response.headers["request-id"] == "req_up1"
    assert json.loads(err.response.content) == reply.body
    [row] = await proxy.rows()
    assert (row["state"], row["status"], row["upstream_request_id"]) == ("error", status, "req_up1")
    assert row["error_message"] == reply.body["error"]["message"]
    assert row["error_kind"] == reply.body["error"]["type"]  # the upstream's type, as in streams


async def test_error_event_mid_stream(proxy: RunningProxy, fake: FakeAnthropic) -> None:
    events = message_events(message(text_block("partial answer here")))
    fake.enqueue(StreamReply([*events[:4], error_event("overloaded_error", "Overloaded")]))
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
        async with client(proxy).messages.stream(**ask()) as stream:
            await stream.get_final_message()
    [row] = await proxy.rows()
    assert row["state"] == "error" and row["error_kind"] == "overloaded_error"


async def test_upstream_down_is_502(start_proxy: StartProxy) -> None:
    proxy = await start_proxy(upstream_url="http://127.0.0.1:9")
    with pytest.raises(anthropic.APIStatusError) as caught:
        await client(proxy).messages.create(**ask())
    assert caught.value.status_code == 502
    assert caught.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    [row] = await proxy.rows()
    assert (row["state"], row["status"], row["error_kind"]) == (
        "error",
        502,
        "upstream_unavailable",
    )


async def test_upstream_hanging_before_headers_is_504(
    start_proxy: StartProxy, fake: FakeAnthropic
) -> None:
    proxy = await start_proxy(upstream_url=fake.url, request_timeout_ms=300)
    fake.enqueue(StreamReply([], delay=5))
    with pytest.raises(anthropic.APIStatusError) as caught:
        await client(proxy).messages.create(**ask())
    assert caught.value.status_code == 504
    [row] = await proxy.rows()
    assert (row["state"], row["error_kind"]) == ("timeout", "timeout")


async def test_upstream_hanging_mid_stream_ends_with_error_event(
    start_proxy: StartProxy, fake: FakeAnthropic
) -> None:
    proxy = await start_proxy(upstream_url=fake.url, request_timeout_ms=300)
    events = message_events(message(text_block("slow")))
    fake.enqueue(StreamReply([*events[:3], Sleep(5)]))
    with pytest.raises(anthropic.APIStatusError, match="idle timeout"):
        async with client(proxy).messages.stream(**ask()) as stream:
            await stream.get_final_message()
    [row] = await proxy.rows()
    assert row["state"] == "timeout"


async def test_upstream_reset_mid_stream(proxy: RunningProxy, fake: FakeAnthropic) -> None:
    events = message_events(message(text_block("cut short")))
    fake.enqueue(StreamReply([*events[:4], Reset()]))
    with pytest.raises(anthropic.APIStatusError, match="upstream connection lost"):
        async with client(proxy).messages.stream(**ask()) as stream:
            await stream.get_final_message()
    [row] = await proxy.rows()
    assert (row["state"], row["error_kind"]) == ("upstream_broken", "upstream_broken")


async def test_client_disconnect_closes_upstream(proxy: RunningProxy, fake: FakeAnthropic) -> None:
    events = message_events(message(text_block("never finished")))
    fake.enqueue(StreamReply([*events[:3], Sleep(30), *events[3:]]))
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{proxy.url}/v1/messages", json=ask(stream=True), headers={"x-api-key": API_KEY}
        )
        await resp.content.readuntil(b"\n\n")
        resp.close()
    seen = await fake.wait_disconnect()
    assert seen.disconnected.is_set()
    [row] = await proxy.rows()
    assert row["state"] == "client_closed"


async def test_multibyte_split_across_chunks_arrives_intact(
    proxy: RunningProxy, fake: FakeAnthropic
) -> None:
    text = "日本語のテキスト — ünïcödé ✓ 🎉"
    raw = b"".join(message_events(message(text_block(text)), text_parts=2))
    fake.enqueue(StreamReply(cut_multibyte(raw)))
    async with client(proxy).messages.stream(**ask()) as stream:
        final = await stream.get_final_message()
    assert final.content[0].text == text  # type: ignore[union-attr]
    [row] = await proxy.rows()
    assert stored_payload(row)["response"]["content"][0]["text"] == text


async def test_oauth_bearer_auth_is_forwarded_and_masked(
    proxy: RunningProxy, fake: FakeAnthropic
) -> None:
    token = "sk-ant-oat01-" + "q" * 50 + "ENDS"
    sdk = anthropic.AsyncAnthropic(base_url=proxy.url, auth_token=token, max_retries=0)
    await sdk.messages.create(**ask())
    assert fake.requests[-1].headers["authorization"] == f"Bearer {token}"
    [row] = await proxy.rows()
    assert stored_payload(row)["request_headers"]["authorization"] == f"Bearer {token[:10]}...ENDS"


async def test_other_paths_and_methods_are_forwarded(
    proxy: RunningProxy, fake: FakeAnthropic
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{proxy.url}/v1/models?limit=2", headers={"x-api-key": API_KEY}
        ) as resp:
            assert resp.status == 200 and (await resp.json())["data"]
        async with http.delete(f"{proxy.url}/v1/files/file_1?x=1") as resp:
            echo = (await resp.json())["echo"]
    assert (echo["method"], echo["path"], echo["query"]) == ("DELETE", "/v1/files/file_1", "x=1")


async def test_loop_is_detected(start_proxy: StartProxy) -> None:
    proxy = await start_proxy(upstream_url="http://127.0.0.1:1")
    # the operator pointed the proxy at itself
    proxy.state.router.replace(preset.build("anthropic", [proxy.url], "https://o.example"), {})
    with pytest.raises(anthropic.APIStatusError) as caught:
        await client(proxy).messages.create(**ask())
    assert caught.value.status_code == 508
    assert "loop" in caught.value.message


async def test_probes_health_and_root(proxy: RunningProxy) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.head(f"{proxy.url}/") as resp:
            assert resp.status == 200
        async with http.get(f"{proxy.url}/", allow_redirects=False) as resp:
            assert resp.status == 302 and resp.headers["location"] == "/monitor"
        async with http.get(f"{proxy.url}/health") as resp:
            health = await resp.json()
            assert health["status"] == "healthy" and health["recorder"]["dropped"] == 0


async def test_bad_input_gets_anthropic_errors(
    start_proxy: StartProxy, fake: FakeAnthropic
) -> None:
    proxy = await start_proxy(upstream_url=fake.url, max_body_bytes="1k")
    async with aiohttp.ClientSession() as http:
        for body, status in [(b"{nope", 400), (b"", 400), (b"[1]", 400), (b"x" * 5000, 413)]:
            async with http.post(f"{proxy.url}/v1/messages", data=body) as resp:
                payload = await resp.json()
                assert resp.status == status, payload
                assert payload["type"] == "error" and payload["error"]["message"]
        async with http.get(f"{proxy.url}/no/such/route") as resp:
            assert resp.status == 404 and (await resp.json())["error"]["type"] == "not_found_error"
    assert fake.requests == []
    rows = await proxy.rows(4)
    assert sorted(r["status"] for r in rows) == [400, 400, 400, 413]
