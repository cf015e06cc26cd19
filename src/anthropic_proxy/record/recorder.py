"""The proxy's side of recording: captures go into the journal, reports come back.

`finish` appends the capture to the journal (one writev) and returns; the recorder (its own
process, see `record.process`) reads the journal, writes the store and reports each batch, which
deletes the journal's committed segments and feeds the listeners (live view, metrics, budgets,
traces) on the event loop. The journal is the queue, on disk: under a burst the recorder falls
behind and catches up later, and the proxy's memory does not grow with the backlog. Records
are dropped only beyond the backlog's size limit (RECORD_QUEUE_BYTES, a few GB) or when the
disk is nearly full: counted, logged and shown, never waited for.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
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
MARK_EVERY_S = 0.1  # the backlog's age is known to this precision
DROP_LOG_EVERY_S = 10.0
DISK_CHECK_EVERY_S = 1.0
ROWS_PER_TURN = 32
"""Rows handed to the listeners per turn of the event loop. A whole report (up to 512 rows) at
once held the loop for 20-30 ms while the recorder caught up (metrics, live view, budgets,
traces per row): every stream in flight waited that long. 32 rows take ~1-2 ms."""
MIN_FREE_BYTES = 512 * 1024**2  # the journal stops short of filling the disk

Listener = Callable[[Sequence[Row]], None]


class Recorder:
    """`begin`/`finish` never block and never raise: over budget means dropped and counted."""

    def __init__(self, journal: Journal, *, size: int, max_queued_bytes: int) -> None:
        self.journal = journal
        self.max_queued = size  # 0: no limit on the count
        self.max_queued_bytes = max_queued_bytes
        self.dropped = 0
        self.drop_reason = ""
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
        self._handing: collections.deque[Sequence[Row]] = collections.deque()
        self.runner: Runner | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._stopping = False
        # (journal position after, monotonic time of the first append since the last mark)
        self._marks: collections.deque[tuple[int, float]] = collections.deque()
        self._disk_full = False
        self._disk_checked = 0.0
        self._dropped_logged = 0
        self._drop_logged_at = 0.0

    @property
    def depth(self) -> int:
        """Journal records the recorder has not reported yet."""
        return self._appended - self._consumed

    @property
    def backlog_bytes(self) -> int:
        return self.journal.end - self._committed

    @property
    def backlog_age_s(self) -> float:
        """How long the oldest record not yet in the store has waited (0 when none waits)."""
        if not self._marks or self.depth == 0:
            return 0.0
        return round(time.monotonic() - self._marks[0][1], 3)

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
        while self._handing:  # the last reports' rows, before the listeners close
            self._hand_over()

    def begin(self, capture: Capture) -> None:
        self._waiting[capture.id] = capture

    def finish(self, capture: Capture) -> None:
        capture.handed_over = True
        self._waiting.pop(capture.id, None)
        announced = capture.id in self._announced
        self._announced.discard(capture.id)
        if reason := self._over_budget(capture):
            if not announced:
                self._drop(reason)
                return
            # Its pending row exists: close it, without the bodies there is no room for.
            capture = replace(capture, request_body=b"", chunks=[], truncated=True)
        if not self._append(capture, "finish"):
            self._drop("the journal could not be written (disk full?)")

    def _over_budget(self, capture: Capture) -> str:
        """Why this capture cannot be journaled, or '' if it can."""
        if self.max_queued and self.depth >= self.max_queued:
            return f"the recorder is {self.depth} exchanges behind (RECORD_QUEUE_SIZE)"
        size = len(capture.request_body) + sum(map(len, capture.chunks))
        if self.backlog_bytes + size > self.max_queued_bytes:
            return (
                f"the recorder's backlog reached {self.max_queued_bytes} bytes (RECORD_QUEUE_BYTES)"
            )
        if self._disk_full:
            return f"less than {MIN_FREE_BYTES // 1024**2} MB free in the data dir"
        return ""

    def _drop(self, reason: str) -> None:
        """Counted, shown in /health, /metrics and the dashboard, and logged (not per record:
        a line on the first and then at most every DROP_LOG_EVERY_S)."""
        self.dropped += 1
        self.drop_reason = reason
        now = time.monotonic()
        if now - self._drop_logged_at >= DROP_LOG_EVERY_S:
            log.warning(
                "%d exchanges not recorded (%d since the last warning): %s",
                self.dropped,
                self.dropped - self._dropped_logged,
                reason,
            )
            self._drop_logged_at, self._dropped_logged = now, self.dropped

    def _append(self, capture: Capture, kind: str) -> bool:
        if not self.journal.append(capture, kind):
            return False
        self._appended += 1
        now = time.monotonic()
        if self._marks and now - self._marks[-1][1] < MARK_EVERY_S:
            self._marks[-1] = (self.journal.end, self._marks[-1][1])
        else:
            self._marks.append((self.journal.end, now))
        return True

    def _check_disk(self) -> None:
        """Every DISK_CHECK_EVERY_S from the timer, not per request (statvfs is a syscall)."""
        now = time.monotonic()
        if now - self._disk_checked < DISK_CHECK_EVERY_S:
            return
        self._disk_checked = now
        try:
            st = os.statvfs(self.journal.directory)
        except OSError:
            return
        self._disk_full = st.f_bavail * st.f_frsize < MIN_FREE_BYTES

    def _announce(self, until: float | None = None) -> None:
        """Exchanges running for PENDING_AFTER_S get a 'begin' record: a pending row, live."""
        self._check_disk()
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
        while self._marks and self._marks[0][0] <= report.position:
            self._marks.popleft()
        # Even after a failed write: the journal must not grow while the store is broken.
        self.journal.committed(report.position)
        if report.rows and self._listeners:
            idle = not self._handing
            rows = report.rows
            self._handing.extend(
                rows[i : i + ROWS_PER_TURN] for i in range(0, len(rows), ROWS_PER_TURN)
            )
            if idle:
                asyncio.get_running_loop().call_soon(self._hand_next)

    def _hand_next(self) -> None:
        """One slice of rows to the listeners, then the rest at the loop's next turns (the
        loop polls its sockets in between); slices keep the order the rows were written in."""
        if self._handing:
            self._hand_over()
        if self._handing:
            asyncio.get_running_loop().call_soon(self._hand_next)

    def _hand_over(self) -> None:
        rows = self._handing.popleft()
        for listener in self._listeners:
            try:
                listener(rows)
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
