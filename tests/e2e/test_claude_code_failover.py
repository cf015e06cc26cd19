"""The real Claude Code CLI completes its tool-using session while the first upstream of a
`--upstream URL1,URL2` chain answers 529 to everything: the proxy fails over before any byte
reaches Claude Code, and records each attempt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_claude_code import (
    FILE_TEXT,
    FINAL_TEXT,
    claude_binary,
    recorded_exchanges,
    run_claude,
    running_proxy,
    script,
)
from tests.fakes.anthropic_upstream import FakeAnthropic, error_reply

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


async def test_claude_code_keeps_working_through_a_529(tmp_path: Path) -> None:
    binary = claude_binary()
    home, work, data = tmp_path / "home", tmp_path / "work", tmp_path / "data"
    for folder in (home, work, data):
        folder.mkdir()
    proxy_log = tmp_path / "proxy.log"
    overloaded = FakeAnthropic(
        responder=lambda req: error_reply(529, "overloaded_error", "Overloaded")
    )
    async with (
        overloaded as first,
        FakeAnthropic(responder=script) as second,
        running_proxy(f"{first.url},{second.url}", data, proxy_log) as proxy,
    ):
        code, out, err = await run_claude(binary, proxy, home, work)
        context = f"exit {code}\nstdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}\n"
        context += f"proxy log:\n{proxy_log.read_text()[-3000:]}"
        assert code == 0, context
        assert (work / "out.txt").read_text() == FILE_TEXT + "\n", context
        assert json.loads(out)["result"] == FINAL_TEXT, context
        # The overloaded upstream was asked until its circuit opened, then left alone.
        assert 1 <= len(first.requests_to("/v1/messages")) <= 3, context
        calls = second.requests_to("/v1/messages")
        summaries = await recorded_exchanges(proxy, len(calls))
        assert all(s["provider"] == "anthropic-2" for s in summaries), summaries
        failed_over = [json.loads(s["attempts"]) for s in summaries if s.get("attempts")]
        assert failed_over, summaries
        assert all(a[0]["provider"] == "anthropic" and a[0]["status"] == 529 for a in failed_over)
