"""The recorder's fast stream split (`plain_events`) reads every LF stream exactly as the
incremental SSE parser does: same events, same data, same sizes, same chunk times."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from anthropic_proxy.record.response import (
    _common_blocks,
    from_stream,
    parsed_events,
    plain_events,
)

VALUE = st.text(alphabet=st.sampled_from(list('ab {}":,é中🙂\\')), max_size=12)
LINE = st.one_of(
    st.builds(lambda v: f"data: {v}", VALUE),
    st.builds(lambda v: f"data:{v}", VALUE),
    st.builds(lambda v: f"event: {v}", VALUE),
    st.builds(lambda v: f": {v}", VALUE),  # a comment
    st.just("data"),  # a field name alone
    st.builds(lambda v: f"id: {v}", VALUE),  # a field the recorder ignores
)
EVENT = st.lists(LINE, min_size=0, max_size=4)
BLANKS = st.integers(min_value=1, max_value=3)


def split_at(raw: bytes, cuts: list[int]) -> list[bytes]:
    """The stream as chunks, cut at these offsets (as a socket may deliver it)."""
    at = sorted(cuts)
    return [raw[a:b] for a, b in zip([0, *at], [*at, len(raw)], strict=True)]


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[bytes], list[float]]:
    events = draw(st.lists(st.tuples(EVENT, BLANKS), min_size=1, max_size=8))
    text = "".join(
        "".join(f"{line}\n" for line in lines) + "\n" * blanks for lines, blanks in events
    )
    raw = text.encode()
    if not raw.endswith(b"\n\n"):
        raw += b"\n" if raw.endswith(b"\n") else b"\n\n"
    chunks = split_at(raw, draw(st.lists(st.integers(0, len(raw)), max_size=6)))
    return chunks, [0.1 * (i + 1) for i in range(len(chunks))]


@settings(max_examples=400, deadline=None)
@given(streams())
def test_the_fast_split_reads_lf_streams_as_the_parser_does(
    stream: tuple[list[bytes], list[float]],
) -> None:
    chunks, times = stream
    fast = plain_events(chunks, times)
    assert fast is not None  # every stream drawn here is one the fast split takes
    assert fast == list(parsed_events(chunks, times))


NAME = st.sampled_from(["message_start", "content_block_delta", "ping", "", "é:x", " lead"])


@st.composite
def anthropic_streams(draw: st.DrawFn) -> tuple[list[bytes], list[float]]:
    """Streams as Anthropic sends them: every block one `event:` and one `data:` line."""
    blocks = draw(st.lists(st.tuples(NAME, VALUE), min_size=1, max_size=10))
    raw = "".join(f"event: {name}\ndata: {value}\n\n" for name, value in blocks).encode()
    chunks = split_at(raw, draw(st.lists(st.integers(0, len(raw)), max_size=8)))
    return chunks, [0.0123456 * (i + 1) for i in range(len(chunks))]


@settings(max_examples=300, deadline=None)
@given(anthropic_streams())
def test_anthropic_blocks_are_read_whole_as_the_parser_reads_them(
    stream: tuple[list[bytes], list[float]],
) -> None:
    chunks, times = stream
    assert _common_blocks(b"".join(chunks)) is not None  # the quickest path took it
    assert plain_events(chunks, times) == list(parsed_events(chunks, times))


def test_other_streams_go_through_the_parser() -> None:
    times = [0.1, 0.2]
    assert plain_events([b"data: 1\r\n\r\n", b""], times) is None  # CR line ends
    assert plain_events([b"data: 1\n\n", b"data: 2\n"], times) is None  # cut short
    assert plain_events([b"data: \xff\n\n", b""], times) is None  # not UTF-8
    assert plain_events([b"data: 1\n\n", b"data: 2\n\n"], [0.1]) is None  # fewer times


def test_a_cut_stream_still_replays_through_the_parser() -> None:
    start = b'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":5}}}\n\n'
    outcome = from_stream([start, b"event: ping\ndata: {}"], [0.5, 0.75])
    assert [entry[1] for entry in outcome.timeline] == ["message_start", "ping"]
    assert outcome.timeline[1][0] == 750.0  # completed by the end of the stream
    assert outcome.usage == {"input_tokens": 5}
