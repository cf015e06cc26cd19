"""Routing is recorded and visible: every attempt stored with the exchange (keys masked),
list and detail, /metrics per provider, stats grouped by provider and by the serving model."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import anthropic
import pytest

from tests.conftest import API_KEY, RunningProxy, StartProxy
from tests.fakes.anthropic_upstream import (
    FakeAnthropic,
    Reset,
    StreamReply,
    error_reply,
    message,
    message_events,
    text_block,
)
from tests.routing.helpers import ask, client

MASKED = API_KEY[:10] + "..." + API_KEY[-4:]


async def get(proxy: RunningProxy, path: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(proxy.url + path) as r:
        assert r.status == 200, await r.text()
        return await r.json() if "json" in r.content_type else await r.text()


async def test_a_failover_is_recorded_listed_and_counted(
    start_proxy: StartProxy, fake: FakeAnthropic, second: FakeAnthropic
) -> None:
    proxy = await start_proxy(upstream_url=f"{fake.url},{second.url}")
    fake.enqueue(error_reply(529, "overloaded_error", "Overloaded"))
    await client(proxy).messages.create(**ask())
    await client(proxy).messages.create(**ask())  # no failover: the first answers
    first, plain = await proxy.rows(2, kind="messages")
    assert first["provider"] == "anthropic-2" and first["state"] == "success"
    attempts = json.loads(first["attempts"])
    assert [(a["provider"], a["status"], a["error"], a["key"]) for a in attempts] == [
        ("anthropic", 529, "http_529", MASKED),
        ("anthropic-2", 200, None, MASKED),
    ]
    assert API_KEY not in first["attempts"]
    assert plain["provider"] == "anthropic" and plain["attempts"] is None
    listed = await get(proxy, "/api/monitor/requests")
    rows = listed.get("requests") or listed.get("data") or listed.get("rows")
    by_id = {r["id"]: r for r in rows}
    assert by_id[first["id"]]["provider"] == "anthropic-2"
    assert json.loads(by_id[first["id"]]["attempts"])[0]["error"] == "http_529"
    detail = await get(proxy, f"/api/monitor/requests/{first['id']}")
    assert json.loads(detail["attempts"])[1]["provider"] == "anthropic-2"
    metrics = await get(proxy, "/metrics")
    assert 'anthropic_proxy_routing_failovers_total{provider="anthropic"} 1.0' in metrics
    assert (
        'anthropic_proxy_routing_attempts_total{outcome="served",provider="anthropic-2"} 1.0'
        in metrics
    )
    assert (
        'anthropic_proxy_routing_attempts_total{outcome="http_529",provider="anthropic"} 1.0'
        in metrics
    )
    assert (
        'anthropic_proxy_routing_attempts_total{outcome="served",provider="anthropic"} 1.0'
        in metrics
    )
    stats = await get(proxy, "/api/monitor/stats?groupBy=provider,served_model")
    assert {g["key"]: g["count"] for g in stats["perProvider"]} == {
        "anthropic": 1,
        "anthropic-2": 1,
    }
    assert stats["perServedModel"][0]["key"] == "claude-sonnet-4-6"
    served = await get(proxy, "/api/monitor/requests?servedBy=anthropic-2")
    assert [r["id"] for r in served["data"]] == [first["id"]]
    only = await get(proxy, "/api/monitor/stats?servedBy=anthropic")
    assert only["totalRequests"] == 1
    bad = proxy.url + "/api/monitor/stats?groupBy=colour"
    async with aiohttp.ClientSession() as http, http.get(bad) as r:
        assert r.status == 400


async def test_a_mid_stream_failure_is_recorded_with_its_single_attempt(
    start_proxy: StartProxy, fake: FakeAnthropic, second: FakeAnthropic
) -> None:
    proxy = await start_proxy(upstream_url=f"{fake.url},{second.url}")
    events = message_events(message(text_block("partial answer here")))
    fake.enqueue(StreamReply([*events[:3], Reset()]))
    with pytest.raises(anthropic.APIError):
        async with client(proxy).messages.stream(**ask()) as stream:
            await stream.get_final_message()
    [row] = await proxy.rows(kind="messages")
    assert row["provider"] == "anthropic" and row["attempts"] is None  # served, then broke
    assert row["state"] in ("error", "upstream_broken")
    assert second.requests_to("/v1/messages") == []
