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
from anthropic_proxy.record.build import NO_BODY, finished_row, pending_row, request_row
from anthropic_proxy.record.journal import Entry, Reader
from anthropic_proxy.record.pricing import Pricer
from anthropic_proxy.record.scrub import Scrubber
from anthropic_proxy.storage import PAYLOAD_COLUMNS, Node, Row, Store
from anthropic_proxy.storage.bodies import Memo, Split
from anthropic_proxy.storage.packing import Packer

log = logging.getLogger("anthropic_proxy.record")
access_log = logging.getLogger("anthropic_proxy.access")
# Rows per transaction when the journal is behind. Each row inserts into ~20 indexes, most at
# random places, so a transaction writes about one page per row per such index until a batch
# outnumbers an index's pages: 512 -> 2,048 rows, into a store of 50,000, halved the bytes
# written per exchange (49 -> 23 KB). Only a backlog fills a batch; at normal load each holds
# what arrived in the last IDLE_WAIT_S.
BATCH = 2048
BATCH_BYTES = 16 * 1024**2
IDLE_WAIT_S = 0.01  # how stale the store may be when idle: the dashboard's live delay
KNOWN_BLOBS = 200_000
PRUNE_EVERY_S = 30.0
# Not sent to the proxy's listeners: they read the store for bodies and headers.
BULKY = frozenset(PAYLOAD_COLUMNS) - {"id"} | {"blob_refs", "request_headers", "response_headers"}
INDEX_CHUNK = 2000  # rows per text-indexing transaction (~0.3 s): short enough to yield to new work
CHECKPOINT_IDLE_S = 1.0  # idle this long after a write: fold the WAL back and truncate it


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
    def __init__(
        self, store: Store, *, scrub: bool, retention: Retention, yield_gil: bool = False
    ) -> None:
        self.store = store
        self._yield_gil = yield_gil
        self._scrubber = Scrubber(scrub)
        self._pricer = Pricer()
        self._packer = Packer()
        self._retention = retention
        self._known: OrderedDict[str, None] = OrderedDict()
        self._known_nodes: OrderedDict[str, None] = OrderedDict()
        self._memo = Memo()
        self._pending: dict[str, tuple[Row, Any]] = {}
        self._last_prune = 0.0
        self._wrote_at = 0.0

    def write(self, entries: Sequence[Entry], position: int) -> Report:
        rows: list[Row] = []
        blobs: dict[str, bytes] = {}
        nodes: list[Node] = []
        for entry in entries:
            try:
                row, split = self._row(entry.kind, entry.capture)
            except Exception:
                log.exception("could not record exchange %s", entry.capture.id)
                continue
            rows.append(row)
            blobs.update(split.parts)
            nodes += self._new_nodes(split.nodes)
            if self._yield_gil:  # as a thread: hand the GIL to a waiting event loop
                time.sleep(0)
        report = Report(position, len(entries))
        self._commit(rows, blobs, nodes, report)
        return report

    def _row(self, kind: str, capture: Capture) -> tuple[Row, Split]:
        if capture.id in self._pending:
            row, body = self._pending.pop(capture.id)
            split = NO_BODY
        else:
            row, split, body = request_row(capture, self._memo)
        if kind == "begin":
            self._pending[capture.id] = (row, body)
            return pending_row(row, body, self._scrubber, self._packer), split
        return finished_row(capture, row, body, self._scrubber, self._pricer, self._packer), split

    def _new_nodes(self, nodes: Sequence[Node]) -> list[Node]:
        """The chain's nodes not known to be stored: a chain is stored root first, so a known
        node means its ancestors are stored too, and only the suffix after it is new."""
        new: list[Node] = []
        for node in reversed(nodes):
            if node[0] in self._known_nodes:
                break
            new.append(node)
        for node in new:
            self._known_nodes[node[0]] = None
        while len(self._known_nodes) > KNOWN_BLOBS:
            self._known_nodes.popitem(last=False)
        new.reverse()
        return new

    def _new_parts(self, parts: dict[str, bytes]) -> dict[str, bytes]:
        """The batch's body parts not known to be stored, scrubbed. Not asking the store: a part
        this writer has not seen lately is nearly always new (asking cost 2-6 µs an exchange,
        more as the store grew), and one that is stored after all, just after a start or a
        prune, is scrubbed and compressed once more and then ignored by the insert."""
        unknown = [h for h in parts if h not in self._known]
        for h in parts:
            self._known[h] = None
            self._known.move_to_end(h)
        while len(self._known) > KNOWN_BLOBS:
            self._known.popitem(last=False)
        return {h: self._scrubber.scrub_json(parts[h]) for h in unknown}

    def _commit(
        self, rows: list[Row], parts: dict[str, bytes], nodes: list[Node], report: Report
    ) -> None:
        if not rows:
            return
        try:
            self.store.write(rows, self._new_parts(parts), nodes)
        except Exception as exc:
            report.failed = len(rows)
            self._forget()  # the blobs of a failed batch are not in the store
            log.warning("store write failed, %d exchanges not recorded: %s", len(rows), exc)
            return
        report.written = len(rows)
        self._wrote_at = time.monotonic()
        report.rows = [_light(row) for row in rows]
        for row in rows:
            if row["state"] != "pending":
                _log_access(row)

    def _forget(self) -> None:
        """What we believed stored may be gone (pruned, or its batch failed)."""
        self._known.clear()
        self._known_nodes.clear()

    def maybe_prune(self, busy: Callable[[], bool]) -> None:
        now = time.monotonic()
        if not self._retention.active or now - self._last_prune < PRUNE_EVERY_S:
            return
        self._last_prune = now
        r = self._retention
        try:
            # One batch now, more only while nothing waits: pruning never stalls recording.
            pruned = 0
            while n := self.store.prune(r.max_records, r.max_age_s, r.max_db_bytes):
                pruned += n
                if busy():
                    self._last_prune = 0.0  # resume at the next idle moment
                    break
            if pruned:
                self._forget()
                self.store.sweep()
        except Exception as exc:
            log.warning("pruning failed: %s", exc)

    def idle(self, busy: Callable[[], bool]) -> None:
        """Nothing to write: a good moment for the store's housekeeping. Text indexing goes a
        chunk at a time and stops as soon as the journal has something new."""
        try:
            while self.store.index_text(INDEX_CHUNK) and not busy():
                pass
        except Exception as exc:
            log.warning("text indexing failed: %s", exc)
        if self._wrote_at and time.monotonic() - self._wrote_at > CHECKPOINT_IDLE_S:
            self._wrote_at = 0.0
            try:
                self.store.checkpoint()
            except Exception as exc:
                log.warning("checkpoint failed: %s", exc)


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
            return  # housekeeping waits for the next start: stopping must not outlast the store
        else:
            writer.idle(reader.behind)
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


def _light(row: Row) -> Row:
    """The row without its bulky columns (a copy: the few keys popped, not the many kept)."""
    light = dict(row)
    for key in BULKY:
        light.pop(key, None)
    return light


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
