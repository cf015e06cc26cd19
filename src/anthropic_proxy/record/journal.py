"""The crash journal, which is also the recorder's queue.

The proxy appends every finished Capture (one writev, no parsing) before the client can see the
response complete, so a kill -9 loses no exchange that reached the client. The recorder reads the
journal back, writes the store, and reports how far it got; segments wholly committed are
deleted. On start-up whatever is left is replayed.

Positions are global byte offsets across segments; a segment is named by the position it starts
at, so a reader at the end of one segment knows the name of the next. Headers are masked before
they are written. Bodies are raw (scrubbing runs in the recorder) and live here only until they
are committed, typically milliseconds.
"""

from __future__ import annotations

import logging
import os
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from anthropic_proxy.exchange import Capture
from anthropic_proxy.masking import mask_headers

log = logging.getLogger("anthropic_proxy.record")
FRAME = struct.Struct("<4sIQ")
MAGIC = b"APJ1"
# Interned: they become a replayed Capture's keyword arguments, and names that are not the very
# objects of its parameters' names are matched by comparing strings, each against each (a split
# string is a new object): 7.5 -> 3.8 µs to build a Capture.
META_FIELDS = tuple(
    map(
        sys.intern,
        (
            "id method path query client_addr mode started_at status t_headers t_end state "
            "error_kind error_message truncated upstream_model upstream_status upstream_request "
            "chunk_times translation_changes upstream_cost_usd provider attempts upstream_chunks"
        ).split(),
    )
)
ROTATE_BYTES = 64 * 1024**2
READ_BYTES = 4 * 1024**2
PREFIX, SUFFIX = "journal-", ".bin"


@dataclass(frozen=True, slots=True)
class Entry:
    """One journal record: 'begin' (still running after a while) or 'finish'."""

    kind: str
    capture: Capture
    end: int  # global position just after it


def segment(directory: Path, start: int) -> Path:
    return directory / f"{PREFIX}{start:016d}{SUFFIX}"


class Journal:
    """The appending side. Used from the event loop only."""

    def __init__(self, directory: Path, start: int = 0) -> None:
        self.directory = directory
        self.failures = 0
        self._closed: list[tuple[Path, int]] = []  # earlier segments and their global end
        self._start = start  # global position where the current segment starts
        self._size = 0
        self._fd = self._open()

    @property
    def end(self) -> int:
        return self._start + self._size

    def _open(self) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC
        return os.open(segment(self.directory, self._start), flags, 0o600)

    def append(self, capture: Capture, kind: str = "finish") -> int:
        """Write one record; returns the global position after it (0 if the write failed)."""
        parts = frame(capture, kind)
        try:
            written = os.writev(self._fd, parts)
            if written != sum(map(len, parts)):  # a disk full part-way: no torn frame stays
                os.ftruncate(self._fd, self._size)
                raise OSError(f"short write ({written} bytes)")
        except OSError as exc:
            self.failures += 1
            log.warning("journal write failed: %s", exc)
            return 0
        self._size += written
        if self._size > ROTATE_BYTES:
            self._rotate()  # under sustained load the segment never empties
        return self.end

    def _rotate(self) -> None:
        os.close(self._fd)
        self._closed.append((segment(self.directory, self._start), self.end))
        self._start, self._size = self.end, 0
        self._fd = self._open()

    def committed(self, position: int) -> None:
        """Everything before `position` is in the store: delete the segments that hold only that.
        When the reader has caught up, the current segment is replaced by an empty one."""
        while self._closed and self._closed[0][1] <= position:
            self._closed.pop(0)[0].unlink(missing_ok=True)
        if self._size and position == self.end:
            old = segment(self.directory, self._start)
            self._rotate()
            self._closed.pop()
            old.unlink(missing_ok=True)

    def close(self) -> None:
        os.close(self._fd)


def frame(capture: Capture, kind: str) -> list[bytes]:
    chunks = capture.chunks if kind == "finish" else []  # a begin: the request is what matters
    meta = {name: getattr(capture, name) for name in META_FIELDS}
    meta["entry"] = kind
    # Objects, not [name, value] pairs: a dict decodes as one object where pairs made a list
    # each (~9% of reading an entry back), and the writer wants a dict anyway.
    meta["request_headers"] = mask_headers(capture.request_headers)
    meta["response_headers"] = mask_headers(capture.response_headers)
    meta["chunk_lens"] = [len(c) for c in chunks]
    meta["chunk_times"] = meta["chunk_times"] if chunks else []
    try:
        encoded = orjson.dumps(meta)
    except TypeError:  # an upstream request nested too deeply to encode: journal without it
        meta["upstream_request"] = None
        encoded = orjson.dumps(meta)
    size = len(capture.request_body) + sum(meta["chunk_lens"])
    return [FRAME.pack(MAGIC, len(encoded), size), encoded, capture.request_body, *chunks]


