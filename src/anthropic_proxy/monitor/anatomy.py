"""Context anatomy: what a request's input tokens are made of.

Categories: `system`, tool definitions (`tools:builtin`, `tools:mcp:<server>` from the
`mcp__server__tool` names), `user_text`, `assistant_text`, `tool_calls` (the assistant's
tool_use blocks), `tool_results:<tool name>`, `thinking`, `images`, `documents`, `other`.

Each part is counted with the offline tokenizer the proxy ships (`translate.tokens`), once per
distinct message or tool list (an LRU keyed by a hash of its JSON: Claude Code resends the same
conversation every turn), then the estimates are scaled so that they add up to the input the
upstream reported (input + cache read + cache write). Nothing here runs in the recorder: the
detail view computes an exchange's anatomy as it shows it, and `anatomy_totals` keeps vectors
in the store for the totals and a session's context view.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import orjson

from anthropic_proxy.record import pricing
from anthropic_proxy.storage import Row
from anthropic_proxy.translate.tokens import PER_MESSAGE, PER_TOOL, count_block, count_text

CACHE_SIZE = 50_000
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
        system = body.get("system")
        if system and isinstance(system, str | list):
            blocks = [{"type": "text", "text": system}] if isinstance(system, str) else system
            self._add(out, self._cached(("system", blocks), self._system))
        if isinstance(body.get("tools"), list):
            self._add(out, self._cached(("tools", body["tools"]), self._tools))
        names: dict[str, str] = {}
        listed = body.get("messages")
        messages = [m for m in listed if isinstance(m, dict)] if isinstance(listed, list) else []
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
