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
import zlib
from collections.abc import Callable
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


def split_body(body: Any) -> Split:
    parts: Blobs = {}
    nodes: list[Node] = []
    skeleton: dict[str, Any] = {"keys": list(body) if isinstance(body, dict) else None}
    if not isinstance(body, dict):
        skeleton["value"] = body
    else:
        skeleton["value"] = {k: v for k, v in body.items() if k not in NOT_IN_SKELETON}
        skeleton["refs"] = {k: _put(parts, body[k]) for k in SPLIT_KEYS if k in body}
        if isinstance(body.get("messages"), list):
            parent = None
            marks: list[list[Any]] = []
            for i, message in enumerate(body["messages"]):
                data = orjson.dumps(message)
                if b'"cache_control"' in data:  # a cheap look first: most messages have none
                    data = orjson.dumps(_without_cache_marks(message, i, marks))
                m = _store(parts, data)
                parent = digest(f"{parent or ''}:{m}".encode())
                nodes.append((parent, nodes[-1][0] if nodes else None, m))
            skeleton["tip"] = parent
            skeleton["n"] = len(nodes)
            if marks:
                skeleton["cache_marks"] = marks
        elif "messages" in body:
            skeleton["value"]["messages"] = body["messages"]
    ref = _put(parts, skeleton)
    direct = [ref, *skeleton.get("refs", {}).values()]
    return Split(ref, direct, skeleton.get("tip"), nodes, parts)


def _without_cache_marks(message: Any, index: int, marks: list[list[Any]]) -> Any:
    """The message with its blocks' `cache_control` taken out (noted in `marks` as [message,
    block, value]). Claude Code moves its cache breakpoint to the newest message every turn,
    so the message before it changes by that one key: without it, each message is stored once."""
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list) or not any(
        isinstance(b, dict) and "cache_control" in b for b in content
    ):
        return message
    blocks = []
    for j, block in enumerate(content):
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
