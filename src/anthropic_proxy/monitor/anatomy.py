"""Context anatomy: what a request's input tokens are made of.

Categories: `system`, tool definitions (`tools:builtin`, `tools:mcp:<server>` from the
`mcp__server__tool` names), `user_text`, `assistant_text`, `tool_calls` (the assistant's
tool_use blocks), `tool_results:<tool name>`, `thinking`, `images`, `documents`, `other`.

Each part is counted with the offline tokenizer the proxy ships (`translate.tokens`), once per
distinct message or tool list (an LRU keyed by a hash of its JSON: Claude Code resends the same
conversation every turn), then the estimates are scaled so that they add up to the input the
upstream reported (input + cache read + cache write). Nothing here runs in the recorder: a
vector is computed when the detail view, a session's context view or an aggregate first asks
for it, and kept in `exchange_anatomy` with the exchange's input cost.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from anthropic_proxy.monitor import details, queries
from anthropic_proxy.record import pricing
from anthropic_proxy.storage import Row, Store
from anthropic_proxy.translate.tokens import PER_MESSAGE, PER_TOOL, count_block, count_text

CACHE_SIZE = 50_000
FILL_LIMIT = 200
"""At most this many vectors are computed per request; the rest on later requests."""
COARSE = {"tools": "tools", "tool_results": "tool_results"}
KINDS = {
    "text": "text",
    "thinking": "thinking",
    "redacted_thinking": "thinking",
    "image": "images",
    "document": "documents",
    "tool_use": "tool_calls",
    "server_tool_use": "tool_calls",
}
Parts = list[tuple[str, str | None, int]]  # (category, tool_use_id for results, tokens)


def mcp_server(tool: str) -> str | None:
    """`mcp__github__search` -> `github`."""
    if not tool.startswith("mcp__"):
        return None
    server, _, _ = tool[5:].partition("__")
    return server or None


def coarse(category: str) -> str:
    """`tools:mcp:github` -> `tools`; `tool_results:Bash` -> `tool_results`."""
    return COARSE.get(category.split(":", 1)[0], category)


class Anatomist:
    """Counts parts once (LRU by content hash); one per process, off the hot path."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._parts: OrderedDict[bytes, Parts] = OrderedDict()

    def estimate(self, body: Any) -> dict[str, int]:
        """Unscaled token estimates per category for one request body."""
        if not isinstance(body, dict):
            return {}
        out: dict[str, int] = {}
        if body.get("system"):
            system = body["system"]
            blocks = [{"type": "text", "text": system}] if isinstance(system, str) else system
            self._add(out, self._cached(("system", blocks), self._system))
        if isinstance(body.get("tools"), list):
            self._add(out, self._cached(("tools", body["tools"]), self._tools))
        names: dict[str, str] = {}
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        for message in messages:
            for block in _blocks(message.get("content")):
                if block.get("type") in ("tool_use", "server_tool_use") and block.get("id"):
                    names[str(block["id"])] = str(block.get("name") or "?")
        for message in messages:
            for category, use_id, n in self._cached(("message", message), self._message):
                if use_id is not None:
                    category = f"tool_results:{names.get(use_id, '?')}"
                out[category] = out.get(category, 0) + n
        return out

    def _add(self, out: dict[str, int], parts: Parts) -> None:
        for category, _, n in parts:
            out[category] = out.get(category, 0) + n

    def _cached(self, key: tuple[str, Any], count: Any) -> Parts:
        digest = hashlib.sha1(orjson.dumps(key), usedforsecurity=False).digest()
        hit = self._parts.get(digest)
        if hit is not None:
            self._parts.move_to_end(digest)
            return hit
        parts: Parts = count(key[1])
        self._parts[digest] = parts
        if len(self._parts) > self.size:
            self._parts.popitem(last=False)
        return parts

    @staticmethod
    def _system(blocks: Any) -> Parts:
        texts = [str(b.get("text", "")) for b in blocks if isinstance(b, dict)]
        return [("system", None, count_text("\n".join(texts)))]

    @staticmethod
    def _tools(tools: list[Any]) -> Parts:
        parts: Parts = []
        for tool in tools:
            if not isinstance(tool, dict):
                continue
            server = mcp_server(str(tool.get("name", "")))
            category = f"tools:mcp:{server}" if server else "tools:builtin"
            parts.append((category, None, count_text(orjson.dumps(tool).decode()) + PER_TOOL))
        return parts

    @staticmethod
    def _message(message: dict[str, Any]) -> Parts:
        role = message.get("role")
        if role == "system":  # a mid-conversation system message (Claude Code's environment)
            return [
                (
                    "system",
                    None,
                    PER_MESSAGE + sum(count_block(b) for b in _blocks(message.get("content"))),
                )
            ]
        role = "assistant" if role == "assistant" else "user"
        parts: Parts = [(f"{role}_text", None, PER_MESSAGE)]
        for block in _blocks(message.get("content")):
            kind = str(block.get("type"))
            if kind == "tool_result":
                parts.append(
                    ("tool_results", str(block.get("tool_use_id", "")), count_block(block))
                )
                continue
            category = KINDS.get(kind, "other")
            parts.append(
                (f"{role}_text" if category == "text" else category, None, count_block(block))
            )
        return parts


