"""The routing every install has without a `routes` config: the seed's modes as routes.

- `--upstream URL1,URL2` (`ANTHROPIC_UPSTREAM_URL`) gives Anthropic-kind providers `anthropic`,
  `anthropic-2`, ... that forward the client's own key; `proxyMode: anthropic` is one route
  over them in order (a failover chain; one URL is today's pass-through, unchanged).
- `proxyMode: openrouter` is one route to the `openrouter` provider (openai kind, the
  `openrouter.baseUrl`), its model picked by the seed's `openrouter.modelMapping`.

These seed providers can be named by configured routes too (`"targets": ["anthropic", ...]`);
a configured provider with the same name replaces one.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType
from typing import Final

from anthropic_proxy.routing.model import Match, Provider, Route, Routing, Target

ANTHROPIC: Final = "anthropic"
OPENROUTER: Final = "openrouter"
OPENROUTER_KEY_ENV: Final = "OPENROUTER_API_KEY"


def upstream_urls(value: str) -> tuple[str, ...]:
    """`URL1,URL2` -> each URL, trimmed, without a trailing slash."""
    return tuple(u.strip().rstrip("/") for u in value.split(",") if u.strip())


def upstream_names(count: int) -> tuple[str, ...]:
    return tuple(ANTHROPIC if i == 0 else f"{ANTHROPIC}-{i + 1}" for i in range(count))


def seed_providers(upstreams: Sequence[str], openrouter_base_url: str) -> dict[str, Provider]:
    names = upstream_names(len(upstreams))
    providers = {n: Provider(n, "anthropic", url) for n, url in zip(names, upstreams, strict=True)}
    providers[OPENROUTER] = Provider(
        OPENROUTER, "openai", openrouter_base_url.rstrip("/"), (OPENROUTER_KEY_ENV,)
    )
    return providers


def seed_route(mode: str, upstreams: Sequence[str]) -> Route:
    if mode == OPENROUTER:
        return Route("openrouter (proxyMode)", Match(), (Target(OPENROUTER),))
    chain = tuple(Target(name) for name in upstream_names(len(upstreams)))
    return Route("anthropic (proxyMode)", Match(), chain)


def build(
    mode: str,
    upstreams: Sequence[str],
    openrouter_base_url: str,
    configured: Routing | None = None,
) -> Routing:
    """The effective Routing: configured routes over seed + configured providers, else the preset."""
    providers = seed_providers(upstreams, openrouter_base_url)
    if configured is not None:
        providers.update(configured.providers)
    names = upstream_names(len(upstreams))
    if configured is not None and configured.routes:
        return Routing(MappingProxyType(providers), configured.routes, upstreams=names)
    route = seed_route(mode, upstreams)
    return Routing(MappingProxyType(providers), (route,), mode or ANTHROPIC, names)
