"""The stats rollup, kept by the store's writer a batch at a time.

`exchange_rollup` holds per-slot sums of finished exchanges at the widths in
`migrations.ROLLUP_WIDTHS`. Until migration 009 triggers kept it, three upserts per row; now
each batch's changes are summed here first (a batch of 512 exchanges in the same minute is a
handful of upserts) and written in the batch's transaction. A finished row adds to its slots
once; a row rewritten (a pending row finishing, a crash replay) takes its old finished values
out first; a deleted finished row is taken out. Pending rows are not in the rollup (stats count
them from `exchanges`).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any

from anthropic_proxy.storage import Row
from anthropic_proxy.storage.migrations import ROLLUP_WIDTHS

KEYS = ("state", "status", "model", "mode", "kind")
MEASURES = (
    "n n_duration sum_duration n_ttft sum_ttft input output cache_read cache_write cost "
    "request_bytes response_bytes"
).split()
# What the writer must read back of a row it is about to overwrite or delete.
ROW_COLUMNS = (
    "id started_at state status model mode kind duration_ms ttft_ms input_tokens output_tokens "
    "cache_read_tokens cache_creation_tokens cost_usd request_bytes response_bytes"
).split()
Key = tuple[Any, ...]


def _key(row: Row) -> Key:
    """The row's slot at the finest width, and its keys."""
    return (
        int(row["started_at"] // ROLLUP_WIDTHS[0]),
        row["state"],
        row.get("status") or 0,
        row.get("model") or "",
        row["mode"],
        row["kind"],
    )


def _measures(row: Row) -> list[float]:
    duration, ttft = row.get("duration_ms"), row.get("ttft_ms")
    return [
        1,
        duration is not None,
        duration or 0,
        ttft is not None,
        ttft or 0,
        row.get("input_tokens") or 0,
        row.get("output_tokens") or 0,
        row.get("cache_read_tokens") or 0,
        row.get("cache_creation_tokens") or 0,
        row.get("cost_usd") or 0,
        row.get("request_bytes") or 0,
        row.get("response_bytes") or 0,
    ]


class Changes:
    """Sums to add to the rollup. Rows are summed at the finest width only; the coarser slots
    are sums of those (each width divides the next), made once per batch in `params`."""

    def __init__(self) -> None:
        self.fine: dict[Key, list[float]] = {}
        self.removed = False  # something was taken out: emptied slots may need deleting

    def add(self, rows: Iterable[Row], sign: int = 1) -> None:
        combine = operator.add if sign > 0 else operator.sub
        for row in rows:
            if row["state"] == "pending":
                continue
            self.removed |= sign < 0
            key = _key(row)
            sums = self.fine.get(key)
            if sums is None:
                sums = [0] * len(MEASURES)
            self.fine[key] = list(map(combine, sums, _measures(row)))

    def params(self) -> list[tuple[Any, ...]]:
        fine = ROLLUP_WIDTHS[0]
        out: dict[Key, list[float]] = {}
        for (slot, *keys), sums in self.fine.items():
            for width in ROLLUP_WIDTHS:
                key = (width, slot * fine // width, *keys)
                have = out.get(key)
                out[key] = sums if have is None else list(map(operator.add, have, sums))
        return [(*key, *sums) for key, sums in out.items() if any(sums)]


def upsert_sql(mark: str = "?") -> str:
    columns = ["width", "slot", *KEYS, *MEASURES]
    sets = ", ".join(f"{m} = exchange_rollup.{m} + excluded.{m}" for m in MEASURES)
    return (
        f"INSERT INTO exchange_rollup ({', '.join(columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))}) "
        f"ON CONFLICT (width, slot, {', '.join(KEYS)}) DO UPDATE SET {sets}"
    )


DROP_EMPTY = "DELETE FROM exchange_rollup WHERE n <= 0"