def _blocks(content: Any) -> Iterable[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def scaled(estimates: dict[str, int], reported: int | None) -> dict[str, int]:
    """Estimates scaled to add up to `reported` exactly (largest remainders), or as they are."""
    total = sum(estimates.values())
    if not reported or not total:
        return dict(estimates)
    shares = {k: v * reported / total for k, v in estimates.items()}
    out = {k: int(v) for k, v in shares.items()}
    short = reported - sum(out.values())
    for k in sorted(shares, key=lambda k: shares[k] - out[k], reverse=True)[:short]:
        out[k] += 1
    return out


def reported_input(row: Row) -> int | None:
    if row.get("input_tokens") is None:
        return None
    return sum(
        int(row.get(c) or 0) for c in ("input_tokens", "cache_read_tokens", "cache_creation_tokens")
    )


def input_cost(row: Row) -> float | None:
    """What the exchange's input (fresh, cache read and write) cost, from genai-prices."""
    usage = {
        "input_tokens": int(row.get("input_tokens") or 0),
        "cache_read_input_tokens": int(row.get("cache_read_tokens") or 0),
        "cache_creation_input_tokens": int(row.get("cache_creation_tokens") or 0),
        "output_tokens": 0,
    }
    model = row.get("upstream_model") or row.get("model")
    return pricing.price(model, str(row.get("mode") or "anthropic"), usage)


def of_exchange(anatomist: Anatomist, detail: dict[str, Any]) -> dict[str, Any]:
    """The anatomy of one exchange (its detail: request body and token columns)."""
    estimates = anatomist.estimate(detail.get("request"))
    reported = reported_input(detail)
    cost = input_cost(detail)
    categories = scaled(estimates, reported)
    total = sum(categories.values())
    return {
        "categories": [
            {
                "key": k,
                "group": coarse(k),
                "tokens": v,
                "cost_usd": round(cost * v / total, 6) if cost is not None and total else None,
            }
            for k, v in sorted(categories.items(), key=lambda kv: -kv[1])
        ],
        "estimated": sum(estimates.values()),
        "reported": reported,
        "input_cost_usd": cost,
    }


def vectors(
    store: Store, anatomist: Anatomist, ids: Sequence[str], fill: int = FILL_LIMIT
) -> tuple[dict[str, dict[str, Any]], int]:
    """({id: {"categories": {key: tokens}, "input_cost_usd"}} for the ids that have one,
    computing and keeping up to `fill` missing ones first), and how many are still missing."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        part = list(ids[start : start + 500])
        for r in store.fetch(
            f"SELECT id, vector, input_cost_usd FROM exchange_anatomy WHERE id IN ({', '.join('?' * len(part))})",
            part,
        ):
            found[r["id"]] = {
                "categories": orjson.loads(r["vector"]),
                "input_cost_usd": r["input_cost_usd"],
            }
    missing = [i for i in ids if i not in found]
    for exchange_id in missing[:fill]:
        detail = details.get_exchange(store, exchange_id)
        if detail is None or not isinstance(detail.get("request"), dict):
            continue
        a = of_exchange(anatomist, detail)
        vector = {c["key"]: c["tokens"] for c in a["categories"]}
        store.execute(
            "INSERT INTO exchange_anatomy (id, started_at, vector, input_cost_usd) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO NOTHING",
            [exchange_id, detail["started_at"], orjson.dumps(vector).decode(), a["input_cost_usd"]],
        )
        found[exchange_id] = {"categories": vector, "input_cost_usd": a["input_cost_usd"]}
    return found, max(0, len(missing) - fill)


def aggregate(store: Store, anatomist: Anatomist, f: queries.Filters) -> dict[str, Any]:
    """Tokens and input cost by category, by tool and by MCP server over every filtered
    successful `messages` exchange that has its vector (summed in SQL), after computing up to
    FILL_LIMIT of the newest that have none yet (`missing` counts those still waiting)."""
    clause, params = queries.where(f, store.dialect)
    rows = f"FROM exchanges{f'{clause} AND' if clause else ' WHERE'} {ELIGIBLE[store.dialect]}"
    [count] = store.fetch(
        f"SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN EXISTS ({HAS_VECTOR}) THEN 1 ELSE 0 END), 0) "
        f"AS covered {rows}",
        params,
    )
    n, covered = int(count["n"]), int(count["covered"])
    if covered < n:
        todo = store.fetch(
            f"SELECT id {rows} AND NOT EXISTS ({HAS_VECTOR}) ORDER BY started_at DESC LIMIT ?",
            [*params, FILL_LIMIT],
        )
        covered = min(n, covered + len(vectors(store, anatomist, [r["id"] for r in todo])[0]))
    by: dict[str, dict[str, dict[str, float]]] = {"category": {}, "tool": {}, "mcp_server": {}}
    for r in store.fetch(SUMS[store.dialect].format(ids=f"SELECT id {rows}"), params):
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
        **{f"by_{k}": _ranked(v) for k, v in by.items()},
    }


# SQLite: `+kind` keeps the planner off the kind index, so a session or project filter uses its
# own (0.2 ms instead of 22 ms for one session among 100,000 exchanges).
ELIGIBLE = {
    dialect: f"{plus}kind = 'messages' AND state = 'success' AND input_tokens IS NOT NULL"
    for dialect, plus in (("sqlite", "+"), ("postgresql", ""))
}
HAS_VECTOR = "SELECT 1 FROM exchange_anatomy WHERE exchange_anatomy.id = exchanges.id"
# Tokens and input cost per category key over the vectors of the exchanges `{ids}` selects.
# Each exchange's input cost is shared among its categories by tokens (cost * n / its total).
SUMS = {
    "sqlite": "WITH r AS MATERIALIZED (SELECT vector, input_cost_usd AS cost, "
    "(SELECT SUM(k.value) FROM json_each(vector) AS k) AS total FROM exchange_anatomy "
    "WHERE id IN ({ids})) "
    "SELECT j.key AS key, SUM(j.value) AS tokens, SUM(CASE WHEN r.total > 0 "
    "THEN COALESCE(r.cost, 0) * j.value / r.total ELSE 0 END) AS cost "
    "FROM r, json_each(r.vector) AS j GROUP BY j.key",
    "postgresql": "SELECT j.key AS key, SUM(j.value::bigint)::bigint AS tokens, "
    "SUM(CASE WHEN t.total > 0 THEN COALESCE(a.input_cost_usd, 0) * j.value::bigint / t.total "
    "ELSE 0 END)::double precision AS cost FROM exchange_anatomy a, "
    "LATERAL (SELECT SUM(value::bigint)::double precision AS total "
    "FROM jsonb_each_text(a.vector::jsonb)) t, jsonb_each_text(a.vector::jsonb) j "
    "WHERE a.id IN ({ids}) GROUP BY j.key",
}


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
        if v is not None:
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
