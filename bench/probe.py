"""Clients for bench/run.py.

* ``streams()``: SSE stream probe on a raw asyncio protocol (own HTTP/1.1 response
  parser, chunked or Content-Length).  It timestamps every socket read and, for
  each text_delta ``e<i>@<ns>`` written by bench/upstream.py, records the one-way
  delay upstream -> client; plus TTFE (request sent -> first complete SSE event).
* ``load()``: closed-loop aiohttp driver, bounded by a request count (RSS phase,
  store filling, fallback when wrk is missing).
"""

# ruff: noqa: UP031  (%-formatting kept: it also formats the bytes protocol lines)
from __future__ import annotations

import asyncio
import re
import socket
import statistics
import time
from collections.abc import Callable
from typing import Any, cast

import aiohttp

DELTA_RE = re.compile(rb"e(\d+)@(\d+) ")


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100.0 * len(s) + 0.5) - 1))]


class _Conn(asyncio.Protocol):
    def __init__(self) -> None:
        self.t: asyncio.Transport | None = None
        self.closed = False
        self.fut: asyncio.Future[int] | None = None
        self.buf = bytearray()
        self.head: tuple[int, bool, int] | None = None  # (status, chunked, content_length)
        self.body = bytearray()  # de-chunked body not yet split into events
        self.events: list[tuple[int, bytes]] = []
        self.left = -1  # bytes left in the current chunk (-1: expecting a size line)
        self.keep = True
        self.t0 = self.t_head = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.fut and not self.fut.done():
            self.fut.set_exception(ConnectionError("closed mid-response"))

    def start(self, raw: bytes) -> asyncio.Future[int]:
        self.buf = bytearray()
        self.head = None
        self.body = bytearray()
        self.events = []
        self.left = -1
        self.keep = True
        self.fut = asyncio.get_running_loop().create_future()
        self.t0 = time.monotonic_ns()
        assert self.t is not None
        self.t.write(raw)
        return self.fut

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        self.buf += data
        if self.head is None:
            i = self.buf.find(b"\r\n\r\n")
            if i < 0:
                return
            lines = bytes(self.buf[:i]).split(b"\r\n")
            del self.buf[: i + 4]
            hdr: dict[bytes, bytes] = {}
            for ln in lines[1:]:
                key, _, v = ln.partition(b":")
                hdr[key.strip().lower()] = v.strip().lower()
            self.keep = hdr.get(b"connection") != b"close"
            self.head = (
                int(lines[0].split()[1]),
                b"chunked" in hdr.get(b"transfer-encoding", b""),
                int(hdr.get(b"content-length", b"-1")),
            )
            self.t_head = now
        _status, chunked, clen = self.head
        done = False
        if chunked:
            while True:
                if self.left < 0:
                    j = self.buf.find(b"\r\n")
                    if j < 0:
                        break
                    self.left = int(bytes(self.buf[:j]).split(b";")[0], 16)
                    del self.buf[: j + 2]
                    if self.left == 0:
                        done = True
                        break
                if len(self.buf) < self.left + 2:
                    break
                self.body += self.buf[: self.left]
                del self.buf[: self.left + 2]
                self.left = -1
        else:
            self.body += self.buf
            self.buf.clear()
        while True:  # split complete SSE events
            k = self.body.find(b"\n\n")
            if k < 0:
                break
            self.events.append((now, bytes(self.body[:k])))
            del self.body[: k + 2]
        if (
            not chunked
            and clen >= 0
            and sum(len(e) + 2 for _, e in self.events) + len(self.body) >= clen
        ):
            done = True
        if done and self.fut is not None and not self.fut.done():
            self.fut.set_result(now)


def _request(host: str, port: int, body: bytes, extra: dict[str, str]) -> bytes:
    h = "".join("{}: {}\r\n".format(*kv) for kv in extra.items())
    return (
        (
            "POST /v1/messages HTTP/1.1\r\nhost: %s:%d\r\ncontent-type: application/json\r\n"
            "anthropic-version: 2023-06-01\r\nx-api-key: sk-ant-bench-probe-000000000000\r\n"
            "%scontent-length: %d\r\n\r\n"
        )
        % (host, port, h, len(body))
    ).encode() + body


