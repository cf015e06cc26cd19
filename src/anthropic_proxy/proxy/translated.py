"""Translation mode's route: answer in Anthropic's shape from an OpenAI-compatible backend.

Everything protocol-shaped happens in the pure `translate/` package, and the call to the backend
in `backend/client.py`; this module decides the reply: it streams bytes back (with a `ping` after
15 s of silence, and the upstream closed as soon as the client goes away), answers locally where
the backend cannot, and fills the Capture with exactly the bytes the client received, so the
recorder parses them like pass-through traffic.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from typing import Any, Final

import aiohttp
import orjson
from aiohttp import web

from anthropic_proxy.backend import client
from anthropic_proxy.backend.client import Call, TranslationContext
from anthropic_proxy.errors import NotFound, error_response, new_request_id
from anthropic_proxy.exchange import Capture, State
from anthropic_proxy.translate.errors import MappedError, upstream_http_error
from anthropic_proxy.translate.limits import is_output_limit_error
from anthropic_proxy.translate.mappings import ERROR_STATUS
from anthropic_proxy.translate.models import published_models
from anthropic_proxy.translate.response import (
    UpstreamFailure,
    openai_to_anthropic_message,
    response_to_chunk,
)
from anthropic_proxy.translate.stream import (
    TRUNCATED,
    StreamInterrupted,
    openai_stream_to_anthropic_sse,
)
from anthropic_proxy.translate.tokens import estimate_input_tokens
from anthropic_proxy.wire import JSON

PING: Final = b'event: ping\ndata: {"type":"ping"}\n\n'
SSE_HEADERS: Final = (
    ("Content-Type", "text/event-stream; charset=utf-8"),
    ("Cache-Control", "no-cache"),
    ("X-Accel-Buffering", "no"),
)
COUNT_IN_THREAD_BYTES: Final = 100_000


async def reply(
    request: web.Request,
    capture: Capture,
    body: JSON,
    call: Call,
    upstream: aiohttp.ClientResponse,
    ctx: TranslationContext,
) -> web.StreamResponse:
    """Answer from the backend's response (its status line and headers are in)."""
    try:
        capture.upstream_status = upstream.status
        if upstream.status >= 300:
            raw = await client.read(upstream)
            if _probe_failed(call, upstream.status, raw):
                return await _local_reply(request, capture, body, call, ctx)
            return _upstream_error(capture, upstream.status, raw, upstream, call)
        if body.get("stream") and upstream.content_type != "application/json":
            source = _noting_failure(_kept(client.body_bytes(upstream), capture), capture)
            return await _stream_reply(request, capture, source, call, ctx.ping_interval_s)
        raw = await client.read(upstream)
        _keep(capture, raw, decode_utf8(), capture.elapsed())
        reply = client.reply_object(raw)
        if isinstance(reply.get("error"), dict) and _probe_failed(call, 400, raw):
            return await _local_reply(request, capture, body, call, ctx)
        if isinstance(reply.get("error"), dict):  # an error in a 200 body, before any output
            code = reply["error"].get("code")
            status = code if isinstance(code, int) and code >= 400 else 502
            return _upstream_error(capture, status, raw, upstream, call)
        if body.get("stream"):  # a backend that ignored `stream`: same events, from one chunk
            source = _bytes_of(_as_sse(response_to_chunk(reply)))
            return await _stream_reply(request, capture, source, call, ctx.ping_interval_s)
        return await _json_reply(capture, reply, call)
    finally:
        upstream.close()


async def local_reply(
    request: web.Request, capture: Capture, body: JSON, call: Call, ctx: TranslationContext
) -> web.StreamResponse | None:
    """The answer that needs no backend (a cache warm-up), else None."""
    if body.get("max_tokens") == 0:  # a cache warm-up (E37): nothing to generate
        return await _local_reply(request, capture, body, call, ctx)
    return None