class Reader:
    """The consuming side: follows the segments from a position, frame by frame. A frame still
    being written (torn) is left for the next read."""

    def __init__(self, directory: Path, position: int) -> None:
        self.directory = directory
        self.position = position  # of the first byte in self._buffer
        self._buffer = b""
        start = max((s for s in _starts(directory) if s <= position), default=position)
        self._fd = os.open(segment(directory, start), os.O_RDONLY)
        os.lseek(self._fd, position - start, os.SEEK_SET)

    def read(self, max_items: int, max_bytes: int) -> list[Entry]:
        """Up to max_items records or about max_bytes of them, oldest first."""
        entries: list[Entry] = []
        offset = taken = 0
        while len(entries) < max_items and taken + offset < max_bytes:
            parsed = _parse(self._buffer, offset)
            if parsed is None:
                self._advance(offset)
                taken, offset = taken + offset, 0
                if not self._fill():
                    break
                continue
            meta, start, offset = parsed
            kind = meta.pop("entry", "finish")
            capture = _capture(meta, self._buffer, start, offset)
            entries.append(Entry(kind, capture, self.position + offset))
        self._advance(offset)
        return entries

    def _advance(self, consumed: int) -> None:
        self._buffer = self._buffer[consumed:]
        self.position += consumed

    def behind(self) -> bool:
        """More is written than read (in this segment)."""
        offset = os.lseek(self._fd, 0, os.SEEK_CUR)
        return bool(self._buffer) or os.fstat(self._fd).st_size > offset

    def _fill(self) -> bool:
        """Append what there is to read; False if there was nothing."""
        data = os.read(self._fd, READ_BYTES)
        if not data and not self._buffer and self._next_segment():
            data = os.read(self._fd, READ_BYTES)
        self._buffer += data
        return bool(data)

    def _next_segment(self) -> bool:
        """At the end of a segment: the writer rotated here if the next one exists."""
        try:
            fd = os.open(segment(self.directory, self.position), os.O_RDONLY)
        except FileNotFoundError:
            return False
        os.close(self._fd)
        self._fd = fd
        return True

    def close(self) -> None:
        os.close(self._fd)


def _parse(data: bytes, offset: int) -> tuple[dict[str, Any], int, int] | None:
    """The frame at `offset`: its metadata, where its bodies start and where it ends."""
    if offset + FRAME.size > len(data):
        return None
    magic, meta_len, size = FRAME.unpack_from(data, offset)
    start = offset + FRAME.size
    if magic != MAGIC or start + meta_len + size > len(data):
        return None
    meta = orjson.loads(memoryview(data)[start : start + meta_len])
    return meta, start + meta_len, start + meta_len + size


def _starts(directory: Path) -> list[int]:
    return sorted(int(p.name[len(PREFIX) : -len(SUFFIX)]) for p in leftovers(directory))


def leftovers(directory: Path) -> list[Path]:
    """Journal segments a previous run left behind, oldest first."""
    return sorted(directory.glob(f"{PREFIX}*{SUFFIX}"))


def replay(path: Path) -> Iterator[Entry]:
    """The records left in one segment by a crash; a torn last record is ignored."""
    data = path.read_bytes()
    offset = 0
    while parsed := _parse(data, offset):
        meta, start, offset = parsed
        yield Entry(meta.pop("entry", "finish"), _capture(meta, data, start, offset), offset)


def _capture(meta: dict[str, Any], data: bytes, start: int, end: int) -> Capture:
    """The Capture of a frame whose bodies are data[start:end], each sliced out once (a 300 KB
    request body was copied twice, as the frame's payload and then as the body)."""
    lens = meta.pop("chunk_lens")
    at = end - sum(lens)
    body = data[start:at]
    chunks = []
    for n in lens:
        chunks.append(data[at : at + n])
        at += n
    fields = {k: meta[k] for k in META_FIELDS if k in meta}  # older journals lack newer fields
    # Headers are the masked dict as journaled ([name, value] pairs in older journals).
    return Capture(
        request_headers=meta["request_headers"],
        request_body=body,
        response_headers=meta["response_headers"],
        chunks=chunks,
        **fields,
    )
