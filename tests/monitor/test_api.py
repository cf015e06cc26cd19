"""The monitor JSON API on the real server: filters, pagination, stats arithmetic, detail."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.conftest import RunningProxy
from tests.fakes.anthropic_upstream import FakeAnthropic, error_reply, message, text_block, usage
from tests.monitor.conftest import BASE_TIME, StartMonitor, ask, make_row, send, write_rows


async def get(http: aiohttp.ClientSession, proxy: RunningProxy, path: str, **params: Any) -> Any:
    async with http.get(proxy.url + path, params={k: str(v) for k, v in params.items()}) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_real_exchanges_are_listed_with_tokens_and_detail(
    mon: RunningProxy, fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    fake.enqueue(message(text_block("streamed")), message(text_block("plain")))
    await send(http, mon, ask("one"))
    await send(http, mon, ask("two", stream=False))
    await mon.rows(2)
    listed = await get(http, mon, "/api/monitor/requests")
    assert listed["total"] == 2 and [r["stream"] for r in listed["data"]] == [False, True]
    assert all(r["output_tokens"] == 35 and r["cache_read_tokens"] == 800 for r in listed["data"])
    assert "request_headers" not in listed["data"][0]  # summaries carry no bodies or headers
    detail = await get(http, mon, f"/api/monitor/requests/{listed['data'][1]['id']}")
    assert detail["request"]["messages"][0]["content"] == "one"
    assert detail["response"]["content"][0]["text"] == "streamed"
    assert (
        detail["timeline"]
        and detail["request_headers"]["x-api-key"] != "sk-ant-test-key-0000000000000000"
    )


async def test_unknown_exchange_and_bad_filters_are_anthropic_errors(
    mon: RunningProxy, http: aiohttp.ClientSession
) -> None:
    async with http.get(mon.url + "/api/monitor/requests/nope") as r:
        assert r.status == 404
        assert (await r.json())["error"]["type"] == "not_found_error"
    for params in (
        {"status": "bogus"},
        {"timeRange": "2y"},
        {"limit": "0"},
        {"sort": "preview"},
        {"from": "x"},
        {"since": "abc"},  # not a parameter: refused, not ignored
        {"page": "zz"},
        {"limit": "-1"},
        {"timeRange": "bogus"},
        {"order": "sideways"},
    ):
        async with http.get(mon.url + "/api/monitor/requests", params=params) as r:
            body = await r.json()
            assert r.status == 400 and body["type"] == "error", params
            assert body["error"]["type"] == "invalid_request_error"
    for path in ("stats", "analyze", "export", "sessions", "stream"):
        async with http.get(f"{mon.url}/api/monitor/{path}", params={"since": "x"}) as r:
            assert r.status == 400 and r.content_type == "application/json", path
            body = await r.json()
            assert (
                body["error"]["type"] == "invalid_request_error"
                and "since" in body["error"]["message"]
            )


async def test_each_filter(mon: RunningProxy, http: aiohttp.ClientSession) -> None:
    now = BASE_TIME
    rows = [
        make_row(
            1, state="error", status=529, error_kind="overloaded_error", error_message="Overloaded"
        ),
        make_row(2, model="claude-opus-4-6", mode="openrouter", upstream_model="x/opus"),
        make_row(3, kind="count_tokens", path="/v1/messages/count_tokens"),
        make_row(4, session_id="sess-a", agent_id="agent-1", preview="find the needle\n→ ok"),
        make_row(5, state="timeout", status=None),
        make_row(6, state="pending", status=None, finished_at=None, duration_ms=None),
        make_row(7, started_at=now + 10_000),
    ]
    await write_rows(mon, rows)
    expect = {
        (("status", "error"),): ["ex_test00000001"],
        (("status", "529"),): ["ex_test00000001"],
        (("status", "failed"),): ["ex_test00000005", "ex_test00000001"],
        (("status", "pending"),): ["ex_test00000006"],
        (("model", "claude-opus-4-6"),): ["ex_test00000002"],
        (("provider", "openrouter"),): ["ex_test00000002"],
        (("mode", "openrouter"),): ["ex_test00000002"],
        (("kind", "count_tokens"),): ["ex_test00000003"],
        (("session", "sess-a"),): ["ex_test00000004"],
        (("agent", "agent-1"),): ["ex_test00000004"],
        (("q", "NEEDLE"),): ["ex_test00000004"],
        (("q", "overloaded"),): ["ex_test00000001"],
        (("q", "ex_test00000003"),): ["ex_test00000003"],
        (("q", "x/opus"),): ["ex_test00000002"],
        (("from", now + 5), ("to", now + 7)): ["ex_test00000006", "ex_test00000005"],
        (("from", str(int((now + 7) * 1000))),): ["ex_test00000007"],
        (("status", "success"), ("model", "claude-sonnet-4-6"), ("kind", "messages")): [
            "ex_test00000007",
            "ex_test00000004",
        ],
    }
    for params, ids in expect.items():
        listed = await get(http, mon, "/api/monitor/requests", **dict(params))
        assert [r["id"] for r in listed["data"]] == ids, params
        assert listed["total"] == len(ids)
        stats = await get(http, mon, "/api/monitor/stats", **dict(params))
        assert stats["totalRequests"] == len(ids), params


async def test_time_range_is_relative_to_now(
    mon: RunningProxy, http: aiohttp.ClientSession
) -> None:
    import time

    now = time.time()
    await write_rows(
        mon,
        [
            make_row(1, started_at=now - 30),
            make_row(2, started_at=now - 7200),
            make_row(3, started_at=now - 3 * 86400),
        ],
    )
    counts = {}
    for span in ("1h", "24h", "7d", "all"):
        counts[span] = (await get(http, mon, "/api/monitor/requests", timeRange=span))["total"]
    assert counts == {"1h": 1, "24h": 2, "7d": 3, "all": 3}


async def test_pagination_past_a_thousand_records(
    mon: RunningProxy, http: aiohttp.ClientSession
) -> None:
    await write_rows(mon, [make_row(i) for i in range(1234)])
    seen: list[str] = []
    page = 1
    while True:
        listed = await get(http, mon, "/api/monitor/requests", page=page, limit=200)
        seen += [r["id"] for r in listed["data"]]
        if page >= listed["pages"]:
            break
        page += 1
    assert listed["total"] == 1234 and listed["pages"] == 7 and len(listed["data"]) == 34
    assert seen == [f"ex_test{i:08d}" for i in reversed(range(1234))]
    oldest_first = await get(
        http, mon, "/api/monitor/requests", page=13, limit=100, sort="started_at"
    )
    assert [r["id"] for r in oldest_first["data"]] == [f"ex_test{i:08d}" for i in range(1200, 1234)]
    by_cost = await get(http, mon, "/api/monitor/requests", limit=1000, page=2, sort="-cost_usd")
    assert len(by_cost["data"]) == 234


async def test_stats_arithmetic_matches_hand_computed_values(
    mon: RunningProxy, http: aiohttp.ClientSession
) -> None:
    durations = [100.0, 200.0, 300.0, 400.0, 1000.0]
    rows = [
        make_row(i, duration_ms=d, ttft_ms=d / 10, input_tokens=100, output_tokens=10 * (i + 1),
                 cache_read_tokens=300, cache_creation_tokens=100, cost_usd=0.25 * (i + 1),
                 model="claude-haiku-4-5" if i == 4 else "claude-sonnet-4-6")
        for i, d in enumerate(durations)
    ]  # fmt: skip
    rows.append(make_row(5, state="error", status=500, duration_ms=None, ttft_ms=None, input_tokens=None,
                         output_tokens=None, cost_usd=None))  # fmt: skip
    rows.append(make_row(6, state="pending", status=None, duration_ms=None, ttft_ms=None, input_tokens=None,
                         output_tokens=None, cost_usd=None))  # fmt: skip
    await write_rows(mon, rows)
    s = await get(http, mon, "/api/monitor/stats")
    assert (s["totalRequests"], s["successCount"], s["errorCount"], s["pendingCount"]) == (
        7,
        5,
        1,
        1,
    )
    assert s["successRate"] == 83.33  # 5 of the 6 finished; pending is not in the denominator
    assert s["latency"] == {"avg": 400.0, "p50": 300.0, "p95": 1000.0, "p99": 1000.0}
    assert s["ttft"] == {"avg": 40.0, "p50": 30.0, "p95": 100.0}
    assert s["tokens"] == {"input": 500, "output": 150, "cacheRead": 1500, "cacheWrite": 500}
    assert s["cacheHitRatio"] == 0.6  # 1500 / (500 + 1500 + 500)
    assert s["totalCost"] == 3.75
    assert s["cost"]["perModel"] == {"claude-sonnet-4-6": 2.5, "claude-haiku-4-5": 1.25}
    assert s["requestsPerModel"] == {"claude-sonnet-4-6": 6, "claude-haiku-4-5": 1}
    assert all(
        isinstance(v, int | float) for v in (s["successRate"], s["avgDuration"], s["totalCost"])
    )
    items = s["buckets"]["items"]
    assert sum(b["count"] for b in items) == 7 and sum(b["cost"] for b in items) == 3.75
    assert s["buckets"]["width"] == 1  # 7 exchanges over 6 seconds: one-second buckets


async def test_dated_and_undated_ids_of_a_model_are_one_row(
    mon: RunningProxy, http: aiohttp.ClientSession
) -> None:
    models = ["claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929",
              "claude-haiku-4-5-20251001", "claude-opus-4-6[1m]"]  # fmt: skip
    await write_rows(mon, [make_row(i, model=m, cost_usd=1.0) for i, m in enumerate(models)])
    s = await get(http, mon, "/api/monitor/stats")
    per_model = {m["key"]: (m["count"], m["ids"]) for m in s["perModel"]}
    assert per_model == {
        "claude-sonnet-4-5": (3, ["claude-sonnet-4-5", "claude-sonnet-4-5-20250929"]),
        "claude-haiku-4-5": (1, ["claude-haiku-4-5-20251001"]),
        "claude-opus-4-6[1m]": (1, ["claude-opus-4-6[1m]"]),
    }
    assert s["cost"]["perModel"]["claude-sonnet-4-5"] == 3.0
    ids = ",".join(per_model["claude-sonnet-4-5"][1])  # the dashboard's model filter value
    listed = await get(http, mon, "/api/monitor/requests", model=ids)
    assert sorted(r["model"] for r in listed["data"]) == sorted(models[:3])
    report = await get(http, mon, "/api/monitor/analyze", format="json")
    assert report["cost"]["byModel"][0]["key"] == "claude-sonnet-4-5"


@pytest.mark.parametrize(
    ("span_s", "width"), [(59, 1), (600, 10), (1800, 30), (3 * 3600, 300), (40 * 86400, 86400)]
)
async def test_chart_buckets_follow_the_span(
    mon: RunningProxy, http: aiohttp.ClientSession, span_s: int, width: int
) -> None:
    await write_rows(mon, [make_row(0), make_row(1, started_at=BASE_TIME + span_s)])
    s = await get(http, mon, "/api/monitor/stats")
    assert s["buckets"]["width"] == width
    assert len(s["buckets"]["items"]) > 1 and sum(b["count"] for b in s["buckets"]["items"]) == 2


async def test_upstream_error_is_recorded_as_error(
    mon: RunningProxy, fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    fake.enqueue(
        error_reply(429, headers={"retry-after": "2"}),
        message(text_block("ok"), usage_=usage(cache_read_input_tokens=0)),
    )
    await send(http, mon, ask("a"))
    await send(http, mon, ask("b"))
    await mon.rows(2)
    s = await get(http, mon, "/api/monitor/stats")
    assert (s["successCount"], s["errorCount"], s["successRate"]) == (1, 1, 50.0)
    report = await get(http, mon, "/api/monitor/analyze", format="json")
    assert report["errors"][0]["cause"] == "Rate limited" and report["errors"][0]["count"] == 1


async def test_server_config_returns_no_secret(
    start_monitor: Any, fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    token = "tok-" + "s" * 40
    mon = await start_monitor(
        upstream_url=fake.url, auth_token=token, openrouter_api_key="sk-or-v1-" + "k" * 40
    )
    async with http.get(
        mon.url + "/api/monitor/config", headers={"Authorization": f"Bearer {token}"}
    ) as r:
        text = await r.text()
    assert r.status == 200 and '"authRequired":true' in text
    assert token[:10] not in text and "sk-or-v1" not in text


async def test_stats_carry_the_store_size_and_its_limit(
    start_monitor: StartMonitor, fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    mon = await start_monitor(upstream_url=fake.url, max_db_bytes="2GB")
    await write_rows(mon, [make_row(i) for i in range(20)])
    s = await get(http, mon, "/api/monitor/stats", model="nothing-matches")
    size = mon.state.store.size_bytes()
    assert s["totalRequests"] == 0 and s["storage"] == {"bytes": size, "limitBytes": 2 * 1024**3}
    assert size > 0
