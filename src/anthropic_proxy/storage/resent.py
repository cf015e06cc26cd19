"""Reading a request body without parsing what its conversation sent last turn.

Claude Code sends the whole conversation every turn as compact JSON: the very bytes `orjson`
would write (checked against Claude Code 2.1.329), so a message it re-sends is, byte for byte,
the canonical JSON the last turn's split kept (`bodies.Memo`). Parsing ~300 KB took ~850 µs
(Read results carry "→" on every line: a string with any non-ASCII character is built more
slowly), most of the recorder's cost per exchange. Here the leading messages, the system prompt
and the tools that are the last turn's bytes are cut out of the body, each replaced by a marker
string; only what is left (the new messages and the rest of the skeleton, a few KB) is parsed,
and the markers are replaced by the last turn's parsed values.

Why this is the same body: each part cut out is a whole JSON value (bytes equal to a value's
canonical JSON, followed by `,`, `]` or `}`), so it parses as that value; and each marker is
found after parsing at its own top-level place (`messages[0]`, `system`, `tools`), so the cut
was made there and not inside some nested value that happened to hold the same bytes. A body
for which any of this does not hold (another client's spacing or escapes, a new conversation)
is parsed whole, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from anthropic_proxy.storage.bodies import SPLIT_KEYS, Known, Memo, Split, Turn, split_body

MESSAGES = b'"messages":['
NEEDLE = 256  # bytes of a part's start to search for; the rest is compared where it is found
TRIES = 4  # occurrences of a needle to try before parsing the body whole
WHOLE_BELOW = 16 * 1024
"""Bodies shorter than this are parsed whole: finding and cutting costs ~30 µs of Python, what
orjson takes to parse ~12 KB (2 KB bodies: 34 µs cut, 19 µs whole)."""


def read(raw: bytes, memo: Memo, whole_below: int = WHOLE_BELOW) -> tuple[Any, Split]:
    """The body parsed, and split (`bodies.split_body`). Raises what `orjson.loads` raises on
    bytes that are not JSON, and TypeError on a body nested too deep to encode again."""
    cut = _cut(raw, memo) if len(raw) >= whole_below else None
    if cut is not None:
        body = _parse(raw, cut, memo.sentinel)
        if body is not None:
            return body, split_body(body, memo, cut.known)
    body = orjson.loads(raw)
    return body, split_body(body, memo)


@dataclass(frozen=True, slots=True)
class Cut:
    """Where the last turn's bytes lie in a body: spans (start, end, key), in order."""

    known: Known
    spans: list[tuple[int, int, str]]


def _cut(raw: bytes, memo: Memo) -> Cut | None:
    at = raw.find(MESSAGES)
    if at < 0:
        return None
    start = at + len(MESSAGES)
    for turn in memo.recent():
        count, end = _same_messages(raw, start, turn)
        if count:
            spans = [(start, end, "messages")]
            fixed = [k for k in SPLIT_KEYS if k in turn.fixed and _place(raw, k, turn, spans)]
            spans.sort()
            return Cut(Known(turn, count, frozenset(fixed)), spans)
    return None


def _same_messages(raw: bytes, start: int, turn: Turn) -> tuple[int, int]:
    """How many of the turn's messages the array at `start` begins with, and where they end."""
    count, pos, end = 0, start, start
    for data, _, _ in turn.links:
        after = pos + len(data)
        if after >= len(raw) or raw[after] not in b",]" or not raw.startswith(data, pos):
            break
        count, end = count + 1, after
        if raw[after] == 0x5D:  # "]": the array ends here
            break
        pos = after + 1
    return count, end


def _place(raw: bytes, key: str, turn: Turn, spans: list[tuple[int, int, str]]) -> bool:
    """Find the turn's `key` value in `raw` outside the spans found so far; add its span. It
    is looked for after the messages first: Claude Code sends system and tools after them, and
    a search from the start would read all the messages the last turn sent (~20 µs)."""
    data = turn.fixed[key][0]
    label = b'"' + key.encode() + b'":'
    needle = label + data[:NEEDLE]
    for lo, hi in ((spans[0][1], len(raw)), (0, spans[0][0])):
        pos = lo
        for _ in range(TRIES):
            at = raw.find(needle, pos, hi)
            if at < 0:
                break
            begin, end = at + len(label), at + len(label) + len(data)
            clear = all(end <= a or begin >= b for a, b, _ in spans)
            if clear and raw.startswith(data, begin) and raw[end : end + 1] in (b",", b"}"):
                spans.append((begin, end, key))
                return True
            pos = at + 1
    return False


def _parse(raw: bytes, cut: Cut, sentinel: str) -> dict[str, Any] | None:
    pieces, pos = [], 0
    for begin, end, key in cut.spans:
        pieces += [raw[pos:begin], b'"' + (sentinel + key).encode() + b'"']
        pos = end
    pieces.append(raw[pos:])
    try:
        body = orjson.loads(b"".join(pieces))
    except orjson.JSONDecodeError:  # spans that overlap: parsing the body whole tells
        return None
    if type(body) is not dict:
        return None
    turn = cut.known.turn
    messages = body.get("messages")
    if type(messages) is not list or not messages or messages[0] != sentinel + "messages":
        return None
    for key in cut.known.fixed:
        if body.get(key) != sentinel + key:
            return None
        body[key] = turn.values[key]
    body["messages"] = [*turn.messages[: cut.known.messages], *messages[1:]]
    return body
