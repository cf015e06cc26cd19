"""The routing nouns. A Provider is an upstream; a Route matches requests to a chain of Targets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

KINDS: Final = ("anthropic", "openai")
OAUTH_PREFIX: Final = "sk-ant-oat"
"""A Claude subscription token: sent as `Authorization: Bearer`, not `x-api-key`."""
AGENTS: Final = ("main", "subagent")


@dataclass(frozen=True, slots=True)
class Provider:
    """A named upstream. `kind` anthropic: the Messages API, relayed byte for byte; openai:
    chat completions, translated. Keys: the env variables in `key_env` (a pool, in order), else
    the client's own `x-api-key` / `Authorization`, forwarded untouched."""

    name: str
    kind: str
    base_url: str
    key_env: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    timeout_s: float | None = None
    """Seconds to wait for the first byte (connect + response headers); None: the proxy's own."""

    @property
    def client_key(self) -> bool:
        return not self.key_env


@dataclass(frozen=True, slots=True)
class Target:
    provider: str
    model: str | None = None
    """The model to ask for; None keeps the client's (anthropic) or maps it (openai, seed mapping)."""

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}" if self.model else self.provider


@dataclass(frozen=True, slots=True)
class Match:
    """Every condition set must hold; an empty Match matches everything."""

    models: tuple[str, ...] = ()
    """Any of: a family word (`sonnet`), a glob (`claude-*-4-5`), an exact id."""
    agent: str | None = None
    """`subagent` (Claude Code's x-claude-code-agent-id header present) or `main`."""
    thinking: bool | None = None
    tools: bool | None = None
    min_input_tokens: int | None = None
    """Matches when the estimated input tokens are above this."""

    @property
    def needs_body(self) -> bool:
        return bool(self.models) or self.thinking is not None or self.tools is not None


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    match: Match
    targets: tuple[Target, ...]


@dataclass(frozen=True, slots=True)
class Routing:
    providers: Mapping[str, Provider] = field(default_factory=lambda: MappingProxyType({}))
    routes: tuple[Route, ...] = ()
    preset: str = ""
    """Where this came from when not configured: `anthropic` or `openrouter` (the seed's modes)."""
    upstreams: tuple[str, ...] = ()
    """The seed's Anthropic providers (`--upstream URL1,URL2`), in order: they serve every
    path that is not routed by model (/v1/files, batches, ...)."""

    @property
    def needs_body(self) -> bool:
        """Whether choosing a route can depend on the body (else the body is never parsed)."""
        for route in self.routes:
            if route.match.needs_body:
                return True
            if route.match == Match():
                return False  # a catch-all: later routes are unreachable
        return False

    def provider(self, target: Target) -> Provider:
        return self.providers[target.provider]

    def kinds(self, route: Route) -> set[str]:
        return {self.providers[t.provider].kind for t in route.targets}
