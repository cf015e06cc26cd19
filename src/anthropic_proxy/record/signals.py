"""What the upstream says besides the message: rate-limit readings and cache diagnostics.

Rate limits are every `anthropic-ratelimit-*` response header (subscription `unified-*` windows
and API-key `requests|tokens|input-tokens|output-tokens-{limit,remaining,reset}`), stored per
exchange as a small JSON object keyed by the header name without its prefix. `usage.quota`
reads them back. Cache diagnostics (beta `cache-diagnosis-2026-04-07`) arrive in the message as
`diagnostics.cache_miss_reason` ({type, cache_missed_input_tokens}).
"""

from __future__ import annotations

from typing import Any

import orjson

PREFIX = "anthropic-ratelimit-"


def ratelimit(headers: dict[str, str]) -> str | None:
    found = {k[len(PREFIX) :]: v for k, v in headers.items() if k.startswith(PREFIX)}
    return orjson.dumps(found).decode() if found else None


def cache_miss(body: Any) -> tuple[str | None, int | None]:
    """(reason type, missed input tokens) when the upstream diagnosed a cache miss."""
    diagnostics = body.get("diagnostics") if isinstance(body, dict) else None
    if not isinstance(diagnostics, dict):
        return None, None
    reason = diagnostics.get("cache_miss_reason")
    if isinstance(reason, str):
        return reason, None
    if not isinstance(reason, dict):
        return None, None
    missed = reason.get("cache_missed_input_tokens")
    kind = reason.get("type")
    return (
        str(kind) if kind is not None else None,
        int(missed) if isinstance(missed, int | float) else None,
    )
