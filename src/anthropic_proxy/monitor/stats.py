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
    """All stats for the filters; safe to call from a worker thread.

    Sums come from `exchange_rollup` (per-minute/per-hour sums kept by triggers) for whole slots,
    and from `exchanges` for the partial slots at the ends of a time range; filters the rollup
    does not know (session, agent, text) read `exchanges`. Percentiles walk an index."""
    now = time.time() if now is None else now
    dialect = getattr(store, "dialect", "sqlite")
    clause, params = where(f, dialect)
    rollup = not (f.session or f.agent or f.q)
    first, last = _span(store, f, clause, params, rollup)
    if first is None or last is None:
        result = _totals({**_sum_groups([]), "first": None, "last": None})
        result["latency"] = {"avg": None, "p50": None, "p95": None, "p99": None}
        result["ttft"] = {"avg": None, "p50": None, "p95": None}
        result["avgDuration"] = 0
        result["perModel"] = result["perMode"] = []
        result["requestsPerModel"] = {}
        result["cost"]["perModel"] = {}
        result["buckets"] = {"width": 60, "start": now, "items": []}
        return result
    # A relative range ends now; without one the charts span the data itself.
    end = f.until if f.until is not None else (now if f.since is not None else last)
    begin = f.since if f.since is not None else first
    width = bucket_width(end - begin)
    start = int(begin // width * width)
    if rollup:
        groups = _rollup_groups(store, f, clause, params, start, width)
    else:
        groups = _raw_groups(store, clause, params, start, width)
    totals = _sum_groups(groups)
    totals["first"], totals["last"] = first, last
    result = _totals(totals)
    hint = dialect == "sqlite" and rollup
    result["latency"] = {
        "avg": _avg(totals["sum_duration"], totals["n_duration"]),
        **_percentiles(
            store, "duration_ms", clause, params, totals["n_duration"], (50, 95, 99), hint
        ),
    }
    result["ttft"] = {
        "avg": _avg(totals["sum_ttft"], totals["n_ttft"]),
        **_percentiles(store, "ttft_ms", clause, params, totals["n_ttft"], (50, 95), hint),
    }
    result["avgDuration"] = result["latency"]["avg"] or 0
    models = _by(groups, "model")
    result["perModel"] = models
    result["perMode"] = _by(groups, "mode")
    result["requestsPerModel"] = {m["key"]: m["count"] for m in models}
    result["cost"]["perModel"] = {m["key"]: m["cost"] for m in models}
    count = int((end - start) // width) + 1
    by_bucket: dict[int, list[Row]] = {}
    for g in groups:
        by_bucket.setdefault(int(g["b"]), []).append(g)
    items = [
        {"t": start + i * width, **_group(_sum_groups(by_bucket.get(i, [])))} for i in range(count)
    ]
    for item in items:
        del item["key"]
    result["buckets"] = {"width": width, "start": start, "items": items}
    return result


MEASURES = (
    "n ok errors closed pending n_duration sum_duration n_ttft sum_ttft input output cache_read "
    "cache_write cost request_bytes response_bytes"
).split()
RAW_MEASURES = f"""COUNT(*) AS n,
  SUM(CASE WHEN state = 'success' THEN 1 ELSE 0 END) AS ok,
  SUM(CASE WHEN state IN {ERROR_STATES!r} THEN 1 ELSE 0 END) AS errors,
  SUM(CASE WHEN state = 'client_closed' THEN 1 ELSE 0 END) AS closed,
  SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END) AS pending,
  COUNT(duration_ms) AS n_duration, SUM(duration_ms) AS sum_duration,
  COUNT(ttft_ms) AS n_ttft, SUM(ttft_ms) AS sum_ttft,
  SUM(input_tokens) AS input, SUM(output_tokens) AS output,
  SUM(cache_read_tokens) AS cache_read, SUM(cache_creation_tokens) AS cache_write,
  SUM(cost_usd) AS cost, SUM(request_bytes) AS request_bytes, SUM(response_bytes) AS response_bytes"""
ROLLUP_MEASURES = f"""SUM(n) AS n,
  SUM(CASE WHEN state = 'success' THEN n ELSE 0 END) AS ok,
  SUM(CASE WHEN state IN {ERROR_STATES!r} THEN n ELSE 0 END) AS errors,
  SUM(CASE WHEN state = 'client_closed' THEN n ELSE 0 END) AS closed,
  SUM(CASE WHEN state = 'pending' THEN n ELSE 0 END) AS pending,
  SUM(n_duration) AS n_duration, SUM(sum_duration) AS sum_duration,
  SUM(n_ttft) AS n_ttft, SUM(sum_ttft) AS sum_ttft, SUM(input) AS input, SUM(output) AS output,
  SUM(cache_read) AS cache_read, SUM(cache_write) AS cache_write, SUM(cost) AS cost,
  SUM(request_bytes) AS request_bytes, SUM(response_bytes) AS response_bytes"""
HOUR = 3600


def _rollup_where(f: Filters) -> tuple[str, list[Any]]:
    """The filters the rollup knows (all but session, agent, text and time) on its columns."""
    parts: list[str] = []
    params: list[Any] = []
    for column, values in (("state", f.states), ("status", f.statuses), ("model", f.models),
                           ("mode", f.modes), ("kind", f.kinds)):  # fmt: skip
        if values:
            parts.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
    return "".join(f" AND {p}" for p in parts), params


def _span(
    store: Store, f: Filters, clause: str, params: list[Any], rollup: bool
) -> tuple[float | None, float | None]:
    """(first, last) started_at among the filtered exchanges, or (None, None) when there are none.
    With the rollup, its first and last non-empty hours say where to look."""
    keep = " AND" if clause else " WHERE"
    lo: float | None = None
    hi: float | None = None
    if rollup:
        cond, cparams = _rollup_where(f)
        bounds: list[Any] = []
        if f.since is not None:
            cond += " AND slot >= ?"
            bounds.append(math.floor(f.since / HOUR))
        if f.until is not None:
            cond += " AND slot <= ?"
            bounds.append(math.floor(f.until / HOUR))
        row = store.fetch(
            f"SELECT MIN(slot) AS lo, MAX(slot) AS hi FROM exchange_rollup WHERE width = {HOUR} "
            f"AND n > 0{cond}",
            [*cparams, *bounds],
        )[0]
        if row["lo"] is None:
            return None, None
        lo, hi = row["lo"] * HOUR, (row["hi"] + 1) * HOUR
    after = (f"{keep} started_at >= ?", [lo]) if lo is not None else ("", [])
    before = (f"{keep} started_at < ?", [hi]) if hi is not None else ("", [])
    first = store.fetch(
        f"SELECT started_at FROM exchanges{clause}{after[0]} ORDER BY started_at LIMIT 1",
        [*params, *after[1]],
    )
    if not first:
        return None, None
    last = store.fetch(
        f"SELECT started_at FROM exchanges{clause}{before[0]} ORDER BY started_at DESC LIMIT 1",
        [*params, *before[1]],
    )
    return first[0]["started_at"], last[0]["started_at"]


def _raw_groups(
    store: Store, clause: str, params: list[Any], start: int, width: int, extra: str = "",
    extra_params: tuple[Any, ...] = (),
) -> list[Row]:  # fmt: skip
    """Sums per (bucket, model, mode) read from `exchanges`."""
    # Integer arithmetic on integer seconds: portable flooring for SQLite and PostgreSQL.
    key = f"((CAST(started_at AS INTEGER) - {start}) / {width})"
    sql = (
        f"SELECT {key} AS b, COALESCE(model, '') AS model, mode, {RAW_MEASURES} FROM exchanges"
        f"{clause}{extra} GROUP BY {key}, COALESCE(model, ''), mode"
    )
    return store.fetch(sql, [*params, *extra_params])


def _rollup_groups(
    store: Store, f: Filters, clause: str, params: list[Any], start: int, width: int
) -> list[Row]:
    """Sums per (bucket, model, mode): whole slots from the rollup, partial ones from the rows."""
    slot_width = HOUR if width % HOUR == 0 else 60
    lo = math.ceil(f.since / slot_width) if f.since is not None else None
    hi = math.floor(f.until / slot_width) if f.until is not None else None
    keep = " AND" if clause else " WHERE"
    if lo is not None and hi is not None and lo >= hi:  # inside one slot: rows only
        return _raw_groups(store, clause, params, start, width)
    groups: list[Row] = []
    cond, cparams = _rollup_where(f)
    if lo is not None:
        cond += " AND slot >= ?"
        cparams.append(lo)
        if f.since is not None and lo * slot_width > f.since:
            extra = f"{keep} started_at < ?"
            groups += _raw_groups(store, clause, params, start, width, extra, (lo * slot_width,))
    if hi is not None:
        cond += " AND slot < ?"
        cparams.append(hi)
        if f.until is not None and hi * slot_width < f.until:
            extra = f"{keep} started_at >= ?"
            groups += _raw_groups(store, clause, params, start, width, extra, (hi * slot_width,))
    key = f"((slot * {slot_width} - {start}) / {width})"
    groups += store.fetch(
        f"SELECT {key} AS b, model, mode, {ROLLUP_MEASURES} FROM exchange_rollup "
        f"WHERE width = {slot_width}{cond} GROUP BY {key}, model, mode HAVING SUM(n) > 0",
        cparams,
    )
    return groups


def _sum_groups(groups: list[Row]) -> Row:
    out: Row = dict.fromkeys(MEASURES, 0)
    for g in groups:
        for m in MEASURES:
            out[m] += g[m] or 0
    return out


def _by(groups: list[Row], key: str) -> list[dict[str, Any]]:
    """Per-model or per-mode figures, largest group first."""
    parts: dict[str, list[Row]] = {}
    for g in groups:
        parts.setdefault(g[key], []).append(g)
    out = []
    for name, rows in parts.items():
        total = _sum_groups(rows)
        total["key"] = name
        out.append(_group(total))
    out.sort(key=lambda r: (-r["count"], str(r["key"])))
    return out


def _avg(total: float, n: int) -> float | None:
    return _round(total / n) if n else None


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
    store: Store,
    column: str,
    clause: str,
    params: list[Any],
    n: int,
    ps: tuple[int, ...],
    hint: bool = False,
) -> dict[str, float | None]:
    """Nearest-rank percentiles, each the one value at its rank in index order (walked from
    whichever end is nearer). `hint` (SQLite, many rows): walk the (column, filters…) covering
    index instead of sorting the rows a filter index finds."""
    if not n:
        return {f"p{p}": None for p in ps}
    keep = f"{clause} AND {column} IS NOT NULL" if clause else f" WHERE {column} IS NOT NULL"
    index = f" INDEXED BY {PERCENTILE_INDEX[column]}" if hint and n >= 2000 else ""
    out: dict[str, float | None] = {}
    for p in ps:
        rank = nearest_rank(p, n)
        ascending = rank - 1 <= n - rank
        sql = (
            f"SELECT {column} AS v FROM exchanges{index}{keep} "
            f"ORDER BY {column} {'ASC' if ascending else 'DESC'} LIMIT 1 OFFSET ?"
        )
        rows = store.fetch(sql, [*params, rank - 1 if ascending else n - rank])
        out[f"p{p}"] = _round(rows[0]["v"]) if rows else None
    return out


PERCENTILE_INDEX = {"duration_ms": "exchanges_duration", "ttft_ms": "exchanges_ttft"}


def grouped(store: Store, key: str, clause: str, params: list[Any]) -> list[dict[str, Any]]:
    """Per-group counts, tokens and cost, largest group first."""
    rows = store.fetch(
        GROUPED.format(key=key) + clause + f" GROUP BY {key} ORDER BY n DESC", params
    )
    return [_group(r) for r in rows]


def _group(r: Row) -> dict[str, Any]:
    return {
        "key": r.get("key"),
        "count": int(r["n"]),
        "errors": int(r["errors"] or 0),
        "avgDuration": _round(r["avg_duration"])
        if "avg_duration" in r
        else _avg(r["sum_duration"], r["n_duration"]),
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


def buckets(  # kept for callers outside compute
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
