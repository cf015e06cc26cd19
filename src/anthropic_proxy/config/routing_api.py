"""`/api/config/routing` and `/api/config/providers/{name}/test`: routing as the config page sees it.

Shows the effective providers (seed ones from start-up flags, configured ones from config.json),
whether each key variable is set (never its value; a masked label at most), the routes, and the
health the router has learned. Routes and providers are changed through `POST /api/config`
(`routes` by anyone who may use the config page, `providers` only by the operator: the one rule
in `config/destinations.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

import aiohttp
from aiohttp import web

from anthropic_proxy.config import destinations
from anthropic_proxy.config.api import json_response
from anthropic_proxy.config.store import ConfigStore
from anthropic_proxy.errors import NotFound
from anthropic_proxy.masking import mask_value
from anthropic_proxy.routing import load
from anthropic_proxy.routing.model import OAUTH_PREFIX, Provider
from anthropic_proxy.routing.router import Router
from anthropic_proxy.wire import JSON

PROBE_TIMEOUT: Final = aiohttp.ClientTimeout(total=10)


class RoutingApi:
    def __init__(
        self,
        store: ConfigStore,
        router: Callable[[], Router],
        session: Callable[[], aiohttp.ClientSession],
    ) -> None:
        self.store, self.router, self.session = store, router, session

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/config/routing", self.view),
            web.post("/api/config/providers/{name}/test", self.test),
        ]

    async def view(self, request: web.Request) -> web.Response:
        router = self.router()
        routing = router.routing
        seed = self.store.seed_providers()
        health = router.health.snapshot()
        providers = [
            {
                **load.dump_provider(p),
                "seed": p.name in seed and seed[p.name] == p,
                "keys": _keys(p, router),
            }
            for p in routing.providers.values()
        ]
        body = {
            "preset": routing.preset,
            "providers": providers,
            "routes": load.dump(routing)["routes"],
            "upstreams": list(routing.upstreams),
            "providersEditable": destinations.redirect_allowed(request),
            "howToChange": destinations.HOW_TO_CHANGE,
            "health": health,
        }
        return json_response(body)

    async def test(self, request: web.Request) -> web.Response:
        router = self.router()
        provider = router.routing.providers.get(request.match_info["name"])
        if provider is None:
            raise NotFound(f"no provider named {request.match_info['name']!r}")
        key = next((router.env[n] for n in provider.key_env if router.env.get(n)), "")
        return json_response(await probe(self.session(), provider, key))


def _keys(provider: Provider, router: Router) -> list[JSON]:
    if provider.client_key:
        return [{"env": None, "source": "client"}]
    return [
        {
            "env": name,
            "set": bool(router.env.get(name)),
            "label": mask_value(router.env[name]) if router.env.get(name) else None,
        }
        for name in provider.key_env
    ]


async def probe(session: aiohttp.ClientSession, provider: Provider, key: str) -> JSON:
    """`GET {base}/v1/models` with the provider's own key (to its own host only)."""
    headers = {"anthropic-version": "2023-06-01", **dict(provider.headers)}
    if key and (provider.kind == "openai" or key.startswith(OAUTH_PREFIX)):
        headers["Authorization"] = f"Bearer {key}"
    elif key:
        headers["x-api-key"] = key
    started = time.perf_counter()
    result: JSON = {"provider": provider.name, "url": f"{provider.base_url}/v1/models"}
    try:
        async with session.get(result["url"], headers=headers, timeout=PROBE_TIMEOUT) as reply:
            await reply.content.read(65536)
            status = reply.status
    except (TimeoutError, aiohttp.ClientError) as exc:
        return {**result, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
    ms = round((time.perf_counter() - started) * 1000, 1)
    reached = status < 500
    if provider.client_key and status in (401, 403):
        note = "reachable; requests authenticate with the client's own key"
    elif status == 200:
        note = "reachable, key accepted" if key else "reachable"
    else:
        note = f"HTTP {status}"
    ok = status == 200 or (provider.client_key and status in (401, 403))
    return {
        **result,
        "ok": ok,
        "reachable": reached,
        "status": status,
        "ms": ms,
        "note": note,
        "key": mask_value(key) if key else None,
    }
