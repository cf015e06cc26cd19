"""Where the stats' sums come from: whole slots of the `exchange_rollup` table (per-minute,
-half-hour and -3-hour sums of finished exchanges, kept by triggers), the partial slots at the
edges and all pending exchanges from `exchanges` itself. Split from `stats` to keep each module
one concept: this one reads, `stats` shapes the figures."""

from __future__ import annotations

import math
from typing import Any

from anthropic_proxy.exchange import FAILED_SQL
from anthropic_proxy.monitor.queries import Filters, in_clauses
from anthropic_proxy.storage import Row, Store
from anthropic_proxy.storage.migrations import ROLLUP_WIDTHS

MEASURES = (
    "n ok errors closed pending n_duration sum_duration n_ttft sum_ttft input output cache_read "
    "cache_write cost request_bytes response_bytes"
).split()
RAW_MEASURES = f"""COUNT(*) AS n,
  SUM(CASE WHEN state = 'success' THEN 1 ELSE 0 END) AS ok,
  SUM(CASE WHEN state IN {FAILED_SQL} THEN 1 ELSE 0 END) AS errors,
  SUM(CASE WHEN state = 'client_closed' THEN 1 ELSE 0 END) AS closed,
  SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END) AS pending,
  COUNT(duration_ms) AS n_duration, SUM(duration_ms) AS sum_duration,
  COUNT(ttft_ms) AS n_ttft, SUM(ttft_ms) AS sum_ttft,
  SUM(input_tokens) AS input, SUM(output_tokens) AS output,
  SUM(cache_read_tokens) AS cache_read, SUM(cache_creation_tokens) AS cache_write,
  SUM(cost_usd) AS cost, SUM(request_bytes) AS request_bytes, SUM(response_bytes) AS response_bytes"""
ROLLUP_MEASURES = f"""SUM(n) AS n,
  SUM(CASE WHEN state = 'success' THEN n ELSE 0 END) AS ok,
  SUM(CASE WHEN state IN {FAILED_SQL} THEN n ELSE 0 END) AS errors,
  SUM(CASE WHEN state = 'client_closed' THEN n ELSE 0 END) AS closed,
  0 AS pending,
  SUM(n_duration) AS n_duration, SUM(sum_duration) AS sum_duration,
  SUM(n_ttft) AS n_ttft, SUM(sum_ttft) AS sum_ttft, SUM(input) AS input, SUM(output) AS output,
  SUM(cache_read) AS cache_read, SUM(cache_write) AS cache_write, SUM(cost) AS cost,
  SUM(request_bytes) AS request_bytes, SUM(response_bytes) AS response_bytes"""
SPAN_LEVEL = ROLLUP_WIDTHS[1]
"""The rollup level whose first and last slots bound where `span` looks in `exchanges`."""


def rollup_where(f: Filters) -> tuple[str, list[Any]]:
    """The filters the rollup knows (all but session, agent, text and time) on its columns."""
    parts, params = in_clauses(f)
    return "".join(f" AND {p}" for p in parts), params


def admits_pending(f: Filters) -> bool:
    """Whether the filters admit pending exchanges (which the rollup leaves out)."""
    return (not f.states or "pending" in f.states) and not f.statuses


def span(
    store: Store, f: Filters, clause: str, params: list[Any], rollup: bool
) -> tuple[float | None, float | None]:
    """(first, last) started_at among the filtered exchanges, or (None, None) when there are none.
    With the rollup, its first and last hours holding finished exchanges say where to look;
    pending exchanges are looked up apart (few, and indexed by state)."""
    keep = " AND" if clause else " WHERE"
    if not rollup:
        return first_last(store, clause, params)
    cond, cparams = rollup_where(f)
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
        first, _ = first_last(
            store,
            f"{clause}{keep} started_at >= ?",
            [*params, lo[0]["slot"] * SPAN_LEVEL],
            last=False,
        )
        _, last = first_last(
            store,
            f"{clause}{keep} started_at < ?",
            [*params, (hi[0]["slot"] + 1) * SPAN_LEVEL],
            first=False,
        )
        bounds += [b for b in (first, last) if b is not None]
    if admits_pending(f):
        first, last = first_last(
            store, f"{clause}{keep} state = 'pending'", params, index=by_state(store)
        )
        bounds += [b for b in (first, last) if b is not None]
    return (min(bounds), max(bounds)) if bounds else (None, None)


def by_state(store: Store) -> str:
    """Pending rows are few: on SQLite make sure their (state, started_at) index finds them
    (with a kind or model filter it would otherwise walk that filter's index)."""
    return " INDEXED BY exchanges_state_started" if store.dialect == "sqlite" else ""


def first_last(
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


def raw_groups(
    store: Store, clause: str, params: list[Any], start: int, width: int, extra: str = "",
    extra_params: tuple[Any, ...] = (), index: str = "",
) -> list[Row]:  # fmt: skip
    """Sums per (bucket, model, mode) read from `exchanges`."""
    # Floors on both backends (CAST truncates on SQLite but rounds on PostgreSQL); the
    # difference from `start` is never negative, where truncating is flooring.
    if store.dialect == "sqlite":
        key = f"CAST((started_at - {start}) / {width} AS INTEGER)"
    else:
        key = f"CAST(FLOOR((started_at - {start}) / {width}) AS BIGINT)"
    sql = (
        f"SELECT {key} AS b, COALESCE(model, '') AS model, mode, {RAW_MEASURES} FROM exchanges"
        f"{index}{clause}{extra} GROUP BY {key}, COALESCE(model, ''), mode"
    )
    return store.fetch(sql, [*params, *extra_params])


def rollup_groups(
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
        groups += raw_groups(store, clause, params, start, width, extra, (lo, hi))
    if admits_pending(f):
        pending = f"{keep} state = 'pending'"
        groups += raw_groups(store, clause, params, start, width, pending, index=by_state(store))
    cond, cparams = rollup_where(f)
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
