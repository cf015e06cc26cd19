"""Pass-through mode: relay bytes to the Anthropic API and back, unchanged and unbuffered."""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp
import aiohttp.helpers
import orjson
from aiohttp import web

from anthropic_proxy.errors import render_sse
from anthropic_proxy.exchange import Capture, State
from anthropic_proxy.proxy import headers
from anthropic_proxy.routing.walk import Step

Completed = Callable[[Capture], None]


async def open_upstream(
    request: web.Request,
    capture: Capture,
    session: aiohttp.ClientSession,
    step: Step,
    path_qs: str,
    hop: str,
) -> aiohttp.ClientResponse:
    """Send the request to the step's provider (its key, its extra headers, its timeout) and
    return once the status line and headers are in: nothing has reached the client yet."""
    provider = step.provider
    timeout = _timeouts(provider.timeout_s) if provider.timeout_s is not None else None
    return await session.request(
        capture.method,
        provider.base_url + path_qs,
        data=_body_for(capture.request_body, step.target.model) or None,
        headers=headers.step_headers(request.headers.items(), hop, provider, step.key),
        timeout=timeout or aiohttp.helpers.sentinel,
    )


async def relay(
    request: web.Request,
    capture: Capture,
    upstream: aiohttp.ClientResponse,
    completed: Completed,
) -> web.StreamResponse:
    """Commit the upstream's status, then forward each chunk as it arrives.
    `completed` runs just before the client can see the response complete (crash journal)."""
    try:
        return await _stream_back(request, capture, upstream, completed)
    finally:
        upstream.close()


def _timeouts(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, connect=seconds, sock_read=seconds)


def _body_for(body: bytes, model: str | None) -> bytes:
    """The client's bytes, untouched, unless the route names another model for this target."""
    if model is None or not body:
        return body
    parsed = orjson.loads(body)
    parsed["model"] = model
    return orjson.dumps(parsed)


async def _stream_back(
    request: web.Request, capture: Capture, upstream: aiohttp.ClientResponse, completed: Completed
) -> web.StreamResponse:
    capture.t_headers = time.perf_counter() - capture.t0
    capture.status = upstream.status
    capture.response_headers = list(upstream.headers.items())
    response = web.StreamResponse(
        status=upstream.status,
        reason=upstream.reason,
        headers=headers.response_headers(upstream.headers.items(), keep_length=True),
    )
    await response.prepare(request)
    chunks, times, t0 = capture.chunks, capture.chunk_times, capture.t0
    length, sent = upstream.content_length, 0
    read = upstream.content.readany
    while True:
        try:  # only the upstream read: a failed write to the client is the client leaving
            chunk = await read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            await _end_broken_stream(request, response, capture, exc)
            return response
        if not chunk:
            break
        chunks.append(chunk)
        times.append(time.perf_counter() - t0)
        sent += len(chunk)
        if sent == length:  # this write completes the body for the client
            _complete(capture, upstream.status, completed)
        await response.write(chunk)
    if capture.t_end is None:
        _complete(capture, upstream.status, completed)
    await response.write_eof()
    return response


def _complete(capture: Capture, status: int, completed: Completed) -> None:
    """The upstream answered in full. What the answer says (an error status or event, a stream
    cut short) is read from the captured bytes by the recorder (`record.outcome`)."""
    capture.finish(State.SUCCESS if status < 400 else State.ERROR)
    completed(capture)


async def _end_broken_stream(
    request: web.Request, response: web.StreamResponse, capture: Capture, exc: BaseException
) -> None:
    """The upstream failed after we committed a status: end a stream with an error event,
    cut any other body short so the client sees it incomplete rather than a silent truncation."""
    timeout = isinstance(exc, TimeoutError)
    state = State.TIMEOUT if timeout else State.UPSTREAM_BROKEN
    message = (
        "upstream stopped sending (idle timeout)" if timeout else f"upstream connection lost: {exc}"
    )
    capture.finish(state, str(state), message)
    if "text/event-stream" not in response.headers.get("content-type", ""):
        if request.transport is not None:
            request.transport.close()
        return
    tail = render_sse("timeout_error" if timeout else "api_error", message)
    capture.chunks.append(tail)
    capture.chunk_times.append(time.perf_counter() - capture.t0)
    await response.write(tail)
    await response.write_eof()
