"""Journal entries in, stored rows out: the recorder's work, wherever it runs.

`consume` is the whole loop: read a batch from the journal, build rows (parse, price, scrub,
split the bodies), write them in one transaction, report. It runs in the recorder process
(`record.process`) or, with RECORDER_PROCESS=false, in a thread of the proxy.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from anthropic_proxy.exchange import Capture
from anthropic_proxy.record.build import finished_row, request_row
from anthropic_proxy.record.journal import Entry, Reader
from anthropic_proxy.record.pricing import Pricer
from anthropic_proxy.record.scrub import Scrubber
from anthropic_proxy.storage import Row, Store
from anthropic_proxy.storage.bodies import RecentBodies
from anthropic_proxy.storage.sqlite import PAYLOAD_COLUMNS

log = logging.getLogger("anthropic_proxy.record")
access_log = logging.getLogger("anthropic_proxy.access")
BATCH = 512
BATCH_BYTES = 16 * 1024**2
IDLE_WAIT_S = 0.01  # how stale the store may be when idle: the dashboard's live delay
KNOWN_BLOBS = 200_000
PRUNE_EVERY_S = 30.0
BULKY = frozenset(PAYLOAD_COLUMNS) - {"id"}


@dataclass(frozen=True)
class Retention:
    max_records: int = 0
    max_age_s: int = 0
    max_db_bytes: int = 0

    @property
    def active(self) -> bool:
        return bool(self.max_records or self.max_age_s or self.max_db_bytes)


@dataclass
class Report:
    """What a batch did, for the proxy: journal position reached, counters, and the rows
    (without their bulky columns) for the live view, metrics, budgets and traces."""

    position: int
    consumed: int
    written: int = 0
    failed: int = 0
    rows: list[Row] = field(default_factory=list)


class Writer:
    def __init__(self, store: Store, *, scrub: bool, retention: Retention) -> None:
        self.store = store
        self._scrubber = Scrubber(scrub)
        self._pricer = Pricer()
        self._retention = retention
        self._known: OrderedDict[str, None] = OrderedDict()
        self._recent = RecentBodies()
        self._pending: dict[str, tuple[Row, Any]] = {}
        self._last_prune = 0.0

    def write(self, entries: Sequence[Entry], position: int) -> Report:
        rows, blobs = [], {}
        for entry in entries:
            try:
                row, parts = self._row(entry.kind, entry.capture)
            except Exception:
                log.exception("could not record exchange %s", entry.capture.id)
                continue
            rows.append(row)
            blobs.update(parts)
            time.sleep(0)  # as a thread: hand the GIL to a waiting event loop between exchanges
        report = Report(position, len(entries))
        self._commit(rows, blobs, report)
        return report

    def _row(self, kind: str, capture: Capture) -> tuple[Row, dict[str, bytes]]:
        if capture.id in self._pending:
            row, body = self._pending.pop(capture.id)
            parts: dict[str, bytes] = {}
        else:
            row, parts, body = request_row(capture, self._recent)
        if kind == "begin":
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

    def _commit(self, rows: list[Row], parts: dict[str, bytes], report: Report) -> None:
        if not rows:
            return
        try:
            self.store.write(rows, self._new_parts(parts))
        except Exception as exc:
            report.failed = len(rows)
            self._forget()  # the blobs of a failed batch are not in the store
            log.warning("store write failed, %d exchanges not recorded: %s", len(rows), exc)
            return
        report.written = len(rows)
        report.rows = [{k: v for k, v in row.items() if k not in BULKY} for row in rows]
        for row in rows:
            if row["state"] != "pending":
                _log_access(row)

    def _forget(self) -> None:
        """What we believed stored may be gone (pruned, or its batch failed)."""
        self._known.clear()
        self._recent.forget()

    def maybe_prune(self, busy: Callable[[], bool]) -> None:
        now = time.monotonic()
        if not self._retention.active or now - self._last_prune < PRUNE_EVERY_S:
            return
        self._last_prune = now
        r = self._retention
        try:
            # One batch now, more only while nothing waits: pruning never stalls recording.
            while self.store.prune(r.max_records, r.max_age_s, r.max_db_bytes):
                self._forget()
                if busy():
                    self._last_prune = 0.0  # resume at the next idle moment
                    break
        except Exception as exc:
            log.warning("pruning failed: %s", exc)


def consume(
    reader: Reader, writer: Writer, emit: Callable[[Report], None], stopping: Callable[[], bool]
) -> None:
    """Until told to stop, and then until the journal is drained."""
    while True:
        entries = reader.read(BATCH, BATCH_BYTES)
        if entries:
            try:
                report = writer.write(entries, reader.position)
            except Exception:  # the loop must outlive any one batch
                log.exception("recorder batch failed; %d exchanges not recorded", len(entries))
                report = Report(reader.position, len(entries), failed=len(entries))
            emit(report)
        elif stopping():
            return
        else:
            time.sleep(IDLE_WAIT_S)
        writer.maybe_prune(reader.behind)


def recover(writer: Writer, entries: list[Entry]) -> int:
    """Write what a crash left in the journal. An exchange that only began there was running
    when the proxy died: it is recorded as interrupted."""
    finished = {e.capture.id for e in entries if e.kind == "finish"}
    work = [e for e in entries if e.kind == "finish" or e.capture.id not in finished]
    for e in work:
        if e.kind == "begin":  # how long it ran is unknown: no end time
            e.capture.state, e.capture.error_kind = "interrupted", "interrupted"
            e.capture.error_message = "the proxy stopped during this exchange"
    for start in range(0, len(work), BATCH):
        batch = [Entry("finish", e.capture, e.end) for e in work[start : start + BATCH]]
        writer.write(batch, batch[-1].end)
    return len(work)


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
