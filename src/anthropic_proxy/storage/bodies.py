"""Content-addressed request bodies.

Claude Code re-sends the whole conversation every turn, so a body is split into parts (system,
tools, each message), each stored once under the hash of its JSON. The messages form a chain of
nodes, (parent node, message), each addressed by the hash of that pair, so turn t adds only its
new messages' nodes and the skeleton names one node, the tip, instead of all t messages: what is
stored per exchange stays constant however long the conversation grows (a list of t hashes per
turn grew with the square of the turns). A small skeleton holds the rest of the body and the
refs; `join` rebuilds a body JSON-equal to the one received. Skeletons written before the chain
list their message hashes instead, and still join.
"""

from __future__ import annotations

import hashlib
import secrets
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import zstandard

from anthropic_proxy.storage import Node

SPLIT_KEYS = ("system", "tools")
NOT_IN_SKELETON = frozenset({*SPLIT_KEYS, "messages"})
Blobs = dict[str, bytes]
Load = Callable[[str], bytes | None]


@dataclass(frozen=True, slots=True)
class Split:
    """A request body taken apart: its skeleton's hash, the parts it references directly
    (skeleton, system, tools: what keeps them alive), the chain's tip, the chain's nodes (root
    first) and every part's canonical JSON."""

    ref: str
    refs: list[str]
    tip: str | None
    nodes: list[Node]
    parts: Blobs


def digest(data: bytes) -> str:
    # sha256 runs on SHA-NI here: 2x faster than blake2b on 300 KB bodies, and collision-resistant.
    return hashlib.sha256(data).hexdigest()[:32]


RAW_BELOW = 512
"""Parts shorter than this are stored as they are: compressing saves a hundred bytes at most
(most skeletons, short turns, tool calls)."""
ZLIB = 0x78  # the first byte of every zlib stream parts were written with before zstd
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # every zstd frame's first four bytes ("(\xb5/\xfd")
PART_LEVEL = 3


class Compressor:
    """Compresses parts with one zstd context, made once: zlib allocated and set up its state
    for every part (~6 µs before the first byte; 8.8 vs 4.5 µs on a 600-byte message). One per
    store, used by its single writer under the store's lock: a zstd context must not be used by
    two threads at once."""

    def __init__(self) -> None:
        self._zstd = zstandard.ZstdCompressor(level=PART_LEVEL, write_checksum=False)

    def __call__(self, data: bytes) -> bytes:
        return data if len(data) < RAW_BELOW else self._zstd.compress(data)


def decompress(data: bytes) -> bytes:
    """A part as stored: a zstd frame, zlib data (older parts), or JSON kept as it is (JSON
    never starts with `(` or `x`)."""
    if data[:4] == ZSTD_MAGIC:
        return zstandard.ZstdDecompressor().decompress(data)
    return zlib.decompress(data) if data[:1] == bytes([ZLIB]) else data


def split(body: Any) -> tuple[str, Blobs]:
    """(skeleton hash, {hash: canonical JSON bytes}) for a request body, nodes included as
    parts (`node_json`), so `join(ref, parts.get)` rebuilds it."""
    s = split_body(body)
    return s.ref, {**s.parts, **{h: node_json(p, m) for h, p, m in s.nodes}}


Link = tuple[bytes, str, str]
"""A message as split: its canonical JSON, its part hash, its node's hash."""


@dataclass
class Turn:
    """What one request of a conversation split into, kept for its next turn (`Memo`): the
    parsed values too, so a next turn read from its bytes (`storage.resent`) need not parse what
    it re-sends."""

    fixed: dict[str, tuple[bytes, str]]  # system, tools: their JSON and hash
    links: list[Link]
    values: dict[str, Any]  # system, tools as parsed
    messages: list[Any]  # the messages as parsed, cache marks taken out (what `links` encode)


@dataclass(frozen=True, slots=True)
class Known:
    """What a body read from its bytes took from its conversation's last turn, unparsed: its
    first `messages` messages and the `fixed` parts (system, tools) are `turn`'s."""

    turn: Turn
    messages: int
    fixed: frozenset[str]


