"""Sessions: the agent tree with per-node totals, and prompt-cache break diagnostics."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.conftest import RunningProxy
from tests.fakes.anthropic_upstream import FakeAnthropic, message, text_block, usage
from tests.monitor.conftest import send

SESSION = {"x-claude-code-session-id": "sess-1"}


def body(system: str, turns: int, model: str = "claude-sonnet-4-6") -> dict[str, Any]:
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}"}
        for i in range(2 * turns - 1)
    ]
    return {"model": model, "max_tokens": 8, "system": system, "messages": messages}


async def test_agent_tree_and_cache_breaks(
    mon: RunningProxy, fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    def reply(read: int, write: int) -> dict[str, Any]:
        return message(
            text_block("ok"),
            usage_=usage(
                input_tokens=10,
                output_tokens=5,
                cache_read_input_tokens=read,
                cache_creation_input_tokens=write,
            ),
        )

    fake.enqueue(reply(0, 1000), reply(1000, 100), reply(0, 1200), reply(0, 500), reply(500, 50))
    await send(http, mon, body("sys A", 1), **SESSION)
    await send(http, mon, body("sys A", 2), **SESSION)
    await send(http, mon, body("sys B", 3), **SESSION)  # system prompt changed: cache break
    sub = {**SESSION, "x-claude-code-agent-id": "agent-x", "x-claude-code-parent-agent-id": ""}
    await send(http, mon, body("sub", 1, "claude-haiku-4-5"), **sub)
    await send(http, mon, body("sub", 2, "claude-haiku-4-5"), **sub)
    await mon.rows(5)
    async with http.get(mon.url + "/api/monitor/sessions") as r:
        listed = (await r.json())["data"]
    assert (
        listed[0]["session_id"] == "sess-1" and listed[0]["count"] == 5 and listed[0]["agents"] == 1
    )
    async with http.get(mon.url + "/api/monitor/sessions/sess-1") as r:
        report = await r.json()
    tree = report["tree"]
    assert tree["own"]["count"] == 3 and tree["total"]["count"] == 5
    assert [c["agent_id"] for c in tree["children"]] == ["agent-x"]
    assert (
        tree["total"]["output_tokens"] == 25
        and tree["children"][0]["own"]["cache_read_tokens"] == 500
    )
    turns = report["cache"]["turns"]
    assert [t["broken"] for t in turns] == [False, False, True, False, False]
    assert turns[2]["reasons"] == ["system_changed"] and turns[2]["lost_tokens"] == 1100
    assert turns[2]["lost_usd"] > 0
    assert report["cache"]["summary"]["breaks"] == 1
    async with http.get(mon.url + "/api/monitor/sessions/none") as r:
        assert r.status == 404


async def test_sessions_are_titled_by_their_first_prompt(
    mon: RunningProxy, fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    def ask(text: str, **extra: Any) -> dict[str, Any]:
        content = [{"type": "text", "text": "<system-reminder>ignore me</system-reminder>"},
                   {"type": "text", "text": text}]  # fmt: skip
        return {
            "model": "claude-sonnet-4-6",
            "max_tokens": 8,
            "messages": [{"role": "user", "content": content}],
        }

    one, two = {"x-claude-code-session-id": "s-one"}, {"x-claude-code-session-id": "s-two"}
    await send(http, mon, {**ask("quota")}, **one)  # Claude Code's probe comes first: skipped
    await send(http, mon, ask("Fix the failing test in   tests/test_app.py please"), **one)
    sub = {**one, "x-claude-code-agent-id": "agent-y"}
    await send(http, mon, ask("a subagent's task"), **sub)
    await send(http, mon, ask("second turn"), **one)
    await send(http, mon, ask("Refactor " + "the parser " * 20), **two)
    await mon.rows(5)
    async with http.get(mon.url + "/api/monitor/sessions") as r:
        listed = {s["session_id"]: s for s in (await r.json())["data"]}
    assert listed["s-one"]["title"] == "Fix the failing test in tests/test_app.py please"
    long_title = listed["s-two"]["title"]
    assert (
        len(long_title) == 80
        and long_title.startswith("Refactor the parser")
        and long_title.endswith("…")
    )
