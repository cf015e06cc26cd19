"""Numbers for the stats cards and charts, computed in SQL over the filtered exchanges.

Every figure is a number (ms, tokens, USD, percent), never a string with a unit. Rates use the
exchanges that finished as denominator, so pending ones do not drag them down. Percentiles are
nearest-rank (the smallest value with at least p% of values at or below it), picked with one
window query per measure so only three rows leave the database.
"""

from __future__ import annotations

import math
import time
from typing import Any

from anthropic_proxy.monitor.queries import Filters, where
from anthropic_proxy.storage import Row, Store

ERROR_STATES = ("error", "timeout", "interrupted")
BUCKET_WIDTHS = (
    60,
    300,
    900,
    1800,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    7 * 86400,
    30 * 86400,
)
MAX_BUCKETS = 60
TOTALS = f"""
SELECT COUNT(*) AS n,
  SUM(CASE WHEN state = 'success' THEN 1 ELSE 0 END) AS ok,
  SUM(CASE WHEN state IN {ERROR_STATES!r} THEN 1 ELSE 0 END) AS errors,
  SUM(CASE WHEN state = 'client_closed' THEN 1 ELSE 0 END) AS closed,
  SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END) AS pending,
  COUNT(duration_ms) AS n_duration, AVG(duration_ms) AS avg_duration,
  COUNT(ttft_ms) AS n_ttft, AVG(ttft_ms) AS avg_ttft,
  SUM(input_tokens) AS input, SUM(output_tokens) AS output,
  SUM(cache_read_tokens) AS cache_read, SUM(cache_creation_tokens) AS cache_write,
  SUM(cost_usd) AS cost, SUM(request_bytes) AS request_bytes, SUM(response_bytes) AS response_bytes,
  MIN(started_at) AS first, MAX(started_at) AS last
FROM exchanges"""
GROUPED = f"""
SELECT {{key}} AS key, COUNT(*) AS n,
  SUM(CASE WHEN state IN {ERROR_STATES!r} THEN 1 ELSE 0 END) AS errors,
  AVG(duration_ms) AS avg_duration, SUM(input_tokens) AS input, SUM(output_tokens) AS output,
  SUM(cache_read_tokens) AS cache_read, SUM(cache_creation_tokens) AS cache_write, SUM(cost_usd) AS cost
FROM exchanges"""


def compute(store: Store, f: Filters, now: float | None = None) -> dict[str, Any]:
    """All stats for the filters; safe to call from a worker thread."""
    now = time.time() if now is None else now
    clause, params = where(f)
    totals = store.fetch(TOTALS + clause, params)[0]
    result = _totals(totals)
    result["latency"] = {
        "avg": _round(totals["avg_duration"]),
        **_percentiles(store, "duration_ms", clause, params, totals["n_duration"], (50, 95, 99)),
    }
    result["ttft"] = {
        "avg": _round(totals["avg_ttft"]),
        **_percentiles(store, "ttft_ms", clause, params, totals["n_ttft"], (50, 95)),
    }
    result["avgDuration"] = result["latency"]["avg"] or 0
    models = grouped(store, "COALESCE(model, '')", clause, params)
    result["perModel"] = models
    result["perMode"] = grouped(store, "mode", clause, params)
    result["requestsPerModel"] = {m["key"]: m["count"] for m in models}
    result["cost"]["perModel"] = {m["key"]: m["cost"] for m in models}
    result["buckets"] = buckets(store, f, clause, params, totals, now)
    return result


def _totals(t: Row) -> dict[str, Any]:
    n, ok, errors, closed, pending = (
        int(t[k] or 0) for k in ("n", "ok", "errors", "closed", "pending")
    )
    finished = n - pending
    tokens = {k: int(t[k] or 0) for k in ("input", "output", "cache_read", "cache_write")}
    return {
        "totalRequests": n,
        "successCount": ok,
        "errorCount": errors,
        "clientClosedCount": closed,
        "pendingCount": pending,
        "activeRequests": pending,
        "successRate": _percent(ok, finished),
        "errorRate": _percent(errors, finished),
        "totalInputTokens": tokens["input"],
        "totalOutputTokens": tokens["output"],
        "tokens": {
            "input": tokens["input"],
            "output": tokens["output"],
            "cacheRead": tokens["cache_read"],
            "cacheWrite": tokens["cache_write"],
        },
        "cacheHitRatio": cache_hit_ratio(
            tokens["input"], tokens["cache_read"], tokens["cache_write"]
        ),
        "cost": {"total": _money(t["cost"])},
        "totalCost": _money(t["cost"]),
        "bytes": {
            "request": int(t["request_bytes"] or 0),
            "response": int(t["response_bytes"] or 0),
        },
        "firstAt": t["first"],
        "lastAt": t["last"],
    }


