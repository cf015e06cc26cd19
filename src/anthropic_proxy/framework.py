"""aiohttp's own rejections, in Anthropic's error shape.

aiohttp answers a request it cannot parse (a header line over 8 KB, too many headers, a bad
request line) from inside its protocol handler, before any middleware runs, with a `text/plain`
body. `ErrorShapingRunner` swaps in a handler whose `handle_error` answers with the JSON every
other error has: 431 for oversized or too many headers, 400 for the rest. The connection is
closed afterwards (the stream may be out of step), the process keeps serving.

A malformed body (bad chunked encoding) surfaces later, when a handler reads it; the app's error
middleware turns that into a 400 with `body_error`.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from anthropic_proxy.errors import BadRequest, ProxyError, error_response

log = logging.getLogger("anthropic_proxy")
HEADERS_TOO_LARGE = 431


def body_error(exc: HttpProcessingError) -> ProxyError:
    """A body the parser rejected (bad chunked encoding, short content-length)."""
    return BadRequest(f"malformed request body: {_reason(exc)}")


def parse_error(exc: BaseException | None, message: str | None) -> ProxyError:
    """The error a client gets for a request aiohttp could not parse."""
    reason = _reason(exc) if isinstance(exc, HttpProcessingError) else (message or "bad request")
    if isinstance(exc, LineTooLong) and not _is_target(exc):
        return BadRequest(f"request header too large: {reason}", status=HEADERS_TOO_LARGE)
    if isinstance(exc, LineTooLong):
        return BadRequest(f"request line too long: {reason}")
    if isinstance(exc, BadHttpMessage) and "too many headers" in reason.lower():
        return BadRequest(f"too many request headers: {reason}", status=HEADERS_TOO_LARGE)
    return BadRequest(f"malformed HTTP request: {reason}")


def _is_target(exc: LineTooLong) -> bool:
    """The over-long line is the request target (a path or absolute URL), not a header: aiohttp
    reports both the same way, with the line's first 100 bytes."""
    line = exc.args[0] if exc.args else b""
    head = line.encode("latin-1", "replace") if isinstance(line, str) else bytes(line)
    return head.startswith((b"/", b"http://", b"https://", b"*"))


def _reason(exc: HttpProcessingError) -> str:
    return str(exc.message or exc).strip()


class ShapedRequestHandler(RequestHandler):
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500 or request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)
        error = parse_error(exc, message)
        log.info("rejected a malformed request from %s: %s", request.remote, error.message)
        response = error_response(error)
        response.force_close()
        return response


class ShapedServer(web.Server):
    def __call__(self) -> RequestHandler:
        return ShapedRequestHandler(self, loop=self._loop, **self._kwargs)


def runner(app: web.Application) -> web.AppRunner:
    """The runner the CLI and the tests serve the app with."""
    return ErrorShapingRunner(app, handler_cancellation=True, access_log=None)


class ErrorShapingRunner(web.AppRunner):
    """An AppRunner whose connections answer parse errors in Anthropic's shape."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # The app builds its Server itself (Application._make_handler); re-classing it keeps every
        # argument aiohttp passed and changes only which protocol handler a connection gets.
        server.__class__ = ShapedServer
        return server
