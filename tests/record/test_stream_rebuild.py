"""The recorder's stream rebuild (`from_stream`) agrees with the official SDK's own accumulation
(`anthropic.lib.streaming.accumulate_event`) on Anthropic-shaped streams of any length, split
anywhere: text, thinking with its signature, tool inputs assembled from JSON pieces."""

from __future__ import annotations

import json
from typing import Any

from anthropic.lib.streaming._messages import accumulate_event
from hypothesis import given, settings
from hypothesis import strategies as st

from anthropic_proxy.record.response import from_stream
from tests.record.test_stream_events import split_at

TEXT = st.text(alphabet=st.sampled_from(list('ab "\\\n{}é中🙂')), max_size=6)
INPUT = st.dictionaries(st.sampled_from(["city", "path", "n"]), TEXT, max_size=3)


@st.composite
def blocks(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    kind = draw(st.sampled_from(["text", "thinking", "tool_use"]))
    if kind == "text":
        pieces = draw(st.lists(TEXT, max_size=30))
        deltas = [{"type": "text_delta", "text": p} for p in pieces]
        return {"type": "text", "text": ""}, deltas
    if kind == "thinking":
        pieces = draw(st.lists(TEXT, max_size=30))
        deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces]
        deltas.append({"type": "signature_delta", "signature": draw(TEXT)})
        return {"type": "thinking", "thinking": "", "signature": ""}, deltas
    raw = json.dumps(draw(INPUT)).encode()
    cuts = draw(st.lists(st.integers(0, len(raw)), max_size=6))
    parts = [p.decode() for p in split_at(raw, cuts)]  # json.dumps writes ASCII: any cut decodes
    deltas = [{"type": "input_json_delta", "partial_json": p} for p in parts]
    return {"type": "tool_use", "id": "toolu_01", "name": "Read", "input": {}}, deltas


@st.composite
def streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    usage = {"input_tokens": draw(st.integers(0, 9999)), "output_tokens": 1}
    message = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    events: list[dict[str, Any]] = [{"type": "message_start", "message": message}]
    for index, (start, deltas) in enumerate(draw(st.lists(blocks(), max_size=4))):
        events.append({"type": "content_block_start", "index": index, "content_block": start})
        events += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        events.append({"type": "content_block_stop", "index": index})
    stop = draw(st.sampled_from(["end_turn", "tool_use", "max_tokens"]))
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": draw(st.integers(1, 9999))},
        }
    )
    events.append({"type": "message_stop"})
    return events


def wire(events: list[dict[str, Any]], compact: bool = False, ascii_only: bool = False) -> bytes:
    """Compact is how Anthropic writes events (an ASCII stream of them takes `from_stream`'s
    fastest path); escaped non-ASCII is how some relays write them."""
    separators = (",", ":") if compact else (", ", ": ")
    return b"".join(
        f"event: {e['type']}\ndata: "
        f"{json.dumps(e, ensure_ascii=ascii_only, separators=separators)}\n\n".encode()
        for e in events
    )


@settings(max_examples=300, deadline=None)
@given(streams(), st.lists(st.integers(0, 10_000), max_size=8), st.booleans(), st.booleans())
def test_the_rebuilt_message_is_the_one_the_sdk_accumulates(
    events: list[dict[str, Any]], cuts: list[int], compact: bool, ascii_only: bool
) -> None:
    raw = wire(events, compact, ascii_only)
    chunks = split_at(raw, [c % (len(raw) + 1) for c in cuts])
    ours = from_stream(chunks, [0.001 * i for i in range(len(chunks))]).body

    snapshot = None
    json_bufs: dict[int, bytes] = {}
    for event in events:
        snapshot = accumulate_event(
            event=event,  # type: ignore[arg-type]
            current_snapshot=snapshot,
            json_bufs=json_bufs,
        )
    assert snapshot is not None
    sdk = snapshot.to_dict()
    assert ours["content"] == sdk["content"]
    assert ours["stop_reason"] == sdk["stop_reason"]
    assert ours["usage"]["output_tokens"] == sdk["usage"]["output_tokens"]
    assert ours["usage"]["input_tokens"] == sdk["usage"]["input_tokens"]


def test_a_text_delta_without_text_loses_none_of_its_neighbours() -> None:
    def event(data: dict[str, Any]) -> bytes:
        return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()

    def delta(**fields: str) -> bytes:
        body = {"type": "text_delta", **fields}
        return event({"type": "content_block_delta", "index": 0, "delta": body})

    chunks = [
        event({"type": "message_start", "message": {"id": "m", "content": [], "usage": {}}}),
        event(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            }
        ),
        delta(text="Hello "),
        delta(),  # malformed: no text
        delta(text="world"),
    ]
    rebuilt = from_stream(chunks, [0.1] * len(chunks)).body
    assert rebuilt["content"] == [{"type": "text", "text": "Hello world"}]

