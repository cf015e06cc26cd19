"""Token usage from OpenAI's shape to Anthropic's (protocol.md §5.6).

OpenAI's `prompt_tokens` includes cached reads and cache writes; Anthropic's `input_tokens` is
only the uncached rest, so both cache counts are subtracted.
"""

from __future__ import annotations

from typing import Any

from anthropic_proxy.wire import JSON

# Cache-write counts go by several names across OpenAI-compatible servers.
CACHE_WRITE_KEYS = ("cache_write_tokens", "cache_creation_tokens", "cache_creation_input_tokens")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def openai_to_anthropic_usage(usage: JSON) -> JSON:
    prompt = usage.get("prompt_tokens_details") or {}
    cache_read = _int(prompt.get("cached_tokens"))
    cache_write = next((_int(prompt[k]) for k in CACHE_WRITE_KEYS if k in prompt), 0)
    out: JSON = {
        "input_tokens": max(_int(usage.get("prompt_tokens")) - cache_read - cache_write, 0),
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
        "output_tokens": _int(usage.get("completion_tokens")),
    }
    reasoning = _int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens"))
    if reasoning:
        out["output_tokens_details"] = {"thinking_tokens": reasoning}
    searches = _int((usage.get("server_tool_use_details") or {}).get("web_search_requests"))
    if searches:
        out["server_tool_use"] = {"web_search_requests": searches}
    return out


def estimated_usage(input_tokens: int, output_tokens: int) -> JSON:
    """For backends that report no usage (E32): local estimates, never zeros."""
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": max(output_tokens, 1),
    }


def start_usage(input_tokens: int) -> JSON:
    """message_start's usage: the local input estimate, corrected by the final message_delta."""
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 1,
    }


def upstream_cost(usage: JSON) -> float | None:
    """OpenRouter's own `usage.cost` in USD, when it reports one."""
    cost = usage.get("cost")
    return float(cost) if isinstance(cost, int | float) else None
