"""Translation mode's I/O edge: call the OpenAI-compatible backend, answer in Anthropic's shape.

Everything protocol-shaped happens in the pure `translate/` package; this module only opens the
upstream request, picks the key, streams bytes back (with a `ping` after 15 s of silence, and the
upstream closed as soon as the client goes away) and fills the Capture with exactly the bytes the
client received, so the recorder parses them like pass-through traffic. (~410 lines: the
stream, non-stream, local and error replies share their commit/record helpers here.)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp import web

from anthropic_proxy import __version__
from anthropic_proxy.config.models import ModelCatalog, ModelInfo
from anthropic_proxy.config.store import ConfigStore
from anthropic_proxy.errors import (
    BadRequest,
    NotFound,
    Unauthorized,
    UpstreamTimeout,
    UpstreamUnavailable,
    new_request_id,
)
from anthropic_proxy.exchange import Capture
from anthropic_proxy.settings import Settings
from anthropic_proxy.translate.errors import MappedError, upstream_http_error
from anthropic_proxy.translate.limits import is_output_limit_error
from anthropic_proxy.translate.mappings import ERROR_STATUS
from anthropic_proxy.translate.models import accepts_cache_control, published_models, resolve
from anthropic_proxy.translate.request import Target, UpstreamRequest, anthropic_to_openai_request
from anthropic_proxy.translate.response import (
    UpstreamFailure,
    openai_to_anthropic_message,
    response_to_chunk,
)
from anthropic_proxy.translate.stream import (
    StreamContext,
    StreamInterrupted,
    openai_stream_to_anthropic_sse,
)
from anthropic_proxy.translate.tokens import estimate_input_tokens, quick_estimate
from anthropic_proxy.translate.usage import upstream_cost

JSON = dict[str, Any]
PING: Final = b'event: ping\ndata: {"type":"ping"}\n\n'
SSE_HEADERS: Final = (
    ("Content-Type", "text/event-stream; charset=utf-8"),
    ("Cache-Control", "no-cache"),
    ("X-Accel-Buffering", "no"),
)
COUNT_IN_THREAD_BYTES: Final = 100_000
SESSION_HEADER: Final = "x-claude-code-session-id"


@dataclass(frozen=True, slots=True)
class TranslationContext:
    """What the translated edge needs from the app; built once by `create_app`."""

    session: aiohttp.ClientSession
    settings: Settings
    config: ConfigStore
    ping_interval_s: float = 15.0
    """Claude Code's stall watchdog fires at about 20 s without bytes (protocol.md E35)."""
    catalog: ModelCatalog | None = None
    """The backend's model list (shared with the config API): output limits, image support."""


@dataclass(frozen=True, slots=True)
class Call:
    """One translated request, ready to send."""

    url: str
    headers: dict[str, str]
    upstream: UpstreamRequest
    stream: StreamContext


async def serve_messages(
    request: web.Request, capture: Capture, body: JSON, ctx: TranslationContext
) -> web.StreamResponse:
    call = prepare(request, capture, body, ctx)
    if body.get("max_tokens") == 0:  # a cache warm-up (E37): nothing to generate
        return await _local_reply(request, capture, body, call, ctx)
    upstream = await _open(ctx.session, call)
    try:
        capture.upstream_status = upstream.status
        if upstream.status >= 300:
            raw = await _read(upstream)
            if _probe_failed(call, upstream.status, raw):
                return await _local_reply(request, capture, body, call, ctx)
            return _upstream_error(capture, upstream.status, raw, upstream, call)
        if body.get("stream") and upstream.content_type != "application/json":
            source = _upstream_bytes(upstream)
            return await _stream_reply(request, capture, source, call, ctx.ping_interval_s)
        raw = await _read(upstream)
        reply = orjson_or_error(raw)
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


def prepare(request: web.Request, capture: Capture, body: JSON, ctx: TranslationContext) -> Call:
    """Resolve the model, translate the request, pick the key; fill the Capture's upstream side."""
    requested = str(body.get("model") or "")
    model = resolve(requested, ctx.config.mapping())
    base = ctx.config.base_url
    session_id = request.headers.get(SESSION_HEADER)
    info = ctx.catalog.lookup(base, model) if ctx.catalog is not None else None
    target = target_for(base, model, session_id, info)
    upstream = anthropic_to_openai_request(body, target)
    capture.upstream_request, capture.upstream_model = upstream.body, model
    capture.translation_changes = list(upstream.changes)
    url = f"{base}/v1/chat/completions"
    key = client_key(request) or ctx.config.backend_key(url)
    if not key and target.openrouter:
        raise Unauthorized(
            "no OpenRouter API key: set OPENROUTER_API_KEY for the proxy, or send an sk-or- key"
        )
    stream = StreamContext(
        model=requested or model,
        message_id=f"msg_{uuid.uuid4().hex}",
        input_tokens=quick_estimate(len(capture.request_body)),
        estimate_input=lambda: estimate_input_tokens(body),
        stop_sequences=upstream.stop_sequences,
        tool_names=upstream.tool_names,
        thinking=upstream.thinking,
        output_limit=upstream.output_limit,
        web_search=upstream.web_search,
        on_usage=_cost_recorder(capture),
    )
    headers = upstream_headers(
        key, ctx.config.attribution, session_id if target.openrouter else None
    )
    return Call(url, headers, upstream, stream)


