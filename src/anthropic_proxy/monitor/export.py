"""Exports streamed from the server: JSON, JSONL, CSV and the deduplicated JSONL.

Exchanges are read in pages of `PAGE` (keyset on started_at, id; oldest first) in a worker
thread and written as they come, so an export of any size holds one page in memory. Every
format honours the list filters. The formats:

- `json`: `{"exportTime", "filters", "stats", "requests": [...], "total"}` (the seed's shape);
- `jsonl`: one whole exchange per line, as `GET /api/monitor/requests/{id}` returns it;
- `csv`: one row of summary columns per exchange (formula-looking cells are quoted with ');
- `compressed`: see `monitor.dedup`; `dedup.restore` turns it back into the `jsonl` export.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from aiohttp import web

from anthropic_proxy.monitor import dedup, details, queries, stats
from anthropic_proxy.storage import Row, Store

PAGE = 200
FORMATS = {
    "json": ("application/json", "json"),
    "jsonl": ("application/x-ndjson", "jsonl"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "compressed": ("application/x-ndjson", "dedup.jsonl"),
}
DETAIL_COLUMNS = [
    *queries.SUMMARY_COLUMNS,
    *details.DETAIL_EXTRA.split(),
    *details.PAYLOAD_COLUMNS,
]
CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def pages(store: Store, f: queries.Filters) -> Iterator[list[Row]]:
    """Matching rows, oldest first, PAGE at a time (keyset pagination, no OFFSET)."""
    clause, params = queries.where(f)
    joiner = " AND " if clause else " WHERE "
    cursor: tuple[float, str] | None = None
    while True:
        after = f"{joiner}(started_at > ? OR (started_at = ? AND id > ?))" if cursor else ""
        extra = [cursor[0], cursor[0], cursor[1]] if cursor else []
        sql = f"SELECT {', '.join(DETAIL_COLUMNS)} FROM exchange_details{clause}{after} ORDER BY started_at, id LIMIT ?"
        rows = store.fetch(sql, [*params, *extra, PAGE])
        if rows:
            yield rows
        if len(rows) < PAGE:
            return
        cursor = (rows[-1]["started_at"], rows[-1]["id"])


VIEW_ONLY = ("events", "upstream_response")
"""Detail-view extras left out of exports: each stream event's data and the backend's raw
chunks repeat what the response and the timeline already hold."""


def records(store: Store, rows: list[Row]) -> list[dict[str, Any]]:
    out = [details.detail(store, row) for row in rows]
    for record in out:
        for name in VIEW_ONLY:
            record.pop(name, None)
    return out


def filename(fmt: str, f: queries.Filters) -> str:
    suffix = "-filtered" if f.describe() else ""
    kind = "-compressed" if fmt == "compressed" else ""
    return f"proxy-monitor{kind}{suffix}-{int(time.time() * 1000)}.{FORMATS[fmt][1]}"


async def respond(
    request: web.Request, store: Store, fmt: str, f: queries.Filters
) -> web.StreamResponse:
    """Stream the export of format `fmt` as an attachment."""
    content_type, _ = FORMATS[fmt]
    response = web.StreamResponse(
        headers={
            "Content-Type": content_type,
            "Content-Disposition": f'attachment; filename="{filename(fmt, f)}"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    writer = WRITERS[fmt](store, f)
    rows = pages(store, f)
    await response.write(await asyncio.to_thread(writer.head))
    while (chunk := await asyncio.to_thread(_next_chunk, store, rows, writer.body)) is not None:
        await response.write(chunk)
    await response.write(writer.tail())
    await response.write_eof()
    return response


def _next_chunk(
    store: Store, rows: Iterator[list[Row]], body: Callable[[list[Row]], bytes]
) -> bytes | None:
    page = next(rows, None)
    return None if page is None else body(page)


class JSONWriter:
    def __init__(self, store: Store, f: queries.Filters) -> None:
        self.store, self.filters, self.count = store, f, 0

    def head(self) -> bytes:
        meta = {
            "exportTime": time.time(),
            "filters": self.filters.describe(),
            "stats": stats.compute(self.store, self.filters),
        }
        return orjson.dumps(meta)[:-1] + b',"requests":['

    def body(self, rows: list[Row]) -> bytes:
        lines = [orjson.dumps(r) for r in records(self.store, rows)]
        lead = b"," if self.count else b""
        self.count += len(lines)
        return lead + b",".join(lines)

    def tail(self) -> bytes:
        return b'],"total":' + str(self.count).encode() + b"}"


class JSONLWriter(JSONWriter):
    def head(self) -> bytes:
        return b""

    def body(self, rows: list[Row]) -> bytes:
        return b"".join(orjson.dumps(r) + b"\n" for r in records(self.store, rows))

    def tail(self) -> bytes:
        return b""


class CSVWriter(JSONLWriter):
    def head(self) -> bytes:
        return self._lines([queries.SUMMARY_COLUMNS])

    def body(self, rows: list[Row]) -> bytes:
        return self._lines([[_cell(row.get(c)) for c in queries.SUMMARY_COLUMNS] for row in rows])

    @staticmethod
    def _lines(rows: list[list[Any]]) -> bytes:
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerows(rows)
        return out.getvalue().encode()


def _cell(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to spreadsheets: recorded text must stay text.
    if isinstance(value, str) and value.startswith(CSV_FORMULA):
        return "'" + value
    return value


class DedupWriter(JSONLWriter):
    def __init__(self, store: Store, f: queries.Filters) -> None:
        super().__init__(store, f)
        self.deduper = dedup.Deduper()
        self.started = time.perf_counter()

    def head(self) -> bytes:
        header = {
            "type": "header",
            "format": dedup.FORMAT,
            "version": dedup.VERSION,
            "minBytes": self.deduper.min_bytes,
            "exportTime": time.time(),
            "filters": self.filters.describe(),
            "order": "started_at ascending",
        }
        return orjson.dumps(header) + b"\n"

    def body(self, rows: list[Row]) -> bytes:
        encoded = [
            {"type": "record", "value": self.deduper.encode(r)} for r in records(self.store, rows)
        ]
        self.count += len(encoded)
        return b"".join(orjson.dumps(e) + b"\n" for e in encoded)

    def tail(self) -> bytes:
        info = {
            "method": "incremental_field_deduplication",
            "originalRequests": self.count,
            "compressedRequests": self.count,
            "stats": self.deduper.stats(),
            "compressionTime": round((time.perf_counter() - self.started) * 1000, 1),
        }
        return (
            orjson.dumps({"type": "footer", "records": self.count, "compressionInfo": info}) + b"\n"
        )


WRITERS: dict[str, Callable[[Store, queries.Filters], JSONWriter]] = {
    "json": JSONWriter,
    "jsonl": JSONLWriter,
    "csv": CSVWriter,
    "compressed": DedupWriter,
}
