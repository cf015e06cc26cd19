"""Faults, in both modes: the upstream refuses, hangs, resets, talks garbage; the client goes
away; the store's disk fills, turns read-only or disappears. The proxy answers cleanly, keeps
serving, and the record (or, when the store is broken, the counters in /health) says what
happened."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from anthropic_proxy.record.process import ProcessRunner
from tests.conftest import API_KEY, RunningProxy, journal_bytes
from tests.fakes.anthropic_upstream import (
    FakeAnthropic,
    JSONReply,
    Reset,
    Sleep,
    StreamReply,
    message,
    message_events,
    text_block,
)
from tests.fakes.openai_upstream import FakeOpenAI, completion, completion_chunks
from tests.hardening.conftest import BACKEND_KEY, Start, mode_settings, wait_for

HEADERS = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}


def ask(text: str = "hi", stream: bool = False) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def post(
    http: aiohttp.ClientSession, proxy: RunningProxy, body: dict[str, Any]
) -> tuple[int, str, bytes]:
    async with http.post(f"{proxy.url}/v1/messages", json=body, headers=HEADERS) as resp:
        return resp.status, resp.headers.get("content-type", ""), await resp.read()


def scripted(mode: str, fake: FakeAnthropic, oai: FakeOpenAI) -> FakeAnthropic | FakeOpenAI:
    """The fake that answers /v1/messages in this mode."""
    return oai if mode == "openrouter" else fake


def events_for(mode: str, text: str) -> list[bytes]:
    if mode == "openrouter":
        return completion_chunks(completion(text))
    return message_events(message(text_block(text)))


async def still_serving(http: aiohttp.ClientSession, proxy: RunningProxy) -> None:
    status, _, body = await post(http, proxy, ask("after"))
    assert status == 200, body


def assert_error_shape(raw: bytes) -> dict[str, Any]:
    import json

    payload: dict[str, Any] = json.loads(raw)
    assert payload["type"] == "error" and payload["error"]["type"] and payload["error"]["message"]
    return payload


# ---------------------------------------------------------------- the upstream side


async def test_upstream_refused(
    start: Start, fake: FakeAnthropic, oai: FakeOpenAI, mode: str, http: aiohttp.ClientSession
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    if mode == "openrouter":
        proxy = await start(
            mode="openrouter", openrouter_base_url=dead, openrouter_api_key=BACKEND_KEY
        )
    else:
        proxy = await start(upstream_url=dead)
    for stream in (False, True):
        status, _, raw = await post(http, proxy, ask(stream=stream))
        assert status == 502
        assert assert_error_shape(raw)["error"]["type"] == "api_error"
    rows = await proxy.rows(2)
    assert [(r["status"], r["state"], r["error_kind"]) for r in rows] == [
        (502, "error", "upstream_unavailable")
    ] * 2


async def test_upstream_hangs_before_headers(
    start: Start, fake: FakeAnthropic, oai: FakeOpenAI, mode: str, http: aiohttp.ClientSession
) -> None:
    proxy = await start(**mode_settings(mode, fake, oai, request_timeout_ms=300))
    scripted(mode, fake, oai).enqueue(StreamReply([], delay=30))
    status, _, raw = await post(http, proxy, ask(stream=True))
    assert status == 504
    assert assert_error_shape(raw)["error"]["type"] == "timeout_error"
    [row] = await proxy.rows(1)
    assert (row["status"], row["state"]) == (504, "timeout")
    await scripted(mode, fake, oai).wait_disconnect(-1)  # the hung upstream was let go
    await still_serving(http, proxy)


async def test_upstream_hangs_mid_stream(
    start: Start, fake: FakeAnthropic, oai: FakeOpenAI, mode: str, http: aiohttp.ClientSession
) -> None:
    proxy = await start(**mode_settings(mode, fake, oai, request_timeout_ms=300))
    scripted(mode, fake, oai).enqueue(
        StreamReply([*events_for(mode, "slow answer")[:3], Sleep(30)])
    )
    status, content_type, raw = await post(http, proxy, ask(stream=True))
    assert status == 200 and "text/event-stream" in content_type
    assert raw.rstrip().split(b"\n\n")[-1].startswith(b"event: error"), raw[-300:]
    assert b"timeout_error" in raw.rsplit(b"event: error", 1)[1]
    assert b"message_stop" not in raw
    [row] = await proxy.rows(1)
    assert row["state"] == "timeout"
    await scripted(mode, fake, oai).wait_disconnect(-1)
    await still_serving(http, proxy)


async def test_upstream_reset_mid_stream(
    start: Start, fake: FakeAnthropic, oai: FakeOpenAI, mode: str, http: aiohttp.ClientSession
) -> None:
    proxy = await start(**mode_settings(mode, fake, oai))
    scripted(mode, fake, oai).enqueue(
        StreamReply([*events_for(mode, "cut short here")[:4], Reset()])
    )
    status, _, raw = await post(http, proxy, ask(stream=True))
    assert status == 200
    assert raw.rstrip().split(b"\n\n")[-1].startswith(b"event: error"), raw[-300:]
    assert b"message_stop" not in raw
    [row] = await proxy.rows(1)
    assert (row["state"], row["error_kind"]) == ("upstream_broken", "upstream_broken")
    await still_serving(http, proxy)


@contextlib.asynccontextmanager
async def garbage_server(reply: bytes) -> AsyncIterator[str]:
    """A TCP server that answers any request with `reply` and hangs up."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await reader.read(65536)
            writer.write(reply)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    "reply",
    [
        b"\x00\xffthis is not HTTP\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",  # body cut short
        b"HTTP/1.1 abc\r\n\r\n",
        b"",
    ],
)
async def test_upstream_speaks_garbage(
    start: Start,
    oai: FakeOpenAI,
    fake: FakeAnthropic,
    mode: str,
    http: aiohttp.ClientSession,
    reply: bytes,
) -> None:
    async with garbage_server(reply) as url:
        if mode == "openrouter":
            proxy = await start(
                mode="openrouter", openrouter_base_url=url, openrouter_api_key=BACKEND_KEY
            )
        else:
            proxy = await start(upstream_url=url)
        try:
            status, _, raw = await post(http, proxy, ask())
        except aiohttp.ClientPayloadError:  # cut short as the upstream cut it: seen incomplete
            status, raw = 200, b""
        # either a clean 502 before any byte, or (body cut short in pass-through) a 200 whose
        # body the client sees incomplete: never a hang, never a crash
        if status != 200:
            assert status == 502
            assert_error_shape(raw)
        [row] = await proxy.rows(1)
        assert row["state"] in ("error", "upstream_broken") and row["status"] in (200, 502)
        cut_short = b"Content-Length: 100" in reply  # the connection broke mid-answer
        if status == 502:
            assert (row["state"], row["error_kind"]) == (
                ("upstream_broken", "upstream_broken")
                if cut_short
                else ("error", "upstream_unavailable")
            )
    async with http.get(f"{proxy.url}/health") as resp:
        assert resp.status == 200  # still serving


