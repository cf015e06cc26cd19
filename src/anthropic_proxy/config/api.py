"""`/api/config/*`: read and change the runtime config, probe the backend, list its models.

Handlers are glue: parse, call the store or the backend, render. Errors use Anthropic's shape,
`{"type": "error", "error": {"type", "message"}}`, plus `"fields"` for validation errors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from anthropic_proxy.config.models import (
    ModelCatalog,
    ModelListError,
    get_json,
    upstream_message,
)
from anthropic_proxy.config.selftest import run_self_test
from anthropic_proxy.config.store import ConfigStore
from anthropic_proxy.config.validate import ConfigError
from anthropic_proxy.errors import BadRequest, error_body
from anthropic_proxy.translate.wire import obj

JSON = dict[str, Any]


class ConfigApi:
    """The config routes. `client` returns the app's shared ClientSession (created at startup)."""

    def __init__(
        self,
        store: ConfigStore,
        client: Callable[[], aiohttp.ClientSession],
        clock: Callable[[], float] = time.monotonic,
        catalog: ModelCatalog | None = None,
    ) -> None:
        self.store, self.client, self.clock = store, client, clock
        self.catalog = catalog or ModelCatalog(store, client, clock)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/config", self.get_config),
            web.post("/api/config", self.post_config),
            web.post("/api/config/reset", self.reset),
            web.post("/api/config/reload", self.reload),
            web.post("/api/config/test-openrouter", self.test_backend),
            web.get("/api/config/models", self.models),
            web.post("/api/config/self-test", self.self_test),
        ]

    async def get_config(self, request: web.Request) -> web.Response:
        return _json(self.store.current())

    async def post_config(self, request: web.Request) -> web.Response:
        try:
            return _json(self.store.update(await _body(request)))
        except ConfigError as error:
            return _error(400, "invalid_request_error", f"invalid config: {error}", error.fields)

    async def reset(self, request: web.Request) -> web.Response:
        return _json(self.store.reset())

    async def reload(self, request: web.Request) -> web.Response:
        return _json({"success": True, "message": "config reloaded", "config": self.store.reload()})

    async def test_backend(self, request: web.Request) -> web.Response:
        """Check a key with `GET {base}/v1/key`: the one endpoint that rejects a bad key."""
        body = await _body(request, default={})
        typed = body.get("apiKey") if isinstance(body, dict) else None
        url = f"{self.store.base_url}/v1/key"
        key = typed if isinstance(typed, str) and typed else self.store.backend_key(url)
        if not key:
            return _json({"success": False, "valid": False, "error": "no API key configured"})
        status, data = await self._get(url, key)
        info = obj(data.get("data"))
        result: JSON = {"success": status == 200, "valid": status == 200, "status": status}
        fields = ("label", "limit", "limit_remaining", "usage", "is_free_tier")
        result.update({name: info.get(name) for name in fields})
        if status != 200:
            result["error"] = upstream_message(data, status)
        return _json(result)

    async def models(self, request: web.Request) -> web.Response:
        """Every backend model (unfiltered, with context length and prices); `?q=` searches."""
        base = self.store.base_url
        try:
            models = await self.catalog.models(base)
        except ModelListError as error:
            return _error(502, "api_error", str(error))
        query = request.query.get("q", "").strip().lower()
        found = [m for m in models if not query or query in _searchable(m)]
        return _json({"data": found, "total": len(found), "baseUrl": base})

    async def self_test(self, request: web.Request) -> web.Response:
        return _json(await run_self_test(self.client(), self.store))

    async def _get(self, url: str, key: str) -> tuple[int, JSON]:
        return await get_json(self.client(), url, key, self.store.attribution)


def _searchable(model: JSON) -> str:
    return f"{model.get('id', '')} {model.get('name', '')}".lower()


async def _body(request: web.Request, default: object = None) -> Any:
    raw = await request.read()
    if not raw.strip():
        return default
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc


def _json(data: JSON) -> web.Response:
    return web.Response(body=orjson.dumps(data), content_type="application/json")


def _error(
    status: int, error_type: str, message: str, fields: dict[str, str] | None = None
) -> web.Response:
    body = error_body(error_type, message)
    if fields:
        body["fields"] = fields
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")
