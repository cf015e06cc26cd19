"""SQLite store: WAL, one writer connection (the recorder thread), a connection per reader thread."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from anthropic_proxy.storage import Row
from anthropic_proxy.storage.bodies import decompress
from anthropic_proxy.storage.migrations import MIGRATIONS, SQLITE, ddl

COLUMNS = (
    (
        "id started_at finished_at kind mode method path query client_addr model upstream_model stream "
        "state status request_ref request_bytes response_bytes ttfb_ms ttft_ms duration_ms "
        "input_tokens output_tokens cache_creation_tokens cache_read_tokens cost_usd price_version "
        "stop_reason upstream_request_id session_id agent_id parent_agent_id error_kind error_message "
        "preview stored_bytes "
        "project tags ratelimit cache_miss_reason cache_missed_tokens calculated_cost_usd"  # usage insight (030_usage_*)
    ).split()
)
PAYLOAD_COLUMNS = (
    "id request_headers response_headers upstream_request response_body timeline".split()
)


def upsert(table: str, columns: list[str], mark: str = "?") -> str:
    """Insert a row, or overwrite every column of the row with the same id."""
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))}) "
        f"ON CONFLICT(id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in columns[1:])}"
    )


UPSERT = upsert("exchanges", COLUMNS)
UPSERT_PAYLOAD = upsert("exchange_payloads", PAYLOAD_COLUMNS)


class SQLiteStore:
    dialect = SQLITE

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._writer: sqlite3.Connection | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        conn.execute("PRAGMA journal_mode=WAL")
        self._migrate(conn)
        conn.close()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at REAL)"
        )
        done = {r[0] for r in conn.execute("SELECT name FROM migrations")}
        for name, sql in MIGRATIONS:
            if name not in done:
                conn.executescript(
                    f"BEGIN; {ddl(sql, SQLITE)}; INSERT INTO migrations VALUES ('{name}', {time.time()}); COMMIT;"
                )

    @property
    def writer(self) -> sqlite3.Connection:
        if self._writer is None:
            self._writer = self._connect()
        return self._writer

    @property
    def reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            conn.execute("PRAGMA query_only=1")
        return conn

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def mark_interrupted(self) -> int:
        return self.execute(
            "UPDATE exchanges SET state = 'interrupted', error_kind = 'interrupted', "
            "error_message = 'the proxy stopped before this exchange finished' WHERE state = 'pending'"
        )

    def write(self, rows: Sequence[Row], blobs: dict[str, bytes]) -> None:
        conn = self.writer
        conn.execute("BEGIN")
        try:
            conn.executemany(
                "INSERT OR IGNORE INTO blobs (hash, data, raw_bytes) VALUES (?, ?, ?)",
                ((h, data, raw) for h, (data, raw) in _blob_rows(blobs)),
            )
            conn.executemany(UPSERT, ([row.get(c) for c in COLUMNS] for row in rows))
            conn.executemany(
                UPSERT_PAYLOAD, ([row.get(c) for c in PAYLOAD_COLUMNS] for row in rows)
            )
            conn.executemany(
                "INSERT OR IGNORE INTO exchange_blobs (exchange_id, hash) VALUES (?, ?)",
                ((row["id"], h) for row in rows for h in row.get("blob_refs", ())),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite already rolled back on e.g. SQLITE_FULL
                conn.execute("ROLLBACK")
            raise

    def known_blobs(self, hashes: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(hashes), 500):
            part = hashes[start : start + 500]
            sql = f"SELECT hash FROM blobs WHERE hash IN ({', '.join('?' * len(part))})"
            found.update(r[0] for r in self.writer.execute(sql, part))
        return found

    def blob(self, ref: str) -> bytes | None:
        row = self.reader.execute("SELECT data FROM blobs WHERE hash = ?", (ref,)).fetchone()
        return decompress(row[0]) if row else None

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [dict(r) for r in self.reader.execute(sql, params)]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.writer.execute(sql, params).rowcount

    def clear(self) -> None:
        self.writer.executescript(
            "BEGIN; DELETE FROM exchanges; DELETE FROM exchange_payloads; DELETE FROM exchange_blobs; "
            "DELETE FROM blobs; DELETE FROM exchange_rollup; COMMIT;"
        )

    def size_bytes(self) -> int:
        pages = self.writer.execute("PRAGMA page_count").fetchone()[0]
        free = self.writer.execute("PRAGMA freelist_count").fetchone()[0]
        size: int = self.writer.execute("PRAGMA page_size").fetchone()[0] * (pages - free)
        return size

    def prune(self, max_records: int, max_age_s: int, max_bytes: int, batch: int = 500) -> int:
        """Delete up to `batch` of the oldest finished exchanges over any limit, then their
        no-longer-referenced blobs. Called repeatedly by the recorder so no call stalls it."""
        victims = self._victims(max_records, max_age_s, max_bytes, batch)
        if not victims:
            return 0
        marks = ", ".join("?" * len(victims))
        conn = self.writer
        conn.execute("BEGIN")
        hashes = [
            r[0]
            for r in conn.execute(
                f"SELECT DISTINCT hash FROM exchange_blobs WHERE exchange_id IN ({marks})", victims
            )
        ]
        conn.execute(f"DELETE FROM exchanges WHERE id IN ({marks})", victims)
        conn.execute(f"DELETE FROM exchange_payloads WHERE id IN ({marks})", victims)
        conn.execute(f"DELETE FROM exchange_blobs WHERE exchange_id IN ({marks})", victims)
        for start in range(0, len(hashes), 500):
            part = hashes[start : start + 500]
            conn.execute(
                f"DELETE FROM blobs WHERE hash IN ({', '.join('?' * len(part))}) AND NOT EXISTS "
                "(SELECT 1 FROM exchange_blobs e WHERE e.hash = blobs.hash)",
                part,
            )
        conn.execute("COMMIT")
        return len(victims)

    def _victims(self, max_records: int, max_age_s: int, max_bytes: int, batch: int) -> list[str]:
        conn = self.writer
        oldest = "SELECT id FROM exchanges WHERE state != 'pending' {} ORDER BY started_at LIMIT ?"
        over = 0
        if max_records:
            over = conn.execute("SELECT COUNT(*) FROM exchanges").fetchone()[0] - max_records
        if max_bytes and self.size_bytes() > max_bytes:
            over = max(over, batch)
        ids = (
            [r[0] for r in conn.execute(oldest.format(""), (min(over, batch),))] if over > 0 else []
        )
        if max_age_s:
            cutoff = time.time() - max_age_s
            ids += [
                r[0] for r in conn.execute(oldest.format("AND started_at < ?"), (cutoff, batch))
            ]
        return list(dict.fromkeys(ids))


def _blob_rows(blobs: dict[str, bytes]) -> Iterable[tuple[str, tuple[bytes, int]]]:
    from anthropic_proxy.storage.bodies import compress

    return ((h, (compress(raw), len(raw))) for h, raw in blobs.items())
