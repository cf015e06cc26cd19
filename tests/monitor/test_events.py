"""The SSE feed: an exchange made after subscribing arrives, filtered, as a small summary."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from tests.conftest import RunningProxy
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.monitor.conftest import ask, send


async def messages(response: aiohttp.ClientResponse) -> Any:
    async for line in response.content:
        if line.startswith(b"data: "):
            yield json.loads(line[6:])


async def wait_for(stream: Any, want: Any, timeout: float = 10.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        async for message in stream:
            if want(message):
                return message
    raise AssertionError("stream ended")


async def test_sse_delivers_exchanges_made_after_subscribing(
    mon: RunningProxy, fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    async with http.get(mon.url + "/api/monitor/stream", params={"model": "claude-opus-4-6"}) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        stream = messages(r)
        first = await wait_for(stream, lambda m: True)
        assert first["type"] == "stats" and first["stats"]["totalRequests"] == 0
        await send(http, mon, ask("not me", model="claude-sonnet-4-6"))
        await send(http, mon, ask("me", model="claude-opus-4-6"))
        done = await wait_for(
            stream, lambda m: m["type"] == "request" and m["request"]["state"] != "pending"
        )
        assert done["request"]["model"] == "claude-opus-4-6"
        assert done["request"]["output_tokens"] == 35
        assert "request" not in done["request"] and "response_body" not in done["request"]
        stats = await wait_for(
            stream, lambda m: m["type"] == "stats" and m["stats"]["totalRequests"] == 1
        )
        assert stats["stats"]["requestsPerModel"] == {"claude-opus-4-6": 1}


async def test_clear_is_announced(mon: RunningProxy, http: aiohttp.ClientSession) -> None:
    async with http.get(mon.url + "/api/monitor/stream") as r:
        stream = messages(r)
        await wait_for(stream, lambda m: m["type"] == "stats")
        async with http.post(mon.url + "/api/monitor/clear") as c:
            assert (await c.json()) == {"success": True}
        await wait_for(stream, lambda m: m["type"] == "clear")


async def test_bad_filter_is_refused_before_streaming(
    mon: RunningProxy, http: aiohttp.ClientSession
) -> None:
    async with http.get(mon.url + "/api/monitor/stream", params={"status": "nope"}) as r:
        assert r.status == 400
