#!/usr/bin/env python3
"""Fast fake Anthropic upstream for the benchmarks (uvloop, raw asyncio protocol,
own minimal HTTP/1.1 parser: Content-Length and chunked request bodies, keep-alive).

POST /v1/messages
  * non-stream: a prebuilt ~900-byte ``message`` JSON (model echoed from the body);
  * ``"stream": true``: message_start, content_block_start, ping, N text_delta
    events (one HTTP chunk each, ``gap`` ms apart on an absolute schedule),
    content_block_stop, message_delta, message_stop.  Each delta's text is
    ``e<i>@<monotonic_ns> `` so a client can compute the one-way delay per event.
  Per-request knobs (request headers, so they pass through any proxy):
    ``x-bench-status: 429``  answer with that status and an Anthropic error body;
    ``x-bench-gap-ms: 0``    gap between stream events (default --gap-ms);
    ``x-bench-events: 10``   number of text_delta events (default --events).
POST /v1/messages/count_tokens -> {"input_tokens": len(body)//4}
GET /stats -> request counters; GET /health -> ok; anything else under /v1/ -> 200 {}.
"""

# ruff: noqa: UP031  (%-formatting kept: it also formats the bytes protocol lines)
from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import time
from typing import Any, cast

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]

STATS = {"requests": 0, "messages": 0, "streams": 0, "bytes_in": 0, "bad": 0}
MODEL_RE = re.compile(rb'"model"\s*:\s*"([^"\\]{1,100})"')
STREAM_TAIL_RE = re.compile(rb"\s*:\s*true")


def wants_stream(body: bytes) -> bool:
    # bytes.find (memchr-based) instead of a regex scan of a 300 KB body
    i = body.rfind(b'"stream"')
    while i >= 0:
        if STREAM_TAIL_RE.match(body, i + 8):
            return True
        i = body.rfind(b'"stream"', 0, i)
    return False


REASONS = {
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    429: b"Too Many Requests",
    500: b"Internal Server Error",
    529: b"Overloaded",
}


class Cfg:
    events = 50
    gap_ms = 20.0


_REPLY: dict[bytes, bytes] = {}


def reply_body(model: bytes) -> bytes:
    r = _REPLY.get(model)
    if r is None:
        r = _REPLY[model] = json.dumps(
            {
                "id": "msg_01BenchFakeUpstream000000",
                "type": "message",
                "role": "assistant",
                "model": model.decode(),
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "content": [{"type": "text", "text": ("All done. " * 60)[:600]}],
                "usage": {
                    "input_tokens": 1200,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 8000,
                    "output_tokens": 150,
                },
            },
            separators=(",", ":"),
        ).encode()
        if len(_REPLY) > 64:
            _REPLY.clear()
    return r


def response(status: int, ctype: bytes, body: bytes, keep: bool, extra: bytes = b"") -> bytes:
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n"
            b"request-id: req_bench_upstream\r\n"
            % (status, REASONS.get(status, b"X"), ctype, len(body)),
            extra,
            b"" if keep else b"connection: close\r\n",
            b"\r\n",
            body,
        )
    )


def chunk(b: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(b), b)


def sse(name: str, obj: dict[str, Any]) -> bytes:
    return chunk(
        b"event: %s\ndata: %s\n\n"
        % (name.encode(), json.dumps(obj, separators=(",", ":")).encode())
    )