def _upstream_error(
    capture: Capture, status: int, raw: bytes, upstream: aiohttp.ClientResponse, call: Call
) -> web.Response:
    error = upstream_http_error(status, raw, upstream.headers, call.stream.estimate_input)
    return _error_reply(capture, error)


def _probe_failed(call: Call, status: int, raw: bytes) -> bool:
    """A tiny max_tokens the provider could not honour (E36): answered like Anthropic would, 200
    with `stop_reason: "max_tokens"`, instead of an error that reads as "model unavailable"."""
    limited = call.upstream.output_limit is not None and status in (400, 422)
    return limited and is_output_limit_error(raw)


def _as_sse(chunk: JSON) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\ndata: [DONE]\n\n"


async def _stream_reply(
    request: web.Request, capture: Capture, source: AsyncIterable[bytes], call: Call, ping_s: float
) -> web.StreamResponse:
    headers = {**dict(SSE_HEADERS), "request-id": new_request_id()}
    response = web.StreamResponse(status=200, headers=headers)
    _commit(capture, 200, response.headers.items())
    await response.prepare(request)
    last, sent = b"", False
    events = openai_stream_to_anthropic_sse(source, call.stream)
    try:
        async with contextlib.aclosing(with_pings(events, ping_s)) as chunks:
            async for chunk in chunks:
                capture.chunks.append(chunk)  # before the write: kept if the client just left
                capture.chunk_times.append(capture.elapsed())
                last = chunk if chunk is not PING else last
                await response.write(chunk)
        await response.write_eof()
        sent = True
    finally:  # also when the client left at the end (an SDK closes as soon as it sees an error)
        _finish_stream(capture, last, sent)
    return response


async def with_pings(
    source: AsyncGenerator[bytes, None], interval_s: float
) -> AsyncGenerator[bytes, None]:
    """`source`'s items, plus a ping whenever it stays silent for `interval_s`."""
    pending: asyncio.Future[bytes] = asyncio.ensure_future(anext(source))
    try:
        while True:
            done, _ = await asyncio.wait({pending}, timeout=interval_s)
            if not done:
                yield PING
                continue
            try:
                item = pending.result()
            except StopAsyncIteration:
                return
            yield item
            pending = asyncio.ensure_future(anext(source))
    finally:
        pending.cancel()
        with contextlib.suppress(BaseException):
            await pending
        with contextlib.suppress(RuntimeError):
            await source.aclose()


BACKEND_BYTES: Final = 512 * 1024
"""How much of the backend's raw reply the detail view keeps (the translated events are whole)."""


async def _kept(source: AsyncIterator[bytes], capture: Capture) -> AsyncIterator[bytes]:
    """`source`, each chunk also noted (up to BACKEND_BYTES) for the detail's raw backend view."""
    decoder = decode_utf8()
    async for data in source:
        _keep(capture, data, decoder, capture.elapsed())
        yield data


def _keep(capture: Capture, data: bytes, decoder: codecs.IncrementalDecoder, at: float) -> None:
    if capture.upstream_bytes + len(data) <= BACKEND_BYTES:
        capture.upstream_chunks.append([round(at, 4), decoder.decode(data)])
    capture.upstream_bytes += len(data)


def decode_utf8() -> codecs.IncrementalDecoder:
    """A chunk may end inside a character: the decoder carries it over to the next."""
    return codecs.getincrementaldecoder("utf-8")("replace")


async def _noting_failure(source: AsyncIterator[bytes], capture: Capture) -> AsyncIterator[bytes]:
    """`source`, noting on the Capture when reading the backend failed (the translator then ends
    the stream with an error event of its own, which is not the backend's)."""
    try:
        async for data in source:
            yield data
    except StreamInterrupted as exc:
        timeout = exc.error_type == "timeout_error"
        state = State.TIMEOUT if timeout else State.UPSTREAM_BROKEN
        capture.finish(state, str(state), exc.message)
        raise


