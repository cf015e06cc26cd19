"""Quota: the upstream's rate-limit windows as last read, who used them, when they run out.

Each exchange stores the `anthropic-ratelimit-*` headers of its response (`record.signals`).
A *window* is a subscription window (`unified-5h-*`, `unified-7d-*`, per-model weekly ones,
`unified-overage-*`: utilization 0..1, status, reset as unix seconds) or an API-key bucket
(`requests|tokens|input-tokens|output-tokens-{limit,remaining,reset}`, reset as RFC 3339).

Shares: between two consecutive readings of a window, its utilization moved by some amount; that
change is apportioned to the exchanges started in between (the exchange carrying the earlier
reading included) in proportion to their tokens (input + cache write + cache read + output),
and summed per session and per project. A change with no exchange in between was used outside
this proxy (claude.ai, another machine): it is reported as `outside`.

Forecast: the rate over the readings of the last `RATE_WINDOW_S` in the same window instance,
extrapolated to 100 %; `before_reset` says whether that comes before the window resets.
"""

from __future__ import annotations

import bisect
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from anthropic_proxy.storage import Row, Store

RECENT_READINGS = 500
RATE_WINDOW_S = 3600.0
TOP = 10
SUFFIXES = ("utilization", "status", "reset", "limit", "remaining")
API_BUCKETS = ("requests", "tokens", "input-tokens", "output-tokens")
_LENGTH = re.compile(r"^(\d+)([hd])")
TOKENS = (
    "COALESCE(input_tokens, 0) + COALESCE(output_tokens, 0) "
    "+ COALESCE(cache_creation_tokens, 0) + COALESCE(cache_read_tokens, 0)"
)


@dataclass
class Reading:
    """One window as one exchange's response headers described it."""

    name: str
    kind: str  # "unified" | "api"
    at: float
    exchange_id: str
    utilization: float | None = None
    status: str | None = None
    resets_at: float | None = None
    limit: int | None = None
    remaining: int | None = None

    def as_json(self, now: float) -> dict[str, Any]:
        return {
            "window": self.name,
            "kind": self.kind,
            "utilization": self.utilization,
            "status": self.status,
            "resets_at": self.resets_at,
            "reset_in_s": round(self.resets_at - now, 1) if self.resets_at else None,
            "limit": self.limit,
            "remaining": self.remaining,
            "at": self.at,
            "exchange_id": self.exchange_id,
        }


@dataclass
class _Shares:
    sessions: dict[str, float] = field(default_factory=dict)
    projects: dict[str, float] = field(default_factory=dict)
    outside: float = 0.0
    total: float = 0.0


def parse(
    headers: dict[str, str], at: float, exchange_id: str
) -> tuple[list[Reading], dict[str, str]]:
    """(windows, overall fields such as unified `status`, `fallback-percentage`)."""
    windows: dict[str, Reading] = {}
    overall: dict[str, str] = {}
    for key, value in headers.items():
        unified = key.startswith("unified-")
        rest = key.removeprefix("unified-")
        name, _, suffix = rest.rpartition("-")
        if suffix not in SUFFIXES or not name:
            overall[rest if unified else key] = value
            continue
        reading = windows.setdefault(
            f"{'' if unified else 'api:'}{name}",
            Reading(
                name if unified else f"api:{name}", "unified" if unified else "api", at, exchange_id
            ),
        )
        _set(reading, suffix, value)
    for r in windows.values():
        if r.kind == "api" and r.limit and r.remaining is not None:
            r.utilization = round(1 - r.remaining / r.limit, 6)
    return list(windows.values()), overall


def _set(reading: Reading, suffix: str, value: str) -> None:
    try:
        if suffix == "utilization":
            reading.utilization = float(value)
        elif suffix == "status":
            reading.status = value
        elif suffix == "reset":
            reading.resets_at = _instant(value)
        elif suffix == "limit":
            reading.limit = int(value)
        elif suffix == "remaining":
            reading.remaining = int(value)
    except ValueError:
        pass  # an unreadable value leaves the field unknown