async def test_upstream_invalid_sse_and_json(
    start: Start, fake: FakeAnthropic, oai: FakeOpenAI, mode: str, http: aiohttp.ClientSession
) -> None:
    proxy = await start(**mode_settings(mode, fake, oai))
    upstream = scripted(mode, fake, oai)
    junk = [
        b"data: {not json\n\n",
        b"\xff\xfe\x00 random bytes\r\r\n",
        b"event: \n\n",
        b"data: [\n\n",
    ]
    upstream.enqueue(StreamReply(junk))
    status, _, raw = await post(http, proxy, ask(stream=True))
    if mode == "anthropic":  # pass-through relays bytes as they are
        assert status == 200 and raw == b"".join(junk)
    else:  # the translator never ends a broken stream as if it were complete
        assert status in (200, 502)
        assert b"message_stop" not in raw
        assert b"error" in raw
    upstream.enqueue(JSONReply(b"{this is not json", 200))
    status, _, raw = await post(http, proxy, ask())
    if mode == "anthropic":
        assert status == 200 and raw == b"{this is not json"
    else:
        assert status == 502
        assert_error_shape(raw)
    rows = await proxy.rows(2)
    assert len(rows) == 2 and all(r["state"] != "pending" for r in rows)
    if mode == "openrouter":
        assert all(r["state"] == "error" for r in rows)
    await still_serving(http, proxy)


