"""Context anatomy vectors kept in the store (`exchange_anatomy`): computed on demand, a batch
at a time, then summed over a range (the totals by category, tool and MCP server) or read per
turn (a session's context view). The counting itself is `anatomy`'s.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, TypeVar

import orjson

from anthropic_proxy.monitor import queries
from anthropic_proxy.monitor.anatomy import (
    Anatomist,
    coarse,
    mcp_server,
    of_exchange,
    reported_input,
)
from anthropic_proxy.storage import Store
from anthropic_proxy.storage.bodies import join

FILL_LIMIT = 200
"""At most this many vectors are computed per request; the rest on later requests."""
T = TypeVar("T")


class Vector(NamedTuple):
    """One exchange's anatomy as kept: tokens per category key (empty when its request could
    not be analysed) and the input cost."""

    id: str
    started_at: float
    categories: dict[str, int]
    input_cost_usd: float | None


def vectors(
    store: Store, anatomist: Anatomist, ids: Sequence[str], fill: int = FILL_LIMIT
) -> tuple[dict[str, dict[str, Any]], int]:
    """({id: {"categories": {key: tokens}, "input_cost_usd"}} for the ids that have one,
    computing and keeping up to `fill` missing ones first), and how many are still missing.
    An exchange whose request cannot be analysed is kept with no categories, so it is not
    tried again."""
    found: dict[str, dict[str, Any]] = {}
    for part in _chunks(ids):
        for r in store.fetch(
            f"SELECT id, vector, input_cost_usd FROM exchange_anatomy WHERE id IN ({_marks(part)})",
            part,
        ):
            found[r["id"]] = {
                "categories": orjson.loads(r["vector"]),
                "input_cost_usd": r["input_cost_usd"],
            }
    missing = [i for i in ids if i not in found]
    computed = analysed(store, anatomist, missing[:fill])
    keep(store, computed)
    for v in computed:
        found[v.id] = {"categories": v.categories, "input_cost_usd": v.input_cost_usd}
    return found, max(0, len(missing) - fill)


ANALYSED_COLUMNS = (
    "id, started_at, request_ref, model, upstream_model, mode, input_tokens, cache_read_tokens, "
    "cache_creation_tokens"
)


def analysed(store: Store, anatomist: Anatomist, ids: Sequence[str]) -> list[Vector]:
    """The vectors of these exchanges (those that still exist), computed from their stored
    request and token columns."""
    out = []
    for part in _chunks(ids):
        for row in store.fetch(
            f"SELECT {ANALYSED_COLUMNS} FROM exchanges WHERE id IN ({_marks(part)})", part
        ):
            a = of_exchange(anatomist, {**row, "request": _request(store, row["request_ref"])})
            vector = {c["key"]: c["tokens"] for c in a["categories"]}
            out.append(Vector(row["id"], row["started_at"], vector, a["input_cost_usd"]))
    return out


def keep(store: Store, computed: Sequence[Vector]) -> None:
    """Store vectors and their parts (ignoring any another reader kept first). The parts go
    first: a vector is what marks an exchange analysed."""
    parts = [
        (v.id, key, n, (v.input_cost_usd or 0) * n / total if total else 0.0)
        for v in computed
        for total in [sum(v.categories.values())]
        for key, n in v.categories.items()
    ]
    for chunk in _chunks(parts):
        store.execute(
            "INSERT INTO exchange_anatomy_parts (id, key, tokens, cost_usd) VALUES "
            + ", ".join(["(?, ?, ?, ?)"] * len(chunk))
            + " ON CONFLICT (id, key) DO NOTHING",
            [x for p in chunk for x in p],
        )
    for part in _chunks(computed):
        store.execute(
            "INSERT INTO exchange_anatomy (id, started_at, vector, input_cost_usd) VALUES "
            + ", ".join(["(?, ?, ?, ?)"] * len(part))
            + " ON CONFLICT (id) DO NOTHING",
            [x for v in part for x in (v.id, v.started_at, _json(v.categories), v.input_cost_usd)],
        )


def _request(store: Store, ref: str | None) -> Any:
    """The stored request body, or None when there is none or it cannot be rebuilt."""
    if not ref:
        return None
    try:
        return join(ref, store.blob)
    except (LookupError, ValueError, zlib.error):
        return None


def _chunks(items: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _marks(items: Sequence[Any]) -> str:
    return ", ".join("?" * len(items))


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def aggregate(store: Store, anatomist: Anatomist, f: queries.Filters) -> dict[str, Any]:
    """Tokens and input cost by category, by tool and by MCP server over every filtered
    successful `messages` exchange that has its vector (summed in SQL), after computing up to
    FILL_LIMIT of the newest that have none yet (`missing` counts those still waiting,
    `unanalysable` the covered ones whose request could not be analysed: they add nothing)."""
    clause, params = queries.where(f, store.dialect)
    rows = f"FROM exchanges{f'{clause} AND' if clause else ' WHERE'} {ELIGIBLE[store.dialect]}"
    [count] = store.fetch(
        f"SELECT COUNT(*) AS n, COUNT(a.id) AS covered FROM (SELECT id {rows}) AS e "
        "LEFT JOIN exchange_anatomy a ON a.id = e.id",
        params,
    )
    n, covered = int(count["n"]), int(count["covered"])
    [unanalysable] = store.fetch(
        "SELECT COUNT(*) AS n FROM exchange_anatomy a WHERE a.vector = '{}' "
        f"AND EXISTS (SELECT 1 {rows} AND exchanges.id = a.id)",
        params,
    )
    empty = int(unanalysable["n"])
    if covered < n:
        todo = store.fetch(
            f"SELECT id {rows} AND NOT EXISTS ({HAS_VECTOR}) ORDER BY started_at DESC LIMIT ?",
            [*params, FILL_LIMIT],
        )
        found, _ = vectors(store, anatomist, [r["id"] for r in todo])
        covered = min(n, covered + len(found))
        empty += sum(not v["categories"] for v in found.values())
    by: dict[str, dict[str, dict[str, float]]] = {"category": {}, "tool": {}, "mcp_server": {}}
    for r in store.fetch(SUMS.format(ids=f"SELECT id {rows}"), params):
        key, tokens, share = str(r["key"]), int(r["tokens"] or 0), float(r["cost"] or 0)
        _sum(by["category"], coarse(key), tokens, share)
        tool = _tool_of(key)
        if tool is not None:
            _sum(by["tool"], tool, tokens, share)
            server = mcp_server(tool) if not tool.startswith("(") else None
            if key.startswith("tools:mcp:"):
                server = key.removeprefix("tools:mcp:")
            if server:
                _sum(by["mcp_server"], server, tokens, share)
    return {
        "exchanges": n,
        "covered": covered,
        "missing": n - covered,
        "unanalysable": empty,
        **{f"by_{k}": _ranked(v) for k, v in by.items()},
    }


# SQLite: `+kind` keeps the planner off the kind index, so a session or project filter uses its
# own (0.2 ms instead of 22 ms for one session among 100,000 exchanges).
ELIGIBLE = {
    dialect: f"{plus}kind = 'messages' AND state = 'success' AND input_tokens IS NOT NULL"
    for dialect, plus in (("sqlite", "+"), ("postgresql", ""))
}
HAS_VECTOR = "SELECT 1 FROM exchange_anatomy WHERE exchange_anatomy.id = exchanges.id"
# Tokens and input cost per category key over the exchanges `{ids}` selects: their parts (041)
# carry each one's share of the exchange's input cost (cost * tokens / the vector's total).
SUMS = (
    "SELECT key, SUM(tokens) AS tokens, SUM(cost_usd) AS cost FROM exchange_anatomy_parts "
    "WHERE id IN ({ids}) GROUP BY key"
)


def _tool_of(category: str) -> str | None:
    if category.startswith("tool_results:"):
        return category.removeprefix("tool_results:")
    if category.startswith("tools:mcp:"):
        return f"(definitions) mcp__{category.removeprefix('tools:mcp:')}"
    if category == "tools:builtin":
        return "(definitions) built-in"
    return None


def _sum(into: dict[str, dict[str, float]], key: str, tokens: int, cost: float) -> None:
    entry = into.setdefault(key, {"tokens": 0, "cost_usd": 0.0})
    entry["tokens"] += tokens
    entry["cost_usd"] += cost


def _ranked(sums: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    return [
        {"key": k, "tokens": int(v["tokens"]), "cost_usd": round(v["cost_usd"], 6)}
        for k, v in sorted(sums.items(), key=lambda kv: -kv[1]["tokens"])
    ]


def session_context(
    store: Store, anatomist: Anatomist, session_id: str, sample: int = 40
) -> dict[str, Any] | None:
    """The main conversation's context per turn (input + cache tokens, as reported), turns where
    it shrank marked as compactions, and the categories of up to `sample` turns (always the
    last and the turns around each compaction)."""
    rows = store.fetch(
        "SELECT id, started_at, model, input_tokens, cache_read_tokens, cache_creation_tokens "
        "FROM exchanges WHERE session_id = ? AND kind = 'messages' AND state = 'success' "
        "AND agent_id IS NULL AND input_tokens IS NOT NULL ORDER BY started_at",
        [session_id],
    )
    if not rows:
        return None
    turns = []
    previous = 0
    for r in rows:
        context = reported_input(r) or 0
        compaction = bool(previous) and context < previous * COMPACTION_BELOW
        turns.append({"id": r["id"], "started_at": r["started_at"], "context_tokens": context,
                      "compaction": compaction})  # fmt: skip
        previous = context
    wanted = _sampled(turns, sample)
    found, _ = vectors(store, anatomist, [turns[i]["id"] for i in wanted], fill=sample)
    for i in wanted:
        v = found.get(turns[i]["id"])
        if v is not None and v["categories"]:
            groups: dict[str, int] = {}
            for key, n in v["categories"].items():
                groups[coarse(key)] = groups.get(coarse(key), 0) + n
            turns[i]["categories"] = groups
    return {
        "session_id": session_id,
        "turns": turns,
        "compactions": sum(t["compaction"] for t in turns),
    }


COMPACTION_BELOW = 0.7
"""A turn whose context is under 70 % of the previous turn's follows a compaction."""


def _sampled(turns: list[dict[str, Any]], n: int) -> list[int]:
    must = {len(turns) - 1}
    for i, t in enumerate(turns):
        if t["compaction"]:
            must.update({i - 1, i})
    step = max(1, len(turns) // max(1, n - len(must)))
    picked = sorted(must | set(range(0, len(turns), step)))
    return picked[-n:] if len(picked) > n else picked
