"""SQLite store: WAL, one writer connection (the recorder thread), a connection per reader thread."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from anthropic_proxy.storage import COLUMNS, PAYLOAD_COLUMNS, Node, Row, rollup
from anthropic_proxy.storage.bodies import Compressor, decompress, node_json
from anthropic_proxy.storage.migrations import MIGRATIONS, SQLITE, ddl


def upsert(table: str, columns: list[str], mark: str = "?") -> str:
    """Insert a row, or overwrite every column of the row with the same id."""
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))}) "
        f"ON CONFLICT(id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in columns[1:])}"
    )


UPSERT = upsert("exchanges", COLUMNS)
UPSERT_PAYLOAD = upsert("exchange_payloads", PAYLOAD_COLUMNS)
ROLLUP_UPSERT = rollup.upsert_sql()
WRITER_CACHE_KIB = 32 * 1024
SEARCHED = ("preview", "model", "upstream_model", "error_message")
# The rows a write or a prune replaces, as stored: their rollup sums come out, and their text
# leaves the search index (unless still queued).
OLD_ROWS = (
    f"SELECT rowid, {', '.join(rollup.ROW_COLUMNS)}, preview, upstream_model, error_message "
    "FROM exchanges WHERE id IN ({})"
)
# The text index is the writer's to keep (no triggers: see migration 040). A new or rewritten
# row joins the queue; a row leaving, or rewritten after it was indexed, takes its old text out.
QUEUE = "INSERT OR IGNORE INTO search_queue (row) SELECT rowid FROM exchanges WHERE id IN ({})"
UNINDEX = (
    f"INSERT INTO exchanges_search (exchanges_search, rowid, {', '.join(SEARCHED)}) "
    "SELECT 'delete', ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM search_queue WHERE row = ?)"
)
INDEX_QUEUED = (
    "INSERT INTO exchanges_search (rowid, preview, model, upstream_model, error_message) "
    "SELECT rowid, preview, model, upstream_model, error_message FROM exchanges "
    "WHERE rowid IN (SELECT row FROM search_queue ORDER BY row LIMIT ?)"
)
# Mark and sweep after pruning: nodes no kept exchange's chain reaches, then parts nothing uses.
SWEEP = (
    "WITH RECURSIVE live(h) AS (SELECT tip FROM exchange_payloads WHERE tip IS NOT NULL "
    "UNION SELECT n.parent FROM nodes n JOIN live ON n.hash = live.h WHERE n.parent IS NOT NULL) "
    "DELETE FROM nodes WHERE hash NOT IN (SELECT h FROM live)",
    "DELETE FROM blobs WHERE hash NOT IN (SELECT message FROM nodes) AND hash NOT IN "
    "(SELECT j.value FROM exchange_payloads p, json_each(p.body_refs) j "
    "WHERE p.body_refs IS NOT NULL) AND hash NOT IN "
    "(SELECT request_ref FROM exchanges WHERE request_ref IS NOT NULL)",
)
# Context-anatomy vectors (031) and their parts (041) of exchanges gone: pruning deletes its
# victims' own, the sweep any that a reader computed while their exchange was being pruned.
ANATOMY_TABLES = ("exchange_anatomy", "exchange_anatomy_parts")
ANATOMY_ORPHANS = tuple(
    f"DELETE FROM {t} WHERE NOT EXISTS (SELECT 1 FROM exchanges WHERE exchanges.id = {t}.id)"
    for t in ANATOMY_TABLES
)


class SQLiteStore:
    dialect = SQLITE

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._writer: sqlite3.Connection | None = None
        # The writer connection is used by the recorder and, for small writes (budget alerts,
        # cluster state, sizes), by the API's threads: one at a time, as SQLite requires of a
        # connection shared between threads.
        self._lock = threading.RLock()
        self._compress = Compressor()  # body parts, by the writer under the lock

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        # A new database gets 16 KB pages: compressed body parts of 1-4 KB left a 4 KB page half
        # empty (one part a page); an existing one keeps its size (changing it needs a VACUUM).
        conn.execute("PRAGMA page_size=16384")
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
            # A batch touches a leaf page of each of ~20 indexes per row, most at random places
            # (hashes, costs, token counts): with the default 2 MB cache (128 pages) a batch
            # re-read those pages from the OS and spilled dirty ones to the WAL mid-transaction,
            # to write them again at commit. With batches of 2,048 (record.writer.BATCH), into a
            # store of 50,000 (bench/recorder.py --prefill 50000, its io line), bytes read per
            # exchange (written) with a cache of 2 MB: 77 KB (61), 16 MB: 25 (24), 32 MB: 21 (24),
            # 64 MB: 20 (24); into 150,000, 32 MB: 46 (49), 64 MB: 37 (49).
            # 32 MB, taken only as used: the cache held at 64 MB took 70 MiB of the recorder's
            # RSS in the 100k push (174 -> 245 MiB) for little more.
            self._writer.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
        return self._writer

    @property
    def reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            conn.execute("PRAGMA query_only=1")
            # Plain tuples, zipped with the column names in `fetch`: sqlite3.Row then dict()
            # cost twice as much (a 1,000-row page: 10.6 -> ~5 ms).
            conn.row_factory = None
        return conn

    def close(self) -> None:
        with self._lock:  # not under a statement another thread is running
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    def mark_interrupted(self) -> int:
        conn = self.writer
        with self._lock, _transaction(conn):
            pending = [
                dict(r)
                for r in conn.execute(
                    OLD_ROWS.format("SELECT id FROM exchanges WHERE state = 'pending'")
                )
            ]
            n = conn.execute(
                "UPDATE exchanges SET state = 'interrupted', error_kind = 'interrupted', "
                "error_message = 'the proxy stopped before this exchange finished' "
                "WHERE state = 'pending'"
            ).rowcount
            changes = rollup.Changes()
            changes.add({**r, "state": "interrupted"} for r in pending)
            conn.executemany(ROLLUP_UPSERT, changes.params())
        return n

    def write(
        self, rows: Sequence[Row], blobs: dict[str, bytes], nodes: Sequence[Node] = ()
    ) -> None:
        conn = self.writer
        with self._lock, _transaction(conn):
            conn.executemany(
                "INSERT OR IGNORE INTO blobs (hash, data, raw_bytes) VALUES (?, ?, ?)",
                ((h, self._compress(raw), len(raw)) for h, raw in blobs.items()),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO nodes (hash, parent, message) VALUES (?, ?, ?)", nodes
            )
            changes = rollup.Changes()
            ids = [row["id"] for row in rows]
            old = self._stored(conn, ids)
            changes.add(old, -1)
            _unindex(conn, old)
            conn.executemany(UPSERT, (list(map(row.get, COLUMNS)) for row in rows))
            _in_chunks(conn, QUEUE, ids)
            conn.executemany(UPSERT_PAYLOAD, map(payload_values, rows))
            changes.add(rows)
            conn.executemany(ROLLUP_UPSERT, changes.params())
            if changes.removed:
                conn.execute(rollup.DROP_EMPTY)

    def _stored(self, conn: sqlite3.Connection, ids: list[str]) -> list[Row]:
        """The rows about to be overwritten, as they are now (their rollup sums come out)."""
        out: list[Row] = []
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            out += map(dict, conn.execute(OLD_ROWS.format(", ".join("?" * len(part))), part))
        return out

    def known_blobs(self, hashes: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(hashes), 500):
            part = hashes[start : start + 500]
            sql = f"SELECT hash FROM blobs WHERE hash IN ({', '.join('?' * len(part))})"
            with self._lock:
                found.update(r[0] for r in self.writer.execute(sql, part))
        return found

    def blob(self, ref: str) -> bytes | None:
        """A part's JSON, or a node's (`bodies.node_json`): both are addressed by hash."""
        row = self.reader.execute("SELECT data FROM blobs WHERE hash = ?", (ref,)).fetchone()
        if row:
            return decompress(row[0])
        node = self.reader.execute(
            "SELECT parent, message FROM nodes WHERE hash = ?", (ref,)
        ).fetchone()
        return node_json(node[0], node[1]) if node else None

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cursor = self.reader.execute(sql, params)
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cursor]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._lock:
            return self.writer.execute(sql, params).rowcount

    def clear(self) -> None:
        with self._lock:
            self.writer.executescript(
                "BEGIN; DELETE FROM exchanges; DELETE FROM exchange_payloads; DELETE FROM nodes; "
                "DELETE FROM blobs; DELETE FROM exchange_rollup; DELETE FROM exchange_anatomy; "
                "DELETE FROM exchange_anatomy_parts; "
                "DELETE FROM search_queue; "
                "INSERT INTO exchanges_search (exchanges_search) VALUES ('delete-all'); COMMIT;"
            )

    def size_bytes(self) -> int:
        with self._lock:
            pages = self.writer.execute("PRAGMA page_count").fetchone()[0]
            free = self.writer.execute("PRAGMA freelist_count").fetchone()[0]
            size: int = self.writer.execute("PRAGMA page_size").fetchone()[0] * (pages - free)
        return size

    def prune(self, max_records: int, max_age_s: int, max_bytes: int, batch: int = 500) -> int:
        """Delete up to `batch` of the oldest finished exchanges over any limit. Called
        repeatedly by the recorder so no call stalls it; `sweep` then frees their parts."""
        with self._lock:  # the victims are chosen and deleted without another thread between
            return self._prune(max_records, max_age_s, max_bytes, batch)

    def _prune(self, max_records: int, max_age_s: int, max_bytes: int, batch: int) -> int:
        victims = self._victims(max_records, max_age_s, max_bytes, batch)
        if not victims:
            return 0
        marks = ", ".join("?" * len(victims))
        conn = self.writer
        with self._lock, _transaction(conn):
            changes = rollup.Changes()
            old = self._stored(conn, victims)
            changes.add(old, -1)
            _unindex(conn, old)
            conn.executemany("DELETE FROM search_queue WHERE row = ?", ([r["rowid"]] for r in old))
            conn.execute(f"DELETE FROM exchanges WHERE id IN ({marks})", victims)
            conn.execute(f"DELETE FROM exchange_payloads WHERE id IN ({marks})", victims)
            for table in ANATOMY_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE id IN ({marks})", victims)
            conn.executemany(ROLLUP_UPSERT, changes.params())
            conn.execute(rollup.DROP_EMPTY)
        return len(victims)

    def sweep(self) -> int:
        """Delete the nodes and parts no exchange uses any more; returns how many parts."""
        conn = self.writer
        with self._lock, _transaction(conn):
            conn.execute(SWEEP[0])
            for orphans in ANATOMY_ORPHANS:
                conn.execute(orphans)
            return conn.execute(SWEEP[1]).rowcount

    def index_text(self, limit: int) -> int:
        """Add up to `limit` queued rows to the text search index; returns how many."""
        conn = self.writer
        with self._lock, _transaction(conn):
            n: int = conn.execute(INDEX_QUEUED, (limit,)).rowcount
            conn.execute(
                "DELETE FROM search_queue WHERE row IN "
                "(SELECT row FROM search_queue ORDER BY row LIMIT ?)",
                (limit,),
            )
        return n

    def checkpoint(self) -> None:
        """Idle: fold the WAL into the database and truncate it (it otherwise keeps its
        high-water size on disk)."""
        with self._lock:
            self.writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")

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


def _unindex(conn: sqlite3.Connection, old: list[Row]) -> None:
    conn.executemany(UNINDEX, ([r["rowid"], *(r[c] for c in SEARCHED), r["rowid"]] for r in old))


def _in_chunks(conn: sqlite3.Connection, sql: str, ids: list[str]) -> None:
    """`sql` with an `IN ({})` list, run over `ids` 500 at a time (SQLite's variable limit)."""
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        conn.execute(sql.format(", ".join("?" * len(part))), part)


def payload_values(row: Row) -> list[Any]:
    """`blob_refs` (the parts a row uses directly) is stored as a JSON array."""
    refs = row.get("blob_refs")
    body_refs = orjson.dumps(refs).decode() if refs else None
    return [body_refs if c == "body_refs" else row.get(c) for c in PAYLOAD_COLUMNS]


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction, holding the write lock from its start. Two processes write this
    file (the recorder, and the proxy's own small writes): a deferred BEGIN that read first
    and then wrote failed at once with "database is locked" when the other committed in
    between (its snapshot was stale, which the busy timeout does not wait out); IMMEDIATE
    waits its turn at BEGIN instead."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite already rolled back on e.g. SQLITE_FULL
            conn.execute("ROLLBACK")
        raise
