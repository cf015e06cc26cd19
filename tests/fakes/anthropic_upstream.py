"""A scriptable fake Anthropic API on 127.0.0.1 (aiohttp, random port) for tests.

Quick use::

    async with FakeAnthropic() as fake:                  # fake.url == "http://127.0.0.1:<port>"
        fake.enqueue(message(text_block("héllo")))       # JSON or SSE, as the request asks
        fake.enqueue(error_reply(429, headers={"retry-after": "3"}))
        fake.enqueue(StreamReply([*message_events(msg)[:4], Reset()]))    # reset mid-stream
        fake.enqueue(StreamReply([message_events(msg)[0], Sleep(30)]))    # hang after message_start
        fake.enqueue(StreamReply([*message_events(msg)[:4], BadFraming()]))  # broken chunking
        fake.enqueue(StreamReply(cut_multibyte(b"".join(message_events(msg))), gap=0.01))
        fake.responder = lambda req: ...                 # used when the queue is empty
        ...
        req = fake.requests[-1]      # .method .path .query_string .query .headers .body .json()
        await fake.wait_disconnect()                     # the client (proxy) closed the connection

Replies (type `Reply`) for `POST /v1/messages`: first the queue (`enqueue`), else
`responder(req)` if it returns non-None, else a short "ok" text message. A reply is one of

- a message dict (see `message`): rendered as JSON, or as exact SSE when the body says "stream";
- `JSONReply(body, status, headers, delay)`: any JSON (or raw bytes) with any status;
- `StreamReply(steps, status, headers, delay, gap)`: an SSE response; steps are raw `bytes`
  (written as one write each), `Sleep(s)` (pause; a long one is a hang), `Reset()` (TCP RST) or
  `BadFraming(raw)` (bytes past the chunked encoding, then close) or `Gate()` (wait until the test
  sets `gate.opened`).

`delay` holds back the status line; `gap` sleeps between byte steps. Other routes:
`POST /v1/messages/count_tokens` -> `{"input_tokens": n}` (`count_tokens` value, default a
length estimate), `GET /v1/models`, `HEAD /` -> 200, anything else -> a JSON echo of the request.
`route(method, path, reply)` overrides any route with a reply or a `(req) -> Reply` callable.
Every request is recorded in `requests`; `RecordedRequest.disconnected` is set when the client
went away before the reply was complete, `finished` when the handler is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import CIMultiDict

_ids = itertools.count(1)


@dataclass
class Sleep:
    seconds: float


@dataclass
class Reset:
    """Abort the TCP connection with an RST (SO_LINGER 0)."""


@dataclass
class BadFraming:
    """Write bytes straight to the socket, past the chunked encoding, then close: by default a
    chunk header announcing 256 bytes that never come, so the client sees a broken body.
    (A chunk size that is not hex makes aiohttp 3.14's C parser drop the body without telling
    the reader, which then waits forever: not a useful fault to script.)"""

    raw: bytes = b"100\r\n"


@dataclass
class Gate:
    """Hold the reply until the test sets `opened` (e.g. once the client has seen what came
    before, so what follows cannot arrive in the same read)."""

    opened: asyncio.Event = field(default_factory=asyncio.Event)


Step = bytes | Sleep | Reset | BadFraming | Gate


@dataclass
class JSONReply:
    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class StreamReply:
    steps: Sequence[Step]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    gap: float = 0.0


Reply = JSONReply | StreamReply | dict[str, Any]
Responder = Callable[["RecordedRequest"], Reply | None]


@dataclass
class RecordedRequest:
    method: str
    path: str
    query_string: str
    headers: CIMultiDict[str]
    body: bytes
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.query_string, keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def thinking_block(thinking: str, signature: str = "EqQBCkYIfakesig==") -> dict[str, Any]:
    return {"type": "thinking", "thinking": thinking, "signature": signature}


def tool_use_block(name: str, input: dict[str, Any], id: str | None = None) -> dict[str, Any]:
    tid = id or f"toolu_fake{next(_ids):06d}"
    return {"type": "tool_use", "id": tid, "name": name, "input": input}


def usage(**counts: Any) -> dict[str, Any]:
    """Usage with non-zero defaults; override with the API's names, e.g. `output_tokens=7`."""
    return {"input_tokens": 120, "cache_creation_input_tokens": 40, "cache_read_input_tokens": 800,
            "output_tokens": 35, "service_tier": "standard", **counts}  # fmt: skip


def message(
    *blocks: dict[str, Any],
    stop_reason: str | None = None,
    model: str | None = None,
    usage_: dict[str, Any] | None = None,
    id: str | None = None,
) -> dict[str, Any]:
    """A Message object; stop_reason defaults to tool_use when a tool_use block is present.

    A `model` of None is filled in with the request's model when the reply is rendered.
    """
    if stop_reason is None:
        stop_reason = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
    return {"id": id or f"msg_fake{next(_ids):06d}", "type": "message", "role": "assistant",
            "model": model, "content": list(blocks), "stop_reason": stop_reason,
            "stop_sequence": None, "usage": usage_ or usage()}  # fmt: skip


