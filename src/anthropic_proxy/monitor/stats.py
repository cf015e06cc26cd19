"""Numbers for the stats cards and charts, computed in SQL over the filtered exchanges.

Every figure is a number (ms, tokens, USD, percent), never a string with a unit. Rates use the
exchanges that finished as denominator, so pending ones do not drag them down. Percentiles are
nearest-rank (the smallest value with at least p% of values at or below it), each read as the
one value at its rank by an index walk (`LIMIT 1 OFFSET rank`).

One module (~480 lines) because the two sources (`Sql`, `Sample`) must sum, round and shape
every figure the same way: the typed result, the strategies and their shared helpers.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict

from anthropic_proxy.errors import BadRequest
from anthropic_proxy.exchange import FAILED, FAILED_SQL
from anthropic_proxy.monitor import rollup as sums
from anthropic_proxy.monitor.queries import Filters, text_clause, where
from anthropic_proxy.monitor.rollup import MEASURES
from anthropic_proxy.storage import Row, Store

BUCKET_WIDTHS = (
    1,
    2,
    5,
    10,
    15,
    30,
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
ROLLUP_FINEST = 60
"""Narrower buckets (a short span) are summed from the rows: the rollup's finest slot is 1 min."""
DATED = re.compile(r"-\d{8}$")
GROUPED = f"""
SELECT {{key}} AS key, COUNT(*) AS n,
  SUM(CASE WHEN state IN {FAILED_SQL} THEN 1 ELSE 0 END) AS errors,
  AVG(duration_ms) AS avg_duration, SUM(input_tokens) AS input, SUM(output_tokens) AS output,
  SUM(cache_read_tokens) AS cache_read, SUM(cache_creation_tokens) AS cache_write, SUM(cost_usd) AS cost
FROM exchanges"""


Latency = dict[str, float | None]
"""`avg` and the nearest-rank percentiles `p50`, `p95` (and `p99` for durations)."""


class Buckets(TypedDict):
    width: int
    start: float
    items: list[dict[str, Any]]


class Totals(TypedDict):
    totalRequests: int
    successCount: int
    errorCount: int
    clientClosedCount: int
    pendingCount: int
    activeRequests: int
    successRate: float
    errorRate: float
    totalInputTokens: int
    totalOutputTokens: int
    tokens: dict[str, int]
    cacheHitRatio: float
    cost: dict[str, Any]
    """`total` (USD), and `perModel` once the groups are known."""
    totalCost: float
    bytes: dict[str, int]
    firstAt: float | None
    lastAt: float | None


class Stats(Totals):
    """What the stats cards and charts show (the JSON of `/api/monitor/stats`)."""

    latency: Latency
    ttft: Latency
    avgDuration: float
    perModel: list[dict[str, Any]]
    perMode: list[dict[str, Any]]
    requestsPerModel: dict[str, int]
    buckets: Buckets
    sampled: dict[str, Any] | None
    """Set when a text search's figures cover only its newest SAMPLE matches."""


class Source(Protocol):
    """Where one stats request reads the exchanges from: its time span, its chart groups
    (per bucket, model and mode) and its percentiles."""

    def span(self) -> tuple[float | None, float | None]: ...
    def groups(self, start: int, width: int) -> list[Row]: ...
    def percentiles(self, column: str, n: int, ps: tuple[int, ...]) -> dict[str, float | None]: ...


@dataclass(frozen=True, slots=True)
class Sql:
    """Finished exchanges' sums from `exchange_rollup` (per-minute, -half-hour and -3-hour sums
    kept by triggers) for whole slots, the coarsest level that fits the chart buckets first,
    then finer levels and the rows themselves for the partial slots at the ends of a time
    range; pending exchanges (not in the rollup) from `exchanges`. Filters the rollup does not
    know (session, agent, project, tag, served by) read `exchanges`. Percentiles walk an index."""

    store: Store
    f: Filters
    clause: str
    params: list[Any]
    rollup: bool

    def span(self) -> tuple[float | None, float | None]:
        return sums.span(self.store, self.f, self.clause, self.params, self.rollup)

    def groups(self, start: int, width: int) -> list[Row]:
        if self.rollup and width >= ROLLUP_FINEST:
            return sums.rollup_groups(self.store, self.f, self.clause, self.params, start, width)
        return sums.raw_groups(self.store, self.clause, self.params, start, width)

    def percentiles(self, column: str, n: int, ps: tuple[int, ...]) -> dict[str, float | None]:
        hint = self.store.dialect == "sqlite" and self.rollup
        return _percentiles(self.store, column, self.clause, self.params, n, ps, hint)


@dataclass(frozen=True, slots=True)
class Sample:
    """A text search: its newest SAMPLE matches, read once and summed here (`_newest_matches`)."""

    rows: list[Row]

    def span(self) -> tuple[float | None, float | None]:
        starts = [r["started_at"] for r in self.rows]
        return (min(starts), max(starts)) if starts else (None, None)

    def groups(self, start: int, width: int) -> list[Row]:
        return _row_groups(self.rows, start, width)

    def percentiles(self, column: str, n: int, ps: tuple[int, ...]) -> dict[str, float | None]:
        return _row_percentiles(self.rows, column, ps)


