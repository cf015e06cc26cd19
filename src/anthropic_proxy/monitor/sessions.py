"""Claude Code sessions: exchanges grouped by session and agent, and prompt-cache diagnostics.

Claude Code sends `x-claude-code-session-id`, `-agent-id` and `-parent-agent-id`; the recorder
keeps them as columns. A session becomes a tree: the main agent (no agent id) at the root,
subagents under their parents, each node with its own and its subtree's tokens and cost.

Cache diagnostics compare each turn with the same agent's previous turn. The request skeletons
stored by `storage.bodies` already carry the hashes of the system prompt, the tool list and
every message, so "what changed" is a comparison of hashes, not of bodies. A turn *broke* the
cache when it read back less than 90% of what the previous turn left cached.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from anthropic_proxy.exchange import FAILED_SQL
from anthropic_proxy.monitor import queries
from anthropic_proxy.monitor.stats import cache_hit_ratio
from anthropic_proxy.record import pricing
from anthropic_proxy.storage import Row, Store
from anthropic_proxy.storage.bodies import message_refs

MAIN = "main"
TTL_S = 300
TTL_1H_S = 3600
BREAK_BELOW = 0.9
TOKEN_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "cost_usd",
)
LIST_SQL = f"""
SELECT session_id, COUNT(*) AS n, MIN(started_at) AS first, MAX(started_at) AS last,
  COUNT(DISTINCT agent_id) AS agents, SUM(input_tokens) AS input, SUM(output_tokens) AS output,
  SUM(cache_read_tokens) AS cache_read, SUM(cache_creation_tokens) AS cache_write,
  SUM(cost_usd) AS cost, SUM(CASE WHEN state IN {FAILED_SQL} THEN 1 ELSE 0 END) AS errors
