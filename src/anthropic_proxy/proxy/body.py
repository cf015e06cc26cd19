"""Reading the request body once, with the proxy's limits."""

from __future__ import annotations

import simdjson
from aiohttp import web

from anthropic_proxy.errors import BadRequest, TooLarge
from anthropic_proxy.wire import JSON, json_object

JSON_ROUTES = frozenset({"/v1/messages", "/v1/messages/count_tokens"})


async def read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"request body is {request.content_length} bytes; the limit is {limit}")
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise TooLarge(f"request body exceeds the limit of {limit} bytes") from exc


def check_json_content_type(value: str | None) -> None:
    """A Messages route refuses a body declared as something other than JSON (none is fine)."""
    media = (value or "").partition(";")[0].strip().lower()
    if media and media != "application/json" and not media.endswith("+json"):
        raise BadRequest(f"content-type must be application/json, not {media}")


def check_json_object(body: bytes) -> None:
    """Pass-through forwards the bytes and only needs to know they are a JSON object: simdjson
    validates (UTF-8 included) without building Python objects, 6x faster than parsing a 300 KB
    body, which was half the proxy's CPU at that size."""
    try:
        document = simdjson.Parser().parse(body)
    except (ValueError, UnicodeDecodeError, RuntimeError):  # RuntimeError: nested too deep
        parse_json_body(body)  # the failure path: orjson decides, and words the error
        return
    if not isinstance(document, simdjson.Object):
        raise BadRequest("request body must be a JSON object")


def parse_json_body(body: bytes) -> JSON:
    """The Messages routes take a JSON object; anything else is a clear 400."""
    return json_object(body, "request body")