async def test_client_disconnects_mid_stream(
    start: Start, fake: FakeAnthropic, oai: FakeOpenAI, mode: str, http: aiohttp.ClientSession
) -> None:
    proxy = await start(**mode_settings(mode, fake, oai))
    upstream = scripted(mode, fake, oai)
    events = events_for(mode, "never finished")
    upstream.enqueue(StreamReply([*events[:3], Sleep(30), *events[3:]]))
    resp = await http.post(f"{proxy.url}/v1/messages", json=ask(stream=True), headers=HEADERS)
    await resp.content.readuntil(b"\n\n")
    resp.close()
    seen = await upstream.wait_disconnect(-1, timeout=5)  # the upstream is let go
    assert seen.disconnected.is_set()
    [row] = await proxy.rows(1)
    assert (row["state"], row["error_kind"]) == ("client_closed", "client_closed")
    await still_serving(http, proxy)


# ---------------------------------------------------------------- the store side


def sqlite_fault(proxy: RunningProxy, fault: str) -> None:
    """Break the real SQLite store the way a host does: the disk fills, the database turns
    read-only, or it is gone."""
    store = proxy.state.store
    writer: sqlite3.Connection = store.writer  # type: ignore[attr-defined]
    # Between two of the recorder's statements: a connection closed under a running statement
    # crashes the process, which is not a fault a host inflicts.
    with store._lock:  # type: ignore[attr-defined]
        if fault == "disk_full":
            pages = writer.execute("PRAGMA page_count").fetchone()[0]
            writer.execute(f"PRAGMA max_page_count = {pages}")
        elif fault == "read_only":
            writer.execute("PRAGMA query_only = 1")
        else:
            writer.close()


def sqlite_heal(proxy: RunningProxy, fault: str) -> None:
    writer: sqlite3.Connection = proxy.state.store.writer  # type: ignore[attr-defined]
    if fault == "disk_full":
        writer.execute("PRAGMA max_page_count = 1073741823")
    elif fault == "read_only":
        writer.execute("PRAGMA query_only = 0")


async def health(http: aiohttp.ClientSession, proxy: RunningProxy) -> dict[str, Any]:
    async with http.get(f"{proxy.url}/health") as resp:
        assert resp.status == 200
        recorder: dict[str, Any] = (await resp.json())["recorder"]
        return recorder


@pytest.mark.parametrize("fault", ["disk_full", "read_only", "gone"])
async def test_store_faults_do_not_stop_proxying(
    start: Start,
    fake: FakeAnthropic,
    oai: FakeOpenAI,
    mode: str,
    http: aiohttp.ClientSession,
    fault: str,
) -> None:
    # The faults are injected into the store's own connection: the recorder runs as a thread here
    # (the process variant is test_recorder_process_killed_loses_nothing).
    proxy = await start(**mode_settings(mode, fake, oai, recorder_process=False))
    recorder = proxy.state.recorder
    await still_serving(http, proxy)
    await proxy.rows(1)
    await wait_for(lambda: recorder.depth == 0)
    sqlite_fault(proxy, fault)
    for i in range(10):
        big = os.urandom(100_000).hex()  # each body needs new pages, even compressed
        status, _, raw = await post(http, proxy, ask(f"{i} {big}", stream=i % 2 == 0))
        assert status == 200, raw[:300]
    await wait_for(lambda: recorder.depth == 0 and recorder.failed_writes > 0)
    counters = await health(http, proxy)
    assert counters["failed_writes"] == recorder.failed_writes > 0
    # the journal does not grow while the store is broken
    await wait_for(lambda: journal_bytes(proxy.settings.data_path) == 0)
    if fault == "gone":
        return
    sqlite_heal(proxy, fault)
    status, _, _ = await post(http, proxy, ask("healed"))
    assert status == 200
    rows = await proxy.rows(1, preview="healed\n→ ok")  # recorded again once the store heals
    assert rows, "nothing recorded after the store healed"