class Upstream(asyncio.Protocol):
    t: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.head: list[Any] | None = None  # parsed request head while reading the body
        self.streaming = False

    # --- parsing -----------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.streaming:
            self.parse()

    def parse(self) -> None:
        while True:
            if self.head is None:
                i = self.buf.find(b"\r\n\r\n")
                if i < 0:
                    return
                lines = bytes(self.buf[:i]).split(b"\r\n")
                del self.buf[: i + 4]
                try:
                    method, target, version = lines[0].split(b" ", 2)
                except ValueError:
                    STATS["bad"] += 1
                    self.t.close()
                    return
                hdr: dict[bytes, bytes] = {}
                for ln in lines[1:]:
                    key, _, v = ln.partition(b":")
                    hdr[key.strip().lower()] = v.strip()
                keep = hdr.get(b"connection", b"").lower() != b"close" and version == b"HTTP/1.1"
                if hdr.get(b"expect", b"").lower() == b"100-continue":
                    self.t.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                chunked = b"chunked" in hdr.get(b"transfer-encoding", b"").lower()
                self.head = [
                    method,
                    target,
                    hdr,
                    keep,
                    chunked,
                    int(hdr.get(b"content-length", b"0") or 0),
                    [],
                ]
            method, target, hdr, keep, chunked, need, parts = self.head
            if chunked:
                while True:  # decode as many complete chunks as buffered
                    j = self.buf.find(b"\r\n")
                    if j < 0:
                        return
                    size = int(bytes(self.buf[:j]).split(b";")[0], 16)
                    if size == 0:
                        k = self.buf.find(b"\r\n\r\n", j)  # no trailers expected
                        if k < 0:
                            if len(self.buf) >= j + 4 and self.buf[j : j + 4] == b"\r\n\r\n":
                                k = j
                            else:
                                return
                        del self.buf[: k + 4]
                        break
                    if len(self.buf) < j + 2 + size + 2:
                        return
                    parts.append(bytes(self.buf[j + 2 : j + 2 + size]))
                    del self.buf[: j + 2 + size + 2]
                body = b"".join(parts)
            else:
                if len(self.buf) < need:
                    return
                body = bytes(self.buf[:need])
                del self.buf[:need]
            self.head = None
            self.handle(method, target, hdr, keep, body)
            if self.streaming or self.t.is_closing():
                return

    # --- answering ---------------------------------------------------------
    def handle(
        self, method: bytes, target: bytes, hdr: dict[bytes, bytes], keep: bool, body: bytes
    ) -> None:
        STATS["requests"] += 1
        STATS["bytes_in"] += len(body)
        path = target.split(b"?", 1)[0]
        if method == b"POST" and path == b"/v1/messages":
            STATS["messages"] += 1
            m = MODEL_RE.search(body, 0, 2048) or MODEL_RE.search(body)
            model = m.group(1) if m else b"claude-sonnet-4-5-20250929"
            status = int(hdr.get(b"x-bench-status", b"200"))
            if status != 200:
                err = json.dumps(
                    {
                        "type": "error",
                        "error": {
                            "type": "rate_limit_error" if status == 429 else "api_error",
                            "message": "bench upstream: status %d" % status,
                        },
                    }
                ).encode()
                extra = b"retry-after: 1\r\n" if status == 429 else b""
                self.t.write(response(status, b"application/json", err, keep, extra))
            elif wants_stream(body):
                STATS["streams"] += 1
                self.streaming = True
                self.t.pause_reading()
                asyncio.get_running_loop().create_task(
                    self.stream(
                        model,
                        len(body) // 4,
                        keep,
                        float(hdr.get(b"x-bench-gap-ms", b"%f" % Cfg.gap_ms)),
                        int(hdr.get(b"x-bench-events", b"%d" % Cfg.events)),
                    )
                )
                return
            else:
                self.t.write(response(200, b"application/json", reply_body(model), keep))
        elif method == b"POST" and path == b"/v1/messages/count_tokens":
            self.t.write(
                response(200, b"application/json", b'{"input_tokens":%d}' % (len(body) // 4), keep)
            )
        elif path == b"/stats":
            self.t.write(response(200, b"application/json", json.dumps(STATS).encode(), keep))
        elif path == b"/health":
            self.t.write(response(200, b"text/plain", b"ok", keep))
        elif path.startswith(b"/v1/"):
            self.t.write(response(200, b"application/json", b"{}", keep))
        else:
            self.t.write(response(404, b"application/json", b'{"type":"error"}', keep))
        if not keep:
            self.t.close()

    async def stream(
        self, model: bytes, in_tok: int, keep: bool, gap_ms: float, events: int
    ) -> None:
        t, loop = self.t, asyncio.get_running_loop()
        try:
            t.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
                b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n"
                b"request-id: req_bench_upstream\r\n%s\r\n"
                % (b"" if keep else b"connection: close\r\n")
            )
            t.write(
                sse(
                    "message_start",
                    {
                        "type": "message_start",
                        "message": {
                            "id": "msg_01BenchStream%d" % time.monotonic_ns(),
                            "type": "message",
                            "role": "assistant",
                            "model": model.decode(),
                            "content": [],
                            "stop_reason": None,
                            "stop_sequence": None,
                            "usage": {
                                "input_tokens": in_tok,
                                "output_tokens": 1,
                                "cache_creation_input_tokens": 0,
                                "cache_read_input_tokens": 0,
                            },
                        },
                    },
                )
                + sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
                + sse("ping", {"type": "ping"})
            )
            gap, t0 = gap_ms / 1000.0, loop.time()
            for i in range(events):
                if gap > 0:
                    d = t0 + (i + 1) * gap - loop.time()
                    if d > 0:
                        await asyncio.sleep(d)
                if t.is_closing():
                    return
                t.write(
                    chunk(
                        b'event: content_block_delta\ndata: {"type":"content_block_delta",'
                        b'"index":0,"delta":{"type":"text_delta","text":"e%d@%d "}}\n\n'
                        % (i, time.monotonic_ns())
                    )
                )
            t.write(
                sse("content_block_stop", {"type": "content_block_stop", "index": 0})
                + sse(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                        "usage": {"output_tokens": events},
                    },
                )
                + sse("message_stop", {"type": "message_stop"})
                + b"0\r\n\r\n"
            )
            if not keep:
                t.close()
        finally:
            self.streaming = False
            if not t.is_closing():
                t.resume_reading()
                if self.buf:
                    self.parse()


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(Upstream, host, port, backlog=4096, reuse_address=True)
    print("bench upstream on http://%s:%d" % (host, port), flush=True)
    async with srv:
        await srv.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description="fake Anthropic upstream for bench/")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18200)
    ap.add_argument("--events", type=int, default=50)
    ap.add_argument("--gap-ms", type=float, default=20.0)
    a = ap.parse_args()
    Cfg.events, Cfg.gap_ms = a.events, a.gap_ms
    (uvloop.run if uvloop else asyncio.run)(serve(a.host, a.port))


if __name__ == "__main__":
    main()
