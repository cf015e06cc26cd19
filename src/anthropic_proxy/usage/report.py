"""Usage reports: tokens and cost of finished `messages` exchanges, grouped by period or owner.

Periods (`daily`, `weekly` from Monday, `monthly`, and `blocks`: Claude's 5-hour windows, a
block opening at the hour of the first exchange after the previous block ended) are built from
half-hour sums read in one grouped query, then bucketed in the report's time zone in Python
(exact for every zone whose offset is a whole or half hour). `session`, `project` and `tag`
group in SQL. `by_model` adds a per-model breakdown to every row.

Cost: `cost_usd` is what the exchange is priced at (the upstream's own figure when it reported
one, e.g. OpenRouter's `usage.cost`, else genai-prices); `calculated_cost_usd` is genai-prices'
figure for every exchange and `reported_cost_usd` the upstream's, where it gave one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from typing import Any

from anthropic_proxy.storage import Row, Store
from anthropic_proxy.storage.migrations import ROLLUP_WIDTHS

PERIODS = ("daily", "weekly", "monthly", "blocks")
OWNERS = {"session": "session_id", "project": "project"}
KINDS = (*PERIODS, "session", "project", "tag")
SLOT_S = 1800
BLOCK_S = 5 * 3600
BACKEND_PRICE = "backend usage.cost"  # record.build.BACKEND_PRICE: price_version of upstream costs
MEASURES = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cache_creation_tokens",
    "cache_read_tokens",
    "cost_usd",
    "calculated_cost_usd",
    "reported_cost_usd",
)
SUMS = f"""COUNT(*) AS requests, SUM(COALESCE(input_tokens, 0)) AS input_tokens,
    SUM(COALESCE(output_tokens, 0)) AS output_tokens,
    SUM(COALESCE(cache_creation_tokens, 0)) AS cache_creation_tokens,
    SUM(COALESCE(cache_read_tokens, 0)) AS cache_read_tokens,
    SUM(COALESCE(cost_usd, 0)) AS cost_usd,
    SUM(COALESCE(calculated_cost_usd,
        CASE WHEN price_version = '{BACKEND_PRICE}' THEN 0 ELSE cost_usd END, 0)) AS calculated_cost_usd,
    SUM(CASE WHEN price_version = '{BACKEND_PRICE}' THEN cost_usd ELSE 0 END) AS reported_cost_usd,
    MIN(started_at) AS first, MAX(started_at) AS last"""
MODEL = "COALESCE(model, '')"  # the model asked for, as `exchange_rollup` and the stats key it


@dataclass(frozen=True)
class Scope:
    """Which exchanges a report covers."""

    since: float | None = None
    until: float | None = None
    project: str | None = None
    tag: str | None = None
    session: str | None = None
    model: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        parts, params = ["kind = 'messages'", "state <> 'pending'"], []
        for clause, value in (("started_at >= ?", self.since), ("started_at < ?", self.until),
                              ("project = ?", self.project), ("session_id = ?", self.session),
                              (f"{MODEL} = ?", self.model)):  # fmt: skip
            if value is not None:
                parts.append(clause)
                params.append(value)
        if self.tag is not None:
            parts.append("(',' || tags || ',') LIKE ? ESCAPE '\\'")
            params.append(f"%,{escape_like(self.tag.lower())},%")
        return " WHERE " + " AND ".join(parts), params


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def report(
    store: Store,
    kind: str,
    scope: Scope,
    by_model: bool = False,
    tz: tzinfo | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """`{report, since, until, rows: [{key, first, last, <MEASURES>, total_tokens, models,
    by_model?}], totals}`; rows in time order (periods) or costliest first (owners)."""
    if kind not in KINDS:
        raise ValueError(f"unknown report {kind!r}; use one of {', '.join(KINDS)}")
    now = time.time() if now is None else now
    tz = tz or local_zone()
    if kind in PERIODS:
        groups = _slots(store, scope)
        rows = _blocks(groups, now, tz) if kind == "blocks" else _periods(groups, kind, tz)
    else:
        rows = _owners(store, kind, scope)
    totals = _new("total")
    for row in rows:
        _add(totals, row)
        _finish(row, by_model)
    _finish(totals, by_model)
    if kind not in PERIODS:
        rows.sort(key=lambda r: (-r["cost_usd"], str(r["key"])))
    return {
        "report": kind,
        "since": scope.since,
        "until": scope.until,
        "by_model": by_model,
        "rows": rows,
        "totals": totals,
    }


def local_zone() -> tzinfo:
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None  # astimezone() always sets one
    return zone


def _slot_expr(store: Store) -> str:
    # started_at is positive, so SQLite's truncating CAST floors; PostgreSQL's CAST would round.
    if store.dialect == "sqlite":
        return f"CAST(started_at / {SLOT_S} AS INTEGER)"
    return f"FLOOR(started_at / {SLOT_S})::BIGINT"


def _slots(store: Store, scope: Scope) -> list[Row]:
    """Half-hour sums per model. Without owner filters, whole half-hours come from
    `exchange_rollup` (kept by triggers, so the recorder pays nothing more) and only the partial
    half-hours at the ends of the range from `exchanges`; costs the upstream reported come from
    the few exchanges priced that way (a partial index)."""
    if scope.project or scope.tag or scope.session or SLOT_S not in ROLLUP_WIDTHS:
        return _raw_slots(store, scope)
    lo = None if scope.since is None else math.ceil(scope.since / SLOT_S) * SLOT_S
    hi = None if scope.until is None else math.floor(scope.until / SLOT_S) * SLOT_S
    if lo is not None and hi is not None and lo >= hi:
        return _raw_slots(store, scope)
    groups = _rollup_slots(store, scope, lo, hi)
    for ends in ((scope.since, lo), (hi, scope.until)):
        if ends[0] is not None and ends[1] is not None and ends[0] < ends[1]:
            groups += _raw_slots(store, replace(scope, since=ends[0], until=ends[1]))
    return groups


def _rollup_slots(store: Store, scope: Scope, lo: float | None, hi: float | None) -> list[Row]:
    parts = ["width = ?", "kind = 'messages'"]
    params: list[Any] = [SLOT_S]
    for clause, bound in (("slot >= ?", lo), ("slot < ?", hi)):
        if bound is not None:
            parts.append(clause)
            params.append(int(bound // SLOT_S))
    if scope.model is not None:
        parts.append("model = ?")
        params.append(scope.model)
    groups = store.fetch(
        "SELECT slot, model, SUM(n) AS requests, SUM(input) AS input_tokens, "
        "SUM(output) AS output_tokens, SUM(cache_write) AS cache_creation_tokens, "
        "SUM(cache_read) AS cache_read_tokens, SUM(cost) AS cost_usd "
        f"FROM exchange_rollup WHERE {' AND '.join(parts)} GROUP BY slot, model ORDER BY slot",
        params,
    )
    priced = {(r["slot"], r["model"]): r for r in _backend_priced(store, scope, lo, hi)}
    for g in groups:
        g["first"] = g["last"] = float(g["slot"] * SLOT_S)  # half-hour precision
        p = priced.get((g["slot"], g["model"]))
        reported = float(p["reported"] or 0) if p else 0.0
        calculated = float(p["calculated"] or 0) if p else 0.0
        g["reported_cost_usd"] = reported
        g["calculated_cost_usd"] = float(g["cost_usd"] or 0) - reported + calculated
    return groups


def _backend_priced(store: Store, scope: Scope, lo: float | None, hi: float | None) -> list[Row]:
    """Half-hour sums of the exchanges the upstream priced. Only the partial index's own terms
    (and time) in the WHERE, so the planner walks it rather than a (kind, started_at) index;
    such exchanges are finished `messages` exchanges anyway."""
    parts, params = [f"price_version = '{BACKEND_PRICE}'"], []
    for clause, value in (
        ("started_at >= ?", lo),
        ("started_at < ?", hi),
        (f"{MODEL} = ?", scope.model),
    ):
        if value is not None:
            parts.append(clause)
            params.append(value)
    slot = _slot_expr(store)
    return store.fetch(
        f"SELECT {slot} AS slot, {MODEL} AS model, SUM(cost_usd) AS reported, "
        f"SUM(COALESCE(calculated_cost_usd, 0)) AS calculated FROM exchanges "
        f"WHERE {' AND '.join(parts)} GROUP BY {slot}, {MODEL}",
        params,
    )


def _raw_slots(store: Store, scope: Scope) -> list[Row]:
    clause, params = scope.where()
    slot = _slot_expr(store)
    return store.fetch(
        f"SELECT {slot} AS slot, {MODEL} AS model, {SUMS} FROM exchanges{clause} "
        f"GROUP BY {slot}, {MODEL} ORDER BY slot",
        params,
    )


def _periods(groups: list[Row], kind: str, tz: tzinfo) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for g in groups:
        at = datetime.fromtimestamp(g["slot"] * SLOT_S, tz)
        if kind == "daily":
            key = at.strftime("%Y-%m-%d")
        elif kind == "weekly":
            key = (at - timedelta(days=at.weekday())).strftime("%Y-%m-%d")
        else:
            key = at.strftime("%Y-%m")
        _add(out.setdefault(key, _new(key)), g)
    return list(out.values())


def _blocks(groups: list[Row], now: float, tz: tzinfo) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for g in groups:  # in slot order: each half-hour lies in exactly one block
        if not blocks or g["first"] >= blocks[-1]["end"]:
            start = float(int(g["first"]) // 3600 * 3600)
            key = datetime.fromtimestamp(start, tz).strftime("%Y-%m-%d %H:%M")
            blocks.append({**_new(key), "start": start, "end": start + BLOCK_S})
        _add(blocks[-1], g)
    for b in blocks:
        b["active"] = b["start"] <= now < b["end"]
        b["remaining_s"] = round(b["end"] - now, 1) if b["active"] else None
    return blocks


def _owners(store: Store, kind: str, scope: Scope) -> list[dict[str, Any]]:
    clause, params = scope.where()
    column = OWNERS.get(kind, "tags")
    extra = ", MAX(project) AS project" if kind == "session" else ""
    groups = store.fetch(
        f"SELECT {column} AS owner, {MODEL} AS model, {SUMS}{extra} FROM exchanges{clause} "
        f"GROUP BY {column}, {MODEL}",
        params,
    )
    out: dict[str, dict[str, Any]] = {}
    for g in groups:
        keys = (g["owner"] or "").split(",") if kind == "tag" else [g["owner"] or ""]
        for key in keys:
            row = out.setdefault(key, _new(key or None))
            if kind == "session" and g.get("project"):
                row["project"] = g["project"]
            _add(row, g)
    return list(out.values())


def _new(key: Any) -> dict[str, Any]:
    return {"key": key, "first": None, "last": None, **dict.fromkeys(MEASURES, 0), "_models": {}}


def _add(row: dict[str, Any], g: Row) -> None:
    for m in MEASURES:
        row[m] += g[m] or 0
    if g.get("first") is not None:
        row["first"] = g["first"] if row["first"] is None else min(row["first"], g["first"])
        row["last"] = g["last"] if row["last"] is None else max(row["last"], g["last"])
    models: dict[str, dict[str, Any]] = row["_models"]
    for name, sums in g["_models"].items() if "_models" in g else [(g.get("model") or "", g)]:
        target = models.setdefault(name, {"model": name or None, **dict.fromkeys(MEASURES, 0)})
        for m in MEASURES:
            target[m] += sums[m] or 0


def _finish(row: dict[str, Any], by_model: bool) -> None:
    models = row.pop("_models")
    row["total_tokens"] = _total(row)
    for m in ("cost_usd", "calculated_cost_usd", "reported_cost_usd"):
        row[m] = round(row[m], 6)
    ranked = sorted(models.values(), key=lambda m: (-m["cost_usd"], str(m["model"])))
    row["models"] = [m["model"] for m in ranked if m["model"]]
    if by_model:
        for m in ranked:
            m["total_tokens"] = _total(m)
            for c in ("cost_usd", "calculated_cost_usd", "reported_cost_usd"):
                m[c] = round(m[c], 6)
        row["by_model"] = ranked


def _total(row: dict[str, Any]) -> int:
    return int(
        row["input_tokens"]
        + row["output_tokens"]
        + row["cache_creation_tokens"]
        + row["cache_read_tokens"]
    )
