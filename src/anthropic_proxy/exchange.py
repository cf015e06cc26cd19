"""The one noun: an Exchange, one client request and what came back.

`Capture` is what the hot path fills in: raw bytes, arrival times and the outcome, nothing parsed.
The recorder turns a finished Capture into a stored record, off the hot path.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final


class State(StrEnum):
    """How an exchange ended; the values are what is stored and shown."""

    PENDING = "pending"
    SUCCESS = "success"
    ERROR = "error"
    UPSTREAM_BROKEN = "upstream_broken"
    """The upstream connection broke mid-answer."""
    CLIENT_CLOSED = "client_closed"
    """The client went away while the upstream was answering normally: not a failure."""
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    """Still pending when the proxy stopped."""


STATES: Final = tuple(State)
FAILED: Final = (State.ERROR, State.TIMEOUT, State.UPSTREAM_BROKEN, State.INTERRUPTED)
"""The states that count as failures: the upstream or the proxy failed (see `record.outcome`)."""
INCOMPLETE: Final = (*FAILED, State.CLIENT_CLOSED)
"""Every final state but success: the answer did not reach the client in full."""
FAILED_SQL: Final = "(" + ", ".join(f"'{state}'" for state in FAILED) + ")"
"""FAILED as an SQL list, for `state IN {FAILED_SQL}`."""
KINDS = {
    "/v1/messages": "messages",
    "/v1/messages/count_tokens": "count_tokens",
    "/v1/models": "models",
}


class ExchangeIds:
    """Time-ordered ids, unique across instances: ms + a random per-process prefix + a counter.
    No syscall per id: on the hot path a GIL release can cost a whole switch interval."""

    def __init__(self) -> None:
        self._prefix = os.urandom(3).hex()
        self._counter = itertools.count()

    def __call__(self) -> str:
        return (
            f"ex_{int(time.time() * 1000):012x}{self._prefix}{next(self._counter) & 0xFFFFFF:06x}"
        )


def seed_status(state: str) -> str:
    """The original's record `status`: pending, success, or error for every other final state."""
    return state if state in (State.PENDING, State.SUCCESS) else "error"


def kind_of(path: str) -> str:
    return KINDS.get(path, "other")


@dataclass(slots=True, eq=False)
class Capture:
    id: str
    method: str
    path: str
    query: str
    client_addr: str
    request_headers: list[tuple[str, str]]
    """As received; a masked dict once replayed from the journal (as `state` is a plain str)."""
    request_body: bytes
    mode: str = "anthropic"
    started_at: float = field(default_factory=time.time)
    t0: float = field(default_factory=time.perf_counter)
    status: int | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    t_headers: float | None = None
    chunks: list[bytes] = field(default_factory=list)
    chunk_times: list[float] = field(default_factory=list)
    t_end: float | None = None
    state: str = State.PENDING
    """A State (a plain str once replayed from the journal)."""
    error_kind: str | None = None
    error_message: str | None = None
    truncated: bool = False
    # Translation mode: what was sent upstream, and which backend model served it.
    upstream_request: dict[str, Any] | None = None
    upstream_model: str | None = None
    upstream_status: int | None = None
    translation_changes: list[str] = field(default_factory=list)
    """What the translation dropped, clamped or rewrote (`UpstreamRequest.changes`)."""
    upstream_chunks: list[list[Any]] = field(default_factory=list)
    """The backend's raw stream, `[offset_s, text]` per chunk as read (bounded), for the detail."""
    upstream_bytes: int = 0
    """How many raw bytes the backend sent (the bound above counts them)."""
    upstream_cost_usd: float | None = None
    """The backend's own price for the exchange (OpenRouter `usage.cost`), preferred when set."""
    provider: str | None = None
    """The routing provider that served the response (None: answered by the proxy itself)."""
    attempts: list[tuple[Any, ...]] = field(default_factory=list)
    """Every upstream attempt, in order: (provider, model, key masked, status, error, started,
    ended), times in seconds since t0 (a list after a journal replay)."""
    handed_over: bool = False  # given to the recorder (exactly once)

    @property
    def kind(self) -> str:
        return kind_of(self.path)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def finish(
        self, state: State, error_kind: str | None = None, message: str | None = None
    ) -> None:
        self.t_end = time.perf_counter() - self.t0
        self.state = state
        if error_kind:
            self.error_kind, self.error_message = error_kind, message
