"""A strict checker of the Anthropic stream grammar, and helpers to read event streams."""

from __future__ import annotations

from typing import Any

import orjson

from anthropic_proxy.sse import SSEParser

Event = tuple[str, dict[str, Any]]
DELTA_BLOCK = {
    "text_delta": {"text"},
    "thinking_delta": {"thinking"},
    "signature_delta": {"thinking"},
    "input_json_delta": {"tool_use", "server_tool_use"},
}
STOP_REASONS = {"end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal", "pause_turn"}


def parse_sse(raw: bytes) -> list[Event]:
    """Every event of an SSE body; an event without an `event:` line fails (the SDK drops it)."""
    parser = SSEParser()
    events = [*parser.feed(raw), *parser.close()]
    assert all(e.event != "message" for e in events), "a data line without an event: line"
    return [(e.event, orjson.loads(e.data)) for e in events]


def check_grammar(events: list[Event]) -> None:
    """message_start, blocks one at a time with contiguous indices, one message_delta, message_stop;
    or an error event that ends the stream. Nothing after the end."""
    assert events and events[0][0] == "message_start", "the stream must open with message_start"
    state = _State()
    for name, data in events:
        assert not state.ended, f"{name} after the end of the stream"
        assert data["type"] == name, f"event {name} carries data.type {data['type']}"
        getattr(state, name)(data)
    assert state.ended, "the stream never ended (no message_stop and no error)"


class _State:
    def __init__(self) -> None:
        self.ended = False
        self.started = False
        self.open: dict[str, Any] | None = None
        self.next_index = 0
        self.delta_seen = False
        self.server_calls: set[str] = set()

    def message_start(self, data: dict[str, Any]) -> None:
        assert not self.started
        self.started = True
        message = data["message"]
        assert message["content"] == [] and message["id"].startswith("msg_")
        assert message["usage"]["input_tokens"] >= 0

    def ping(self, data: dict[str, Any]) -> None:
        pass

    def error(self, data: dict[str, Any]) -> None:
        assert self.open is None, "an error must come after the open block is closed"
        assert data["error"]["type"] and data["error"]["message"]
        self.ended = True

    def content_block_start(self, data: dict[str, Any]) -> None:
        assert self.open is None, "a block started while another was open"
        assert not self.delta_seen, "a block started after message_delta"
        assert data["index"] == self.next_index, "block indices must be 0, 1, 2, ..."
        block = data["content_block"]
        self.open = {"block": block, "text": "", "json": "", "signature": False}
        self.next_index += 1
        if block["type"] == "thinking":
            assert block["thinking"] == "" and block["signature"] == ""
        if block["type"] == "text":
            assert block["text"] == ""
        if block["type"] in ("tool_use", "server_tool_use"):
            assert block["input"] == {} and block["id"] and block["name"]
        if block["type"] == "server_tool_use":
            self.server_calls.add(block["id"])
        if block["type"] == "web_search_tool_result":
            assert block["tool_use_id"] in self.server_calls, "a result without its server call"
            assert isinstance(block["content"], list | dict)

    def content_block_delta(self, data: dict[str, Any]) -> None:
        assert self.open is not None and data["index"] == self.next_index - 1
        delta = data["delta"]
        assert self.open["block"]["type"] in DELTA_BLOCK[delta["type"]], "delta/block mismatch"
        assert not self.open["signature"], "a delta after the signature"
        if delta["type"] == "text_delta":
            assert delta["text"], "an empty text delta"
            self.open["text"] += delta["text"]
        elif delta["type"] == "signature_delta":
            assert delta["signature"]
            self.open["signature"] = True
        elif delta["type"] == "input_json_delta":
            self.open["json"] += delta["partial_json"]

    def content_block_stop(self, data: dict[str, Any]) -> None:
        assert self.open is not None and data["index"] == self.next_index - 1
        kind = self.open["block"]["type"]
        if kind == "thinking":
            assert self.open["signature"], "a thinking block closed without a signature"
        if kind == "text":
            assert self.open["text"].strip() or self.open["text"], "an empty text block"
        if kind in ("tool_use", "server_tool_use"):
            assert isinstance(orjson.loads(self.open["json"] or "{}"), dict)
        self.open = None

    def message_delta(self, data: dict[str, Any]) -> None:
        assert self.open is None and not self.delta_seen
        assert data["delta"]["stop_reason"] in STOP_REASONS
        usage = data["usage"]
        assert isinstance(usage["output_tokens"], int)
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
            assert isinstance(usage[key], int), f"message_delta.usage lacks {key}"
        self.delta_seen = True

    def message_stop(self, data: dict[str, Any]) -> None:
        assert self.delta_seen, "message_stop without message_delta"
        self.ended = True


def summary(events: list[Event]) -> list[str]:
    """A readable form for table tests: pings dropped, one short string per event."""
    out = []
    for name, data in events:
        if name == "content_block_start":
            block = data["content_block"]
            out.append(f"start {block['type']}" + (f" {block['name']}" if "name" in block else ""))
        elif name == "content_block_delta":
            out.append(_delta(data["delta"]))
        elif name == "content_block_stop":
            out.append("stop")
        elif name == "message_delta":
            delta = data["delta"]
            out.append(
                f"end {delta['stop_reason']}"
                + (f" {delta['stop_sequence']}" if delta["stop_sequence"] else "")
            )
        elif name == "error":
            out.append(f"error {data['error']['type']}")
        elif name not in ("ping", "message_start", "message_stop"):
            out.append(name)
    return out


def _delta(delta: dict[str, Any]) -> str:
    kind = delta["type"]
    if kind == "text_delta":
        return f"text {delta['text']}"
    if kind == "thinking_delta":
        return f"thinking {delta['thinking']}"
    if kind == "input_json_delta":
        return f"json {delta['partial_json']}"
    return "signature"
