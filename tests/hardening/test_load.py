"""Load: 200 concurrent streams of 50 events, byte-exact and all recorded; 5,000 sequential
requests through a proxy process with flat memory (VmRSS). Figures are printed (run with -s)
for the README's Reliability section; no timing is asserted."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import API_KEY
from tests.fakes.anthropic_upstream import (
    FakeAnthropic,
    RecordedRequest,
    StreamReply,
    message,
    message_events,
    text_block,
)
from tests.hardening.conftest import ProxyProcess, Start, spawn_proxy, wait_for

STREAMS, EVENTS = 200, 50
HEADERS = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}


def stream_for(marker: str) -> list[bytes]:
    """Exactly EVENTS events, unique to `marker`, with multi-byte text."""
    text = f"{marker}: " + "".join(f"wörd{i} 漢 " for i in range(120))
    events = message_events(message(text_block(text)), text_parts=EVENTS - 6)
    assert len(events) == EVENTS
    return events


def body(marker: str, stream: bool = True, pad: int = 0) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": marker + " " + "p" * pad}],
    }


async def test_200_concurrent_streams_byte_exact_and_recorded(
    start: Start, fake: FakeAnthropic
) -> None:
    sent: dict[str, bytes] = {}

    def respond(req: RecordedRequest) -> StreamReply:
        marker = req.json()["messages"][0]["content"].split()[0]
        events = stream_for(marker)
        sent[marker] = b"".join(events)
        return StreamReply(events)

    fake.responder = respond
    proxy = await start(upstream_url=fake.url)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one(i: int) -> tuple[str, bytes]:
            marker = f"s{i:03d}"
            async with http.post(
                f"{proxy.url}/v1/messages", json=body(marker), headers=HEADERS
            ) as resp:
                assert resp.status == 200
                return marker, await resp.read()

        async with asyncio.timeout(120):
            got = dict(await asyncio.gather(*(one(i) for i in range(STREAMS))))
    assert len(got) == STREAMS
    inexact = [m for m, data in got.items() if data != sent[m]]
    assert not inexact, f"{len(inexact)} streams differ: {inexact[:5]}"
    rows = await proxy.rows(STREAMS, timeout=60, state="success")
    assert len(rows) == STREAMS
    assert {r["preview"].split()[0] for r in rows} == set(sent)
    assert all(r["response_bytes"] == len(sent[r["preview"].split()[0]]) for r in rows)
    health = proxy.state.recorder
    assert (health.dropped, health.failed_writes) == (0, 0)
    print(
        f"\nFIGURE streams: {STREAMS}x{EVENTS} events, {len(got) - len(inexact)} byte-exact, {len(rows)} recorded"
    )


async def test_5000_sequential_requests_flat_memory(
    tmp_path: Path, fake: FakeAnthropic, processes: list[ProxyProcess]
) -> None:
    proxy = await spawn_proxy(tmp_path / "data", fake.url)
    processes.append(proxy)
    total, warmup = 5000, 500
    samples: list[tuple[int, int]] = []
    async with aiohttp.ClientSession() as http:
        for i in range(total):
            # unique bodies of ~2 KB, streams and JSON alternating
            async with http.post(
                f"{proxy.url}/v1/messages",
                json=body(f"r{i}", stream=i % 2 == 0, pad=2000),
                headers=HEADERS,
            ) as resp:
                assert resp.status == 200
                await resp.read()
            if i + 1 == warmup or (i + 1) % 1000 == 0:
                samples.append((i + 1, proxy.rss_kb()))
        async with http.get(f"{proxy.url}/health") as resp:
            recorder = (await resp.json())["recorder"]
    db = tmp_path / "data" / "exchanges.db"

    def stored() -> int:
        with sqlite3.connect(db) as conn:
            return int(
                conn.execute("SELECT count(*) FROM exchanges WHERE state = 'success'").fetchone()[0]
            )

    await wait_for(lambda: stored() >= total, timeout=30)
    base = samples[0][1]
    growth_mb = (samples[-1][1] - base) / 1024
    print(
        f"\nFIGURE rss: {total} sequential requests, VmRSS after {warmup}: {base / 1024:.1f} MB, "
        f"after {total}: {samples[-1][1] / 1024:.1f} MB, growth {growth_mb:.1f} MB; "
        f"samples {[(n, round(kb / 1024, 1)) for n, kb in samples]}"
    )
    assert (recorder["dropped"], recorder["failed_writes"]) == (0, 0)
    assert growth_mb < 50