class Memo:
    """Hashes of what the latest turns of recent conversations sent, by their first message.
    Claude Code sends the whole conversation again every turn: hashing its ~300 KB again took
    ~250 µs a turn. A part whose JSON is the very bytes its place held in the conversation's
    previous turn takes that hash (comparing the bytes: ~6 µs for all of them); the first part
    that differs, and every message after it, is hashed. A hash of the same bytes never goes
    stale: nothing here needs forgetting when the store changes. It holds one turn per
    conversation, encoded and parsed (the parsed objects are shared with the bodies that hold
    them), `size` of them: ~10 MB of JSON for 32 conversations of 300 KB, and their objects."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._turns: OrderedDict[bytes, Turn] = OrderedDict()
        # Marks the values `storage.resent` leaves out of a body it parses: random per memo, so
        # no body a client sends can hold it by chance.
        self.sentinel = secrets.token_hex(16)

    def last(self, first: bytes) -> Turn | None:
        return self._turns.get(first)

    def recent(self) -> Iterator[Turn]:
        """The turns, most recent first."""
        return reversed(self._turns.values())

    def remember(self, first: bytes, turn: Turn) -> None:
        self._turns[first] = turn
        self._turns.move_to_end(first)
        if len(self._turns) > self.size:
            self._turns.popitem(last=False)


def split_body(body: Any, memo: Memo | None = None, known: Known | None = None) -> Split:
    """`body` split into parts; with `memo`, what its conversation's last turn sent at the same
    places takes that turn's hashes; with `known` (`storage.resent`), the messages and parts it
    names are that turn's without a look."""
    parts: Blobs = {}
    nodes: list[Node] = []
    skeleton: dict[str, Any] = {"keys": list(body) if isinstance(body, dict) else None}
    if not isinstance(body, dict):
        skeleton["value"] = body
    else:
        skeleton["value"] = {k: v for k, v in body.items() if k not in NOT_IN_SKELETON}
        messages = body.get("messages")
        marks: list[list[Any]] = []
        start = known.messages if known is not None else 0
        stripped, encoded = (
            _encoded(messages, start, marks) if isinstance(messages, list) else ([], [])
        )
        last = known.turn if known is not None else None
        first = last.links[0][0] if last is not None and start else encoded[0] if encoded else b""
        if last is None and memo is not None and first:
            last = memo.last(first)
        fixed = {k: _fixed(parts, k, body[k], last, known) for k in SPLIT_KEYS if k in body}
        skeleton["refs"] = {k: h for k, (_, h) in fixed.items()}
        if isinstance(messages, list):
            reused = last.links[:start] if last is not None else []
            links = _chain(parts, nodes, reused, encoded, last.links if last is not None else [])
            skeleton["tip"] = links[-1][2] if links else None
            skeleton["n"] = len(nodes)
            if marks:
                skeleton["cache_marks"] = marks
            if memo is not None and first:
                kept = last.messages[:start] if last is not None else []
                values = {k: body[k] for k in fixed}
                memo.remember(first, Turn(fixed, links, values, kept + stripped))
        elif "messages" in body:
            skeleton["value"]["messages"] = messages
    ref = _put(parts, skeleton)
    direct = [ref, *skeleton.get("refs", {}).values()]
    return Split(ref, direct, skeleton.get("tip"), nodes, parts)


def _encoded(
    messages: list[Any], start: int, marks: list[list[Any]]
) -> tuple[list[Any], list[bytes]]:
    """The messages from `start` on, their blocks' cache marks taken out (noted in `marks`), as
    objects and as canonical JSON."""
    stripped, out = [], []
    for i in range(start, len(messages)):
        message = messages[i]
        if _has_cache_marks(message):
            message = _without_cache_marks(message, i, marks)
        stripped.append(message)
        out.append(orjson.dumps(message))
    return stripped, out


def _fixed(
    parts: Blobs, key: str, value: Any, last: Turn | None, known: Known | None
) -> tuple[bytes, str]:
    """System or tools as a part: its JSON and hash (the last turn's hash for the same bytes)."""
    if known is not None and key in known.fixed:
        data, h = known.turn.fixed[key]
        parts[h] = data
        return data, h
    data = orjson.dumps(value)
    for seen, h in last.fixed.values() if last is not None else ():
        if seen == data:
            parts[h] = data
            return data, h
    return data, _store(parts, data)


