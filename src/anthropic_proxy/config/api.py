"""`/api/config`, `/reset`, `/reload`: read and change the runtime config.

Handlers are glue: parse, call the store, render (`backend/api.py` serves the routes that call
the backend: key check, model list, self-test). Errors are raised as ProxyErrors
and rendered by `errors.error_response` (a validation error lists its `"fields"`).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from anthropic_proxy.config import destinations
from anthropic_proxy.config.store import ConfigStore, DestinationLocked
from anthropic_proxy.config.validate import ConfigError
from anthropic_proxy.errors import BadRequest, Forbidden
from anthropic_proxy.wire import JSON


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
        allowed = destinations.redirect_allowed(request)
        try:
            return json_response(
                self.store.update(await read_json(request), redirect_allowed=allowed)
            )
        except DestinationLocked as error:
            raise Forbidden(
                f"base URLs are read-only here: {error}", fields=error.fields
            ) from error
        except ConfigError as error:
            raise BadRequest(f"invalid config: {error}", fields=error.fields) from error

    async def reset(self, request: web.Request) -> web.Response:
        return json_response(
            self.store.reset(redirect_allowed=destinations.redirect_allowed(request))
        )

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
