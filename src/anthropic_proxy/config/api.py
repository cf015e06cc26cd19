"""`/api/config`, `/reset`, `/reload`: read and change the runtime config.

Handlers are glue: parse, call the store, render (`backend/api.py` serves the routes that call
the backend: key check, model list, self-test). Errors use Anthropic's shape,
`{"type": "error", "error": {"type", "message"}}`, plus `"fields"` for validation errors.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from anthropic_proxy.config.store import ConfigStore
from anthropic_proxy.config.validate import ConfigError
from anthropic_proxy.errors import BadRequest, error_body

JSON = dict[str, Any]


class ConfigApi:
    """The config routes."""

    def __init__(self, store: ConfigStore) -> None:
        self.store = store

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/config", self.get_config),
            web.post("/api/config", self.post_config),
            web.post("/api/config/reset", self.reset),
            web.post("/api/config/reload", self.reload),
        ]

    async def get_config(self, request: web.Request) -> web.Response:
        return json_response(self.store.current())

    async def post_config(self, request: web.Request) -> web.Response:
        try:
            return json_response(self.store.update(await read_json(request)))
        except ConfigError as error:
            return error_reply(
                400, "invalid_request_error", f"invalid config: {error}", error.fields
            )

    async def reset(self, request: web.Request) -> web.Response:
        return json_response(self.store.reset())

    async def reload(self, request: web.Request) -> web.Response:
        return json_response(
            {"success": True, "message": "config reloaded", "config": self.store.reload()}
        )


async def read_json(request: web.Request, default: object = None) -> Any:
    raw = await request.read()
    if not raw.strip():
        return default
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc


def json_response(data: JSON) -> web.Response:
    return web.Response(body=orjson.dumps(data), content_type="application/json")


def error_reply(
    status: int, error_type: str, message: str, fields: dict[str, str] | None = None
) -> web.Response:
    body = error_body(error_type, message)
    if fields:
        body["fields"] = fields
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")
