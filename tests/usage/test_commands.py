"""`anthropic-proxy report` and `statusline`, run as commands against the store of a running
proxy (the same --data-dir), checked against sums computed from the traffic sent."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import datetime
from typing import Any

import aiohttp
import orjson
import pytest

from tests.conftest import RunningProxy, StartProxy
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.usage.traffic import Sent, Session, Upstream, send, unified


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "anthropic_proxy", *args], input=stdin,
                          capture_output=True, timeout=60, check=False)  # fmt: skip


async def command(*args: str, stdin: bytes = b"") -> str:
    done = await asyncio.to_thread(run, *args, stdin=stdin)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def sums(sent: list[Sent]) -> dict[str, int]:
    return {
        "requests": len(sent),
        "input_tokens": sum(s.usage["input_tokens"] for s in sent),
        "output_tokens": sum(s.usage["output_tokens"] for s in sent),
        "cache_creation_tokens": sum(s.usage["cache_creation_input_tokens"] for s in sent),
        "cache_read_tokens": sum(s.usage["cache_read_input_tokens"] for s in sent),
    }


def pick(row: dict[str, Any]) -> dict[str, int]:
    return {k: row[k] for k in ("requests", "input_tokens", "output_tokens",
                                "cache_creation_tokens", "cache_read_tokens")}  # fmt: skip


@pytest.fixture
async def proxy(start_proxy: StartProxy, fake: FakeAnthropic) -> RunningProxy:
    return await start_proxy(upstream_url=fake.url)


async def test_report_and_statusline_against_the_traffic(
    proxy: RunningProxy, upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    one = Session("sess-one", "/work/shop", headers={"x-proxy-tags": "billing"})
    two = Session("sess-two", "/work/blog", model="claude-haiku-4-5")
    sent = []
    for i in range(6):
        who = one if i % 3 else two
        usage = {"input_tokens": 50 + i, "output_tokens": 7 * i + 1,
                 "cache_creation_input_tokens": 100 * i, "cache_read_input_tokens": 2000 + i}  # fmt: skip
        sent.append(await send(http, proxy, upstream, who, usage, unified(0.1 * i, 0.02 * i),
                               tool="mcp__github__search_issues"))  # fmt: skip
    rows = await proxy.rows(len(sent))
    data_dir = proxy.settings.data_dir

    daily = orjson.loads(await command("report", "daily", "--json", "--by", "model",
                                       "--data-dir", data_dir))  # fmt: skip
    assert [r["key"] for r in daily["rows"]] == [datetime.now().strftime("%Y-%m-%d")]
    assert pick(daily["totals"]) == sums(sent)
    by_model = {m["model"]: pick(m) for m in daily["rows"][0]["by_model"]}
    assert by_model == {
        "claude-sonnet-4-5": sums([s for s in sent if s.model == "claude-sonnet-4-5"]),
        "claude-haiku-4-5": sums([s for s in sent if s.model == "claude-haiku-4-5"]),
    }
    stored_cost = round(sum(r["cost_usd"] for r in rows), 6)
    assert stored_cost > 0 and daily["totals"]["cost_usd"] == pytest.approx(stored_cost)

    sessions = orjson.loads(await command("report", "session", "--json", "--data-dir", data_dir))
    got = {r["key"]: (r["project"], pick(r)) for r in sessions["rows"]}
    assert got == {
        "sess-one": ("/work/shop", sums([s for s in sent if s.session == "sess-one"])),
        "sess-two": ("/work/blog", sums([s for s in sent if s.session == "sess-two"])),
    }
    tagged = orjson.loads(await command("report", "monthly", "--json", "--tag", "billing",
                                        "--data-dir", data_dir))  # fmt: skip
    assert pick(tagged["totals"]) == sums([s for s in sent if s.tags])
    blocks = orjson.loads(await command("report", "blocks", "--json", "--data-dir", data_dir))
    assert len(blocks["rows"]) == 1 and blocks["rows"][0]["active"] is True
    nothing = orjson.loads(await command("report", "daily", "--json", "--since", "2001-01-01",
                                         "--until", "2001-01-31", "--data-dir", data_dir))  # fmt: skip
    assert nothing["rows"] == [] and nothing["totals"]["requests"] == 0

    table = await command("report", "project", "--data-dir", data_dir)
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["Project", "Models"]
    assert any(line.startswith("/work/shop") for line in lines)
    assert lines[-1].startswith("Total") and f"{sums(sent)['requests']}" in lines[-1].split()

    # The JSON Claude Code passes to a statusLine command.
    given = {"session_id": "sess-one", "transcript_path": "/tmp/x.jsonl", "cwd": "/work/shop",
             "model": {"id": "claude-sonnet-4-5", "display_name": "Sonnet 4.5"},
             "workspace": {"current_dir": "/work/shop", "project_dir": "/work/shop"},
             "version": "2.1.329", "output_style": {"name": "default"},
             "cost": {"total_cost_usd": 0.01}}  # fmt: skip
    line = (await command("statusline", "--data-dir", data_dir, stdin=orjson.dumps(given))).strip()
    mine = [r for r in rows if r["session_id"] == "sess-one"]
    session_cost = sum(r["cost_usd"] for r in mine)
    assert line.startswith(f"${session_cost:,.2f} session · ${stored_cost:,.2f} today · 5h 50% ↺")
    last = [s for s in sent if s.session == "sess-one"][-1].usage
    context = (
        last["input_tokens"] + last["cache_read_input_tokens"] + last["cache_creation_input_tokens"]
    )
    assert f"ctx {round(context / 1000)}k/200k" in line
    read = sum(s.usage["cache_read_input_tokens"] for s in sent if s.session == "sess-one")
    total = sum(s.usage[k] for s in sent if s.session == "sess-one"
                for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"))  # fmt: skip
    assert f"cache {read / total * 100:.0f}%" in line


async def test_commands_fail_clearly() -> None:
    done = await asyncio.to_thread(run, "report", "hourly")
    assert (
        done.returncode == 2
        and b"invalid choice" in done.stderr
        and b"Traceback" not in done.stderr
    )
    done = await asyncio.to_thread(run, "report", "daily", "--since", "yesterday-ish")
    assert done.returncode == 2 and b"not a date" in done.stderr and b"Traceback" not in done.stderr
    # A status line never fails Claude Code's prompt: garbage in, a line out.
    done = await asyncio.to_thread(
        run, "statusline", "--data-dir", "/dev/null/not-a-dir", stdin=b"{"
    )
    assert done.returncode == 0 and done.stdout.strip() and b"Traceback" not in done.stderr
