"""The order of attempts for one request: (target, key) steps, and which step follows a verdict.

Targets whose circuit is open are skipped, and so are keys that are benched; when that leaves
nothing, the step that frees up soonest is tried anyway (the upstream may have recovered, and a
client is better served by the upstream's own answer than by ours). A single-target chain is
therefore always tried, exactly as a proxy without routing would.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from anthropic_proxy.masking import mask_value
from anthropic_proxy.routing.failover import Next, Verdict
from anthropic_proxy.routing.health import DEFAULT_BENCH_S, Health
from anthropic_proxy.routing.model import Provider, Route, Routing, Target


@dataclass(frozen=True, slots=True)
class Step:
    target: Target
    provider: Provider
    key: str | None
    """The key to send: an env pool key, the client's own ("" when the client sent none), or
    None when the provider's pool has no key set in the environment."""
    key_name: str = ""
    """The env variable the key came from, or `client`."""
    key_label: str = ""
    """The key masked (first 10 + ... + last 4), for attempt records."""


def steps(
    routing: Routing, route: Route, health: Health, client_key: str, env: Mapping[str, str]
) -> list[Step]:
    now = health.clock()
    ready: list[Step] = []
    waiting: list[tuple[float, Step]] = []
    for target in route.targets:
        provider = routing.providers[target.provider]
        target_free = health.open_until(target.label)
        for step in _keyed(target, provider, client_key, env):
            free = max(target_free, health.key_free_at(provider.name, step.key or ""))
            if free > now:
                waiting.append((free, step))
            else:
                ready.append(step)
    if ready or not waiting:
        return ready
    return [min(waiting, key=lambda pair: pair[0])[1]]


def _keyed(
    target: Target, provider: Provider, client_key: str, env: Mapping[str, str]
) -> list[Step]:
    if provider.client_key:
        return [Step(target, provider, client_key, "client", _label(client_key))]
    keys = [
        Step(target, provider, env[name], name, _label(env[name]))
        for name in provider.key_env
        if env.get(name)
    ]
    return keys or [Step(target, provider, None, ",".join(provider.key_env))]


def _label(key: str) -> str:
    return mask_value(key) if key else ""


def following(plan: list[Step], index: int, verdict: Verdict) -> int | None:
    """The step after `plan[index]` given its verdict, or None: serve what we have."""
    if verdict.next is Next.SERVE:
        return None
    if verdict.next is Next.KEY:
        return index + 1 if index + 1 < len(plan) else None
    target = plan[index].target
    for later in range(index + 1, len(plan)):
        if plan[later].target != target:
            return later
    return None


def record(health: Health, step: Step, verdict: Verdict) -> None:
    """What an attempt teaches: the target's circuit, and for a 429 or spent quota, the key."""
    label = step.target.label
    if verdict.next is Next.SERVE:
        health.succeeded(label)
        if verdict.spent_until is not None and step.key:  # served, but the quota is now spent
            health.bench_key(step.provider.name, step.key, verdict.spent_until, "quota")
        return
    if verdict.next is Next.KEY:
        now = health.clock()
        until = verdict.spent_until or now + (verdict.retry_after_s or DEFAULT_BENCH_S)
        health.bench_key(step.provider.name, step.key or "", until, verdict.error or "http_429")
        return
    health.failed(label, verdict.error or "failed", verdict.retry_after_s)
