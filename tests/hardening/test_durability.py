"""kill -9 with streams in flight and finished exchanges not yet committed: after a restart the
store opens, the journal replays every exchange the client saw complete, and the ones in flight
are marked interrupted. (The load variant is tests/storage/test_durability.py.)"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import API_KEY, journal_bytes
from tests.fakes.anthropic_upstream import (
    FakeAnthropic,
    RecordedRequest,
    Sleep,
    StreamReply,
    message,
    message_events,
    text_block,
)
from tests.hardening.conftest import ProxyProcess, spawn_proxy, wait_for

HEADERS = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
IN_FLIGHT, COMPLETED = 5, 50


def ask(marker: str, stream: bool) -> dict[str, Any]:
    return {
        "model": "claude-haiku-4-5",
        "max_tokens": 8,
        "stream": stream,
        "messages": [{"role": "user", "content": marker}],
    }


def states(db: Path) -> dict[str, str]:
    """First preview line (the marker) -> state."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT preview, state FROM exchanges").fetchall()
    return {(preview or "").split("\n")[0]: state for preview, state in rows}


async def test_kill_9_replays_the_journal_and_marks_in_flight_interrupted(
    tmp_path: Path, fake: FakeAnthropic, processes: list[ProxyProcess]
) -> None:
    def respond(req: RecordedRequest) -> StreamReply | dict[str, Any]:
        marker = req.json()["messages"][0]["content"]
        if marker.startswith("slow"):  # streams that are still running at the kill
            return StreamReply([*message_events(message(text_block("...")))[:3], Sleep(60)])
        return message(text_block(f"done {marker}"))

    fake.responder = respond
    data = tmp_path / "data"
    db = data / "exchanges.db"
    proxy = await spawn_proxy(data, fake.url)
    processes.append(proxy)
    async with aiohttp.ClientSession() as http:
        # 1. streams in flight: their pending rows reach the store
        slow = []
        for i in range(IN_FLIGHT):
            resp = await http.post(
                f"{proxy.url}/v1/messages", json=ask(f"slow{i}", True), headers=HEADERS
            )
            await resp.content.readuntil(b"\n\n")
            slow.append(resp)
        await wait_for(
            lambda: sum(s == "pending" for s in states(db).values()) == IN_FLIGHT, timeout=10
        )
        # 2. the store stalls (another process holds the write lock): finished exchanges reach
        #    the client and the journal, not the store
        locker = sqlite3.connect(db, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            completed = []
            for i in range(COMPLETED):
                marker = f"fast{i}"
                async with http.post(
                    f"{proxy.url}/v1/messages", json=ask(marker, i % 2 == 0), headers=HEADERS
                ) as resp:
                    assert resp.status == 200
                    await resp.read()
                completed.append(marker)
            assert journal_bytes(data) > 0  # they are in the journal
            proxy.kill9()
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        for resp in slow:
            resp.close()
    before = states(db)
    assert not any(m.startswith("fast") for m in before)  # none of them reached the store
    # 3. restart: measure until the proxy serves again with everything recovered
    t0 = time.perf_counter()
    proxy = await spawn_proxy(data, fake.url)
    processes.append(proxy)
    recovery_s = time.perf_counter() - t0
    after = states(db)
    missing = [m for m in completed if after.get(m) != "success"]
    assert not missing, f"{len(missing)} completed exchanges lost: {missing[:5]}"
    assert all(after[f"slow{i}"] == "interrupted" for i in range(IN_FLIGHT)), after
    assert "pending" not in after.values()
    assert journal_bytes(data) == 0 and len(list(data.glob("journal-*.bin"))) == 1
    assert "recovered" in proxy.log.read_text()
    # and it keeps working
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{proxy.url}/v1/messages", json=ask("again", False), headers=HEADERS) as resp,
    ):
        assert resp.status == 200
    await asyncio.sleep(0)
    print(
        f"\nFIGURE recovery: kill -9 with {IN_FLIGHT} streams in flight and {COMPLETED} finished "
        f"exchanges only in the journal; restart to healthy in {recovery_s:.2f} s, "
        f"{COMPLETED - len(missing)}/{COMPLETED} replayed, {IN_FLIGHT} marked interrupted"
    )
