"""Tiny max_tokens (E36): Claude Code probes with `max_tokens: 1`, some providers reject anything
below 16, and reasoning models fail with "could not finish the message because max_tokens…".

The request goes out with 16 (`request._max_tokens`), and `limit_output` cuts the reply back to
what the client asked for, on the upstream chunks, before they become Anthropic events: text is
cut at the token budget, later text and tool calls are dropped, and a cut reply finishes with
`length` (so `stop_reason: "max_tokens"`), as Anthropic itself answers such a request. A provider
error about the token limit is answered locally with the same empty `max_tokens` reply
(`is_output_limit_error`). A request this small cannot have asked for thinking (Anthropic needs
`budget_tokens` >= 1024 < `max_tokens`), so reasoning is dropped here too.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Final

import orjson

from anthropic_proxy.translate.tokens import count_text, truncate_text
from anthropic_proxy.wire import JSON, obj

_REASONING: Final = ("reasoning", "reasoning_content", "reasoning_details")
_LIMIT_ERRORS: Final = ("max_tokens_exceeded", "token_limit_exceeded")


@dataclass(slots=True)
class _Budget:
    left: int
    cut: bool = False

    def take(self, text: str) -> str:
        tokens = count_text(text)
        if tokens <= self.left:
            self.left -= tokens
            return text
        kept = truncate_text(text, self.left)
        self.left, self.cut = 0, True
        return kept


async def limit_output(chunks: AsyncIterable[JSON], limit: int) -> AsyncIterator[JSON]:
    budget = _Budget(limit)
    async for chunk in chunks:
        choices = chunk.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            chunk = {**chunk, "choices": [_limited_choice(choices[0], budget), *choices[1:]]}
        if isinstance(chunk.get("usage"), dict):
            chunk = {**chunk, "usage": _limited_usage(chunk["usage"], limit)}
        yield chunk


def _limited_choice(choice: JSON, budget: _Budget) -> JSON:
    delta = {k: v for k, v in obj(choice.get("delta")).items() if k not in _REASONING}
    for key in ("content", "refusal"):
        if isinstance(delta.get(key), str) and delta[key]:
            delta[key] = budget.take(delta[key])
    calls = delta.pop("tool_calls", None)
    if isinstance(calls, list):
        kept = [call for call in calls if isinstance(call, dict) and _fits(call, budget)]
        if kept:
            delta["tool_calls"] = kept
    out = {**choice, "delta": delta}
    if budget.cut and isinstance(choice.get("finish_reason"), str):
        out["finish_reason"] = out["native_finish_reason"] = "length"
    return out


def _fits(call: JSON, budget: _Budget) -> bool:
    """A tool-call fragment is kept while the budget lasts; arguments count against it."""
    if budget.left <= 0:
        budget.cut = True
        return False
    arguments = obj(call.get("function")).get("arguments")
    if isinstance(arguments, str) and arguments:
        budget.take(arguments)
    return True


def _limited_usage(usage: JSON, limit: int) -> JSON:
    completion = usage.get("completion_tokens")
    if isinstance(completion, int) and completion > limit:
        return {**usage, "completion_tokens": limit}
    return usage


def is_output_limit_error(raw: bytes) -> bool:
    """Whether an upstream error body complains about the output token limit."""
    try:
        error = obj(obj(orjson.loads(raw)).get("error"))
    except orjson.JSONDecodeError:
        return False
    kind = obj(error.get("metadata")).get("error_type")
    message = str(error.get("message") or "").lower()
    return kind in _LIMIT_ERRORS or "max_tokens" in message or "max_completion_tokens" in message