def _chain(
    parts: Blobs, nodes: list[Node], reused: list[Link], encoded: list[bytes], last: list[Link]
) -> list[Link]:
    """The messages as parts and as a chain of nodes, root first: first the `reused` links of
    the last turn, then the `encoded` messages. While those are the bytes the last turn sent at
    the same places, its hashes are taken; from the first that differs on, each is hashed."""
    links = list(reused)
    parts.update({m: data for data, m, _ in reused})
    parent: str | None = None
    for _, m, node in reused:
        nodes.append((node, parent, m))
        parent = node
    same = True
    for i, data in enumerate(encoded, len(reused)):
        if same and i < len(last) and last[i][0] == data:
            _, m, node = last[i]
            parts[m] = data
        else:
            same = False
            m = _store(parts, data)
            node = digest(f"{parent or ''}:{m}".encode())
        nodes.append((node, parent, m))
        links.append((data, m, node))
        parent = node
    return links


def _has_cache_marks(message: Any) -> bool:
    """A look at the blocks, not the bytes: scanning each message's JSON for the key took
    ~115 µs on a 300 KB body."""
    content = message.get("content") if isinstance(message, dict) else None
    return isinstance(content, list) and any(
        isinstance(b, dict) and "cache_control" in b for b in content
    )


def _without_cache_marks(message: Any, index: int, marks: list[list[Any]]) -> Any:
    """The message, which has some (`_has_cache_marks`), with its blocks' `cache_control` taken
    out (noted in `marks` as [message, block, value]). Claude Code moves its cache breakpoint to
    the newest message every turn, so the message before it changes by that one key: without
    it, each message is stored once."""
    blocks = []
    for j, block in enumerate(message["content"]):
        if isinstance(block, dict) and "cache_control" in block:
            marks.append([index, j, block["cache_control"]])
            block = {k: v for k, v in block.items() if k != "cache_control"}
        blocks.append(block)
    return {**message, "content": blocks}


def node_json(parent: str | None, message: str) -> bytes:
    """A node as a part, for stores and callers that address nodes like parts."""
    return orjson.dumps({"parent": parent, "message": message})


def _put(parts: Blobs, value: Any) -> str:
    return _store(parts, orjson.dumps(value))


def _store(parts: Blobs, data: bytes) -> str:
    key = digest(data)
    parts[key] = data
    return key


def join(ref: str, load: Load) -> Any:
    """Rebuild a body from its skeleton hash; `load` returns a part's (or node's) JSON bytes."""
    skeleton = _get(ref, load)
    if skeleton["keys"] is None:
        return skeleton["value"]
    value: dict[str, Any] = skeleton["value"]
    rebuilt = {k: _get(h, load) for k, h in skeleton.get("refs", {}).items()}
    if "messages" in skeleton or "tip" in skeleton:
        rebuilt["messages"] = [_get(h, load) for h in message_refs(skeleton, load)]
        for i, j, mark in skeleton.get("cache_marks", ()):
            rebuilt["messages"][i]["content"][j]["cache_control"] = mark
    merged = {**value, **rebuilt}
    return {k: merged[k] for k in skeleton["keys"] if k in merged}


def message_refs(
    skeleton: dict[str, Any], load: Load, memo: dict[str, list[str]] | None = None
) -> list[str]:
    """The message part hashes of a skeleton, in order (walking the chain from its tip). With
    `memo`, chains already walked (a session's earlier turns) are not walked again."""
    if "messages" in skeleton:
        return list(skeleton["messages"])
    tail: list[str] = []
    node, walked = skeleton.get("tip"), []
    while node is not None and (memo is None or node not in memo):
        entry = _get(node, load)
        tail.append(entry["message"])
        walked.append(node)
        node = entry["parent"]
    out = [*(memo[node] if memo is not None and node is not None else []), *reversed(tail)]
    if memo is not None and walked:
        memo[walked[0]] = out
    return out


def _get(ref: str, load: Load) -> Any:
    data = load(ref)
    if data is None:
        raise LookupError(f"stored body part {ref} is missing")
    return orjson.loads(data)
