"""Which backend model serves a Claude model name, and which names we publish back.

Claude Code asks for several ids (main, small-fast Haiku, subagents, dated ids such as
`claude-haiku-4-5-20251001`, `claude-opus-4-6[1m]`). Names are normalised first, then matched
by the operator's ordered glob rules, then by family word, then fall back to the default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import Any, Final

SEED_FAMILIES: Final = ("sonnet", "opus", "haiku")
# The ids Claude Code's model picker knows (context window, pricing) for the seed families.
PUBLISHED_IDS: Final = MappingProxyType(
    {"opus": "claude-opus-4-6", "sonnet": "claude-sonnet-4-6", "haiku": "claude-haiku-4-5"}
)
_SUFFIXES: Final = re.compile(r"(\[[^\]]*\])+$|[-@]\d{8}$|-latest$")
# Backends that accept Anthropic-style cache_control markers through OpenRouter (§4.6).
_CACHE_MARKERS: Final = ("claude", "anthropic/", "gemini")


@dataclass(frozen=True, slots=True)
class ModelRule:
    pattern: str
    """A case-insensitive glob over the normalised client name, e.g. `claude-*-fable*`."""
    model: str


@dataclass(frozen=True, slots=True)
class ModelMapping:
    families: Mapping[str, str] = field(default_factory=dict)
    """Family word -> backend model, tried in order (`sonnet`, `opus`, `haiku`, ...)."""
    rules: tuple[ModelRule, ...] = ()
    default: str = ""


def normalise(name: str) -> str:
    """`Claude-Opus-4-6[1m]` -> `claude-opus-4-6`; `…-haiku-4-5-20251001` -> `…-haiku-4-5`."""
    name = name.strip().lower()
    while (stripped := _SUFFIXES.sub("", name)) != name:
        name = stripped
    return name


def resolve(requested: str, mapping: ModelMapping) -> str:
    """The backend model for the name the client asked for."""
    name = normalise(requested)
    for rule in mapping.rules:
        if fnmatchcase(name, rule.pattern.lower()):
            return rule.model
    for family, target in mapping.families.items():
        if family and family.lower() in name and target:
            return target
    if "/" in requested:
        return requested  # an explicit backend slug, as the seed allowed
    return mapping.default or next(iter(mapping.families.values()), requested)


def published_id(family: str) -> str:
    return PUBLISHED_IDS.get(family, f"claude-{family}")


def published_models(mapping: ModelMapping) -> list[dict[str, Any]]:
    """GET /v1/models entries (Anthropic shape) for every mapped family."""
    return [
        {
            "type": "model",
            "id": published_id(family),
            "display_name": f"{family.capitalize()} via {target}",
            "created_at": "2026-01-01T00:00:00Z",
        }
        for family, target in mapping.families.items()
        if target
    ]


def accepts_cache_control(model: str) -> bool:
    lower = model.lower()
    return any(marker in lower for marker in _CACHE_MARKERS)
