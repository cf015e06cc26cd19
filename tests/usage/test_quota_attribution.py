"""Quota readings and attribution, end to end: the real proxy, a fake Anthropic whose rate-limit
headers change from reply to reply, Claude-Code-shaped sessions in two projects."""

from __future__ import annotations

import csv
import io
from typing import Any

import aiohttp
import pytest

from tests.conftest import RunningProxy, StartProxy
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.usage.traffic import Sent, Session, Upstream, send, unified


def use(i: int) -> dict[str, int]:
    """A different token count per exchange, so shares are not equal by accident."""
    return {"input_tokens": 100 + 37 * i, "output_tokens": 20 + i,
            "cache_creation_input_tokens": 300 * (i % 3), "cache_read_input_tokens": 1000 * i}  # fmt: skip


def expected_shares(sent: list[Sent], window: str) -> tuple[dict[str, float], float]:
    """Each change of the window's utilization, split over the exchanges since the previous
    reading by their tokens (computed here from the traffic, independently of the proxy)."""
    key = f"anthropic-ratelimit-unified-{window}-utilization"
    shares: dict[str, float] = {}
    outside, previous, pending = 0.0, 0.0, []
    for s in sent:
        if key in s.ratelimit:
            value = float(s.ratelimit[key])
            delta = value - previous
            total = sum(p.tokens for p in pending)
            if delta > 0 and total:
                for p in pending:
                    shares[p.session] = shares.get(p.session, 0.0) + delta * p.tokens / total
            elif delta > 0:
                outside += delta
            previous, pending = value, []
        pending.append(s)
    return shares, outside


@pytest.fixture
async def proxy(start_proxy: StartProxy, fake: FakeAnthropic) -> RunningProxy:
    return await start_proxy(upstream_url=fake.url)


async def test_quota_shares_and_attribution(
    proxy: RunningProxy, fake: FakeAnthropic, upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    alpha = Session("sess-alpha", "/home/dev/alpha", legacy_env=True)
    beta = Session("sess-beta", "/home/dev/beta",
                   headers={"x-proxy-tags": "Feature-X, review,feature-x", "x-proxy-project": "Beta App"})  # fmt: skip
    plan = [  # (session, 5h utilization or None for a reply without headers)
        (alpha, 0.10), (beta, 0.14), (alpha, None), (beta, None), (alpha, 0.31), (beta, 0.31),
        (alpha, 0.42), (beta, 0.47),
    ]  # fmt: skip
    sent = []
    for i, (who, util) in enumerate(plan):
        headers = unified(util, 0.05 + util / 10) if util is not None else {}
        sent.append(await send(http, proxy, upstream, who, use(i), headers, tool="Bash"))
    await proxy.rows(len(plan))

    # Our headers reached the proxy, never the upstream.
    assert all("x-proxy-tags" not in r.headers and "x-proxy-project" not in r.headers
               for r in fake.requests_to("/v1/messages"))  # fmt: skip
    rows = await proxy.rows(len(plan))
    assert {r["project"] for r in rows if r["session_id"] == "sess-alpha"} == {"/home/dev/alpha"}
    assert {r["project"] for r in rows if r["session_id"] == "sess-beta"} == {"Beta App"}
    assert {r["tags"] for r in rows if r["session_id"] == "sess-beta"} == {"feature-x,review"}

    async with http.get(proxy.url + "/api/monitor/quota") as r:
        assert r.status == 200
        quota = await r.json()
    windows = {w["window"]: w for w in quota["windows"]}
    assert list(windows)[:2] == ["5h", "7d"]
    five = windows["5h"]
    assert five["utilization"] == 0.47 and five["status"] == "allowed"
    assert five["resets_at"] == float(sent[-1].ratelimit["anthropic-ratelimit-unified-5h-reset"])
    assert five["exchange_id"] == rows[-1]["id"]
    assert quota["overall"]["status"] == "allowed"
    assert quota["overall"]["fallback-percentage"] == "0.5"

    want, outside = expected_shares(sent, "5h")
    got = {s["session_id"]: s["utilization"] for s in five["shares"]["sessions"]}
    assert got.keys() == want.keys()
    for session, value in want.items():
        assert got[session] == pytest.approx(value, abs=1e-5)
    assert five["shares"]["outside"] == pytest.approx(outside)
    assert five["shares"]["change"] == pytest.approx(0.47)
    projects = {p["project"]: p["utilization"] for p in five["shares"]["projects"]}
    assert projects == pytest.approx(
        {"/home/dev/alpha": want["sess-alpha"], "Beta App": want["sess-beta"]}, abs=1e-5
    )

    # Filters by project and tag reach the list, the stats and the usage report.
    async def get(path: str) -> Any:
        async with http.get(proxy.url + path) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    listed = await get("/api/monitor/requests?project=Beta%20App")
    assert listed["total"] == 4 and {x["project"] for x in listed["data"]} == {"Beta App"}
    assert (await get("/api/monitor/requests?tag=Review"))["total"] == 4
    assert (await get("/api/monitor/requests?tag=review2"))["total"] == 0
    stats = await get("/api/monitor/stats?tag=feature-x")
    assert stats["totalRequests"] == 4
    by_tag = await get("/api/monitor/usage?report=tag")
    tags = {r["key"]: r for r in by_tag["rows"]}
    assert set(tags) == {None, "feature-x", "review"}
    beta_out = sum(s.usage["output_tokens"] for s in sent if s.session == "sess-beta")
    assert tags["review"]["output_tokens"] == tags["feature-x"]["output_tokens"] == beta_out
    async with http.get(proxy.url + "/api/monitor/export?format=csv&tag=review") as r:
        exported = list(csv.DictReader(io.StringIO(await r.text())))
    assert len(exported) == 4 and {(x["project"], x["tags"]) for x in exported} == {
        ("Beta App", "feature-x,review")}  # fmt: skip
    by_project = await get("/api/monitor/usage?report=project")
    assert {r["key"]: r["requests"] for r in by_project["rows"]} == {
        "/home/dev/alpha": 4,
        "Beta App": 4,
    }


async def test_api_key_buckets_and_unknown_params(
    proxy: RunningProxy, upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    who = Session("sess-k", "/srv/k")
    headers = {
        "anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "49",
        "anthropic-ratelimit-requests-reset": "2030-01-01T00:00:00Z",
        "anthropic-ratelimit-input-tokens-limit": "40000",
        "anthropic-ratelimit-input-tokens-remaining": "30000",
        "anthropic-ratelimit-input-tokens-reset": "2030-01-01T00:00:10Z",
    }  # fmt: skip
    await send(http, proxy, upstream, who, use(1), headers)
    await proxy.rows(1)
    async with http.get(proxy.url + "/api/monitor/quota") as r:
        windows = {w["window"]: w for w in (await r.json())["windows"]}
    assert windows["api:requests"]["limit"] == 50 and windows["api:requests"]["remaining"] == 49
    assert windows["api:input-tokens"]["utilization"] == 0.25
    assert windows["api:input-tokens"]["resets_at"] == 1893456010.0
    async with http.get(proxy.url + "/api/monitor/usage?report=hourly") as r:
        assert r.status == 400 and (await r.json())["error"]["type"] == "invalid_request_error"
