"""`GET /v1/models` from the routes, so Claude Code's model picker shows what is routed.

Each unconditional route (no agent, thinking, tools or size condition) publishes the models it
matches: a family word as the id Claude Code knows for it (`claude-opus-4-6`), an exact id as
itself (globs publish nothing); a catch-all publishes the three families. The display name says
where it goes: `claude-opus-4-6 via team/claude-opus-4-6`. The first route to publish an id wins,
as it would serve it.
"""

from __future__ import annotations

from typing import Any, Final

from anthropic_proxy.routing.match import FAMILIES
from anthropic_proxy.routing.model import Match, Routing
from anthropic_proxy.translate.models import published_id

CREATED: Final = "2026-01-01T00:00:00Z"
_GLOB: Final = frozenset("*?[")


def published(routing: Routing) -> list[dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for route in routing.routes:
        m = route.match
        if Match(m.models) != m or not route.targets:  # conditional: not what the picker picks
            continue
        via = route.targets[0].label
        for pattern in m.models or FAMILIES:
            name = pattern.strip().lower()
            if _GLOB & set(name):
                continue
            model_id = published_id(name) if name in FAMILIES else pattern.strip()
            entries.setdefault(
                model_id,
                {
                    "type": "model",
                    "id": model_id,
                    "display_name": f"{model_id} via {via}",
                    "created_at": CREATED,
                },
            )
    return list(entries.values())
