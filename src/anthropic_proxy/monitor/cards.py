"""The analysis report's per-request cards, as the original had: what was asked, what came back,
which tools the model used, and a link to the whole exchange.

Texts come from the stored preview (last user text and reply, 300 characters each, secrets
already scrubbed); tool names from the stored response. No request body is rebuilt.
"""

from __future__ import annotations

from typing import Any

from anthropic_proxy.monitor import details, queries
from anthropic_proxy.storage import Store

CARDS = 20
TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use"})


def request_cards(store: Store, f: queries.Filters, limit: int = CARDS) -> list[dict[str, Any]]:
    """The newest `limit` Messages exchanges matching the filters, newest first."""
    clause, params = queries.where(f)
    keep = f"{clause} AND kind = 'messages'" if clause else " WHERE kind = 'messages'"
    columns = ", ".join(queries.SUMMARY_COLUMNS)
    sql = f"SELECT {columns} FROM exchanges{keep} ORDER BY started_at DESC, id DESC LIMIT ?"
    rows = [queries.summary(r) for r in store.fetch(sql, [*params, limit])]
    replies = details.responses(store, [r["id"] for r in rows])
    return [_card(row, replies.get(row["id"])) for row in rows]


def _card(row: dict[str, Any], reply: Any) -> dict[str, Any]:
    asked, _, answered = str(row.get("preview") or "").partition("\n→ ")
    keep = ("id", "started_at", "model", "state", "status", "duration_ms", "input_tokens",
            "output_tokens", "cost_usd", "error_message")  # fmt: skip
    return {
        **{k: row.get(k) for k in keep},
        "input": asked.strip(),
        "output": answered.strip(),
        "tools": tools_used(reply),
    }


def tools_used(reply: Any) -> list[str]:
    content = reply.get("content") if isinstance(reply, dict) else None
    if not isinstance(content, list):
        return []
    names = (b.get("name") for b in content if isinstance(b, dict) and b.get("type") in TOOL_BLOCKS)
    return [str(name) for name in names if name]
