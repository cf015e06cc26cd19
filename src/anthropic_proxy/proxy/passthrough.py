"""Pass-through mode: relay bytes to the Anthropic API and back, unchanged and unbuffered."""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp
from aiohttp import web

from anthropic_proxy.errors import UpstreamTimeout, UpstreamUnavailable, render_sse
from anthropic_proxy.exchange import Capture
from anthropic_proxy.proxy import headers

Completed = Callable[[Capture], None]


async def relay(
    request: web.Request,
    capture: Capture,
    session: aiohttp.ClientSession,
    url: str,
    hop: str,
    completed: Completed,
) -> web.StreamResponse:
    """Open the upstream request, commit its status, then forward each chunk as it arrives.
    `completed` runs just before the client can see the response complete (crash journal)."""
    try:
        upstream = await session.request(
            capture.method,
            url,
            data=capture.request_body or None,
            headers=headers.request_headers(request.headers.items(), hop),
        )
    except TimeoutError as exc:
        raise UpstreamTimeout("timed out connecting to the upstream") from exc
    except aiohttp.ClientError as exc:
        raise UpstreamUnavailable(f"upstream unreachable: {exc}") from exc
    try:
        return await _stream_back(request, capture, upstream, completed)
    finally:
        upstream.close()


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
    capture.finish("success" if status < 400 else "error")
    completed(capture)


async def _end_broken_stream(
    request: web.Request, response: web.StreamResponse, capture: Capture, exc: BaseException
) -> None:
    """The upstream failed after we committed a status: end a stream with an error event,
    cut any other body short so the client sees it incomplete rather than a silent truncation."""
    timeout = isinstance(exc, TimeoutError)
    state = "timeout" if timeout else "upstream_broken"
    message = (
        "upstream stopped sending (idle timeout)" if timeout else f"upstream connection lost: {exc}"
    )
    capture.finish(state, state, message)
    if "text/event-stream" not in response.headers.get("content-type", ""):
        if request.transport is not None:
            request.transport.close()
        return
    tail = render_sse("timeout_error" if timeout else "api_error", message)
    capture.chunks.append(tail)
    capture.chunk_times.append(time.perf_counter() - capture.t0)
    await response.write(tail)
    await response.write_eof()
