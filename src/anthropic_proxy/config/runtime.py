"""The runtime config as a value: frozen dataclasses with snake_case fields.

camelCase lives only at the JSON edge, here: `FIELDS` names each editable field as the seed's
JSON spells it (what `/api/config` takes, `config/validate.py` checks and `config/destinations.py`
guards) and says where it lives in `RuntimeConfig`; `to_json` gives the seed's shape that
`/api/config` serves, `config.json` stores and `ops/cluster.py` shares between instances.
`config/validate.py` reads that shape and produces a `RuntimeConfig`.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from anthropic_proxy.translate.models import ModelMapping
from anthropic_proxy.wire import JSON


@dataclass(frozen=True, slots=True)
class Backend:
    """The translation backend (the seed's `openrouter` section)."""

    base_url: str
    mapping: ModelMapping
    """Which backend model serves a Claude model name: the seed's `modelMapping` (`families`),
    `modelRules` and `defaultModel`."""


@dataclass(frozen=True, slots=True)
class Attribution:
    """How the proxy names itself to the backend (the seed's `headers` section)."""

    http_referer: str
    title: str


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """What an operator may change while the proxy runs; `ConfigStore` holds the current one."""

    mode: str
    """`anthropic` (pass-through) or `openrouter` (translated): the seed's `proxyMode`."""
    backend: Backend
    attribution: Attribution
    providers: tuple[JSON, ...] = ()
    """`providers` and `routes` as the operator wrote them (`routing/load.py` parses them on
    use), so `/api/config` and `config.json` give back what was sent. Never mutated."""
    routes: tuple[JSON, ...] = ()

    def to_json(self) -> JSON:
        """The seed's JSON shape (a fresh copy): what is served, stored and shared."""
        mapping, attribution = self.backend.mapping, self.attribution
        return {
            "proxyMode": self.mode,
            "openrouter": {
                "baseUrl": self.backend.base_url,
                "defaultModel": mapping.default,
                "modelMapping": dict(mapping.families),
                "modelRules": [{"pattern": r.pattern, "model": r.model} for r in mapping.rules],
            },
            "headers": {"httpReferer": attribution.http_referer, "title": attribution.title},
            "providers": copy.deepcopy(list(self.providers)),
            "routes": copy.deepcopy(list(self.routes)),
        }


EDITABLE: Final = ("proxyMode", "openrouter", "headers", "providers", "routes")
"""The top-level keys of `to_json`: what `config.json` holds and instances share."""
FIELDS: Final[MappingProxyType[str, tuple[str, ...]]] = MappingProxyType(
    {
        "proxyMode": ("mode",),
        "providers": ("providers",),
        "routes": ("routes",),
        "openrouter.baseUrl": ("backend", "base_url"),
        "openrouter.defaultModel": ("backend", "mapping", "default"),
        "openrouter.modelMapping": ("backend", "mapping", "families"),
        "openrouter.modelRules": ("backend", "mapping", "rules"),
        "headers.httpReferer": ("attribution", "http_referer"),
        "headers.title": ("attribution", "title"),
    }
)
"""Each editable field's JSON name (dotted) -> its attribute path in `RuntimeConfig`."""


def get(config: RuntimeConfig, name: str) -> Any:
    """The value of the field `name` (a key of `FIELDS`)."""
    value: Any = config
    for attribute in FIELDS[name]:
        value = getattr(value, attribute)
    return value


def with_value(config: RuntimeConfig, name: str, value: Any) -> RuntimeConfig:
    """A copy of `config` with the field `name` set to `value`."""
    changed: RuntimeConfig = _replace(config, FIELDS[name], value)
    return changed


def _replace(node: Any, path: tuple[str, ...], value: Any) -> Any:
    head, *rest = path
    new = _replace(getattr(node, head), tuple(rest), value) if rest else value
    return dataclasses.replace(node, **{head: new})