async def test_a_stalled_store_drops_and_counts(
    start: Start, fake: FakeAnthropic, oai: FakeOpenAI, mode: str, http: aiohttp.ClientSession
) -> None:
    """Another process holds the database's write lock: the bounded queue fills, records are
    dropped and counted, the hot path never waits."""
    proxy = await start(**mode_settings(mode, fake, oai, record_queue_size=4))
    await still_serving(http, proxy)
    await proxy.rows(1)
    locker = sqlite3.connect(proxy.settings.data_path / "exchanges.db", isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        for i in range(20):
            status, _, _ = await post(http, proxy, ask(f"stalled {i}"))
            assert status == 200
        counters = await health(http, proxy)
        assert counters["dropped"] > 0 and "RECORD_QUEUE_SIZE" in counters["drop_reason"]
        assert counters["queued"] <= 4
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    await wait_for(lambda: proxy.state.recorder.depth == 0, timeout=10)
    await still_serving(http, proxy)


async def test_a_stalled_store_keeps_every_exchange_in_the_backlog(
    start: Start, fake: FakeAnthropic, oai: FakeOpenAI, mode: str, http: aiohttp.ClientSession
) -> None:
    """With the default bounds the journal on disk is the backlog: while the store is locked
    nothing is dropped, /health and /metrics show the backlog and its age, and once the lock
    goes every exchange is recorded."""
    proxy = await start(**mode_settings(mode, fake, oai))
    await still_serving(http, proxy)
    await proxy.rows(1)
    locker = sqlite3.connect(proxy.settings.data_path / "exchanges.db", isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        for i in range(60):
            status, _, _ = await post(http, proxy, ask(f"backlog {i}"))
            assert status == 200
        await wait_for(lambda: proxy.state.recorder.backlog_age_s > 0)
        counters = await health(http, proxy)
        assert counters["dropped"] == 0 and counters["queued"] >= 60
        assert counters["backlog_bytes"] > 0 and counters["backlog_age_s"] > 0
        async with http.get(f"{proxy.url}/metrics") as r:
            metrics = await r.text()
        assert "anthropic_proxy_recorder_backlog_bytes" in metrics
        assert "anthropic_proxy_recorder_backlog_age_seconds" in metrics
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    rows = await proxy.rows(61, timeout=30)
    assert len(rows) == 61  # the first request and all 60 sent while the store was locked
    assert {f"backlog {i}" for i in range(60)} <= {r["preview"].split("\n")[0] for r in rows}
    await wait_for(lambda: proxy.state.recorder.depth == 0)  # the report follows the commit
    counters = await health(http, proxy)
    assert counters["dropped"] == 0 and counters["queued"] == 0
    assert counters["backlog_bytes"] == 0 and counters["backlog_age_s"] == 0


async def test_recorder_process_killed_loses_nothing(
    start: Start, fake: FakeAnthropic, oai: FakeOpenAI, mode: str, http: aiohttp.ClientSession
) -> None:
    """The recorder process dies: the proxy goes on serving, starts another one where the last
    report ended, and what was journaled meanwhile is recorded."""
    proxy = await start(**mode_settings(mode, fake, oai))
    await still_serving(http, proxy)
    await proxy.rows(1)
    recorder = proxy.state.recorder
    runner = recorder.runner
    assert isinstance(runner, ProcessRunner) and runner.pid is not None
    first = runner.pid
    assert first != os.getpid()
    os.kill(first, signal.SIGKILL)
    for i in range(10):
        status, _, _ = await post(http, proxy, ask(f"while dead {i}", stream=i % 2 == 0))
        assert status == 200
    await wait_for(lambda: recorder.restarts == 1 and recorder.depth == 0, timeout=15)
    assert runner.pid not in (None, first)
    rows = await proxy.rows(11)
    previews = {r["preview"].split("\n")[0] for r in rows}
    assert {f"while dead {i}" for i in range(10)} <= previews
    counters = await health(http, proxy)
    assert (counters["restarts"], counters["dropped"], counters["failed_writes"]) == (1, 0, 0)