def target_for(
    base_url: str, model: str, session_id: str | None, info: ModelInfo | None = None
) -> Target:
    """What the backend at `base_url` accepts: OpenRouter's extras, OpenAI's token field, and,
    when its model list is cached, the model's output limit and image support."""
    host = (urlsplit(base_url).hostname or "").lower()
    info = info or ModelInfo()
    return Target(
        model=model,
        openrouter="openrouter" in host,
        cache_control=accepts_cache_control(model),
        session_id=session_id,
        max_tokens_key="max_completion_tokens" if host == "api.openai.com" else "max_tokens",
        max_output=info.max_completion_tokens,
        images=info.images is not False,
    )


def _cost_recorder(capture: Capture) -> Callable[[JSON], None]:
    def record(usage: JSON) -> None:
        cost = upstream_cost(usage)
        if cost is not None:
            capture.upstream_cost_usd = cost

    return record


def client_key(request: web.Request) -> str:
    """An OpenRouter key the client sent itself; an Anthropic key is never passed on."""
    for value in (request.headers.get("x-api-key", ""), request.headers.get("authorization", "")):
        token = value.removeprefix("Bearer ").removeprefix("bearer ").strip()
        if token.startswith("sk-or-"):
            return token
    return ""


def upstream_headers(
    key: str, attribution: dict[str, str], session_id: str | None
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Accept-Encoding": "identity",
        "User-Agent": f"anthropic-proxy/{__version__}",
        "HTTP-Referer": attribution["httpReferer"],
        "X-Title": attribution["title"],
        "X-OpenRouter-Title": attribution["title"],
    }
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if session_id:
        headers["x-session-id"] = session_id[:256]
    return headers


async def _open(session: aiohttp.ClientSession, call: Call) -> aiohttp.ClientResponse:
    try:
        data = orjson.dumps(call.upstream.body)
    except orjson.JSONEncodeError as exc:  # e.g. nested deeper than 254 levels
        raise BadRequest(f"the request cannot be translated: {exc}") from exc
    try:
        return await session.post(call.url, data=data, headers=call.headers)
    except TimeoutError as exc:
        raise UpstreamTimeout("timed out connecting to the translation backend") from exc
    except aiohttp.ClientError as exc:
        raise UpstreamUnavailable(f"translation backend unreachable: {exc}") from exc


async def _read(upstream: aiohttp.ClientResponse) -> bytes:
    try:
        return await upstream.read()
    except TimeoutError as exc:
        raise UpstreamTimeout("the translation backend stopped sending (idle timeout)") from exc
    except aiohttp.ClientError as exc:
        raise UpstreamUnavailable(f"translation backend connection lost: {exc}") from exc


async def _upstream_bytes(upstream: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The backend's body; a failed connection becomes StreamInterrupted for the translator."""
    try:
        async for data in upstream.content.iter_any():
            yield data
    except TimeoutError as exc:
        raise StreamInterrupted("timeout_error", "upstream stopped sending (idle timeout)") from exc
    except aiohttp.ClientError as exc:
        raise StreamInterrupted("api_error", f"upstream connection lost: {exc}") from exc


def orjson_or_error(raw: bytes) -> JSON:
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UpstreamUnavailable(f"translation backend sent invalid JSON: {raw[:200]!r}") from exc
    if not isinstance(parsed, dict):
        raise UpstreamUnavailable("translation backend sent JSON that is not an object")
    return parsed


async def _stream_reply(
    request: web.Request, capture: Capture, source: AsyncIterable[bytes], call: Call, ping_s: float
) -> web.StreamResponse:
    headers = {**dict(SSE_HEADERS), "request-id": new_request_id()}
    response = web.StreamResponse(status=200, headers=headers)
    _commit(capture, 200, response.headers.items())
    await response.prepare(request)
    last = b""
    events = openai_stream_to_anthropic_sse(source, call.stream)
    async with contextlib.aclosing(with_pings(events, ping_s)) as chunks:
        async for chunk in chunks:
            await response.write(chunk)
            capture.chunks.append(chunk)
            capture.chunk_times.append(capture.elapsed())
            last = chunk if chunk is not PING else last
    await response.write_eof()
    _finish_stream(capture, last)
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


def _finish_stream(capture: Capture, last: bytes) -> None:
    if last.startswith(b"event: message_stop"):
        capture.finish("success")
        return
    error = orjson.loads(last.partition(b"data: ")[2] or b"{}").get("error") or {}
    kind = error.get("type", "api_error")
    capture.finish(
        "timeout" if kind == "timeout_error" else "error", f"stream_{kind}", error.get("message")
    )


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
    request_id = new_request_id()
    body = orjson.dumps(error.body(request_id))
    headers = {"request-id": request_id, **error.headers}
    reply = web.Response(
        status=error.status, body=body, content_type="application/json", headers=headers
    )
    _commit(capture, error.status, reply.headers.items())
    _record_body(capture, body)
    state = "timeout" if error.error_type == "timeout_error" else "error"
    capture.finish(state, f"upstream_{error.error_type}", error.message)
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
    request: web.Request, capture: Capture, body: JSON, ctx: TranslationContext
) -> web.Response:
    """GET /v1/models: the mapped families under `claude-…` ids, for Claude Code's model picker."""
    if request.method not in ("GET", "HEAD"):
        raise NotFound(f"{request.method} /v1/models is not supported")
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
    capture.finish("success")
    return reply
