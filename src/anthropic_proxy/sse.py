"""Incremental Server-Sent Events parsing and encoding, shared by the recorder and the translator.

The parser takes bytes as they arrive (split anywhere, including inside a UTF-8 character or a
CRLF) and yields complete events.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass

import orjson


@dataclass(slots=True)
class Event:
    event: str
    data: str
    size: int


class SSEParser:
    """Feed bytes, get events. Comments (':' lines) are skipped; data lines are joined with '\\n'."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._event = ""
        self._data: list[str] = []
        self._size = 0

    def feed(self, chunk: bytes) -> Iterator[Event]:
        self._buffer += self._decoder.decode(chunk)
        yield from self._drain()

    def close(self) -> Iterator[Event]:
        self._buffer += self._decoder.decode(b"", final=True)
        if self._buffer.endswith("\r"):  # a final lone CR ends its line (same length as LF)
            self._buffer = self._buffer[:-1] + "\n"
        elif self._buffer:  # an unterminated last line: end it, without counting the end
            self._buffer += "\n"
            self._size -= 1
        yield from self._drain()
        if self._data or self._event:
            yield from self._dispatch()

    def _drain(self) -> Iterator[Event]:
        while True:
            line, ending = self._next_line()
            if not ending:
                return
            self._size += len(line.encode()) + ending
            if line:
                self._field(line)
            elif self._data or self._event:
                yield from self._dispatch()

    def _next_line(self) -> tuple[str, int]:
        """The next complete line and the length of its terminator (0: no complete line yet)."""
        buf = self._buffer
        cut = buf.find("\n")
        cr = buf.find("\r", 0, cut if cut >= 0 else len(buf))
        if cr >= 0 and (cr + 1 < len(buf) or cut >= 0):
            ending = 2 if buf[cr + 1 : cr + 2] == "\n" else 1
            self._buffer = buf[cr + ending :]
            return buf[:cr], ending
        if cut < 0:
            return "", 0
        self._buffer = buf[cut + 1 :]
        return buf[:cut], 1

    def _field(self, line: str) -> None:
        if line.startswith(":"):
            return
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)

    def _dispatch(self) -> Iterator[Event]:
        event = Event(self._event or "message", "\n".join(self._data), self._size)
        self._event, self._data, self._size = "", [], 0
        yield event


def encode(event: str, data: object) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