def _instant(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def window_length(name: str) -> float | None:
    """Seconds a subscription window spans, from its name (`5h`, `7d`, `7d_opus`)."""
    found = _LENGTH.match(name)
    if not found:
        return None
    return int(found.group(1)) * (3600 if found.group(2) == "h" else 86400)


def quota(store: Store, now: float | None = None) -> dict[str, Any]:
    """`GET /api/monitor/quota`: the latest reading of every window, with shares and forecast."""
    now = time.time() if now is None else now
    recent = store.fetch(
        "SELECT id, started_at, ratelimit FROM exchanges WHERE ratelimit IS NOT NULL "
        "ORDER BY started_at DESC LIMIT ?",
        [RECENT_READINGS],
    )
    latest: dict[str, Reading] = {}
    overall: dict[str, str] = {}
    overall_at = None
    for row in recent:
        windows, fields = parse(orjson.loads(row["ratelimit"]), row["started_at"], row["id"])
        for w in windows:
            latest.setdefault(w.name, w)
        if fields and overall_at is None:
            overall, overall_at = fields, row["started_at"]
    shares = _apportion(store, latest, now)
    out = []
    for name, reading in sorted(latest.items(), key=lambda kv: _order(kv[1])):
        entry = reading.as_json(now)
        history = shares.get(name)
        if history is not None:
            entry["shares"] = _share_json(history[0])
            entry["forecast"] = _forecast(reading, history[1], now)
        out.append(entry)
    return {
        "windows": out,
        "overall": overall,
        "overall_at": overall_at,
        "at": recent[0]["started_at"] if recent else None,
        "now": now,
    }


def _order(r: Reading) -> tuple[int, float, str]:
    return (r.kind != "unified", window_length(r.name) or 1e12, r.name)


def _apportion(
    store: Store, latest: dict[str, Reading], now: float
) -> dict[str, tuple[_Shares, list[tuple[float, float]]]]:
    """Per subscription window: shares of its current instance, and its (time, utilization)
    readings of the last RATE_WINDOW_S."""
    starts = {
        name: r.resets_at - length
        for name, r in latest.items()
        if r.kind == "unified"
        and r.resets_at
        and r.utilization is not None
        and (length := window_length(name))
    }
    if not starts:
        return {}
    rows = store.fetch(
        f"SELECT started_at, ratelimit, session_id, project, {TOKENS} AS tokens FROM exchanges "
        "WHERE started_at >= ? AND started_at <= ? AND kind = 'messages' ORDER BY started_at",
        [min(starts.values()), now],
    )
    for row in rows:  # parsed once for every window
        row["ratelimit"] = orjson.loads(row["ratelimit"]) if row["ratelimit"] else None
    out = {}
    for name, start in starts.items():
        out[name] = _walk(rows, name, start, latest[name].resets_at or 0.0, now)
    return out


def _walk(
    rows: list[Row], name: str, start: float, resets_at: float, now: float
) -> tuple[_Shares, list[tuple[float, float]]]:
    shares = _Shares()
    pending: dict[tuple[str, str], int] = {}
    previous = 0.0  # the window instance began empty
    recent: list[tuple[float, float]] = []
    for row in rows[bisect.bisect_left(rows, start, key=lambda r: r["started_at"]) :]:
        value = _utilization(row, name, resets_at)
        if value is not None:
            delta = value - previous
            if delta > 0:
                _share_out(shares, pending, delta)
            pending = {}
            previous = value
            if row["started_at"] >= now - RATE_WINDOW_S:
                recent.append((row["started_at"], value))
        key = (row["session_id"] or "", row["project"] or "")
        pending[key] = pending.get(key, 0) + int(row["tokens"] or 0)
    return shares, recent


def _utilization(row: Row, name: str, resets_at: float) -> float | None:
    headers = row["ratelimit"]
    if not headers:
        return None
    raw = headers.get(f"unified-{name}-utilization")
    reset = headers.get(f"unified-{name}-reset")
    try:
        if raw is None or (reset is not None and abs(float(reset) - resets_at) > 1):
            return None  # another instance of the window (it reset since)
        return float(raw)
    except ValueError:
        return None


def _share_out(shares: _Shares, pending: dict[tuple[str, str], int], delta: float) -> None:
    shares.total += delta
    tokens = sum(pending.values())
    if not tokens:
        shares.outside += delta
        return
    for (session, project), n in pending.items():
        part = delta * n / tokens
        shares.sessions[session] = shares.sessions.get(session, 0.0) + part
        shares.projects[project] = shares.projects.get(project, 0.0) + part


def _share_json(s: _Shares) -> dict[str, Any]:
    def top(parts: dict[str, float], key: str) -> list[dict[str, Any]]:
        ranked = sorted(parts.items(), key=lambda kv: -kv[1])[:TOP]
        return [
            {
                key: k or None,
                "utilization": round(v, 6),
                "share": round(v / s.total, 4) if s.total else 0.0,
            }
            for k, v in ranked
        ]

    return {
        "change": round(s.total, 6),
        "sessions": top(s.sessions, "session_id"),
        "projects": top(s.projects, "project"),
        "outside": round(s.outside, 6),
    }


def _forecast(reading: Reading, recent: list[tuple[float, float]], now: float) -> dict[str, Any]:
    out: dict[str, Any] = {"rate_per_hour": None, "runs_out_at": None, "before_reset": False}
    if len(recent) < 2 or reading.utilization is None:
        return out
    (t0, u0), (t1, u1) = recent[0], recent[-1]
    if t1 - t0 < 60 or u1 <= u0:
        out["rate_per_hour"] = 0.0 if t1 - t0 >= 60 else None
        return out
    rate = (u1 - u0) / (t1 - t0)
    runs_out = t1 + max(0.0, 1.0 - reading.utilization) / rate
    out.update(
        rate_per_hour=round(rate * 3600, 6),
        runs_out_at=round(runs_out, 1),
        before_reset=bool(reading.resets_at and runs_out < reading.resets_at),
    )
    return out