FROM exchanges"""


TITLE_CHARS = 80
FIRST_PROMPTS_SQL = """
SELECT e.session_id, e.preview FROM exchanges e JOIN (
  SELECT session_id, MIN(started_at) AS first FROM exchanges
  WHERE session_id IN ({marks}) AND kind = 'messages' AND agent_id IS NULL
    AND preview IS NOT NULL AND preview <> '' AND preview NOT LIKE 'quota%'
  GROUP BY session_id
) f ON e.session_id = f.session_id AND e.started_at = f.first"""


def list_sessions(store: Store, f: queries.Filters, limit: int = 100) -> list[dict[str, Any]]:
    """Sessions matching the filters, most recently active first, each titled by its first
    prompt."""
    clause, params = queries.where(f)
    clause = f"{clause} AND session_id IS NOT NULL" if clause else " WHERE session_id IS NOT NULL"
    sql = f"{LIST_SQL}{clause} GROUP BY session_id ORDER BY last DESC, session_id LIMIT ?"
    rows = [_session_row(r) for r in store.fetch(sql, [*params, limit])]
    titles = first_prompts(store, [r["session_id"] for r in rows])
    for row in rows:
        row["title"] = titles.get(row["session_id"])
    return rows


def first_prompts(store: Store, session_ids: list[str]) -> dict[str, str]:
    """Each session's first prompt to the main agent (Claude Code's quota probe skipped),
    trimmed to a title; from the stored previews, so no body is read."""
    if not session_ids:
        return {}
    sql = FIRST_PROMPTS_SQL.format(marks=", ".join("?" * len(session_ids)))
    out: dict[str, str] = {}
    for r in store.fetch(sql, session_ids):
        asked = " ".join(str(r["preview"]).split("\n→ ")[0].split())
        if asked and r["session_id"] not in out:
            out[r["session_id"]] = (
                asked if len(asked) <= TITLE_CHARS else asked[: TITLE_CHARS - 1] + "…"
            )
    return out


def _session_row(r: Row) -> dict[str, Any]:
    prompt = int(r["input"] or 0), int(r["cache_read"] or 0), int(r["cache_write"] or 0)
    return {
        "session_id": r["session_id"],
        "count": int(r["n"]),
        "first": r["first"],
        "last": r["last"],
        "agents": int(r["agents"] or 0),
        "errors": int(r["errors"] or 0),
        "input_tokens": prompt[0],
        "output_tokens": int(r["output"] or 0),
        "cache_read_tokens": prompt[1],
        "cache_creation_tokens": prompt[2],
        "cost_usd": round(float(r["cost"] or 0), 6),
        "cache_hit_ratio": cache_hit_ratio(*prompt),
    }


def session_report(store: Store, session_id: str) -> dict[str, Any] | None:
    """The agent tree and the cache diagnostics of one session."""
    columns = ", ".join(
        [*queries.SUMMARY_COLUMNS, "request_ref", "cache_miss_reason", "cache_missed_tokens"]
    )
    rows = store.fetch(
        f"SELECT {columns} FROM exchanges WHERE session_id = ? ORDER BY started_at", [session_id]
    )
    if not rows:
        return None
    return {
        "session_id": session_id,
        "tree": agent_tree(rows),
        "cache": cache_diagnostics(rows, store.blob),
    }


def _node(agent: str, parent: str | None) -> dict[str, Any]:
    return {
        "agent_id": agent,
        "parent_agent_id": parent,
        "exchanges": [],
        "own": _zero(),
        "total": _zero(),
        "children": [],
    }


def _zero() -> dict[str, Any]:
    return {"count": 0, **{k: 0 for k in TOKEN_KEYS}}


def agent_tree(rows: list[Row]) -> dict[str, Any]:
    """Root node (the main agent) with subagents nested under their parents."""
    nodes: dict[str, dict[str, Any]] = {MAIN: _node(MAIN, None)}
    for row in rows:
        agent = row.get("agent_id") or MAIN
        node = nodes.setdefault(agent, _node(agent, row.get("parent_agent_id") or MAIN))
        node["exchanges"].append(queries.summary(row))
        _add(node["own"], row)
    for agent, node in nodes.items():
        if agent != MAIN:
            parent = nodes.get(node["parent_agent_id"]) or nodes[MAIN]
            parent["children"].append(node)
    _sum_subtree(nodes[MAIN], set())
    return nodes[MAIN]


def _add(totals: dict[str, Any], row: Row) -> None:
    totals["count"] += 1
    for key in TOKEN_KEYS:
        totals[key] += row.get(key) or 0


def _sum_subtree(node: dict[str, Any], seen: set[str]) -> dict[str, Any]:
    seen.add(node["agent_id"])  # guards against a parent cycle in malformed headers
    total = dict(node["own"])
    for child in node["children"]:
        if child["agent_id"] not in seen:
            for key, value in _sum_subtree(child, seen).items():
                total[key] += value
    total["cost_usd"] = round(total["cost_usd"], 6)
    node["total"] = total
    return total


def cache_diagnostics(rows: list[Row], load: Callable[[str], bytes | None]) -> dict[str, Any]:
    """Per turn: hit ratio, whether the cache broke and why, and what the miss cost."""
    shapes = _ShapeReader(load)
    previous: dict[str, tuple[Row, dict[str, Any]]] = {}
    turns = []
    for row in rows:
        if row.get("kind") != "messages" or row.get("state") != "success":
            continue
        agent = row.get("agent_id") or MAIN
        shape = shapes.read(row.get("request_ref"))
        turns.append(_turn(row, shape, previous.get(agent)))
        previous[agent] = (row, shape)
    return {"turns": turns, "summary": _cache_summary(turns)}


def _turn(
    row: Row, shape: dict[str, Any], prev: tuple[Row, dict[str, Any]] | None
) -> dict[str, Any]:
    fresh, read, write = (
        int(row.get(k) or 0) for k in ("input_tokens", "cache_read_tokens", "cache_creation_tokens")
    )
    turn: dict[str, Any] = {
        "id": row["id"],
        "agent_id": row.get("agent_id") or MAIN,
        "started_at": row["started_at"],
        "model": row.get("model"),
        "input_tokens": fresh,
        "cache_read_tokens": read,
        "cache_creation_tokens": write,
        "hit_ratio": cache_hit_ratio(fresh, read, write),
        "broken": False,
        "reasons": [],
        "lost_tokens": 0,
        "lost_usd": 0.0,
        **_upstream_diagnosis(row),
    }
    if prev is None:
        return turn
    prev_row, prev_shape = prev
    cached_before = int(prev_row.get("cache_read_tokens") or 0) + int(
        prev_row.get("cache_creation_tokens") or 0
    )
    if cached_before and read < BREAK_BELOW * cached_before:
        lost = min(cached_before, fresh + read + write) - read
        turn.update(
            broken=True,
            reasons=_reasons(row, shape, prev_row, prev_shape),
            lost_tokens=max(0, lost),
        )
        turn["lost_usd"] = _miss_cost(row, max(0, lost))
    return turn


def _upstream_diagnosis(row: Row) -> dict[str, Any]:
    """The upstream's own verdict (`diagnostics.cache_miss_reason`), beside ours, priced like
    ours: what the missed tokens cost over reading them from the cache."""
    missed = row.get("cache_missed_tokens")
    return {
        "upstream_reason": row.get("cache_miss_reason"),
        "upstream_missed_tokens": missed,
        "upstream_missed_usd": _miss_cost(row, int(missed)) if missed else 0.0,
    }


def _reasons(
    row: Row, shape: dict[str, Any], prev_row: Row, prev_shape: dict[str, Any]
) -> list[str]:
    reasons = []
    if row.get("model") != prev_row.get("model"):
        reasons.append("model_changed")
    if shape.get("system") != prev_shape.get("system"):
        reasons.append("system_changed")
    if shape.get("tools") != prev_shape.get("tools"):
        reasons.append("tools_changed")
    idle = row["started_at"] - (prev_row.get("finished_at") or prev_row["started_at"])
    if idle > (TTL_1H_S if shape.get("ttl_1h") else TTL_S):
        reasons.append("idle_past_ttl")
    before, now = prev_shape.get("messages") or [], shape.get("messages") or []
    if now[: len(before)] != before:
        reasons.append("messages_changed")
    return reasons or ["unknown"]


def _miss_cost(row: Row, lost: int) -> float:
    """What the turn paid over the same turn had the lost tokens been read from the cache."""
    usage = {
        "input_tokens": int(row.get("input_tokens") or 0),
        "output_tokens": int(row.get("output_tokens") or 0),
        "cache_read_input_tokens": int(row.get("cache_read_tokens") or 0),
        "cache_creation_input_tokens": int(row.get("cache_creation_tokens") or 0),
    }
    from_write = min(lost, usage["cache_creation_input_tokens"])
    from_input = min(lost - from_write, usage["input_tokens"])
    ideal = dict(usage)
    ideal["cache_creation_input_tokens"] -= from_write
    ideal["input_tokens"] -= from_input
    ideal["cache_read_input_tokens"] += from_write + from_input
    model, mode = row.get("upstream_model") or row.get("model"), str(row.get("mode") or "anthropic")
    actual, hoped = pricing.price(model, mode, usage), pricing.price(model, mode, ideal)
    return round(actual - hoped, 6) if actual is not None and hoped is not None else 0.0


def _cache_summary(turns: list[dict[str, Any]]) -> dict[str, Any]:
    fresh, read, write = (
        sum(t[k] for t in turns)
        for k in ("input_tokens", "cache_read_tokens", "cache_creation_tokens")
    )
    reasons: dict[str, int] = {}
    upstream: dict[str, int] = {}
    for turn in turns:
        for reason in turn["reasons"]:
            reasons[reason] = reasons.get(reason, 0) + 1
        if turn["upstream_reason"]:
            upstream[turn["upstream_reason"]] = upstream.get(turn["upstream_reason"], 0) + 1
    return {
        "turns": len(turns),
        "breaks": sum(1 for t in turns if t["broken"]),
        "hit_ratio": cache_hit_ratio(fresh, read, write),
        "lost_tokens": sum(t["lost_tokens"] for t in turns),
        "lost_usd": round(sum(t["lost_usd"] for t in turns), 6),
        "reasons": reasons,
        "upstream_reasons": upstream,
        "upstream_missed_tokens": sum(t["upstream_missed_tokens"] or 0 for t in turns),
        "upstream_missed_usd": round(sum(t["upstream_missed_usd"] for t in turns), 6),
    }


class _ShapeReader:
    """Reads request skeletons (see storage.bodies.split): part hashes, no bodies."""

    def __init__(self, load: Callable[[str], bytes | None]) -> None:
        self.load = load
        self._ttl: dict[str, bool] = {}
        self._chains: dict[str, list[str]] = {}

    def read(self, ref: str | None) -> dict[str, Any]:
        raw = self.load(ref) if ref else None
        if raw is None:
            return {}
        skeleton = orjson.loads(raw)
        refs = skeleton.get("refs") or {}
        return {
            "system": refs.get("system"),
            "tools": refs.get("tools"),
            "messages": message_refs(skeleton, self.load, self._chains),
            "ttl_1h": self._ttl_1h(refs.get("system")),
        }

    def _ttl_1h(self, ref: str | None) -> bool:
        if not ref:
            return False
        if ref not in self._ttl:
            raw = self.load(ref) or b""
            self._ttl[ref] = b'"ttl":"1h"' in raw
        return self._ttl[ref]
