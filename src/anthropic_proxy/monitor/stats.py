"""Numbers for the stats cards and charts, computed in SQL over the filtered exchanges.

Every figure is a number (ms, tokens, USD, percent), never a string with a unit. Rates use the
exchanges that finished as denominator, so pending ones do not drag them down. Percentiles are
nearest-rank (the smallest value with at least p% of values at or below it), each read as the
one value at its rank by an index walk (`LIMIT 1 OFFSET rank`).
"""

from __future__ import annotations

import math
import time
from typing import Any

from anthropic_proxy.monitor.queries import Filters, text_clause, where
from anthropic_proxy.storage import Row, Store
from anthropic_proxy.storage.migrations import ROLLUP_WIDTHS

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
GROUPED = f"""
SELECT {{key}} AS key, COUNT(*) AS n,
  SUM(CASE WHEN state IN {ERROR_STATES!r} THEN 1 ELSE 0 END) AS errors,
  AVG(duration_ms) AS avg_duration, SUM(input_tokens) AS input, SUM(output_tokens) AS output,
  SUM(cache_read_tokens) AS cache_read, SUM(cache_creation_tokens) AS cache_write, SUM(cost_usd) AS cost
FROM exchanges"""


def compute(store: Store, f: Filters, now: float | None = None) -> dict[str, Any]:
    """All stats for the filters; safe to call from a worker thread.

    Finished exchanges' sums come from `exchange_rollup` (per-minute, -half-hour and -3-hour
    sums kept by triggers) for whole slots, the coarsest level that fits the chart buckets
    first, then finer levels and the rows themselves for the partial slots at the ends of a
    time range; pending exchanges (not in the rollup) are read from `exchanges`. Filters the
    rollup does not know (session, agent) read `exchanges`; a text search reads its newest
    SAMPLE matches (see `_newest_matches`). Percentiles walk an index."""
    now = time.time() if now is None else now
    dialect = getattr(store, "dialect", "sqlite")
    sampled: dict[str, Any] | None = None
    matched: list[Row] | None = None
    clause, params = where(f, dialect)
    rollup = not (f.session or f.agent)
    if f.q:
        matched, sampled = _newest_matches(store, f)
        starts = [r["started_at"] for r in matched]
        first, last = (min(starts), max(starts)) if starts else (None, None)
    else:
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
        result["sampled"] = sampled
        return result
    # A relative range ends now; without one the charts span the data itself.
    end = f.until if f.until is not None else (now if f.since is not None else last)
    begin = f.since if f.since is not None and sampled is None else first
    width = bucket_width(end - begin)
    start = int(begin // width * width)
    if matched is not None:
        groups = _row_groups(matched, start, width)
    elif rollup:
        groups = _rollup_groups(store, f, clause, params, start, width)
    else:
        groups = _raw_groups(store, clause, params, start, width)
    totals = _sum_groups(groups)
    totals["first"], totals["last"] = first, last
    result = _totals(totals)
    hint = dialect == "sqlite" and rollup
    if matched is not None:
        duration = _row_percentiles(matched, "duration_ms", (50, 95, 99))
        ttft = _row_percentiles(matched, "ttft_ms", (50, 95))
    else:
        duration = _percentiles(
            store, "duration_ms", clause, params, totals["n_duration"], (50, 95, 99), hint
        )
        ttft = _percentiles(store, "ttft_ms", clause, params, totals["n_ttft"], (50, 95), hint)
    result["latency"] = {"avg": _avg(totals["sum_duration"], totals["n_duration"]), **duration}
    result["ttft"] = {"avg": _avg(totals["sum_ttft"], totals["n_ttft"]), **ttft}
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
    result["sampled"] = sampled
    return result


SAMPLE = 1000
"""Stats for a text search cover at most its newest SAMPLE matches (flagged `sampled`)."""
ROW_COLUMNS = (
    "started_at model mode state duration_ms ttft_ms input_tokens output_tokens "
    "cache_read_tokens cache_creation_tokens cost_usd request_bytes response_bytes"
).split()


def _newest_matches(store: Store, f: Filters) -> tuple[list[Row], dict[str, Any] | None]:
    """A text search's newest matches (at most SAMPLE), and `sampled` when there are more.

    A common word matches most exchanges and can only be checked row by row, so exact figures
    over all its matches would cost a scan of the table (seconds at 100,000 rows). Stats for a
    search therefore cover its newest SAMPLE matches, read in one query and summed here; when
    there are more, `sampled = {"newest": SAMPLE, "from": started_at of the oldest included}`
    says so (otherwise `sampled` is null and the figures are exact)."""
    clause, params = text_clause(store, f, SAMPLE)
    rows = store.fetch(
        f"SELECT {', '.join(ROW_COLUMNS)} FROM exchanges{clause} ORDER BY started_at DESC LIMIT ?",
        [*params, SAMPLE + 1],
    )
    if len(rows) <= SAMPLE:
        return rows, None
    del rows[SAMPLE:]
    return rows, {"newest": SAMPLE, "from": rows[-1]["started_at"]}


def _row_groups(rows: list[Row], start: int, width: int) -> list[Row]:
    """`_raw_groups` computed in Python over rows already read."""
    out: dict[tuple[int, str, str], Row] = {}
    for r in rows:
        b = math.floor((r["started_at"] - start) / width)
        key = (b, r["model"] or "", r["mode"])
        g = out.get(key)
        if g is None:
            g = out[key] = {"b": b, "model": key[1], "mode": key[2], **dict.fromkeys(MEASURES, 0)}
        state = r["state"]
        g["n"] += 1
        g["ok"] += state == "success"
        g["errors"] += state in ERROR_STATES
        g["closed"] += state == "client_closed"
        g["pending"] += state == "pending"
        for measure, column in ROW_SUMS:
            value = r[column]
            if value is not None:
                g[measure] += value
        if r["duration_ms"] is not None:
            g["n_duration"] += 1
        if r["ttft_ms"] is not None:
            g["n_ttft"] += 1
    return list(out.values())


ROW_SUMS = (
    ("sum_duration", "duration_ms"), ("sum_ttft", "ttft_ms"), ("input", "input_tokens"),
    ("output", "output_tokens"), ("cache_read", "cache_read_tokens"),
    ("cache_write", "cache_creation_tokens"), ("cost", "cost_usd"),
    ("request_bytes", "request_bytes"), ("response_bytes", "response_bytes"),
)  # fmt: skip


def _row_percentiles(rows: list[Row], column: str, ps: tuple[int, ...]) -> dict[str, float | None]:
    values = sorted(r[column] for r in rows if r[column] is not None)
    return {
        f"p{p}": _round(values[nearest_rank(p, len(values)) - 1]) if values else None for p in ps
    }


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
  0 AS pending,
  SUM(n_duration) AS n_duration, SUM(sum_duration) AS sum_duration,
  SUM(n_ttft) AS n_ttft, SUM(sum_ttft) AS sum_ttft, SUM(input) AS input, SUM(output) AS output,
  SUM(cache_read) AS cache_read, SUM(cache_write) AS cache_write, SUM(cost) AS cost,
  SUM(request_bytes) AS request_bytes, SUM(response_bytes) AS response_bytes"""
SPAN_LEVEL = ROLLUP_WIDTHS[1]
"""The rollup level whose first and last slots bound where `_span` looks in `exchanges`."""


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


def _pending(f: Filters) -> bool:
    """Whether the filters admit pending exchanges (which the rollup leaves out)."""
    return (not f.states or "pending" in f.states) and not f.statuses


def _span(
    store: Store, f: Filters, clause: str, params: list[Any], rollup: bool
) -> tuple[float | None, float | None]:
    """(first, last) started_at among the filtered exchanges, or (None, None) when there are none.
    With the rollup, its first and last hours holding finished exchanges say where to look;
    pending exchanges are looked up apart (few, and indexed by state)."""
    keep = " AND" if clause else " WHERE"
    if not rollup:
        return _first_last(store, clause, params)
    cond, cparams = _rollup_where(f)
    if f.since is not None:
        cond += " AND slot >= ?"
        cparams.append(math.floor(f.since / SPAN_LEVEL))
    if f.until is not None:
        cond += " AND slot <= ?"
        cparams.append(math.floor(f.until / SPAN_LEVEL))
    sql = (
        f"SELECT slot FROM exchange_rollup WHERE width = {SPAN_LEVEL} AND n > 0{cond} "
        "ORDER BY slot {} LIMIT 1"
    )
    lo = store.fetch(sql.format("ASC"), cparams)
    bounds: list[float] = []
    if lo:
        hi = store.fetch(sql.format("DESC"), cparams)
        first, _ = _first_last(
            store,
            f"{clause}{keep} started_at >= ?",
            [*params, lo[0]["slot"] * SPAN_LEVEL],
            last=False,
        )
        _, last = _first_last(
            store,
            f"{clause}{keep} started_at < ?",
            [*params, (hi[0]["slot"] + 1) * SPAN_LEVEL],
            first=False,
        )
        bounds += [b for b in (first, last) if b is not None]
    if _pending(f):
        first, last = _first_last(
            store, f"{clause}{keep} state = 'pending'", params, index=_by_state(store)
        )
        bounds += [b for b in (first, last) if b is not None]
    return (min(bounds), max(bounds)) if bounds else (None, None)


def _by_state(store: Store) -> str:
    """Pending rows are few: on SQLite make sure their (state, started_at) index finds them
    (with a kind or model filter it would otherwise walk that filter's index)."""
    return (
        " INDEXED BY exchanges_state_started" if getattr(store, "dialect", "") == "sqlite" else ""
    )


def _first_last(
    store: Store,
    clause: str,
    params: list[Any],
    first: bool = True,
    last: bool = True,
    index: str = "",
) -> tuple[float | None, float | None]:
    out: list[float | None] = []
    for wanted, order in ((first, "ASC"), (last, "DESC")):
        rows = (
            store.fetch(
                f"SELECT started_at FROM exchanges{index}{clause} "
                f"ORDER BY started_at {order} LIMIT 1",
                params,
            )
            if wanted
            else []
        )
        out.append(rows[0]["started_at"] if rows else None)
    return out[0], out[1]


def _raw_groups(
    store: Store, clause: str, params: list[Any], start: int, width: int, extra: str = "",
    extra_params: tuple[Any, ...] = (), index: str = "",
) -> list[Row]:  # fmt: skip
    """Sums per (bucket, model, mode) read from `exchanges`."""
    # Floors on both backends (CAST truncates on SQLite but rounds on PostgreSQL); the
    # difference from `start` is never negative, where truncating is flooring.
    if getattr(store, "dialect", "sqlite") == "sqlite":
        key = f"CAST((started_at - {start}) / {width} AS INTEGER)"
    else:
        key = f"CAST(FLOOR((started_at - {start}) / {width}) AS BIGINT)"
    sql = (
        f"SELECT {key} AS b, COALESCE(model, '') AS model, mode, {RAW_MEASURES} FROM exchanges"
        f"{index}{clause}{extra} GROUP BY {key}, COALESCE(model, ''), mode"
    )
    return store.fetch(sql, [*params, *extra_params])


def _rollup_groups(
    store: Store, f: Filters, clause: str, params: list[Any], start: int, width: int
) -> list[Row]:
    """Sums per (bucket, model, mode): whole slots of the coarsest rollup level dividing the
    bucket width, the partial slots at the ends from finer levels and finally the rows;
    pending exchanges from the rows."""
    keep = " AND" if clause else " WHERE"
    levels = sorted((w for w in ROLLUP_WIDTHS if width % w == 0), reverse=True)
    slots: list[tuple[int, int | None, int | None]] = []  # (level, first slot, end slot)
    rows: list[tuple[float, float]] = []  # [from, to) read from exchanges

    def cover(lo: float | None, hi: float | None, level: int) -> None:
        if level == len(levels):
            assert lo is not None and hi is not None
            rows.append((lo, hi))
            return
        w = levels[level]
        first = math.ceil(lo / w) if lo is not None else None
        end = math.floor(hi / w) if hi is not None else None
        if first is not None and end is not None and first >= end:  # no whole slot
            cover(lo, hi, level + 1)
            return
        slots.append((w, first, end))
        if lo is not None and first is not None and first * w > lo:
            cover(lo, first * w, level + 1)
        if hi is not None and end is not None and end * w < hi:
            cover(end * w, hi, level + 1)

    cover(f.since, f.until, 0)
    groups: list[Row] = []
    for lo, hi in rows:  # finished ones: the pending rows are added once, below
        extra = f"{keep} started_at >= ? AND started_at < ? AND state <> 'pending'"
        groups += _raw_groups(store, clause, params, start, width, extra, (lo, hi))
    if _pending(f):
        pending = f"{keep} state = 'pending'"
        groups += _raw_groups(store, clause, params, start, width, pending, index=_by_state(store))
    cond, cparams = _rollup_where(f)
    for w, first, end in slots:
        bounds, bparams = cond, list(cparams)
        if first is not None:
            bounds += " AND slot >= ?"
            bparams.append(first)
        if end is not None:
            bounds += " AND slot < ?"
            bparams.append(end)
        key = f"((slot * {w} - {start}) / {width})"
        groups += store.fetch(
            f"SELECT {key} AS b, model, mode, {ROLLUP_MEASURES} FROM exchange_rollup "
            f"WHERE width = {w}{bounds} GROUP BY {key}, model, mode HAVING SUM(n) > 0",
            bparams,
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
        GROUPED.format(key=key) + clause + f" GROUP BY {key} ORDER BY n DESC, key", params
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
