"""JSON (config.json's `providers` and `routes`) to a Routing and back, with per-field errors.

    "providers": [{"name": "team", "kind": "anthropic", "baseUrl": "https://api.anthropic.com",
                   "keyEnv": ["ANTHROPIC_KEY_A", "ANTHROPIC_KEY_B"], "headers": {}, "timeoutMs": 30000}]
    "routes": [{"name": "subagents", "match": {"model": ["haiku"], "agent": "subagent"},
                "targets": [{"provider": "team", "model": "claude-haiku-4-5"}, "backup"]}]

A provider without `keyEnv` forwards the client's own key. Key values never appear here: only the
names of the environment variables that hold them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlsplit

from anthropic_proxy.routing.model import AGENTS, KINDS, Match, Provider, Route, Routing, Target
from anthropic_proxy.wire import JSON

_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ENV: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_HEADER: Final = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
SECRET_HEADERS: Final = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie"})
SECRET_FIELDS: Final = frozenset({"apiKey", "key", "keys", "token"})
SECRET_MESSAGE: Final = (
    "key values are never stored in config: put the key in an environment variable and name it "
    "in `keyEnv`"
)
MAX_PROVIDERS: Final = 50
MAX_ROUTES: Final = 100
MAX_TARGETS: Final = 10


class RoutingError(Exception):
    """A rejected routing config; `fields` maps each dotted field name to what is wrong."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in fields.items()))
        self.fields = fields


def parse(providers: Any, routes: Any, known: Mapping[str, Provider] | None = None) -> Routing:
    """Validate both lists together (routes name providers, configured or `known`, the seed's);
    raise RoutingError listing every fault."""
    errors: dict[str, str] = {}
    parsed = _providers(providers, errors)
    by_name = {p.name: p for p in parsed}
    chains = _routes(routes, {**(known or {}), **by_name}, errors)
    if errors:
        raise RoutingError(errors)
    return Routing(MappingProxyType(by_name), tuple(chains))


def dump(routing: Routing) -> JSON:
    """The JSON form `parse` reads (what /api/config shows and config.json stores)."""
    return {
        "providers": [dump_provider(p) for p in routing.providers.values()],
        "routes": [_dump_route(r) for r in routing.routes],
    }


def dump_provider(p: Provider) -> JSON:
    out: JSON = {"name": p.name, "kind": p.kind, "baseUrl": p.base_url}
    if p.key_env:
        out["keyEnv"] = list(p.key_env)
    if p.headers:
        out["headers"] = dict(p.headers)
    if p.timeout_s is not None:
        out["timeoutMs"] = round(p.timeout_s * 1000)
    return out


def _dump_route(route: Route) -> JSON:
    m = route.match
    match: JSON = {}
    if m.models:
        match["model"] = list(m.models)
    if m.agent is not None:
        match["agent"] = m.agent
    if m.thinking is not None:
        match["thinking"] = m.thinking
    if m.tools is not None:
        match["tools"] = m.tools
    if m.min_input_tokens is not None:
        match["minInputTokens"] = m.min_input_tokens
    targets = [
        {"provider": t.provider, **({"model": t.model} if t.model else {})} for t in route.targets
    ]
    return {"name": route.name, "match": match, "targets": targets}


def check_url(value: Any) -> tuple[str, str | None]:
    if not isinstance(value, str):
        return "", "must be a URL string"
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "", "must be an http:// or https:// URL with a host"
    if parts.username or parts.password or parts.query or parts.fragment:
        return "", "must not contain credentials, a query or a fragment"
    return value.strip().rstrip("/"), None


def _providers(value: Any, errors: dict[str, str]) -> list[Provider]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_PROVIDERS:
        errors["providers"] = f"must be a list of at most {MAX_PROVIDERS} provider objects"
        return []
    out: list[Provider] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        provider = _provider(item, f"providers.{index}", errors)
        if provider is None:
            continue
        if provider.name in seen:
            errors[f"providers.{index}.name"] = f"duplicate provider name {provider.name!r}"
        seen.add(provider.name)
        out.append(provider)
    return out


def _provider(item: Any, where: str, errors: dict[str, str]) -> Provider | None:
    if not isinstance(item, dict):
        errors[where] = "must be an object with name, kind and baseUrl"
        return None
    before = len(errors)
    for key in item:
        if key in SECRET_FIELDS:
            errors[f"{where}.{key}"] = SECRET_MESSAGE
        elif key not in ("name", "kind", "baseUrl", "keyEnv", "headers", "timeoutMs"):
            errors[f"{where}.{key}"] = "unknown field"
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        errors[f"{where}.name"] = "must be a name of letters, digits, . _ - (at most 64)"
    kind = item.get("kind", "anthropic")
    if kind not in KINDS:
        errors[f"{where}.kind"] = f"must be one of {', '.join(KINDS)}"
    url, error = check_url(item.get("baseUrl"))
    if error:
        errors[f"{where}.baseUrl"] = error
    key_env = _key_env(item.get("keyEnv"), f"{where}.keyEnv", errors)
    headers = _headers(item.get("headers"), f"{where}.headers", errors)
    timeout = _timeout(item.get("timeoutMs"), f"{where}.timeoutMs", errors)
    if len(errors) > before:
        return None
    return Provider(str(name), str(kind), url, key_env, headers, timeout)


