"""Content-addressed request bodies.

Claude Code re-sends the whole conversation every turn, so a body is split into parts (system,
tools, each message), each stored once under the hash of its JSON. A small skeleton holds the
rest of the body and the part hashes; `join` rebuilds a body JSON-equal to the one received.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson

SPLIT_KEYS = ("system", "tools")
Blobs = dict[str, bytes]


def digest(data: bytes) -> str:
    # sha256 runs on SHA-NI here: 2x faster than blake2b on 300 KB bodies, and collision-resistant.
    return hashlib.sha256(data).hexdigest()[:32]


def compress(data: bytes) -> bytes:
    return zlib.compress(data, 6)


def decompress(data: bytes) -> bytes:
    return zlib.decompress(data)


def split(body: Any) -> tuple[str, Blobs]:
    """(skeleton hash, {hash: canonical JSON bytes}) for a request body."""
    parts: Blobs = {}
    skeleton: dict[str, Any] = {"keys": list(body) if isinstance(body, dict) else None}
    if not isinstance(body, dict):
        skeleton["value"] = body
    else:
        skeleton["value"] = {k: v for k, v in body.items() if k not in (*SPLIT_KEYS, "messages")}
        skeleton["refs"] = {k: _put(parts, body[k]) for k in SPLIT_KEYS if k in body}
        if isinstance(body.get("messages"), list):
            skeleton["messages"] = [_put(parts, m) for m in body["messages"]]
        elif "messages" in body:
            skeleton["value"]["messages"] = body["messages"]
    return _put(parts, skeleton), parts


def _put(parts: Blobs, value: Any) -> str:
    data = orjson.dumps(value)
    key = digest(data)
    parts[key] = data
    return key


class RecentBodies:
    """Remembers recently split whole bodies, so an identical body (a retry, a probe) costs one
    hash instead of a parse, a re-encode and a hash per part."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._seen: OrderedDict[bytes, tuple[str, list[str]]] = OrderedDict()

    def split(self, raw: bytes, body: Any) -> tuple[str, list[str], Blobs]:
        """(skeleton hash, every part's hash, parts not seen in this cache)."""
        key = hashlib.sha256(raw).digest()
        hit = self._seen.get(key)
        if hit is not None:
            self._seen.move_to_end(key)
            return hit[0], hit[1], {}
        ref, parts = split(body)
        self._seen[key] = (ref, list(parts))
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return ref, list(parts), parts

    def forget(self) -> None:
        self._seen.clear()


def join(ref: str, load: Callable[[str], bytes | None]) -> Any:
    """Rebuild a body from its skeleton hash; `load` returns a part's JSON bytes."""
    skeleton = _get(ref, load)
    if skeleton["keys"] is None:
        return skeleton["value"]
    value: dict[str, Any] = skeleton["value"]
    rebuilt = {k: _get(h, load) for k, h in skeleton.get("refs", {}).items()}
    if "messages" in skeleton:
        rebuilt["messages"] = [_get(h, load) for h in skeleton["messages"]]
    merged = {**value, **rebuilt}
    return {k: merged[k] for k in skeleton["keys"] if k in merged}


def _get(ref: str, load: Callable[[str], bytes | None]) -> Any:
    data = load(ref)
    if data is None:
        raise LookupError(f"stored body part {ref} is missing")
    return orjson.loads(data)
