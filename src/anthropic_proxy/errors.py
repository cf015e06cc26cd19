"""Errors the proxy itself makes, each knowing its HTTP status and Anthropic error type.

    ProxyError (500 api_error)
    ├── BadRequest (400 invalid_request_error)
    ├── Unauthorized (401 authentication_error)
    ├── Forbidden (403 permission_error)
    ├── NotFound (404 not_found_error)
    ├── TooLarge (413 request_too_large)
    ├── UpstreamUnavailable (502 api_error)
    │   └── UpstreamBroken (502 api_error: the connection broke mid-answer)
    ├── UpstreamTimeout (504 timeout_error)
    └── LoopDetected (508 api_error)

Upstream HTTP errors are not ProxyErrors: in pass-through mode they are relayed byte for byte;
in translation mode `translate/errors.py` maps them to a `MappedError`, another `Failure`.
`error_body` is the one Anthropic error envelope and `error_response` the one renderer
(`render_sse` for a stream that already started).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

import orjson
from aiohttp import web


class Failure(Protocol):
    """What an error response is made of."""

    @property
    def status(self) -> int: ...
    @property
    def error_type(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...


class ProxyError(Exception):
    status: int = 500
    """The class's status; an instance may carry another (aiohttp's own 405 is a NotFound)."""
    error_type: ClassVar[str] = "api_error"
    kind: ClassVar[str] = "proxy_error"

    def __init__(
        self,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        status: int | None = None,
        fields: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        self.fields = fields or {}
        """Which request field was wrong and why (config validation), shown next to `error`."""
        if status is not None:
            self.status = status


class BadRequest(ProxyError):
    status, error_type, kind = 400, "invalid_request_error", "bad_request"


class Unauthorized(ProxyError):
    status, error_type, kind = 401, "authentication_error", "unauthorized"


class Forbidden(ProxyError):
    status, error_type, kind = 403, "permission_error", "forbidden"


class NotFound(ProxyError):
    status, error_type, kind = 404, "not_found_error", "not_found"


class TooLarge(ProxyError):
    status, error_type, kind = 413, "request_too_large", "too_large"


class UpstreamUnavailable(ProxyError):
    status, error_type, kind = 502, "api_error", "upstream_unavailable"


class UpstreamBroken(UpstreamUnavailable):
    """The upstream's connection broke after it had started answering (state upstream_broken)."""

    kind = "upstream_broken"


class UpstreamTimeout(ProxyError):
    status, error_type, kind = 504, "timeout_error", "timeout"


class LoopDetected(ProxyError):
    status, error_type, kind = 508, "api_error", "loop_detected"


def new_request_id() -> str:
    return "req_proxy_" + secrets.token_hex(12)


def error_body(
    error_type: str,
    message: str,
    request_id: str | None = None,
    fields: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Anthropic's error envelope, `{"type": "error", "error": {"type", "message"}}`."""
    body: dict[str, Any] = {"type": "error", "error": {"type": error_type, "message": message}}
    if request_id:
        body["request_id"] = request_id
    if fields:
        body["fields"] = dict(fields)
    return body


def error_response(error: Failure) -> web.Response:
    """The JSON error response, with a fresh `request-id` as Anthropic sends."""
    request_id = new_request_id()
    fields = error.fields if isinstance(error, ProxyError) else None
    return web.Response(
        status=error.status,
        body=orjson.dumps(error_body(error.error_type, error.message, request_id, fields)),
        content_type="application/json",
        headers={"request-id": request_id, **error.headers},
    )


def render_sse(error_type: str, message: str) -> bytes:
    """An `event: error` that ends a stream that already started."""
    data = orjson.dumps(error_body(error_type, message))
    return b"event: error\ndata: " + data + b"\n\n"
