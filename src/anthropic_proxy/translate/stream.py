"""OpenAI chat-completion chunks -> Anthropic stream events (protocol.md §5.7).

`anthropic_events` is the state machine, one async generator. Its state: `blocks` (the one open
block and the next index), `calls` (tool calls by upstream index: streamed as they arrive when
they come one after another, assembled and emitted whole at the end when they interleave, see
`tool_calls.py`), and `end` (what the finish needs: finish reason, usage, refusal). Text and
thinking stream through as they come.

Grammar guaranteed to the client: message_start, blocks strictly one after another with indices
0, 1, 2..., one message_delta, message_stop, and nothing after it; or, on any failure, an
`error` event that ends the stream without a message_stop (E31, E33).

One module (~410 lines) because the state machine and its small event builders are one concept.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from anthropic_proxy.errors import error_body
from anthropic_proxy.sse import SSEParser, encode
from anthropic_proxy.translate import reasoning
from anthropic_proxy.translate.errors import stream_error
from anthropic_proxy.translate.limits import limit_output
from anthropic_proxy.translate.mappings import STOP_REASONS
from anthropic_proxy.translate.partial_json import JsonPrefix
from anthropic_proxy.translate.tokens import count_text
from anthropic_proxy.translate.tool_calls import Calls, advance, finish, whole_input
from anthropic_proxy.translate.usage import estimated_usage, openai_to_anthropic_usage, start_usage
from anthropic_proxy.wire import JSON, obj, objects

Event = tuple[str, JSON]
PING: Final[Event] = ("ping", {"type": "ping"})
TRUNCATED: Final = "upstream stream ended before the model finished (no finish_reason)"


@dataclass(frozen=True, slots=True)
class StreamContext:
    model: str
    """The model name the client asked for; every reply echoes it (E40)."""
    message_id: str
    input_tokens: int = 1
    """message_start's placeholder, replaced by real usage in the final message_delta."""
    estimate_input: Callable[[], int] | None = None
    """A local input count for backends that report no usage (E32)."""
    stop_sequences: tuple[str, ...] = ()
    tool_names: Mapping[str, str] = field(default_factory=dict)
    thinking: bool = True
    output_limit: int | None = None
    """The client's max_tokens when it was raised to the providers' minimum: cut back (E36)."""
    web_search: str | None = None
    """The query, when the client's web_search tool became the web plugin: citations in the
    reply become server_tool_use + web_search_tool_result blocks (E41)."""
    on_usage: Callable[[JSON], None] | None = None
    """Called with the upstream usage object as it arrives (the edge records `usage.cost`)."""