async def streams(
    host: str,
    port: int,
    body_fn: Callable[[], bytes],
    n: int,
    conc: int = 1,
    warmup: int = 1,
    events: int = 50,
    gap_ms: float | None = None,
    timeout: float = 60.0,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    extra = {"x-bench-events": str(events)}
    if gap_ms is not None:
        extra["x-bench-gap-ms"] = str(gap_ms)
    results: list[dict[str, Any]] = []

    async def one_conn() -> None:
        conn: _Conn | None = None
        for i in range(n + warmup):
            if conn is None or conn.closed or not conn.keep:
                _, conn = await loop.create_connection(_Conn, host, port)
            try:
                t_end = await asyncio.wait_for(
                    conn.start(_request(host, port, body_fn(), extra)), timeout
                )
            except Exception as e:
                results.append({"ok": False, "why": repr(e)[:200]})
                if conn.t is not None:
                    conn.t.close()
                conn = None
                continue
            if i < warmup:
                continue
            assert conn.head is not None
            r: dict[str, Any] = {
                "status": conn.head[0],
                "ttfb_ms": (conn.t_head - conn.t0) / 1e6,
                "total_ms": (t_end - conn.t0) / 1e6,
                "delays_us": [],
            }
            if conn.events:
                r["ttfe_ms"] = (conn.events[0][0] - conn.t0) / 1e6
            idx: list[int] = []
            stop = False
            for t, ev in conn.events:
                if b"message_stop" in ev:
                    stop = True
                for m in DELTA_RE.finditer(ev):
                    idx.append(int(m.group(1)))
                    r["delays_us"].append((t - int(m.group(2))) / 1e3)
            r["ok"] = r["status"] == 200 and stop and idx == list(range(events))
            if not r["ok"]:
                r["why"] = "status=%s stop=%s deltas=%d/%d" % (r["status"], stop, len(idx), events)
            results.append(r)
        if conn is not None and conn.t is not None:
            conn.t.close()

    await asyncio.gather(*(one_conn() for _ in range(conc)))
    ok = [r for r in results if r.get("ok")]
    delays = [d for r in ok for d in r["delays_us"]]
    out: dict[str, Any] = {
        "streams": len(results),
        "ok": len(ok),
        "events": len(delays),
        "errors": [r["why"] for r in results if not r.get("ok")][:3],
    }
    for k in ("ttfb_ms", "ttfe_ms", "total_ms"):
        v = [r[k] for r in ok if k in r]
        out[k + "_p50"] = statistics.median(v) if v else None
    for p in (50, 90, 99):
        out["delay_us_p%d" % p] = pct(delays, p)
    return out


async def load(
    base: str,
    n: int,
    conc: int,
    make: Callable[[int], tuple[bytes, dict[str, str]]],
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Send exactly n POST /v1/messages (closed loop, conc connections); make(i) -> (body, headers)."""
    statuses: dict[int, int] = {}
    errors: list[str] = []
    lat: list[float] = []
    nxt = 0
    conn = aiohttp.TCPConnector(limit=conc, force_close=False)
    async with aiohttp.ClientSession(
        base, connector=conn, timeout=aiohttp.ClientTimeout(total=timeout)
    ) as s:

        async def worker() -> None:
            nonlocal nxt
            while nxt < n:
                i, nxt = nxt, nxt + 1
                body, hdr = make(i)
                t0 = time.perf_counter()
                try:
                    async with s.post(
                        "/v1/messages",
                        data=body,
                        headers={
                            "content-type": "application/json",
                            "anthropic-version": "2023-06-01",
                            "x-api-key": "sk-ant-bench-load-0000000000000",
                            **hdr,
                        },
                    ) as r:
                        await r.read()
                        statuses[r.status] = statuses.get(r.status, 0) + 1
                except Exception as e:  # keep going; counted
                    if len(errors) < 5:
                        errors.append(repr(e)[:200])
                    statuses[-1] = statuses.get(-1, 0) + 1
                lat.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        dt = time.perf_counter() - t0
    return {
        "requests": n,
        "seconds": dt,
        "rps": n / dt,
        "statuses": statuses,
        "errors": errors,
        "lat_ms_p50": (pct(lat, 50) or 0) * 1e3,
        "lat_ms_p99": (pct(lat, 99) or 0) * 1e3,
    }
