"""The line Claude Code's `statusLine` setting shows, from the JSON it passes on stdin.

`$0.42 session · $3.10 today · 5h 42% ↺2h13m · cache 91% · ctx 64k/200k 32%`

Every figure is one indexed query (session: `exchanges_session_started`; today: `exchanges_started`;
quota: the partial index on readings), so the line stays fast on a large store. Imports are the
standard library's lightest: Claude Code runs the command on every prompt (see `quickline`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol


class Reads(Protocol):
    """What the figures need of a store: `Store.fetch`, or `quickline`'s read-only connection."""

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...


DEFAULT_WINDOW = 200_000
LONG_WINDOW = 1_000_000
SEP = " · "


def facts(store: Reads, given: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    """The figures behind the line (also what `statusline --json` prints)."""
    now = time.time() if now is None else now
    session = str(given.get("session_id") or "")
    out: dict[str, Any] = {"session_id": session or None}
    if session:
        row = store.fetch(
            "SELECT SUM(cost_usd) AS cost, SUM(COALESCE(input_tokens, 0)) AS fresh, "
            "SUM(COALESCE(cache_read_tokens, 0)) AS hit, "
            "SUM(COALESCE(cache_creation_tokens, 0)) AS written, COUNT(*) AS n "
            "FROM exchanges WHERE session_id = ?",
            [session],
        )[0]
        read_total = (row["fresh"] or 0) + (row["hit"] or 0) + (row["written"] or 0)
        out.update(
            session_cost_usd=round(float(row["cost"] or 0), 6),
            session_requests=int(row["n"] or 0),
            cache_hit_ratio=round((row["hit"] or 0) / read_total, 4) if read_total else None,
        )
        out.update(_context(store, session, given))
    midnight = datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    today = store.fetch(
        "SELECT SUM(cost_usd) AS cost FROM exchanges WHERE started_at >= ?",
        [midnight.timestamp()],
    )[0]
    out["today_cost_usd"] = round(float(today["cost"] or 0), 6)
    out["quota"] = _quota(store, now)
    return out


def _context(store: Reads, session: str, given: dict[str, Any]) -> dict[str, Any]:
    """Tokens the session's main conversation last sent, against its context window."""
    rows = store.fetch(
        "SELECT COALESCE(input_tokens, 0) + COALESCE(cache_read_tokens, 0) "
        "+ COALESCE(cache_creation_tokens, 0) AS used, model, agent_id FROM exchanges "
        "WHERE session_id = ? AND kind = 'messages' AND input_tokens IS NOT NULL "
        "ORDER BY started_at DESC LIMIT 20",
        [session],
    )
    main = [r for r in rows if not r["agent_id"]] or rows
    if not main:
        return {}
    model = str((given.get("model") or {}).get("id") or main[0]["model"] or "")
    size = (given.get("context_window") or {}).get("context_window_size")
    if not isinstance(size, int) or size <= 0:
        size = LONG_WINDOW if "[1m]" in model or "1m" in model.split("-")[-1:] else DEFAULT_WINDOW
    return {"context_tokens": int(main[0]["used"]), "context_window": size}


def _quota(store: Reads, now: float) -> dict[str, Any] | None:
    rows = store.fetch(
        "SELECT ratelimit, started_at FROM exchanges WHERE ratelimit IS NOT NULL "
        "ORDER BY started_at DESC LIMIT 1"
    )
    if not rows:
        return None
    headers = json.loads(rows[0]["ratelimit"])
    for window in ("5h", "7d"):
        raw = headers.get(f"unified-{window}-utilization")
        if raw is not None:
            reset = headers.get(f"unified-{window}-reset")
            return {
                "window": window,
                "utilization": _float(raw),
                "status": headers.get(f"unified-{window}-status"),
                "reset_in_s": round(_float(reset) - now, 1) if reset else None,
            }
    limit, remaining = headers.get("tokens-limit"), headers.get("tokens-remaining")
    if limit and remaining:
        return {"window": "tokens", "utilization": 1 - _float(remaining) / max(1.0, _float(limit))}
    return None


def _float(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return 0.0


def line(f: dict[str, Any]) -> str:
    parts = []
    if "session_cost_usd" in f:
        parts.append(f"{_usd(f['session_cost_usd'])} session")
    parts.append(f"{_usd(f['today_cost_usd'])} today")
    q = f.get("quota")
    if q and q.get("utilization") is not None:
        text = f"{q['window']} {q['utilization'] * 100:.0f}%"
        if q.get("reset_in_s") is not None and q["reset_in_s"] > 0:
            text += f" ↺{_span(q['reset_in_s'])}"
        parts.append(text)
    if f.get("cache_hit_ratio") is not None:
        parts.append(f"cache {f['cache_hit_ratio'] * 100:.0f}%")
    if f.get("context_tokens") is not None:
        used, size = f["context_tokens"], f["context_window"]
        parts.append(f"ctx {_k(used)}/{_k(size)} {used / size * 100:.0f}%")
    return SEP.join(parts)


def _usd(value: float) -> str:
    return f"${value:,.2f}"


def _k(n: int) -> str:
    return f"{n / 1_000_000:g}M" if n >= 1_000_000 else f"{round(n / 1000)}k"


def _span(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes >= 24 * 60:
        return f"{minutes // 1440}d{minutes % 1440 // 60}h"
    return f"{minutes // 60}h{minutes % 60:02d}m"