class StreamInterrupted(Exception):
    """The I/O edge raises this from the upstream byte iterator when the connection fails."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type, self.message = error_type, message


async def openai_stream_to_anthropic_sse(
    upstream: AsyncIterable[bytes], ctx: StreamContext
) -> AsyncGenerator[bytes, None]:
    """Upstream SSE bytes in, Anthropic SSE bytes out."""
    async for name, data in anthropic_events(upstream_chunks(upstream), ctx):
        yield encode(name, data)


async def upstream_chunks(upstream: AsyncIterable[bytes]) -> AsyncIterator[JSON]:
    """Parsed `data:` payloads until `[DONE]`; comments and blank lines never get this far."""
    parser = SSEParser()
    async for data in upstream:
        for event in parser.feed(data):
            chunk = _parse_chunk(event.data)
            if chunk is None:
                return
            yield chunk
    for event in parser.close():
        chunk = _parse_chunk(event.data)
        if chunk is None:
            return
        yield chunk


def _parse_chunk(data: str) -> JSON | None:
    if data.strip() == "[DONE]":
        return None
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {
            "error": {
                "code": 502,
                "message": f"upstream sent a malformed stream chunk: {data[:200]!r}",
            }
        }
    return chunk if isinstance(chunk, dict) else {}


async def anthropic_events(chunks: AsyncIterable[JSON], ctx: StreamContext) -> AsyncIterator[Event]:
    yield "message_start", _message_start(ctx)
    yield PING
    blocks = _Blocks()
    calls = Calls()
    end = _End()
    if ctx.output_limit is not None:
        chunks = limit_output(chunks, ctx.output_limit)
    try:
        async for chunk in chunks:
            failure = _failure(chunk)
            if failure is not None:
                for event in [
                    *blocks.close(),
                    _error_event(*stream_error(failure, ctx.estimate_input)),
                ]:
                    yield event
                return
            if isinstance(chunk.get("usage"), dict):
                end.usage = chunk["usage"]
                if ctx.on_usage is not None:
                    ctx.on_usage(chunk["usage"])
            choices = chunk.get("choices")
            if isinstance(choices, list) and choices and isinstance(choices[0], dict):
                for event in _choice(choices[0], blocks, calls, end, ctx):
                    yield event
    except StreamInterrupted as exc:
        for event in [*blocks.close(), _error_event(exc.error_type, exc.message)]:
            yield event
        return
    for event in _finish(blocks, calls, end, ctx):
        yield event


def _message_start(ctx: StreamContext) -> JSON:
    message: JSON = {
        "id": ctx.message_id,
        "type": "message",
        "role": "assistant",
        "model": ctx.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage(ctx.input_tokens),
    }
    return {"type": "message_start", "message": message}


def _failure(chunk: JSON) -> JSON | None:
    """The error a chunk reports: top-level (mid-stream, E33) or in a choice that failed (E44)."""
    if isinstance(chunk.get("error"), dict):
        return dict(chunk["error"])
    choices = chunk.get("choices")
    choice = (
        choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    )
    if isinstance(choice.get("error"), dict):
        return dict(choice["error"])
    if choice.get("finish_reason") == "error":
        return {"code": 502, "message": "the upstream provider failed while generating"}
    return None


def _error_event(error_type: str, message: str) -> Event:
    return "error", error_body(error_type, message)


@dataclass(slots=True)
class _End:
    finish: str | None = None
    native: str | None = None
    matched: str | None = None
    refused: bool = False
    usage: JSON | None = None
    produced: list[str] = field(default_factory=list)
    cited: set[str] = field(default_factory=set)
    searches: int = 0


@dataclass(slots=True)
class _Blocks:
    """The open block. Reasoning opens a "segment" that becomes a thinking block once it has text,
    or closes as one redacted_thinking block if it only carried encrypted details."""

    next_index: int = 0
    kind: str | None = None
    details: list[JSON] = field(default_factory=list)
    tool_tail: Callable[[], list[Event]] | None = None
    """For an open tool_use block: the last deltas its arguments need before it stops."""

    def text(self, text: str) -> list[Event]:
        events = (
            []
            if self.kind == "text"
            else [*self.close(), *self._start({"type": "text", "text": ""})]
        )
        self.kind = "text"
        return [*events, self._delta({"type": "text_delta", "text": text})]

    def reasoning(self, text: str, detail: JSON | None) -> list[Event]:
        events = [] if self.kind in ("thinking", "segment") else self.close()
        self.kind = self.kind or "segment"
        if detail is not None:
            reasoning.merge_detail(self.details, detail)
        if text and self.kind == "segment":
            events += self._start({"type": "thinking", "thinking": "", "signature": ""})
            self.kind = "thinking"
        if text:
            events.append(self._delta({"type": "thinking_delta", "thinking": text}))
        return events

    def tool(self, block: JSON, tail: Callable[[], list[Event]]) -> list[Event]:
        """Open a tool_use block whose input streams; `tail` finishes it on close."""
        events = [*self.close(), *self._start(block)]
        self.kind, self.tool_tail = "tool", tail
        return events

    def json(self, partial: str) -> list[Event]:
        return (
            [self._delta({"type": "input_json_delta", "partial_json": partial})] if partial else []
        )

    def close(self) -> list[Event]:
        kind, details, tail = self.kind, self.details, self.tool_tail
        self.kind, self.details, self.tool_tail = None, [], None
        if kind == "tool" and tail is not None:
            return [*tail(), self._stop()]
        if kind == "thinking":
            return [
                self._delta({"type": "signature_delta", "signature": reasoning.pack(details)}),
                self._stop(),
            ]
        if kind == "segment" and details:
            return self.whole({"type": "redacted_thinking", "data": reasoning.pack(details)})
        return [self._stop()] if kind == "text" else []

    def whole(self, block: JSON, partial_json: str | None = None) -> list[Event]:
        events = self._start(block)
        if partial_json is not None:
            events.append(self._delta({"type": "input_json_delta", "partial_json": partial_json}))
        return [*events, self._stop()]

    def _start(self, block: JSON) -> list[Event]:
        self.next_index += 1
        return [
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": self.next_index - 1,
                    "content_block": block,
                },
            )
        ]

    def _delta(self, delta: JSON) -> Event:
        return "content_block_delta", {
            "type": "content_block_delta",
            "index": self.next_index - 1,
            "delta": delta,
        }

    def _stop(self) -> Event:
        return "content_block_stop", {"type": "content_block_stop", "index": self.next_index - 1}


def _choice(
    choice: JSON, blocks: _Blocks, calls: Calls, end: _End, ctx: StreamContext
) -> list[Event]:
    """One choice of one chunk: reasoning, text, tool-call fragments, then the finish (E21)."""
    delta = obj(choice.get("delta"))
    events: list[Event] = []
    if ctx.web_search is not None:
        events += _search(delta.get("annotations"), blocks, end, ctx)
    for text, detail in _reasoning_parts(delta) if ctx.thinking else ():
        end.produced.append(text)
        events += blocks.reasoning(text, detail)
    for key in ("content", "refusal"):
        value = delta.get(key)
        if isinstance(value, str) and value:
            end.produced.append(value)
            end.refused = end.refused or key == "refusal"
            events += blocks.text(value)
    for fragment in delta.get("tool_calls") or ():
        if isinstance(fragment, dict):
            events += _fragment(calls, fragment, blocks, ctx)
    if isinstance(choice.get("finish_reason"), str):
        end.finish, end.native = choice["finish_reason"], choice.get("native_finish_reason")
        matched = choice.get("stop_reason")
        end.matched = matched if isinstance(matched, str) else None
    return events


def _search(annotations: Any, blocks: _Blocks, end: _End, ctx: StreamContext) -> list[Event]:
    """URL citations not shown yet -> one server_tool_use + web_search_tool_result pair. They
    come before the text in a whole reply, as Anthropic's do; a stream shows them when they
    arrive (OpenRouter sends them near the end), so after the text streamed so far."""
    results: list[JSON] = []
    for annotation in objects(annotations):
        if annotation.get("type") != "url_citation":
            continue
        citation = obj(annotation.get("url_citation")) or annotation
        url = citation.get("url")
        if isinstance(url, str) and url and url not in end.cited:
            end.cited.add(url)
            results.append(_search_result(url, citation.get("title")))
    if not results:
        return []
    end.searches += 1
    tool_id = f"srvtoolu_{ctx.message_id.removeprefix('msg_')}{end.searches:02d}"
    call = {"type": "server_tool_use", "id": tool_id, "name": "web_search", "input": {}}
    query = orjson.dumps({"query": ctx.web_search}).decode()
    result = {"type": "web_search_tool_result", "tool_use_id": tool_id, "content": results}
    return [*blocks.close(), *blocks.whole(call, query), *blocks.whole(result)]


def _search_result(url: str, title: Any) -> JSON:
    return {
        "type": "web_search_result",
        "url": url,
        "title": title if isinstance(title, str) and title else url,
        "encrypted_content": "",
        "page_age": None,
    }


def _reasoning_parts(delta: JSON) -> list[tuple[str, JSON | None]]:
    """`reasoning_details` when present, else the plain string: never both (E26)."""
    details = delta.get("reasoning_details")
    if isinstance(details, list) and details:
        return [(reasoning.detail_text(d), d) for d in details if isinstance(d, dict)]
    for key in ("reasoning", "reasoning_content"):
        text = delta.get(key)
        if isinstance(text, str) and text:
            return [(text, None)]
    return []


def _fragment(calls: Calls, fragment: JSON, blocks: _Blocks, ctx: StreamContext) -> list[Event]:
    """One tool-call fragment: streamed into its open block, or the start of a new streamed
    call, or kept for the end (see tool_calls.py)."""
    key, call = calls.add(fragment)
    if key == calls.open_key:
        return blocks.json(advance(call))
    events: list[Event] = []
    current = calls.by_key.get(calls.open_key)
    if current is not None and call.arguments:  # another call starts
        advance(current)
        if current.json is not None and current.json.complete:
            events += blocks.close()  # one after another: the previous call is finished
        else:
            calls.assembling = True  # interleaved: the rest is assembled
    if calls.may_stream(key, call):
        events += _open_call(calls, key, blocks, ctx)
    return events


def _open_call(calls: Calls, key: object, blocks: _Blocks, ctx: StreamContext) -> list[Event]:
    call = calls.by_key[key]
    call.json, calls.open_key = JsonPrefix(), key

    def tail() -> list[Event]:
        calls.open_key = None
        return blocks.json(finish(call))

    events = blocks.tool(_tool_block(ctx, call.name, calls.number(key)), tail)
    return events + blocks.json(advance(call))


def _tool_block(ctx: StreamContext, name: str, number: int) -> JSON:
    suffix = ctx.message_id.removeprefix("msg_")
    tool_id = f"toolu_{suffix}{number:02d}"
    return {"type": "tool_use", "id": tool_id, "name": ctx.tool_names.get(name, name), "input": {}}


def _finish(blocks: _Blocks, calls: Calls, end: _End, ctx: StreamContext) -> list[Event]:
    if end.finish is None:
        return [*blocks.close(), _error_event("api_error", TRUNCATED)]
    events = blocks.close()
    for number, call in calls.waiting():
        events += blocks.whole(_tool_block(ctx, call.name, number), whole_input(call))
    end.produced.extend(call.arguments for call in calls.all())
    stop_reason, sequence = _stop_reason(end, bool(calls.by_key), ctx)
    delta: JSON = {"stop_reason": stop_reason, "stop_sequence": sequence}
    if stop_reason == "refusal":
        delta["stop_details"] = {"type": "refusal", "category": None, "explanation": None}
    usage = _final_usage(end, ctx)
    return [
        *events,
        ("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}),
        ("message_stop", {"type": "message_stop"}),
    ]


def _stop_reason(end: _End, has_calls: bool, ctx: StreamContext) -> tuple[str, str | None]:
    reason = "refusal" if end.refused else STOP_REASONS.get(str(end.finish), "end_turn")
    if reason == "end_turn" and has_calls:
        return "tool_use", None
    if reason == "end_turn":
        if end.matched in ctx.stop_sequences:
            return "stop_sequence", end.matched
        if end.native == "stop_sequence" and len(ctx.stop_sequences) == 1:
            return "stop_sequence", ctx.stop_sequences[0]
    return reason, None


def _final_usage(end: _End, ctx: StreamContext) -> JSON:
    if end.usage is not None:
        usage = openai_to_anthropic_usage(end.usage)
    else:
        input_tokens = ctx.estimate_input() if ctx.estimate_input else ctx.input_tokens
        usage = estimated_usage(input_tokens, count_text("".join(end.produced)))
    if end.searches and "server_tool_use" not in usage:
        usage["server_tool_use"] = {"web_search_requests": end.searches}
    return usage