def _finish_stream(capture: Capture, last: bytes, sent: bool) -> None:
    """How the stream ended, as far as the edge knows: a failed read of the backend (noted
    already), a backend stream that stopped without finishing (the translator's closing error),
    or sent in full (an `error` event in it, a backend error mid-stream, is read by the recorder,
    `record.outcome`). Not sent in full otherwise: the client left (`routes.forward` says so)."""
    if capture.t_end is not None:
        return
    if last.startswith(b"event: error") and TRUNCATED.encode() in last:
        capture.finish(State.UPSTREAM_BROKEN, "upstream_broken", TRUNCATED)
    elif sent:
        capture.finish(State.SUCCESS)


async def _json_reply(capture: Capture, response: JSON, call: Call) -> web.Response:
    try:
        message = await openai_to_anthropic_message(response, call.stream)
    except UpstreamFailure as failure:
        status = ERROR_STATUS.get(failure.error_type, 500)
        return _error_reply(capture, MappedError(status, failure.error_type, failure.message))
    return _json(capture, message)


async def _local_reply(
    request: web.Request, capture: Capture, body: JSON, call: Call, ctx: TranslationContext
) -> web.StreamResponse:
    """Answered without the backend, through the same translator (so the shape is the same)."""
    usage = {"prompt_tokens": estimate_input_tokens(body), "completion_tokens": 0}
    reply = {"choices": [{"message": {}, "finish_reason": "length"}], "usage": usage}
    if not body.get("stream"):
        return await _json_reply(capture, reply, call)
    source = _bytes_of(_as_sse(response_to_chunk(reply)))
    return await _stream_reply(request, capture, source, call, ctx.ping_interval_s)


async def _bytes_of(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _error_reply(capture: Capture, error: MappedError) -> web.Response:
    reply = error_response(error)
    _commit(capture, error.status, reply.headers.items())
    _record_body(capture, reply.body if isinstance(reply.body, bytes) else b"")
    state = State.TIMEOUT if error.error_type == "timeout_error" else State.ERROR
    capture.finish(state, error.error_type, error.message)
    return reply


def _commit(capture: Capture, status: int, headers: Any) -> None:
    capture.status = status
    capture.response_headers = [(str(k), str(v)) for k, v in headers]
    capture.t_headers = time.perf_counter() - capture.t0


def _record_body(capture: Capture, body: bytes) -> None:
    capture.chunks.append(body)
    capture.chunk_times.append(capture.elapsed())


async def serve_count_tokens(
    request: web.Request, capture: Capture, body: JSON, ctx: TranslationContext
) -> web.Response:
    """A local estimate: the backend has no count_tokens, and undercounting breaks compaction."""
    if len(capture.request_body) > COUNT_IN_THREAD_BYTES:
        tokens = await asyncio.to_thread(estimate_input_tokens, body)
    else:
        tokens = estimate_input_tokens(body)
    return _json(capture, {"input_tokens": tokens})


async def serve_models(
    request: web.Request,
    capture: Capture,
    body: JSON,
    ctx: TranslationContext,
    models: list[JSON] | None = None,
) -> web.Response:
    """GET /v1/models: the mapped families under `claude-…` ids, for Claude Code's model picker
    (or `models`, what configured routes publish)."""
    if request.method not in ("GET", "HEAD"):
        raise NotFound(f"{request.method} /v1/models is not supported")
    if models is None:
        models = published_models(ctx.config.mapping())
    ids = [m["id"] for m in models]
    page = {
        "data": models,
        "has_more": False,
        "first_id": ids[0] if ids else None,
        "last_id": ids[-1] if ids else None,
    }
    return _json(capture, page)


def _json(capture: Capture, data: JSON) -> web.Response:
    body = orjson.dumps(data)
    reply = web.Response(
        body=body, content_type="application/json", headers={"request-id": new_request_id()}
    )
    _commit(capture, 200, reply.headers.items())
    _record_body(capture, body)
    capture.finish(State.SUCCESS)
    return reply
