"""`/api/config/test-openrouter`, `/models`, `/self-test`: the config page's calls to the backend.

Handlers are glue: parse, call the backend (`catalog`, `selftest`), render like `config/api.py`.
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
from aiohttp import web

from anthropic_proxy.backend.catalog import (
    ModelCatalog,
    ModelListError,
    get_json,
    upstream_message,
)
from anthropic_proxy.backend.selftest import run_self_test
from anthropic_proxy.config.api import json_response, read_json
from anthropic_proxy.config.store import ConfigStore
from anthropic_proxy.errors import UpstreamUnavailable
from anthropic_proxy.wire import JSON, obj


class BackendApi:
    """`client` returns the app's shared ClientSession (created at startup)."""

    def __init__(
        self,
        store: ConfigStore,
        client: Callable[[], aiohttp.ClientSession],
        catalog: ModelCatalog,
    ) -> None:
        self.store, self.client, self.catalog = store, client, catalog

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/config/test-openrouter", self.test_backend),
            web.get("/api/config/models", self.models),
            web.post("/api/config/self-test", self.self_test),
        ]

    async def test_backend(self, request: web.Request) -> web.Response:
        """Check a key with `GET {base}/v1/key`: the one endpoint that rejects a bad key."""
        body = await read_json(request, default={})
        typed = body.get("apiKey") if isinstance(body, dict) else None
        url = f"{self.store.base_url}/v1/key"
        key = typed if isinstance(typed, str) and typed else self.store.backend_key(url)
        if not key:
            return json_response(
                {"success": False, "valid": False, "error": "no API key configured"}
            )
        status, data = await self._get(url, key)
        info = obj(data.get("data"))
        result: JSON = {"success": status == 200, "valid": status == 200, "status": status}
        fields = ("label", "limit", "limit_remaining", "usage", "is_free_tier")
        result.update({name: info.get(name) for name in fields})
        if status != 200:
            result["error"] = upstream_message(data, status)
        return json_response(result)

    async def models(self, request: web.Request) -> web.Response:
        """Every backend model (unfiltered, with context length and prices); `?q=` searches."""
        base = self.store.base_url
        try:
            models = await self.catalog.models(base)
        except ModelListError as error:
            raise UpstreamUnavailable(str(error)) from error
        query = request.query.get("q", "").strip().lower()
        found = [m for m in models if not query or query in _searchable(m)]
        return json_response({"data": found, "total": len(found), "baseUrl": base})

    async def self_test(self, request: web.Request) -> web.Response:
        return json_response(await run_self_test(self.client(), self.store))

    async def _get(self, url: str, key: str) -> tuple[int, JSON]:
        return await get_json(self.client(), url, key, self.store.attribution)


def _searchable(model: JSON) -> str:
    return f"{model.get('id', '')} {model.get('name', '')}".lower()
