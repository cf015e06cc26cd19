"""A non-streaming OpenAI reply -> an Anthropic message, through the stream translator.

The reply is recast as one chunk and run through `stream.anthropic_events`, and `accumulate`
folds the events into a message the way the Anthropic SDK does. One code path therefore decides
block order, tool-call repair, stop reasons and usage for both kinds of reply.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from types import MappingProxyType
from typing import Final

import orjson

from anthropic_proxy.translate.stream import Event, StreamContext, anthropic_events
from anthropic_proxy.wire import JSON, obj

_DELTA_TEXT: Final = MappingProxyType({"text_delta": "text", "thinking_delta": "thinking"})
_MESSAGE_FIELDS: Final = (
    "content",
    "refusal",
    "reasoning",
    "reasoning_content",
    "reasoning_details",
    "annotations",
)


class UpstreamFailure(Exception):
    """The reply carried an error (in place of, or next to, partial content: E44)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type, self.message = error_type, message


async def openai_to_anthropic_message(response: JSON, ctx: StreamContext) -> JSON:
    return await accumulate(anthropic_events(_one(response_to_chunk(response)), ctx))


def response_to_chunk(response: JSON) -> JSON:
    """A chat.completion as the equivalent single chat.completion.chunk."""
    chunk: JSON = {
        key: response[key] for key in ("id", "model", "usage", "error") if key in response
    }
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return chunk
    choice = choices[0]
    message = obj(choice.get("message"))
    delta: JSON = {key: message[key] for key in _MESSAGE_FIELDS if message.get(key) is not None}
    if isinstance(delta.get("content"), list):
        delta["content"] = "".join(
            str(p.get("text", "")) for p in delta["content"] if isinstance(p, dict)
        )
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        delta["tool_calls"] = [
            {**call, "index": i} for i, call in enumerate(calls) if isinstance(call, dict)
        ]
    out_choice = {
        key: choice[key]
        for key in ("native_finish_reason", "stop_reason", "error")
        if key in choice
    }
    # A complete reply without a finish_reason still finished; only a stream can be cut short.
    chunk["choices"] = [
        {
            **out_choice,
            "index": 0,
            "delta": delta,
            "finish_reason": choice.get("finish_reason") or "stop",
        }
    ]
    return chunk


async def _one(chunk: JSON) -> AsyncIterator[JSON]:
    yield chunk


async def accumulate(events: AsyncIterable[Event]) -> JSON:
    """Fold Anthropic stream events into the final message; an `error` event raises."""
    message: JSON = {}
    partial: dict[int, str] = {}
    async for name, data in events:
        if name == "error":
            raise UpstreamFailure(data["error"]["type"], data["error"]["message"])
        if name == "message_start":
            message = {**data["message"], "content": [], "usage": dict(data["message"]["usage"])}
        elif name == "content_block_start":
            message["content"].append(dict(data["content_block"]))
        elif name == "content_block_delta":
            _apply_delta(message["content"][data["index"]], data["delta"], partial, data["index"])
        elif name == "content_block_stop" and data["index"] in partial:
            message["content"][data["index"]]["input"] = orjson.loads(
                partial.pop(data["index"]) or "{}"
            )
        elif name == "message_delta":
            message.update(data["delta"])
            message["usage"].update(data.get("usage") or {})
    return message


def _apply_delta(block: JSON, delta: JSON, partial: dict[int, str], index: int) -> None:
    kind = delta.get("type", "")
    if kind in _DELTA_TEXT:
        field = _DELTA_TEXT[kind]
        block[field] = block.get(field, "") + delta[field]
    elif kind == "signature_delta":
        block["signature"] = delta["signature"]
    elif kind == "input_json_delta":
        partial[index] = partial.get(index, "") + delta["partial_json"]
