"""The recorded outcome is the upstream's, whatever the client does afterwards (issue 10 item 4).

An upstream error stays `error` with its type even when the client hangs up at once (the official
SDK raises on an `error` event and closes); a broken upstream connection is `upstream_broken`;
`client_closed` only when the client left while the upstream was still answering normally; a
stream relayed to its message_stop is a success. Both modes, with the official SDK and with a raw
client reading to the end. The analysis report's errors by cause follow the state.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import anthropic
import pytest

from tests.conftest import API_KEY, RunningProxy
from tests.fakes.anthropic_upstream import (
    BadFraming,
    FakeAnthropic,
    Gate,
    Reset,
    Sleep,
    Step,
    StreamReply,
    error_event,
    message,
    message_events,
    text_block,
)
from tests.fakes.openai_upstream import FakeOpenAI, completion, completion_chunks, mid_stream_error
from tests.hardening.conftest import Start, mode_settings

HEADERS = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
HOLD_S = 0.5
"""How long the upstream keeps the connection open after its last event (the client's chance to
hang up first); never part of an assertion."""


def ask(text: str = "hi", stream: bool = True) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


def upstream_of(mode: str, fake: FakeAnthropic, oai: FakeOpenAI) -> FakeAnthropic | FakeOpenAI:
    return oai if mode == "openrouter" else fake


def answer(
    mode: str, text: str = "a partial answer that the upstream never finishes"
) -> list[bytes]:
    """The upstream's events for a normal streamed answer, in the mode's wire format."""
    if mode == "openrouter":
        return completion_chunks(completion(text))
    return message_events(message(text_block(text)))


def overloaded(mode: str) -> bytes:
    """The upstream's mid-stream overloaded error, in the mode's wire format."""
    if mode == "openrouter":
        return mid_stream_error(503, "provider_overloaded")
    return error_event("overloaded_error", "Overloaded")


def partial(mode: str) -> list[bytes]:
    """Some output, then nothing more: message_start and a first text delta (or its chunks)."""
    return answer(mode)[:4]


async def sdk_stream(proxy: RunningProxy, gate: Gate | None = None) -> None:
    """Stream with the official SDK to the final message (it raises on an error event), opening
    `gate` once the first event has arrived."""
    client = anthropic.AsyncAnthropic(base_url=proxy.url, api_key=API_KEY, max_retries=0)
    async with client.messages.stream(**{k: v for k, v in ask().items() if k != "stream"}) as s:
        async for _ in s:
            if gate is not None:
                gate.opened.set()
        await s.get_final_message()


async def raw_read(proxy: RunningProxy, gate: Gate | None = None) -> bytes:
    """A raw client that reads the whole response however it ends, opening `gate` once the
    first event has arrived."""
    url = f"{proxy.url}/v1/messages"
    async with aiohttp.ClientSession() as http, http.post(url, json=ask(), headers=HEADERS) as r:
        try:
            first = await r.content.readuntil(b"\n\n")
            if gate is not None:
                gate.opened.set()
            return first + await r.read()
        except aiohttp.ClientPayloadError:  # cut short, as the upstream cut it
            return b""


async def outcome(proxy: RunningProxy) -> tuple[str, str | None]:
    [row] = await proxy.rows(1, timeout=30)
    return row["state"], row["error_kind"]


async def run(start: Start, fake: FakeAnthropic, oai: FakeOpenAI, mode: str, steps: list[Step],
              client: str, *, raises: bool = True, **settings: Any) -> RunningProxy:  # fmt: skip
    """Start the proxy, script the upstream, and let the client read the answer."""
    proxy = await start(**mode_settings(mode, fake, oai, **settings))
    upstream_of(mode, fake, oai).enqueue(StreamReply(steps))
    gate = next((step for step in steps if isinstance(step, Gate)), None)
    if client == "raw":
        await raw_read(proxy, gate)
    elif raises:
        with pytest.raises(anthropic.APIError):
            await sdk_stream(proxy, gate)
    else:
        await sdk_stream(proxy, gate)
    return proxy


CLIENTS = pytest.mark.parametrize("client", ["sdk", "raw"])


@CLIENTS
async def test_mid_stream_overloaded_is_an_error_however_the_client_hangs_up(
    start: Start, fake: FakeAnthropic, oai: FakeOpenAI, mode: str, client: str
) -> None:
    # The upstream keeps the connection open a moment after its error event: the SDK has raised
    # and hung up long before the proxy sees the upstream end.
    steps = [*partial(mode), overloaded(mode), Sleep(HOLD_S)]
    proxy = await run(start, fake, oai, mode, steps, client)
    assert await outcome(proxy) == ("error", "overloaded_error")


async def test_error_event_then_upstream_silence_is_the_error_not_a_timeout(
    start: Start, fake: FakeAnthropic, oai: FakeOpenAI, mode: str
) -> None:
    steps = [*partial(mode), overloaded(mode), Sleep(30)]
    proxy = await run(start, fake, oai, mode, steps, "raw", request_timeout_ms=300)
    assert await outcome(proxy) == ("error", "overloaded_error")


@CLIENTS
@pytest.mark.parametrize("break_", ["reset", "bad_framing"])
async def test_broken_upstream_connection_is_upstream_broken(
    start: Start, fake: FakeAnthropic, oai: FakeOpenAI, mode: str, client: str, break_: str
) -> None:
    # The gate: the client has seen the first bytes, so the break cannot arrive with the headers.
    cut = Reset() if break_ == "reset" else BadFraming()
    proxy = await run(start, fake, oai, mode, [*partial(mode), Gate(), cut], client)
    assert await outcome(proxy) == ("upstream_broken", "upstream_broken")


@CLIENTS
async def test_upstream_ending_before_the_answer_is_upstream_broken(
    start: Start, fake: FakeAnthropic, oai: FakeOpenAI, mode: str, client: str
) -> None:
    # A clean end of the HTTP body, but no message_stop (no finish_reason): the answer is cut.
    # (The SDK does not raise on it in pass-through: it returns the partial message.)
    proxy = await run(start, fake, oai, mode, partial(mode), client, raises=mode != "anthropic")
    assert await outcome(proxy) == ("upstream_broken", "upstream_broken")


async def test_upstream_hanging_mid_stream_stays_a_timeout(
    start: Start, fake: FakeAnthropic, oai: FakeOpenAI, mode: str
) -> None:
    steps = [*partial(mode), Sleep(30)]
    proxy = await run(start, fake, oai, mode, steps, "raw", request_timeout_ms=300)
    assert await outcome(proxy) == ("timeout", "timeout")


async def test_client_cancelling_a_normal_stream_is_client_closed(
    start: Start, fake: FakeAnthropic, oai: FakeOpenAI, mode: str
) -> None:
    proxy = await start(**mode_settings(mode, fake, oai))
    upstream = upstream_of(mode, fake, oai)
    events = answer(mode)
    upstream.enqueue(StreamReply([*events[:4], Sleep(30), *events[4:]]))
    client = anthropic.AsyncAnthropic(base_url=proxy.url, api_key=API_KEY, max_retries=0)
    async with client.messages.stream(**{k: v for k, v in ask().items() if k != "stream"}) as s:
        async for event in s:
            if event.type == "content_block_delta":
                break  # the user pressed Esc: the SDK closes the response
    await upstream.wait_disconnect(-1, timeout=10)  # the upstream is let go
    assert await outcome(proxy) == ("client_closed", "client_closed")


async def test_stream_relayed_to_message_stop_is_a_success_even_if_the_client_leaves(
    start: Start, fake: FakeAnthropic, oai: FakeOpenAI, mode: str
) -> None:
    # The whole answer reaches the client, which hangs up before the upstream ends its body.
    proxy = await start(**mode_settings(mode, fake, oai))
    upstream_of(mode, fake, oai).enqueue(StreamReply([*answer(mode, "complete"), Sleep(30)]))
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{proxy.url}/v1/messages", json=ask(), headers=HEADERS)
        await resp.content.readuntil(b"event: message_stop\ndata: ")
        resp.close()
    assert await outcome(proxy) == ("success", None)


async def test_errors_by_cause_follow_the_state(
    start: Start, fake: FakeAnthropic, oai: FakeOpenAI, mode: str
) -> None:
    proxy = await start(**mode_settings(mode, fake, oai))
    upstream = upstream_of(mode, fake, oai)
    upstream.enqueue(StreamReply([*partial(mode), overloaded(mode), Sleep(HOLD_S)]))
    with pytest.raises(anthropic.APIError):
        await sdk_stream(proxy)
    upstream.enqueue(StreamReply([*partial(mode), Reset()]))
    await raw_read(proxy)
    await proxy.rows(2, timeout=30)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{proxy.url}/api/monitor/analyze?format=json") as resp:
            report = await resp.json()
        async with http.get(f"{proxy.url}/api/monitor/requests?status=failed") as resp:
            listed = await resp.json()
    causes = {(g["state"], g["error_kind"], g["cause"]): g["count"] for g in report["errors"]}
    assert causes == {
        ("error", "overloaded_error", "Upstream overloaded"): 1,
        ("upstream_broken", "upstream_broken", "Upstream connection broke"): 1,
    }
    assert report["summary"]["errorCount"] == 2
    # The seed's record status, for API clients written against the original.
    assert sorted((x["state"], x["outcome"]) for x in listed["data"]) == [
        ("error", "error"),
        ("upstream_broken", "error"),
    ]
