"""The verdict on one attempt, from what the upstream said before anything reached the client.

    connect error, timeout before the first byte, 529, 5xx  -> the next target (the provider failed)
    429                                                     -> the next key of the pool, else the next target
    a unified quota `rejected` (any status)                 -> that key is spent until its reset
    anything else (2xx, 4xx)                                -> serve it: the client gets it as it is

Once the first byte has gone to the client nothing is retried: a request is not idempotent.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Final

RETRY_AFTER_CAP_S: Final = 3600.0
UNIFIED: Final = "anthropic-ratelimit-unified-"
WINDOWS: Final = ("", "5h-", "7d-", "7d_opus-", "7d_sonnet-", "overage-")


class Next(Enum):
    SERVE = "serve"
    KEY = "key"
    TARGET = "target"


@dataclass(frozen=True, slots=True)
class Verdict:
    next: Next
    error: str | None = None
    """What went wrong, for the attempt record: `http_529`, `connect`, `timeout`, `quota`."""
    retry_after_s: float | None = None
    """How long the upstream asked us to stay away (retry-after), when it said."""
    spent_until: float | None = None
    """Epoch seconds when a spent quota resets (the key is benched until then)."""


def on_status(status: int, headers: Mapping[str, str], now: float) -> Verdict:
    """`headers` case-insensitive. `now` epoch seconds (for HTTP-date retry-after)."""
    spent = quota_spent_until(headers, now)
    if status == 429 or (spent is not None and status >= 400):
        error = "quota" if spent is not None else "http_429"
        return Verdict(Next.KEY, error, retry_after(headers, now), spent)
    if status == 529 or status >= 500:
        return Verdict(Next.TARGET, f"http_{status}", retry_after(headers, now))
    return Verdict(Next.SERVE, None, None, spent)


def on_connect_error(timeout: bool) -> Verdict:
    return Verdict(Next.TARGET, "timeout" if timeout else "connect")


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """`retry-after-ms`, else `retry-after` in seconds or as an HTTP date; capped at an hour."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return _capped(float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = (headers.get("retry-after") or "").strip()
    if not raw:
        return None
    try:
        return _capped(float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return _capped(when.timestamp() - now)


def _capped(seconds: float) -> float | None:
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return min(seconds, RETRY_AFTER_CAP_S)


def quota_spent_until(headers: Mapping[str, str], now: float) -> float | None:
    """When a subscription's rejected quota window resets (the latest rejected window's reset),
    from `anthropic-ratelimit-unified-{,5h-,7d-}status: rejected` and the matching `-reset`."""
    until: float | None = None
    for window in WINDOWS:
        if (headers.get(f"{UNIFIED}{window}status") or "").strip().lower() != "rejected":
            continue
        reset = parse_reset(headers.get(f"{UNIFIED}{window}reset") or "", now)
        if reset is None:
            reset = parse_reset(headers.get(f"{UNIFIED}reset") or "", now)
        candidate = reset if reset is not None else now + 300.0  # rejected, no reset said
        until = candidate if until is None else max(until, candidate)
    return until


def parse_reset(raw: str, now: float) -> float | None:
    """A reset time: epoch seconds (what unified headers send) or RFC 3339."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return value / 1000 if value > 1e11 else value  # milliseconds, defensively
