"""The proxy's side of recording: captures go into the journal, reports come back.

`finish` appends the capture to the journal (one writev) and returns; the recorder (its own
process, see `record.process`) reads the journal, writes the store and reports each batch, which
deletes the journal's committed segments and feeds the listeners (live view, metrics, budgets,
traces) on the event loop. The journal is the queue: its backlog is bounded by count and bytes,
and beyond that records are dropped and counted, never waited for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from anthropic_proxy.exchange import Capture
from anthropic_proxy.record.journal import Journal
from anthropic_proxy.record.process import Runner
from anthropic_proxy.record.writer import Report
from anthropic_proxy.storage import Row

log = logging.getLogger("anthropic_proxy.record")
PENDING_AFTER_S = 1.0  # exchanges running longer get a 'pending' row, for the live view
ANNOUNCE_EVERY_S = 0.25
RESTART_AFTER_S = 1.0

Listener = Callable[[Sequence[Row]], None]


class Recorder:
    """`begin`/`finish` never block and never raise: over budget means dropped and counted."""

    def __init__(self, journal: Journal, *, size: int, max_queued_bytes: int) -> None:
        self.journal = journal
        self.max_queued = size
        self.max_queued_bytes = max_queued_bytes
        self.dropped = 0
        self.failed_writes = 0
        self.written = 0
        self.restarts = 0
        self._appended = 0
        self._consumed = 0
        self._committed = journal.end
        # Running exchanges not yet in the journal, oldest first; most finish before they are due.
        self._waiting: dict[str, Capture] = {}
        self._announced: set[str] = set()
        self._listeners: list[Listener] = []
        self.runner: Runner | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._stopping = False

    @property
    def depth(self) -> int:
        """Journal records the recorder has not reported yet."""
        return self._appended - self._consumed

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def start(self, runner: Runner) -> None:
        self.runner = runner
        runner.start(self._committed)
        self._timer = asyncio.get_running_loop().call_later(ANNOUNCE_EVERY_S, self._announce)

    async def stop(self) -> None:
        """Journal what still runs, let the recorder drain the journal, then stop it."""
        self._stopping = True
        if self._timer is not None:
            self._timer.cancel()
        self._announce(until=float("inf"))
        if self.runner is not None:
            await self.runner.stop()

    def begin(self, capture: Capture) -> None:
        self._waiting[capture.id] = capture

    def finish(self, capture: Capture) -> None:
        capture.handed_over = True
        self._waiting.pop(capture.id, None)
        announced = capture.id in self._announced
        self._announced.discard(capture.id)
        if self._over_budget(capture):
            if not announced:
                self.dropped += 1
                return
            # Its pending row exists: close it, without the bodies there is no room for.
            capture = replace(capture, request_body=b"", chunks=[], truncated=True)
        if not self._append(capture, "finish"):
            self.dropped += 1

    def _over_budget(self, capture: Capture) -> bool:
        if self.depth >= self.max_queued:
            return True
        size = len(capture.request_body) + sum(map(len, capture.chunks))
        return self.journal.end - self._committed + size > self.max_queued_bytes

    def _append(self, capture: Capture, kind: str) -> bool:
        if not self.journal.append(capture, kind):
            return False
        self._appended += 1
        return True

    def _announce(self, until: float | None = None) -> None:
        """Exchanges running for PENDING_AFTER_S get a 'begin' record: a pending row, live."""
        due = time.perf_counter() - PENDING_AFTER_S if until is None else until
        while self._waiting:
            capture = next(iter(self._waiting.values()))
            if capture.t0 > due:
                break
            del self._waiting[capture.id]
            if not self._over_budget(capture) and self._append(capture, "begin"):
                self._announced.add(capture.id)
        if not self._stopping:
            self._timer = asyncio.get_running_loop().call_later(ANNOUNCE_EVERY_S, self._announce)

    def on_report(self, report: Report) -> None:
        self._consumed += report.consumed
        self.written += report.written
        self.failed_writes += report.failed
        self._committed = report.position
        # Even after a failed write: the journal must not grow while the store is broken.
        self.journal.committed(report.position)
        if report.rows:
            for listener in self._listeners:
                try:
                    listener(report.rows)
                except Exception:
                    log.exception("a recorder listener failed")

    def on_exit(self, code: int | None) -> None:
        """The recorder process died: start another where the last one's reports ended."""
        if self._stopping or self.runner is None:
            return
        self.restarts += 1
        log.error(
            "the recorder process exited (code %s); restarting it at journal position %d",
            code,
            self._committed,
        )
        runner = self.runner
        asyncio.get_running_loop().call_later(RESTART_AFTER_S, runner.start, self._committed)
