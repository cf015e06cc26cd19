"""Context anatomy on a Claude-Code-shaped session with MCP tools and a compaction."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from anthropic_proxy.monitor.anatomy import Anatomist, scaled
from tests.conftest import RunningProxy, StartProxy
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.usage.traffic import Session, Upstream, send

TOOLS_USED = ["Bash", "mcp__github__search_issues", "Read", "mcp__postgres__query", None]


@pytest.fixture
async def proxy(start_proxy: StartProxy, fake: FakeAnthropic) -> RunningProxy:
    return await start_proxy(upstream_url=fake.url)


async def get(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as r:
        assert r.status == 200, await r.text()
        return await r.json()


def test_scaling_adds_up_exactly() -> None:
    assert scaled({"a": 1, "b": 1, "c": 1}, 100) == {"a": 34, "b": 33, "c": 33}
    assert sum(scaled({"x": 17, "y": 5, "z": 999}, 123_457).values()) == 123_457
    assert scaled({"a": 3}, None) == {"a": 3}


def test_tool_results_are_named_by_their_call_and_parts_counted_once() -> None:
    anatomist = Anatomist()
    session = Session("s", "/p")
    session.next_body(None)
    body = session.next_body("mcp__github__get_pr")
    first = anatomist.estimate(body)
    assert set(first) >= {"system", "tools:builtin", "tools:mcp:github", "tools:mcp:postgres",
                          "user_text", "assistant_text", "tool_calls", "tool_results:mcp__github__get_pr"}  # fmt: skip
    cached = len(anatomist._parts)
    assert anatomist.estimate(body) == first and len(anatomist._parts) == cached


async def test_session_anatomy_growth_and_aggregates(
    proxy: RunningProxy, upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    who = Session("sess-mcp", "/home/dev/app")
    contexts = []
    for i in range(10):
        compact = i == 6
        context = 900 if compact else 2000 * (i + 1) if i < 6 else 2000 * (i - 5)
        usage = {"input_tokens": 10, "cache_read_input_tokens": context - 10,
                 "cache_creation_input_tokens": 0, "output_tokens": 30}  # fmt: skip
        await send(http, proxy, upstream, who, usage, tool=TOOLS_USED[i % 5], compact=compact)
        contexts.append(context)
    rows = await proxy.rows(10)

    detail = await get(http, f"{proxy.url}/api/monitor/requests/{rows[5]['id']}")
    parts = {c["key"]: c for c in detail["anatomy"]["categories"]}
    assert sum(c["tokens"] for c in parts.values()) == contexts[5] == detail["anatomy"]["reported"]
    assert {"system", "tools:builtin", "tools:mcp:github", "tools:mcp:postgres"} <= parts.keys()
    assert {"tool_results:Bash", "tool_results:mcp__github__search_issues", "tool_results:Read",
            "tool_results:mcp__postgres__query"} <= parts.keys()  # fmt: skip
    # The github server offers two tools, postgres one: its definitions weigh more.
    assert parts["tools:mcp:github"]["tokens"] > parts["tools:mcp:postgres"]["tokens"] > 0
    cost = detail["anatomy"]["input_cost_usd"]
    assert cost > 0 and sum(c["cost_usd"] for c in parts.values()) == pytest.approx(cost, rel=1e-3)

    growth = await get(http, f"{proxy.url}/api/monitor/sessions/sess-mcp/context")
    assert [t["context_tokens"] for t in growth["turns"]] == contexts
    assert [i for i, t in enumerate(growth["turns"]) if t["compaction"]] == [6]
    assert growth["compactions"] == 1
    last = growth["turns"][-1]["categories"]
    assert sum(last.values()) == contexts[-1] and {"system", "tools", "tool_results"} <= last.keys()
    # After the compaction the earlier tool results are gone from the context.
    assert growth["turns"][6]["categories"].get("tool_results", 0) == 0

    agg = await get(http, f"{proxy.url}/api/monitor/anatomy?session=sess-mcp")
    assert agg["exchanges"] == agg["covered"] == 10 and agg["missing"] == 0
    servers = {s["key"]: s for s in agg["by_mcp_server"]}
    assert set(servers) == {"github", "postgres"}
    tools = {t["key"] for t in agg["by_tool"]}
    assert {"mcp__github__search_issues", "Bash", "(definitions) built-in"} <= tools
    categories = {c["key"]: c["tokens"] for c in agg["by_category"]}
    assert sum(categories.values()) == sum(contexts)
