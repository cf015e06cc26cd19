"""A crash journal: every finished Capture is appended (one writev, no parsing) before it is
queued, so a kill -9 loses no exchange that reached the client. The writer truncates the file
once everything in it is committed to the store; on start-up whatever is left is replayed.

Headers are masked before they are written. Bodies are raw (scrubbing runs in the recorder),
but live here only until the next commit, typically milliseconds.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from anthropic_proxy.exchange import Capture
from anthropic_proxy.masking import mask_headers

log = logging.getLogger("anthropic_proxy.record")
FRAME = struct.Struct("<4sIQ")
MAGIC = b"APJ1"
META_FIELDS = (
    "id method path query client_addr mode started_at status t_headers t_end state error_kind "
    "error_message truncated upstream_model upstream_status upstream_request chunk_times "
    "translation_changes upstream_cost_usd"
).split()


ROTATE_BYTES = 64 * 1024**2


class Journal:
    """Positions are global (across rotated segments) so the writer can say 'committed up to'."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.failures = 0
        self._lock = threading.Lock()
        self._closed: list[tuple[Path, int]] = []  # rotated segments and their global end
        self._base = 0  # global position where the current file starts
        self._fd = self._open()
        self._end = 0

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)

    def append(self, capture: Capture) -> int:
        """Write one capture; returns the journal offset after it (0 if the write failed)."""
        meta = {name: getattr(capture, name) for name in META_FIELDS}
        meta["request_headers"] = list(mask_headers(capture.request_headers).items())
        meta["response_headers"] = list(mask_headers(capture.response_headers).items())
        meta["chunk_lens"] = [len(c) for c in capture.chunks]
        try:
            encoded = orjson.dumps(meta)
        except TypeError:  # an upstream request nested too deeply to encode: journal without it
            meta["upstream_request"] = None
            encoded = orjson.dumps(meta)
        size = len(capture.request_body) + sum(meta["chunk_lens"])
        parts = [
            FRAME.pack(MAGIC, len(encoded), size),
            encoded,
            capture.request_body,
            *capture.chunks,
        ]
        with self._lock:
            try:
                os.writev(self._fd, parts)
            except OSError as exc:
                self.failures += 1
                log.warning("journal write failed: %s", exc)
                return 0
            self._end += FRAME.size + len(encoded) + size
            position = self._base + self._end
            if self._end > ROTATE_BYTES:
                self._rotate()
            return position

    def _rotate(self) -> None:
        """Under sustained load the file never empties: start a new one, drop old ones later."""
        os.close(self._fd)
        closed = self.path.with_name(f"{self.path.name}.{self._base + self._end}")
        os.rename(self.path, closed)
        self._closed.append((closed, self._base + self._end))
        self._base += self._end
        self._end = 0
        self._fd = self._open()

    def committed(self, position: int) -> None:
        """Everything up to `position` is in the store: drop what the journal no longer needs."""
        with self._lock:
            while self._closed and self._closed[0][1] <= position:
                self._closed.pop(0)[0].unlink(missing_ok=True)
            if self._end and position == self._base + self._end:
                os.ftruncate(self._fd, 0)
                self._base += self._end
                self._end = 0

    def close(self) -> None:
        os.close(self._fd)


def leftovers(path: Path) -> list[Path]:
    """Journal files a previous run left behind, oldest first."""
    rotated = sorted(path.parent.glob(f"{path.name}.*"), key=lambda p: int(p.suffix[1:]))
    return [*rotated, path] if path.exists() else rotated


def replay(path: Path) -> Iterator[Capture]:
    """Captures left in one journal file by a crash; a torn last record is ignored."""
    data = path.read_bytes()
    offset = 0
    while offset + FRAME.size <= len(data):
        magic, meta_len, size = FRAME.unpack_from(data, offset)
        start = offset + FRAME.size
        if magic != MAGIC or start + meta_len + size > len(data):
            break
        meta = orjson.loads(data[start : start + meta_len])
        yield _capture(meta, data[start + meta_len : start + meta_len + size])
        offset = start + meta_len + size


def _capture(meta: dict[str, Any], payload: bytes) -> Capture:
    lens = meta.pop("chunk_lens")
    body_len = len(payload) - sum(lens)
    chunks, at = [], body_len
    for n in lens:
        chunks.append(payload[at : at + n])
        at += n
    fields = {k: meta[k] for k in META_FIELDS if k in meta}  # older journals lack newer fields
    capture = Capture(
        request_headers=[tuple(h) for h in meta["request_headers"]],
        request_body=payload[:body_len],
        **fields,
    )
    capture.response_headers = [tuple(h) for h in meta["response_headers"]]
    capture.chunks = chunks
    return capture