def compute(store: Store, f: Filters, now: float | None = None) -> Stats:
    """All stats for the filters; safe to call from a worker thread."""
    now = time.time() if now is None else now
    clause, params = where(f, store.dialect)
    sampled: dict[str, Any] | None = None
    source: Source
    if f.q:
        rows, sampled = _newest_matches(store, f)
        source = Sample(rows)
    else:
        rollup = not (f.session or f.agent or f.project or f.tag or f.served_by)
        source = Sql(store, f, clause, params, rollup)
    first, last = source.span()
    if first is None or last is None:
        return _empty(now, sampled)
    # A relative range ends now; without one the charts span the data itself.
    end = f.until if f.until is not None else (now if f.since is not None else last)
    begin = f.since if f.since is not None and sampled is None else first
    width = bucket_width(end - begin)
    start = int(begin // width * width)
    groups = source.groups(start, width)
    totals = _sum_groups(groups)
    totals["first"], totals["last"] = first, last
    latency: Latency = {
        "avg": _avg(totals["sum_duration"], totals["n_duration"]),
        **source.percentiles("duration_ms", totals["n_duration"], (50, 95, 99)),
    }
    ttft: Latency = {
        "avg": _avg(totals["sum_ttft"], totals["n_ttft"]),
        **source.percentiles("ttft_ms", totals["n_ttft"], (50, 95)),
    }
    models = _by(groups, "model", model_group)
    result = _totals(totals)
    result["cost"]["perModel"] = {m["key"]: m["cost"] for m in models}
    return Stats(
        **result,
        latency=latency,
        ttft=ttft,
        avgDuration=latency["avg"] or 0,
        perModel=models,
        perMode=_by(groups, "mode"),
        requestsPerModel={m["key"]: m["count"] for m in models},
        buckets=_buckets(groups, start, width, end),
        sampled=sampled,
    )


def _empty(now: float, sampled: dict[str, Any] | None) -> Stats:
    """The stats of no exchanges."""
    result = _totals({**_sum_groups([]), "first": None, "last": None})
    result["cost"]["perModel"] = {}
    return Stats(
        **result,
        latency={"avg": None, "p50": None, "p95": None, "p99": None},
        ttft={"avg": None, "p50": None, "p95": None},
        avgDuration=0,
        perModel=[],
        perMode=[],
        requestsPerModel={},
        buckets={"width": 60, "start": now, "items": []},
        sampled=sampled,
    )


def _buckets(groups: list[Row], start: int, width: int, end: float) -> Buckets:
    """The chart's buckets from `start` to `end`, empty ones included."""
    count = int((end - start) // width) + 1
    by_bucket: dict[int, list[Row]] = {}
    for g in groups:
        by_bucket.setdefault(int(g["b"]), []).append(g)
    items = [
        {"t": start + i * width, **_group(_sum_groups(by_bucket.get(i, [])))} for i in range(count)
    ]
    for item in items:
        del item["key"]
    return {"width": width, "start": start, "items": items}


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
    """`rollup.raw_groups`, computed in Python over rows already read."""
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
        g["errors"] += state in FAILED
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


def _sum_groups(groups: list[Row]) -> Row:
    out: Row = dict.fromkeys(MEASURES, 0)
    for g in groups:
        for m in MEASURES:
            out[m] += g[m] or 0
    return out


def model_group(model: str) -> str:
    """The model a dated id belongs to: `claude-sonnet-4-5-20250929` -> `claude-sonnet-4-5`, so
    Claude Code's dated and undated ids of one model are one row (the exact id is in the detail)."""
    return DATED.sub("", model) if model else model


def _by(groups: list[Row], key: str, name_of: Callable[[str], str] = str) -> list[dict[str, Any]]:
    """Per-model or per-mode figures, largest group first; `ids` lists the exact values grouped
    under each key (the dashboard filters by them)."""
    parts: dict[str, list[Row]] = {}
    for g in groups:
        parts.setdefault(name_of(g[key]), []).append(g)
    out = []
    for name, rows in parts.items():
        total = _sum_groups(rows)
        total["key"] = name
        out.append({**_group(total), "ids": sorted({str(r[key]) for r in rows})})
    out.sort(key=lambda r: (-r["count"], str(r["key"])))
    return out


def _avg(total: float, n: int) -> float | None:
    return _round(total / n) if n else None


def _totals(t: Row) -> Totals:
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


GROUP_BY_PARAM = frozenset({"groupBy"})
GROUPINGS = {
    "provider": ("perProvider", "COALESCE(provider, mode)"),
    "served_model": ("perServedModel", "COALESCE(upstream_model, model)"),
    "provider_model": (
        "perProviderModel",
        "COALESCE(provider, mode) || ' / ' || COALESCE(upstream_model, model, '')",
    ),
}
"""`?groupBy=`: who served (routing provider; older rows: their mode) and which model actually
answered (the backend model when translated). Read from `exchanges` (the rollup does not keep
providers), so only when asked."""


def group_by(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in GROUPINGS]
    if unknown:
        raise BadRequest(f"groupBy: unknown grouping {unknown[0]!r}; use {', '.join(GROUPINGS)}")
    return names


def grouped_by(store: Store, f: Filters, name: str) -> list[dict[str, Any]]:
    clause, params = where(f, store.dialect)
    return grouped(store, GROUPINGS[name][1], clause, params)


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
