"""The compressed export's format: lossless, incremental deduplication across exchanges.

Claude Code re-sends the whole conversation every turn, so consecutive exchanges share most of
their JSON. `Deduper.encode` walks each record; every string, list or object whose JSON is at
least `min_bytes` long and was seen before (in this record or an earlier one) is replaced by
`{"$ref": n}`. Values are numbered in the order their encoding *finishes* (post-order), which a
decoder can replay exactly because it decodes in the same order. An original object that would
read as a marker (its only key is "$ref" or "$esc") is written as `{"$esc": {...}}`.

File layout, one JSON document per line (records oldest first, so later turns point back):

    {"type": "header", "format": "anthropic-proxy-dedup", "version": 1, "minBytes": 64, ...}
    {"type": "record", "value": <encoded exchange>}
    ...
    {"type": "footer", "records": n, "compressionInfo": {...}}

`restore(lines)` yields each record as the plain JSONL export writes it (`orjson.dumps(record)`
plus a newline), byte for byte. Values are identified by a 128-bit BLAKE2b digest of their JSON.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

FORMAT = "anthropic-proxy-dedup"
VERSION = 1
MIN_BYTES = 64
MARKERS = ("$ref", "$esc")


def _key(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def _is_marker(value: dict[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)) in MARKERS


class Deduper:
    """Encodes records one after another; `stats` follows the seed's compressionInfo keys."""

    def __init__(self, min_bytes: int = MIN_BYTES) -> None:
        self.min_bytes = min_bytes
        self._ids: dict[bytes, tuple[int, int]] = {}
        self.original_fields = 0
        self.removed_fields = 0

    def encode(self, value: Any) -> Any:
        encoded, leaves = self._encode(value)
        self.original_fields += leaves
        return encoded

    def _encode(self, value: Any) -> tuple[Any, int]:
        """(encoded value, leaf count of the original value)."""
        if not isinstance(value, dict | list | str):
            return value, 1
        data = orjson.dumps(value)
        if len(data) < self.min_bytes:
            return self._children(value)
        key = _key(data)
        seen = self._ids.get(key)
        if seen is not None:
            self.removed_fields += seen[1]
            return {"$ref": seen[0]}, seen[1]
        encoded, leaves = self._children(value)
        self._ids[key] = (len(self._ids), leaves)
        return encoded, leaves

    def _children(self, value: Any) -> tuple[Any, int]:
        if isinstance(value, list):
            items = [self._encode(v) for v in value]
            return [p[0] for p in items], sum(p[1] for p in items)
        if isinstance(value, dict):
            fields = {k: self._encode(v) for k, v in value.items()}
            encoded = {k: p[0] for k, p in fields.items()}
            leaves = sum(p[1] for p in fields.values())
            return ({"$esc": encoded} if _is_marker(value) else encoded), leaves
        return value, 1

    def stats(self) -> dict[str, Any]:
        removed, original = self.removed_fields, self.original_fields
        return {
            "originalFields": original,
            "removedFields": removed,
            "uniqueFields": original - removed,
            "excludedFields": 0,
            "compressionRatio": round(100 * removed / original, 2) if original else 0.0,
            "distinctValues": len(self._ids),
        }


class Restorer:
    """Decodes records in file order; the inverse of `Deduper.encode`."""

    def __init__(self, min_bytes: int = MIN_BYTES) -> None:
        self.min_bytes = min_bytes
        self._values: list[Any] = []

    def decode(self, value: Any) -> Any:
        if isinstance(value, dict) and _is_marker(value):
            if "$ref" in value:
                return self._values[value["$ref"]]
            decoded: Any = {k: self.decode(v) for k, v in value["$esc"].items()}
        elif isinstance(value, dict):
            decoded = {k: self.decode(v) for k, v in value.items()}
        elif isinstance(value, list):
            decoded = [self.decode(v) for v in value]
        else:
            decoded = value
        if isinstance(decoded, dict | list | str) and len(orjson.dumps(decoded)) >= self.min_bytes:
            self._values.append(decoded)
        return decoded


def restore(lines: Iterable[bytes]) -> Iterator[bytes]:
    """Compressed export lines -> plain JSONL export lines, identical bytes."""
    restorer: Restorer | None = None
    for line in lines:
        if not line.strip():
            continue
        doc = orjson.loads(line)
        if doc.get("type") == "header":
            if doc.get("format") != FORMAT or doc.get("version") != VERSION:
                raise ValueError(f"not a {FORMAT} v{VERSION} file")
            restorer = Restorer(int(doc.get("minBytes", MIN_BYTES)))
        elif doc.get("type") == "record":
            if restorer is None:
                raise ValueError("record before header")
            yield orjson.dumps(restorer.decode(doc["value"])) + b"\n"