def _key_env(value: Any, where: str, errors: dict[str, str]) -> tuple[str, ...]:
    if value is None:
        return ()
    names = [value] if isinstance(value, str) else value
    if isinstance(names, list) and any(isinstance(n, str) and "-" in n for n in names):
        errors[where] = SECRET_MESSAGE  # looks like a key pasted in place of its variable's name
        return ()
    if not isinstance(names, list) or not all(isinstance(n, str) and _ENV.match(n) for n in names):
        errors[where] = "must be environment variable names (letters, digits, _), not key values"
        return ()
    return tuple(dict.fromkeys(names))


def _headers(value: Any, where: str, errors: dict[str, str]) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        errors[where] = "must be an object of header name -> value"
        return ()
    out = []
    for name, text in value.items():
        if str(name).lower() in SECRET_HEADERS:
            errors[f"{where}.{name}"] = SECRET_MESSAGE
        elif not _HEADER.match(str(name)):
            errors[f"{where}.{name}"] = "not a valid header name"
        elif not isinstance(text, str) or len(text) > 1000 or re.search(r"[\r\n\x00]", text):
            errors[f"{where}.{name}"] = "must be a single-line string of at most 1000 characters"
        else:
            out.append((str(name), text))
    return tuple(out)


def _timeout(value: Any, where: str, errors: dict[str, str]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3_600_000:
        errors[where] = "must be milliseconds between 1 and 3600000"
        return None
    return float(value) / 1000


def _routes(value: Any, providers: dict[str, Provider], errors: dict[str, str]) -> list[Route]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_ROUTES:
        errors["routes"] = f"must be a list of at most {MAX_ROUTES} route objects"
        return []
    out = []
    for index, item in enumerate(value):
        route = _route(item, index, providers, errors)
        if route is not None:
            out.append(route)
    return out


def _route(
    item: Any, index: int, providers: dict[str, Provider], errors: dict[str, str]
) -> Route | None:
    where = f"routes.{index}"
    if not isinstance(item, dict):
        errors[where] = "must be an object with match and targets"
        return None
    before = len(errors)
    for key in item:
        if key not in ("name", "match", "targets"):
            errors[f"{where}.{key}"] = "unknown field"
    name = item.get("name") or f"route {index + 1}"
    if not isinstance(name, str) or len(name) > 100:
        errors[f"{where}.name"] = "must be a string of at most 100 characters"
    match = _match(item.get("match"), f"{where}.match", errors)
    targets = _targets(item.get("targets"), f"{where}.targets", providers, errors)
    if len(errors) > before:
        return None
    return Route(str(name), match, targets)


def _match(value: Any, where: str, errors: dict[str, str]) -> Match:
    if value is None:
        return Match()
    if not isinstance(value, dict):
        errors[where] = "must be an object (empty matches every request)"
        return Match()
    for key in value:
        if key not in ("model", "agent", "thinking", "tools", "minInputTokens"):
            errors[f"{where}.{key}"] = "unknown field"
    models = value.get("model", [])
    models = [models] if isinstance(models, str) else models
    if not isinstance(models, list) or not all(
        isinstance(m, str) and m.strip() and len(m) <= 256 for m in models
    ):
        errors[f"{where}.model"] = (
            "must be a family (sonnet, opus, haiku), a glob or a model id, or a list of them"
        )
        models = []
    agent = value.get("agent")
    if agent is not None and agent not in AGENTS:
        errors[f"{where}.agent"] = f"must be one of {', '.join(AGENTS)}"
    flags = {}
    for key in ("thinking", "tools"):
        flag = value.get(key)
        if flag is not None and not isinstance(flag, bool):
            errors[f"{where}.{key}"] = "must be true or false"
        flags[key] = flag if isinstance(flag, bool) else None
    tokens = value.get("minInputTokens")
    if tokens is not None and (
        isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0
    ):
        errors[f"{where}.minInputTokens"] = "must be a whole number of tokens"
        tokens = None
    return Match(
        tuple(m.strip() for m in models),
        agent if agent in AGENTS else None,
        flags["thinking"],
        flags["tools"],
        tokens,
    )


def _targets(
    value: Any, where: str, providers: dict[str, Provider], errors: dict[str, str]
) -> tuple[Target, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_TARGETS:
        errors[where] = f"must be a list of 1 to {MAX_TARGETS} targets ({{provider, model}})"
        return ()
    out = []
    for index, item in enumerate(value):
        item = {"provider": item} if isinstance(item, str) else item
        name = item.get("provider") if isinstance(item, dict) else None
        model = item.get("model") if isinstance(item, dict) else None
        if not isinstance(name, str) or name not in providers:
            known = ", ".join(providers) or "none configured"
            errors[f"{where}.{index}.provider"] = f"must name a provider (known: {known})"
            continue
        if model is not None and (
            not isinstance(model, str) or not model.strip() or len(model) > 256
        ):
            errors[f"{where}.{index}.model"] = (
                "must be a model id (or left out to keep the requested one)"
            )
            continue
        out.append(Target(name, model.strip() if model else None))
    return tuple(out)
