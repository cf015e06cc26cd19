"""Two processes write one SQLite file: the recorder process, and the proxy's own small writes
(budget alerts, shared state, marking interrupted rows). A write transaction that read first
and only then wrote failed at once with "database is locked" when the other process committed
in between (its snapshot was stale, and SQLite does not wait on that); it must wait its turn
instead."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from anthropic_proxy.storage import Row, open_store
from tests.storage.test_contract import row


class CommitsBetween(list[Row]):
    """Rows whose second iteration, inside the store's write transaction after it has read the
    rows it replaces, lets another connection try to commit a write."""

    def __init__(self, rows: list[Row], other: sqlite3.Connection) -> None:
        super().__init__(rows)
        self.other, self.iterations, self.other_wrote = other, 0, False

    def __iter__(self) -> Iterator[Row]:
        self.iterations += 1
        if self.iterations == 2:
            try:
                self.other.execute(
                    "INSERT INTO shared_config (name, value, updated_at) VALUES ('k', '1', 0)"
                )
                self.other_wrote = True
            except sqlite3.OperationalError as exc:  # it waits for our transaction: as it should
                if "locked" not in str(exc):
                    raise
        return super().__iter__()


def test_a_write_waits_for_another_process_instead_of_failing(tmp_path: Path) -> None:
    store = open_store("", tmp_path)
    store.open()
    store.write([row("ex_1")], {})
    other = sqlite3.connect(tmp_path / "exchanges.db", timeout=0.05, isolation_level=None)
    rows: Any = CommitsBetween([row("ex_2"), row("ex_3")], other)
    store.write(rows, {})
    assert rows.iterations >= 2
    stored = store.fetch("SELECT id, state FROM exchanges ORDER BY id")
    assert [r["id"] for r in stored] == ["ex_1", "ex_2", "ex_3"]
    assert not rows.other_wrote  # the other writer waited (here: gave up after 50 ms)
    other.close()
    store.close()