def sse(event: str, data: Any) -> bytes:
    """One SSE event: `event: <name>` + `data: <one-line JSON>` + blank line."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n".encode()


def error_body(type_: str, message_: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": type_, "message": message_}}


def error_event(type_: str = "overloaded_error", message_: str = "Overloaded") -> bytes:
    return sse("error", error_body(type_, message_))


def _pieces(text: str, n: int) -> list[str]:
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def message_events(
    msg: dict[str, Any], *, text_parts: int = 3, json_parts: int = 3, ping: bool = True
) -> list[bytes]:
    """The exact SSE event sequence Anthropic sends for `msg`, one bytes item per event.

    Text and thinking are split into `text_parts` deltas, tool input JSON into `json_parts`
    input_json_delta fragments (after an empty one, as the API does).
    """

    def ev(name: str, **fields: Any) -> bytes:
        return sse(name, {"type": name, **fields})

    u = msg["usage"]
    start = {**msg, "content": [], "stop_reason": None, "stop_sequence": None}
    out = [ev("message_start", message={**start, "usage": {**u, "output_tokens": 1}})]
    for i, block in enumerate(msg["content"]):
        kind, first, deltas = block["type"], block, list[dict[str, Any]]()
        if kind == "text":
            first = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": t} for t in _pieces(block["text"], text_parts)]
        elif kind == "thinking":
            first = {"type": "thinking", "thinking": "", "signature": ""}
            for t in _pieces(block["thinking"], text_parts):
                deltas.append({"type": "thinking_delta", "thinking": t})
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        elif kind in ("tool_use", "server_tool_use"):
            first = {**block, "input": {}}
            raw = json.dumps(block["input"], ensure_ascii=False)
            for p in ["", *_pieces(raw, json_parts)]:
                deltas.append({"type": "input_json_delta", "partial_json": p})
        # other kinds (redacted_thinking, server tool results) arrive whole in the start event
        out.append(ev("content_block_start", index=i, content_block=first))
        if ping and i == 0:
            out.append(ev("ping"))
        out += [ev("content_block_delta", index=i, delta=d) for d in deltas]
        out.append(ev("content_block_stop", index=i))
    delta = {"stop_reason": msg["stop_reason"], "stop_sequence": msg.get("stop_sequence")}
    return [*out, ev("message_delta", delta=delta, usage=u), ev("message_stop")]


def cut_multibyte(data: bytes) -> list[bytes]:
    """Split `data` right after the first byte of every multi-byte UTF-8 character."""
    parts, start = [], 0
    for i, b in enumerate(data):
        if b >= 0xC0:
            parts.append(data[start : i + 1])
            start = i + 1
    parts.append(data[start:])
    return [p for p in parts if p]


_ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
    403: "permission_error", 404: "not_found_error", 413: "request_too_large",
    429: "rate_limit_error", 500: "api_error", 504: "timeout_error", 529: "overloaded_error",
}  # fmt: skip


def error_reply(status: int, type_: str | None = None, message_: str | None = None,
                headers: dict[str, str] | None = None) -> JSONReply:  # fmt: skip
    """An Anthropic-shaped HTTP error, e.g. `error_reply(429, headers={"retry-after": "2"})`."""
    t = type_ or _ERROR_TYPES.get(status, "api_error")
    body = {**error_body(t, message_ or f"fake {t}"), "request_id": f"req_fake{next(_ids):06d}"}
    return JSONReply(body, status, headers or {})


_MODEL_IDS = ("claude-sonnet-4-6", "claude-opus-4-6", "claude-haiku-4-5")
MODELS = {"data": [{"type": "model", "id": m, "display_name": m, "created_at": "2026-02-17T00:00:00Z"}
                   for m in _MODEL_IDS],
          "has_more": False, "first_id": _MODEL_IDS[0], "last_id": _MODEL_IDS[-1]}  # fmt: skip


def echo_reply(rec: RecordedRequest) -> JSONReply:
    echo = {"method": rec.method, "path": rec.path, "query": rec.query_string,
            "headers": dict(rec.headers), "body": rec.body.decode("utf-8", "replace")}  # fmt: skip
    return JSONReply({"echo": echo})


class FakeServer:
    """The recording aiohttp server; subclasses define `default_reply` and `render_message`."""

    def __init__(self, responder: Responder | None = None) -> None:
        self.requests: list[RecordedRequest] = []
        self.queue: deque[Reply] = deque()
        self.responder = responder
        self.routes: dict[tuple[str, str], Reply | Responder] = {}
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def enqueue(self, *replies: Reply) -> None:
        self.queue.extend(replies)

    def route(self, method: str, path: str, reply: Reply | Responder) -> None:
        self.routes[(method.upper(), path)] = reply

    async def start(self) -> Self:
        app = web.Application(client_max_size=256 * 1024**2)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def requests_to(self, path: str, method: str = "POST") -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path and r.method == method]

    async def wait_requests(self, n: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.requests) < n:
                await asyncio.sleep(0.01)

    async def wait_disconnect(self, index: int = -1, timeout: float = 5.0) -> RecordedRequest:
        """Wait until the client closed request `index` before its reply was complete."""
        await self.wait_requests(1 if index < 0 else index + 1, timeout)
        rec = self.requests[index]
        async with asyncio.timeout(timeout):
            await rec.disconnected.wait()
        return rec

    # -- dispatch

    def scripted(self, rec: RecordedRequest) -> Reply | None:
        """Queue first, then the responder; None when neither has a reply."""
        if self.queue:
            return self.queue.popleft()
        return self.responder(rec) if self.responder is not None else None

    def default_reply(self, rec: RecordedRequest) -> Reply:
        raise NotImplementedError

    def render_message(self, rec: RecordedRequest, msg: dict[str, Any]) -> JSONReply | StreamReply:
        raise NotImplementedError

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        head = (request.method, request.path, request.query_string, CIMultiDict(request.headers))
        rec = RecordedRequest(*head, await request.read())
        self.requests.append(rec)
        try:
            override = self.routes.get((rec.method, rec.path))
            reply = override(rec) if callable(override) else override
            if reply is None:
                reply = self.default_reply(rec)
            if isinstance(reply, dict):
                reply = self.render_message(rec, reply)
            return await self._send(request, rec, reply)
        except (ConnectionError, asyncio.CancelledError):
            rec.disconnected.set()
            raise
        finally:
            rec.finished.set()

    async def _pause(self, request: web.Request, rec: RecordedRequest, seconds: float) -> bool:
        """Sleep, watching the connection; False if the client went away."""
        deadline = time.monotonic() + seconds
        while True:
            transport = request.transport
            if transport is None or transport.is_closing():
                rec.disconnected.set()
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            await asyncio.sleep(min(left, 0.02))

    async def _send(
        self, request: web.Request, rec: RecordedRequest, reply: JSONReply | StreamReply
    ) -> web.StreamResponse:
        if reply.delay and not await self._pause(request, rec, reply.delay):
            return web.Response(status=499)
        base = {"request-id": f"req_fake{next(_ids):06d}"}
        if isinstance(reply, JSONReply):
            body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            headers = {**base, "content-type": "application/json", **reply.headers}
            return web.Response(status=reply.status, body=body, headers=headers)
        base |= {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
        resp = web.StreamResponse(status=reply.status, headers={**base, **reply.headers})
        await resp.prepare(request)
        for step in reply.steps:
            if isinstance(step, bytes):
                if reply.gap and not await self._pause(request, rec, reply.gap):
                    return resp
                await resp.write(step)
            elif isinstance(step, Sleep):
                if not await self._pause(request, rec, step.seconds):
                    return resp
            elif isinstance(step, Gate):
                await step.opened.wait()
            elif isinstance(step, BadFraming):
                if (transport := request.transport) is not None:
                    transport.write(step.raw)
                    transport.close()
                return resp
            else:
                _reset(request)
                return resp
        await resp.write_eof()
        return resp


def _reset(request: web.Request) -> None:
    """Close the connection with a TCP RST: SO_LINGER 0, then abort."""
    if (transport := request.transport) is None:
        return
    if (sock := transport.get_extra_info("socket")) is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class FakeAnthropic(FakeServer):
    """The fake Anthropic API; see the module docstring. `count_tokens` fixes the count."""

    def __init__(self, responder: Responder | None = None, count_tokens: int | None = None) -> None:
        super().__init__(responder)
        self.count_tokens = count_tokens

    def default_reply(self, rec: RecordedRequest) -> Reply:
        if rec.method == "POST" and rec.path == "/v1/messages":
            return self.scripted(rec) or message(text_block("ok"))
        if rec.method == "POST" and rec.path == "/v1/messages/count_tokens":
            return JSONReply({"input_tokens": self.count_tokens or max(1, len(rec.body) // 4)})
        if rec.method == "GET" and rec.path == "/v1/models":
            return JSONReply(MODELS)
        if rec.method == "HEAD":
            return JSONReply(b"")
        return echo_reply(rec)

    def render_message(self, rec: RecordedRequest, msg: dict[str, Any]) -> JSONReply | StreamReply:
        body = rec.json() if rec.body else {}
        if msg.get("model") is None:
            msg = {**msg, "model": (body or {}).get("model", "claude-sonnet-4-6")}
        if isinstance(body, dict) and body.get("stream"):
            return StreamReply(message_events(msg))
        return JSONReply(msg)
