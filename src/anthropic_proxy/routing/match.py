"""Which route serves a request: its traits, read cheaply, against each route's Match in order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Final

from anthropic_proxy.routing.model import Match, Route, Routing
from anthropic_proxy.translate.models import normalise
from anthropic_proxy.translate.tokens import quick_estimate

AGENT_HEADER: Final = "x-claude-code-agent-id"
"""Claude Code sends it on a subagent's calls only (the main thread has none)."""
FAMILIES: Final = ("sonnet", "opus", "haiku")
_GLOB: Final = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class Traits:
    model: str = ""
    subagent: bool = False
    thinking: bool = False
    tools: bool = False
    input_tokens: int = 0


def traits(headers: Mapping[str, str], body: Mapping[str, Any] | None, body_bytes: int) -> Traits:
    """`headers` case-insensitive (aiohttp's CIMultiDict); `body` None when it was not parsed."""
    body = body or {}
    thinking = body.get("thinking")
    return Traits(
        model=str(body.get("model") or ""),
        subagent=bool(headers.get(AGENT_HEADER)),
        thinking=isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"),
        tools=bool(body.get("tools")),
        input_tokens=quick_estimate(body_bytes),
    )


def model_matches(pattern: str, requested: str) -> bool:
    """A family word matches any id containing it; a glob matches the normalised id (`[1m]`
    and date suffixes dropped); anything else is an exact id, either as sent or normalised."""
    pattern = pattern.strip().lower()
    name = normalise(requested)
    if pattern in FAMILIES:
        return pattern in name
    if _GLOB & set(pattern):
        return fnmatchcase(name, pattern) or fnmatchcase(requested.lower(), pattern)
    return pattern in (name, requested.strip().lower())


def matches(match: Match, t: Traits) -> bool:
    if match.models and not any(model_matches(p, t.model) for p in match.models):
        return False
    if match.agent is not None and (match.agent == "subagent") != t.subagent:
        return False
    if match.thinking is not None and match.thinking != t.thinking:
        return False
    if match.tools is not None and match.tools != t.tools:
        return False
    return match.min_input_tokens is None or t.input_tokens > match.min_input_tokens


def choose(routing: Routing, t: Traits) -> Route | None:
    """The first route whose Match holds, or None."""
    for route in routing.routes:
        if matches(route.match, t):
            return route
    return None
