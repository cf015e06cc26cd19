"""The live routing of a running proxy: the effective Routing, what it has learned, the keys.

Rebuilt (`replace`) when the config changes; `Health` survives a rebuild, so a change of routes
does not forget that an upstream is down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from anthropic_proxy.routing import match, walk
from anthropic_proxy.routing.health import Health
from anthropic_proxy.routing.model import Match, Route, Routing, Target

PLAN_CACHE = 256


@dataclass(slots=True)
class Router:
    routing: Routing
    env: Mapping[str, str] = field(default_factory=dict)
    """Key pool values by environment variable name (read once per config change)."""
    health: Health = field(default_factory=Health)
    catch_all: Route | None = None
    """The route that takes every request when the first route matches everything."""
    upstream_route: Route = field(default_factory=lambda: Route("upstream", Match(), ()))
    """The seed's Anthropic upstreams in order: for paths not routed by model."""
    plans: dict[tuple[int, str], list[walk.Step]] = field(default_factory=dict)
    """Plans while health is quiet, by (route, client key); cleared on `replace`."""

    def __post_init__(self) -> None:
        self.replace(self.routing, self.env)

    def replace(self, routing: Routing, env: Mapping[str, str]) -> None:
        self.routing, self.env = routing, env
        self.plans.clear()
        first = routing.routes[0] if routing.routes else None
        self.catch_all = first if first is not None and first.match == Match() else None
        targets = tuple(Target(name) for name in routing.upstreams)
        self.upstream_route = Route("upstream", Match(), targets)

    def route(
        self, headers: Mapping[str, str], body: Mapping[str, Any] | None, body_bytes: int
    ) -> Route | None:
        """The route for a request (`body` parsed only when `routing.needs_body`)."""
        if self.catch_all is not None:
            return self.catch_all
        return match.choose(self.routing, match.traits(headers, body, body_bytes))

    def plan(self, route: Route, client_key: str) -> list[walk.Step]:
        """The steps for a request. While health is quiet a plan depends only on the route and
        the client's key, so it is computed once (the hot path of a healthy chain)."""
        if not self.health.quiet:
            return walk.steps(self.routing, route, self.health, client_key, self.env)
        cache_key = (id(route), client_key)
        plan = self.plans.get(cache_key)
        if plan is None:
            if len(self.plans) >= PLAN_CACHE:
                self.plans.clear()
            plan = walk.steps(self.routing, route, self.health, client_key, self.env)
            self.plans[cache_key] = plan
        return plan