def cache_hit_ratio(fresh_input: int, cache_read: int, cache_write: int) -> float:
    """Share of prompt tokens served from the cache (Anthropic counts the three apart)."""
    prompt = fresh_input + cache_read + cache_write
    return round(cache_read / prompt, 4) if prompt else 0.0


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 2) if whole else 0.0


def _money(value: float | None) -> float:
    return round(float(value or 0), 6)


def _round(value: float | None) -> float | None:
    return round(float(value), 2) if value is not None else None


def nearest_rank(p: float, n: int) -> int:
    """1-based rank of the p-th percentile among n sorted values."""
    return max(1, math.ceil(p / 100 * n))


def _percentiles(
    store: Store, column: str, clause: str, params: list[Any], n: int, ps: tuple[int, ...]
) -> dict[str, float | None]:
    if not n:
        return {f"p{p}": None for p in ps}
    ranks = {p: nearest_rank(p, n) for p in ps}
    keep = f"{clause} AND {column} IS NOT NULL" if clause else f" WHERE {column} IS NOT NULL"
    marks = ", ".join("?" * len(ranks))
    sql = (
        f"SELECT v, rn FROM (SELECT {column} AS v, ROW_NUMBER() OVER (ORDER BY {column}) AS rn "
        f"FROM exchanges{keep}) ranked WHERE rn IN ({marks})"
    )
    by_rank = {r["rn"]: r["v"] for r in store.fetch(sql, [*params, *ranks.values()])}
    return {f"p{p}": _round(by_rank.get(rank)) for p, rank in ranks.items()}


def grouped(store: Store, key: str, clause: str, params: list[Any]) -> list[dict[str, Any]]:
    """Per-group counts, tokens and cost, largest group first."""
    rows = store.fetch(
        GROUPED.format(key=key) + clause + f" GROUP BY {key} ORDER BY n DESC", params
    )
    return [_group(r) for r in rows]


def _group(r: Row) -> dict[str, Any]:
    return {
        "key": r["key"],
        "count": int(r["n"]),
        "errors": int(r["errors"] or 0),
        "avgDuration": _round(r["avg_duration"]),
        "inputTokens": int(r["input"] or 0),
        "outputTokens": int(r["output"] or 0),
        "cacheRead": int(r["cache_read"] or 0),
        "cacheWrite": int(r["cache_write"] or 0),
        "cost": _money(r["cost"]),
    }


def bucket_width(span_s: float) -> int:
    """The smallest round width giving at most MAX_BUCKETS buckets over the span."""
    for width in BUCKET_WIDTHS:
        if span_s / width <= MAX_BUCKETS:
            return width
    return BUCKET_WIDTHS[-1]


def buckets(
    store: Store, f: Filters, clause: str, params: list[Any], totals: Row, now: float
) -> dict[str, Any]:
    """Dense time series for the charts: one entry per bucket, empty ones included."""
    if not totals["n"]:
        return {"width": 60, "start": now, "items": []}
    # A relative range ends now; without one the charts span the data itself.
    end = f.until if f.until is not None else (now if f.since is not None else totals["last"])
    begin = f.since if f.since is not None else totals["first"]
    width = bucket_width(end - begin)
    start = int(begin // width * width)
    # Integer arithmetic on integer seconds: portable flooring for SQLite and PostgreSQL.
    key = f"((CAST(started_at AS INTEGER) - {start}) / {width})"
    rows = {
        r["key"]: r
        for r in store.fetch(GROUPED.format(key=key) + clause + f" GROUP BY {key}", params)
    }
    count = int((end - start) // width) + 1
    items = [{"t": start + i * width, **_group(rows.get(i) or _EMPTY)} for i in range(count)]
    for item in items:
        del item["key"]
    return {"width": width, "start": start, "items": items}


_EMPTY: Row = {
    "key": None,
    "n": 0,
    "errors": 0,
    "avg_duration": None,
    "input": 0,
    "output": 0,
    "cache_read": 0,
    "cache_write": 0,
    "cost": 0,
}
