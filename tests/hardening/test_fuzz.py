"""Property tests over the byte-stream parsers: the SSE parser, the recorder's stream rebuild and
the translator's stream on arbitrary input. However the bytes are split the result is the same,
and random bytes never crash anything. (Valid translator streams and requests are covered by
tests/translate/test_properties.py.)"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anthropic_proxy.record.response import from_stream
from anthropic_proxy.sse import SSEParser
from anthropic_proxy.translate.stream import StreamContext, openai_stream_to_anthropic_sse
from tests.fakes.anthropic_upstream import (
    message,
    message_events,
    text_block,
    thinking_block,
    tool_use_block,
    usage,
)

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TEXT = st.text(alphabet=st.sampled_from(list('ab :é漢🙂\r\n"{}\\\x00')), max_size=12)
LINE_END = st.sampled_from(["\n", "\r\n", "\r"])


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def parse(chunks: list[bytes]) -> list[tuple[str, str, int]]:
    parser = SSEParser()
    out = [(e.event, e.data, e.size) for chunk in chunks for e in parser.feed(chunk)]
    return out + [(e.event, e.data, e.size) for e in parser.close()]


@st.composite
def sse_streams(draw: st.DrawFn) -> bytes:
    """Well-formed-ish SSE: events with names, multi-line data, comments, mixed line endings."""
    parts: list[str] = []
    for _ in range(draw(st.integers(0, 8))):
        end = draw(LINE_END)
        if draw(st.booleans()):
            parts.append(":" + draw(TEXT).replace("\r", "").replace("\n", "") + end)
        if draw(st.booleans()):
            parts.append("event: " + draw(TEXT).replace("\r", "").replace("\n", "") + end)
        for line in draw(st.lists(TEXT, min_size=1, max_size=3)):
            clean = line.replace("\r", "").replace("\n", "")
            parts.append(("data:" if draw(st.booleans()) else "data: ") + clean + end)
        parts.append(end)
    return "".join(parts).encode()


@FAST
@given(data=sse_streams(), cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_sse_parser_same_events_however_split(data: bytes, cuts: list[int]) -> None:
    whole = parse([data])
    assert parse(split_at(data, cuts)) == whole
    assert parse([bytes([b]) for b in data]) == whole
    assert sum(size for _, _, size in whole) <= len(data)


@FAST
@given(data=st.binary(max_size=400), cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_sse_parser_random_bytes_never_crash_and_split_invariant(
    data: bytes, cuts: list[int]
) -> None:
    whole = parse([data])
    assert parse(split_at(data, cuts)) == whole
    for event, payload, size in whole:
        assert isinstance(event, str) and isinstance(payload, str) and size >= 0


def _messages() -> list[dict[str, Any]]:
    return [
        message(text_block("héllo 漢字 🙂 world"), usage_=usage(output_tokens=9)),
        message(
            thinking_block("let me think\nabout it"),
            text_block("answer"),
            tool_use_block("Read", {"file_path": "/tmp/ä.py", "n": [1, 2]}, id="toolu_x"),
        ),
        message(stop_reason="max_tokens"),
    ]


@FAST
@given(
    which=st.integers(0, 2),
    cuts=st.lists(st.integers(0, 100_000), max_size=20),
    crlf=st.booleans(),
)
def test_stream_rebuild_same_message_however_split(which: int, cuts: list[int], crlf: bool) -> None:
    msg = {**_messages()[which], "model": "claude-sonnet-4-6"}
    data = b"".join(message_events(msg))
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    whole = from_stream([data], [0.0])
    chunks = split_at(data, cuts)
    split = from_stream(chunks, [0.0] * len(chunks))
    assert split.body == whole.body
    assert (split.usage, split.stop_reason, split.error) == (whole.usage, whole.stop_reason, None)
    assert whole.body["content"] == msg["content"]
    assert whole.stop_reason == msg["stop_reason"]


@FAST
@given(
    prefix=st.integers(0, 12),
    noise=st.binary(max_size=200),
    cuts=st.lists(st.integers(0, 100_000), max_size=10),
)
def test_stream_rebuild_never_crashes_on_damaged_streams(
    prefix: int, noise: bytes, cuts: list[int]
) -> None:
    """A valid stream cut anywhere and followed by random bytes: rebuilt without raising,
    the same however split."""
    events = message_events({**_messages()[1], "model": "m"})
    data = b"".join(events[:prefix]) + noise
    chunks = split_at(data, cuts)
    whole = from_stream([data], [0.0])
    split = from_stream(chunks, [0.0] * len(chunks))
    assert (split.body, split.usage, split.stop_reason) == (
        whole.body,
        whole.usage,
        whole.stop_reason,
    )


def _ctx() -> StreamContext:
    return StreamContext(
        model="claude-sonnet-4-6", message_id="msg_fuzz", input_tokens=3, estimate_input=lambda: 3
    )


async def _translate(chunks: list[bytes]) -> bytes:
    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    out = [piece async for piece in openai_stream_to_anthropic_sse(source(), _ctx())]
    return b"".join(out)


def _events(raw: bytes) -> list[tuple[str, Any]]:
    return [(e.event, json.loads(e.data)) for e in [*SSEParser().feed(raw)]]


@FAST
@given(noise=st.binary(max_size=300), cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_translator_survives_random_bytes(noise: bytes, cuts: list[int]) -> None:
    """Random bytes from a backend: an Anthropic stream that starts with message_start and ends
    with message_stop or an error event, never a crash."""
    for data in (noise, b"data: " + noise + b"\n\n"):
        events = _events(asyncio.run(_translate(split_at(data, cuts))))
        assert events and events[0][0] == "message_start"
        assert events[-1][0] in ("message_stop", "error")
        if events[-1][0] == "message_stop":  # only a stream that really finished ends cleanly
            assert any(name == "message_delta" for name, _ in events)
