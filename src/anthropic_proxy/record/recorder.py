"""The bounded queue between the hot path and the store, and its single writer thread."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from anthropic_proxy.exchange import Capture
from anthropic_proxy.record.build import finished_row, request_row
from anthropic_proxy.record.journal import Journal
from anthropic_proxy.record.pricing import Pricer
from anthropic_proxy.record.scrub import Scrubber
from anthropic_proxy.storage import Row, Store
from anthropic_proxy.storage.bodies import RecentBodies

log = logging.getLogger("anthropic_proxy.record")
access_log = logging.getLogger("anthropic_proxy.access")
BATCH = 512
BATCH_BYTES = 16 * 1024**2
PENDING_AFTER_S = 1.0  # exchanges running longer get a 'pending' row, for the live view
IDLE_WAIT_S = 0.01  # how stale the store may be when idle: the dashboard's live delay
RECORDER_NICE = 19  # the writer yields the CPU to proxying (saturated, it drops and counts)
KNOWN_BLOBS = 200_000
PRUNE_EVERY_S = 30.0


@dataclass(frozen=True)
class Retention:
    max_records: int = 0
    max_age_s: int = 0
    max_db_bytes: int = 0

    @property
    def active(self) -> bool:
        return bool(self.max_records or self.max_age_s or self.max_db_bytes)


Listener = Callable[[Sequence[Row]], None]


class Recorder:
    """`begin`/`finish` never block and never raise: a full queue drops and counts."""

    def __init__(
        self,
        store: Store,
        *,
        size: int,
        scrub: bool,
        retention: Retention,
        journal: Journal | None = None,
        max_queued_bytes: int = 128 * 1024**2,
    ) -> None:
        self.store = store
        self.journal = journal
        self.dropped = 0
        self.failed_writes = 0
        self.written = 0
        # A deque, not a queue.Queue: appends need no lock or wake-up (the GIL orders them),
        # and the writer polls, so a busy proxy pays no futex and no thread switch per put.
        self._queue: deque[tuple[str, Capture]] = deque()
        self.max_queued = size
        self._stopping = threading.Event()
        self.max_queued_bytes = max_queued_bytes
        # Each counter has one writer (the event loop, the writer thread): no lock needed.
        self._enqueued_bytes = 0
        self._dequeued_bytes = 0
        self._scrubber = Scrubber(scrub)
        self._pricer = Pricer()
        self._retention = retention
        self._listeners: list[Listener] = []
        self._known: OrderedDict[str, None] = OrderedDict()
        self._recent = RecentBodies()
        self._pending: dict[str, tuple[Row, Any]] = {}
        self._held: dict[str, tuple[float, Capture]] = {}
        self._lost: deque[str] = deque()
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._last_prune = 0.0

    @property
    def depth(self) -> int:
        return len(self._queue)

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Drain what is queued, then stop the writer."""
        self._stopping.set()
        self._thread.join(timeout)

    def begin(self, capture: Capture) -> None:
        self._put("begin", capture)

    def finish(self, capture: Capture) -> None:
        capture.handed_over = True
        if self.journal is not None:
            capture.journal_position = self.journal.append(capture)
        self._put("finish", capture)

    def recover(self, captures: Sequence[Capture]) -> int:
        """Write captures replayed from a crash journal; call before `start`."""
        for start in range(0, len(captures), BATCH):
            self._write([("finish", c) for c in captures[start : start + BATCH]])
        return len(captures)

    def _put(self, what: str, capture: Capture) -> None:
        size = _size(what, capture)
        full = len(self._queue) >= self.max_queued
        # A slow store must not hold gigabytes of bodies in memory.
        if full or self._enqueued_bytes - self._dequeued_bytes + size > self.max_queued_bytes:
            self.dropped += 1
            if what == "finish":
                self._lost.append(capture.id)  # the writer forgets its begin
            return
        self._queue.append((what, capture))
        self._enqueued_bytes += size

    def _run(self) -> None:
        _lower_priority()
        while True:
            batch = self._take()
            self._forget_lost()
            if batch:
                try:
                    self._write(batch)
                except Exception:  # the writer must outlive any one batch
                    log.exception("recorder batch failed; %d exchanges not recorded", len(batch))
                    self.failed_writes += len(batch)
            elif self._stopping.is_set():
                self._write([], until=math.inf)  # still running at shutdown: pending rows
                return
            else:
                self._stopping.wait(IDLE_WAIT_S)
                self._write([])
            self._maybe_prune()

    def _take(self) -> list[tuple[str, Capture]]:
        """Up to BATCH items or BATCH_BYTES of bodies; they leave the queue's byte budget now."""
        batch: list[tuple[str, Capture]] = []
        size = 0
        while self._queue and len(batch) < BATCH and size < BATCH_BYTES:
            what, capture = self._queue.popleft()
            batch.append((what, capture))
            size += _size(what, capture)
        self._dequeued_bytes += size
        return batch

    def _forget_lost(self) -> None:
        """Exchanges whose finish was dropped: no pending row, no parsed body kept for them."""
        while self._lost:
            exchange_id = self._lost.popleft()
            self._held.pop(exchange_id, None)
            self._pending.pop(exchange_id, None)

    def _write(self, batch: list[tuple[str, Capture]], until: float | None = None) -> None:
        """Finishes are written now. A begin is held back: most exchanges finish within
        PENDING_AFTER_S and then need one row, not a pending row and its update."""
        now = time.monotonic()
        work: list[tuple[str, Capture]] = []
        for what, capture in batch:
            if what == "begin":
                self._held[capture.id] = (now + PENDING_AFTER_S, capture)
            else:
                self._held.pop(capture.id, None)
                work.append((what, capture))
        work += self._due(now if until is None else until)
        rows, blobs = [], {}
        for what, capture in work:
            try:
                row, parts = self._row(what, capture)
            except Exception:
                log.exception("could not record exchange %s", capture.id)
                continue
            rows.append(row)
            blobs.update(parts)
            time.sleep(0)  # hand the GIL to a waiting event loop between exchanges
        self._commit(rows, blobs)
        if self.journal is not None:
            # Even after a failed write: the journal must not grow while the store is broken.
            # Only finishes count: a 'begin' here may belong to a capture journaled since,
            # whose finish is still queued.
            done = (c.journal_position for what, c in batch if what == "finish")
            self.journal.committed(max(done, default=0))

    def _due(self, now: float) -> list[tuple[str, Capture]]:
        """Held begins whose exchange is still running: they get a pending row (live view)."""
        due = []
        for exchange_id, (deadline, capture) in list(self._held.items()):
            if deadline > now:
                break  # held in arrival order, so the rest are later still
            del self._held[exchange_id]
            if capture.t_end is None:  # finished ones: their finish row is queued, or was lost
                due.append(("begin", capture))
        return due

    def _row(self, what: str, capture: Capture) -> tuple[Row, dict[str, bytes]]:
        if capture.id in self._pending:
            row, body = self._pending.pop(capture.id)
            parts: dict[str, bytes] = {}
        else:
            row, parts, body = request_row(capture, self._recent)
        if what == "begin":
            self._pending[capture.id] = (row, body)
            return {**row, "preview": self._scrubber.text(row.get("preview"))}, parts
        return finished_row(capture, row, body, self._scrubber, self._pricer), parts

    def _new_parts(self, parts: dict[str, bytes]) -> dict[str, bytes]:
        """The batch's body parts the store does not have yet, scrubbed (one query a batch)."""
        unknown = [h for h in parts if h not in self._known]
        if unknown:
            stored = self.store.known_blobs(unknown)
            unknown = [h for h in unknown if h not in stored]
        for h in parts:
            self._known[h] = None
            self._known.move_to_end(h)
        while len(self._known) > KNOWN_BLOBS:
            self._known.popitem(last=False)
        return {h: self._scrubber.scrub_json(parts[h]) for h in unknown}

    def _commit(self, rows: list[Row], parts: dict[str, bytes]) -> None:
        if not rows:
            return
        try:
            self.store.write(rows, self._new_parts(parts))
        except Exception as exc:
            self.failed_writes += len(rows)
            self._forget()  # the blobs of a failed batch are not in the store
            log.warning("store write failed, %d exchanges not recorded: %s", len(rows), exc)
            return
        self.written += len(rows)
        for row in rows:
            if row["state"] != "pending":
                _log_access(row)
        for listener in self._listeners:
            listener(rows)

    def _forget(self) -> None:
        """What we believed stored may be gone (pruned, or its batch failed)."""
        self._known.clear()
        self._recent.forget()

    def _maybe_prune(self) -> None:
        now = time.monotonic()
        if not self._retention.active or now - self._last_prune < PRUNE_EVERY_S:
            return
        self._last_prune = now
        r = self._retention
        try:
            # One batch now, more only while nothing waits: pruning never stalls recording.
            while self.store.prune(r.max_records, r.max_age_s, r.max_db_bytes):
                self._forget()
                if self._queue:
                    self._last_prune = 0.0  # resume at the next idle moment
                    break
        except Exception as exc:
            log.warning("pruning failed: %s", exc)


def _lower_priority() -> None:
    """Recording yields the CPU to proxying: on Linux a thread has its own nice value."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), RECORDER_NICE)


def _size(what: str, capture: Capture) -> int:
    """Bytes a queued item keeps alive (an upper bound: begin and finish share the request)."""
    request = len(capture.request_body)
    return request if what == "begin" else request + sum(map(len, capture.chunks))


def _log_access(row: Row) -> None:
    if access_log.isEnabledFor(logging.DEBUG):
        # Headers are masked before they reach a row; bodies stay out of the log.
        access_log.debug(
            "exchange %s request headers %s response headers %s ttfb=%sms ttft=%sms error=%s",
            row["id"],
            row.get("request_headers"),
            row.get("response_headers"),
            row.get("ttfb_ms"),
            row.get("ttft_ms"),
            row.get("error_message"),
        )
    access_log.info(
        "%s %s%s model=%s status=%s state=%s %.0fms in=%s out=%s cache_read=%s",
        row["method"],
        row["path"],
        f"?{row['query']}" if row["query"] else "",
        row.get("model"),
        row.get("status"),
        row["state"],
        row.get("duration_ms") or 0,
        row.get("input_tokens"),
        row.get("output_tokens"),
        row.get("cache_read_tokens"),
    )
