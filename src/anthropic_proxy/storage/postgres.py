"""PostgreSQL store: the same contract as SQLite, for several proxy instances sharing one database.

Connections: one writer connection (the recorder thread; a lock keeps start-up and shutdown calls
from other threads out of its transactions) and a small pool for the API's reader threads, so a
slow query never waits behind a write. The schema comes from the URL: `?schema=name` (created if
missing; the parameter is ours, libpq never sees it) or libpq's own `?options=-csearch_path%3D...`.

Several instances run migrations and retention at once: migrations hold a transaction-scoped
advisory lock, and `prune` takes a *try* lock, so at most one instance prunes at a time and the
others skip the round instead of queueing. Each write also sends `pg_notify` in its transaction,
so other instances hear of new rows only once they are committed (see `ops.cluster`).

One module (~420 lines) because it is one class: the `Store` contract for PostgreSQL, method for
method beside `sqlite.py`'s; the dialect helpers around it (URL, placeholders, types) are a few
lines each.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
import psycopg
from psycopg import sql as pgsql
from psycopg.adapt import Loader
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from anthropic_proxy.storage import COLUMNS, PAYLOAD_COLUMNS, Node, Row, rollup
from anthropic_proxy.storage.bodies import Compressor, decompress, node_json
from anthropic_proxy.storage.migrations import MIGRATIONS, POSTGRESQL, ddl
from anthropic_proxy.storage.sqlite import (
    ANATOMY_ORPHANS,
    ANATOMY_TABLES,
    SWEEP,
    payload_values,
    upsert,
)

NOTIFY_IDS = 100  # ids per notification: payloads must stay under PostgreSQL's 8000 bytes
TYPES = ((re.compile(r"\bBLOB\b"), "BYTEA"), (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"))
UPSERT = upsert("exchanges", COLUMNS, "%s")
UPSERT_PAYLOAD = upsert("exchange_payloads", PAYLOAD_COLUMNS, "%s")
ROLLUP_UPSERT = rollup.upsert_sql("%s")
OLD_ROWS = f"SELECT {', '.join(rollup.ROW_COLUMNS)} FROM exchanges WHERE id = ANY(%s)"
PG_SWEEP = (
    SWEEP[0],
    "DELETE FROM blobs WHERE hash NOT IN (SELECT message FROM nodes) AND hash NOT IN "
    "(SELECT jsonb_array_elements_text(body_refs::jsonb) FROM exchange_payloads "
    "WHERE body_refs IS NOT NULL) AND hash NOT IN "
    "(SELECT request_ref FROM exchanges WHERE request_ref IS NOT NULL)",
)
PRUNE_LOCK = "anthropic_proxy.prune"
MIGRATE_LOCK = "anthropic_proxy.migrate"


class StaleBlobCache(RuntimeError):
    """A written exchange refers to a body part another instance pruned meanwhile: the recorder's
    cache of known parts is stale. The transaction is rolled back; the recorder clears the cache."""


class _NumericLoader(Loader):
    """numeric (AVG and SUM of integers) as int or float, like SQLite: Decimal is not JSON."""

    def load(self, data: Any) -> int | float:
        text = bytes(data)
        return float(text) if b"." in text or b"N" in text else int(text)


def split_url(url: str) -> tuple[str, str | None]:
    """(libpq URL, schema from `?schema=`): libpq rejects query parameters it does not know."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    scheme = "postgresql" if parts.scheme == "postgres" else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, rest, parts.fragment)), schema or None


@lru_cache(maxsize=512)
def to_pyformat(sql: str) -> str:
    """Portable SQL ('?' placeholders) -> psycopg's: '?' -> %s outside quotes, '%' -> '%%'."""
    out: list[str] = []
    quote = ""
    for char in sql:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "?":
            out.append("%s")
            continue
        out.append("%%" if char == "%" else char)
    return "".join(out)


def translate_ddl(sql: str) -> str:
    for pattern, replacement in TYPES:
        sql = pattern.sub(replacement, sql)
    return sql


class PostgresStore:
    dialect = POSTGRESQL

    def __init__(self, url: str, *, readers: int = 4) -> None:
        self.url, self.schema = split_url(url)
        self.instance_id = secrets.token_hex(6)
        """Tags this process's notifications so `ops.cluster` can skip its own."""
        self.namespace = self.schema or "public"
        """The schema actually used (known after `open`): notification channels are per schema."""
        self._readers = readers
        self._pool: ConnectionPool[psycopg.Connection[Row]] | None = None
        self._writer: psycopg.Connection[Row] | None = None
        self._compress = Compressor()  # body parts, by the one writer connection
        self._lock = threading.RLock()

    # Connections

    def connect(self, **kwargs: Any) -> psycopg.Connection[Row]:
        """A new autocommit connection in the store's schema, for writes."""
        conn = psycopg.connect(self.url, autocommit=True, row_factory=dict_row, **kwargs)
        self._configure(conn)
        # Recording is not a bank ledger: a commit need not wait for the WAL flush (a server
        # crash may lose the last few hundred ms of rows, never corrupt them). This is what
        # lets one writer keep up with small batches; the proxy's crash journal is unaffected.
        conn.execute("SET synchronous_commit TO off")
        return conn

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        conn.adapters.register_loader("numeric", _NumericLoader)
        if self.schema:
            conn.execute(pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(self.schema)))

    def open(self) -> None:
        with self.connect(connect_timeout=10) as conn:
            if self.schema:
                # IF NOT EXISTS still races between two instances starting at once.
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [self.schema])
                    name = pgsql.Identifier(self.schema)
                    conn.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
            self._migrate(conn)
            row = conn.execute("SELECT current_schema() AS s").fetchone()
            self.namespace = str(row["s"]) if row else self.namespace
        self._pool = ConnectionPool(
            self.url,
            min_size=1,
            max_size=self._readers,
            kwargs={"autocommit": True, "row_factory": dict_row},
            configure=self._configure,
            timeout=10,
            open=True,
            name="anthropic-proxy-readers",
        )

    def _migrate(self, conn: psycopg.Connection[Row]) -> None:
        with conn.transaction():
            # Instances starting together apply each step once: the second waits here.
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s || current_schema()))", [MIGRATE_LOCK]
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS migrations "
                "(name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION)"
            )
            done = {r["name"] for r in conn.execute("SELECT name FROM migrations")}
            for name, step in MIGRATIONS:
                if name not in done:
                    conn.execute(translate_ddl(ddl(step, POSTGRESQL)).encode())
                    conn.execute("INSERT INTO migrations VALUES (%s, %s)", [name, time.time()])

    def channel(self, topic: str) -> str:
        """The LISTEN/NOTIFY channel for `topic` in this schema (at most 63 bytes, like names)."""
        return f"anthropic_proxy.{topic}.{self.namespace}"[:63]

    @contextmanager
    def _writing(self) -> Iterator[psycopg.Connection[Row]]:
        """The writer connection, reopened if the server dropped it (restart, network)."""
        with self._lock:
            if self._writer is None or self._writer.closed or self._writer.broken:
                self._writer = self.connect(connect_timeout=10)
            yield self._writer

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    # Writes (recorder thread)

    def mark_interrupted(self) -> int:
        """Pending rows become 'interrupted'. With several instances this also marks another live
        instance's in-flight exchanges; its final upsert overwrites the mark when they finish."""
        with self._writing() as conn, conn.transaction():
            pending = conn.execute(
                OLD_ROWS.replace("id = ANY(%s)", "state = 'pending'") + " FOR UPDATE"
            ).fetchall()
            n = conn.execute(
                "UPDATE exchanges SET state = 'interrupted', error_kind = 'interrupted', "
                "error_message = 'the proxy stopped before this exchange finished' "
                "WHERE id = ANY(%s)",
                [[r["id"] for r in pending]],
            ).rowcount
            changes = rollup.Changes()
            changes.add({**r, "state": "interrupted"} for r in pending)
            if params := changes.params():
                conn.cursor().executemany(ROLLUP_UPSERT, params)
            return n

    def write(
        self, rows: Sequence[Row], blobs: dict[str, bytes], nodes: Sequence[Node] = ()
    ) -> None:
        # One pipeline: the statements go out together and the writer waits for the server
        # about twice per batch, not once per statement (each wait is a GIL hand-off too).
        with (
            self._writing() as conn,
            conn.pipeline() as pipe,
            conn.transaction(),
            conn.cursor() as cur,
        ):
            # Shared with other writers, exclusive with `prune`: a part pruned elsewhere cannot
            # vanish between the reference check below and the commit.
            cur.execute(
                "SELECT pg_advisory_xact_lock_shared(hashtext(%s || current_schema()))",
                [PRUNE_LOCK],
            )
            if blobs:
                cur.executemany(
                    "INSERT INTO blobs (hash, data, raw_bytes) VALUES (%s, %s, %s) "
                    "ON CONFLICT DO NOTHING",
                    [(h, self._compress(raw), len(raw)) for h, raw in blobs.items()],
                )
            if nodes:
                cur.executemany(
                    "INSERT INTO nodes (hash, parent, message) VALUES (%s, %s, %s) "
                    "ON CONFLICT DO NOTHING",
                    list(nodes),
                )
            # The rows as stored before this write, locked: their rollup sums come out.
            old = conn.execute(OLD_ROWS + " FOR UPDATE", [[row["id"] for row in rows]])
            cur.executemany(UPSERT, [[_value(row.get(c)) for c in COLUMNS] for row in rows])
            cur.executemany(
                UPSERT_PAYLOAD, [[_value(v) for v in payload_values(row)] for row in rows]
            )
            _notify(cur, self.channel("exchanges"), self.instance_id, [row["id"] for row in rows])
            refs = sorted(
                {h for row in rows for h in row.get("blob_refs") or ()} | {n[2] for n in nodes}
            )
            chain = sorted(
                {row["tip"] for row in rows if row.get("tip")} | {n[1] for n in nodes if n[1]}
            )
            check = _check_refs(conn, refs, chain)
            pipe.sync()
            changes = rollup.Changes()
            changes.add(old.fetchall(), -1)
            changes.add(rows)
            if params := changes.params():
                cur.executemany(ROLLUP_UPSERT, params)
            if changes.removed:
                cur.execute(rollup.DROP_EMPTY)
            if missing := check.fetchall():
                raise StaleBlobCache(
                    f"{len(missing)} body parts were pruned by another instance since this "
                    "one cached them"
                )

    def known_blobs(self, hashes: Sequence[str]) -> set[str]:
        with self._writing() as conn:
            rows = conn.execute("SELECT hash FROM blobs WHERE hash = ANY(%s)", [list(hashes)])
            return {r["hash"] for r in rows}

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._writing() as conn:
            return conn.execute(to_pyformat(sql).encode(), list(params)).rowcount

    def clear(self) -> None:
        with self._writing() as conn:
            conn.execute(
                "TRUNCATE exchanges, exchange_payloads, nodes, blobs, exchange_rollup, "
                f"{', '.join(ANATOMY_TABLES)}"
            )

    def prune(self, max_records: int, max_age_s: int, max_bytes: int, batch: int = 500) -> int:
        """Delete up to `batch` of the oldest finished exchanges over any limit (`sweep` frees
        their parts). Returns 0 at once when another instance is pruning (it holds the lock)."""
        with self._writing() as conn, conn.transaction():
            if not _try_prune_lock(conn):
                return 0
            victims = self._victims(conn, max_records, max_age_s, max_bytes, batch)
            if victims:
                _delete(conn, victims)
            return len(victims)

    def sweep(self) -> int:
        """Delete unused nodes and parts; skipped (0) while another instance prunes or sweeps.
        Exclusive with writes (they hold the prune lock shared): a part a write is about to
        reference cannot be swept between its check and its commit."""
        with self._writing() as conn, conn.transaction():
            if not _try_prune_lock(conn):
                return 0
            conn.execute(PG_SWEEP[0])
            for orphans in ANATOMY_ORPHANS:
                conn.execute(orphans)
            return conn.execute(PG_SWEEP[1]).rowcount

    def index_text(self, limit: int) -> int:
        """PostgreSQL's trigram index (pg_trgm) is kept by the server as rows are written."""
        return 0

    def checkpoint(self) -> None:
        """PostgreSQL manages its own WAL."""

    def _victims(
        self,
        conn: psycopg.Connection[Row],
        max_records: int,
        max_age_s: int,
        max_bytes: int,
        batch: int,
    ) -> list[str]:
        oldest = "SELECT id FROM exchanges WHERE state != 'pending' {} ORDER BY started_at LIMIT %s"
        over = 0
        if max_records:
            count = conn.execute("SELECT COUNT(*) AS n FROM exchanges").fetchone()
            over = (count["n"] if count else 0) - max_records
        if max_bytes and self._size(conn) > max_bytes:
            over = max(over, batch)
        ids = []
        if over > 0:
            ids = [r["id"] for r in conn.execute(oldest.format("").encode(), [min(over, batch)])]
        if max_age_s:
            cutoff = time.time() - max_age_s
            query = oldest.format("AND started_at < %s").encode()
            ids += [r["id"] for r in conn.execute(query, [cutoff, batch])]
        return list(dict.fromkeys(ids))

    # Reads (API thread pool)

    @contextmanager
    def _reading(self) -> Iterator[psycopg.Connection[Row]]:
        if self._pool is None:
            raise RuntimeError("PostgresStore.open() was not called")
        with self._pool.connection() as conn:
            yield conn

    def blob(self, ref: str) -> bytes | None:
        """A part's JSON, or a node's (`bodies.node_json`): both are addressed by hash."""
        with self._reading() as conn:
            row = conn.execute("SELECT data FROM blobs WHERE hash = %s", [ref]).fetchone()
            if row:
                return decompress(bytes(row["data"]))
            node = conn.execute(
                "SELECT parent, message FROM nodes WHERE hash = %s", [ref]
            ).fetchone()
        return node_json(node["parent"], node["message"]) if node else None

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._reading() as conn:
            return conn.execute(to_pyformat(sql).encode(), list(params)).fetchall()

    def size_bytes(self) -> int:
        with self._reading() as conn:
            return self._size(conn)

    def _size(self, conn: psycopg.Connection[Row]) -> int:
        row = conn.execute(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) AS n FROM pg_class c "
            "WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace "
            "AND c.relname IN ('exchanges', 'exchange_payloads', 'nodes', 'blobs')"
        ).fetchone()
        return int(row["n"]) if row else 0


def _value(value: Any) -> Any:
    """SQLite stores a bool as 0/1; PostgreSQL has no implicit bool -> integer cast."""
    return int(value) if isinstance(value, bool) else value


def _check_refs(
    conn: psycopg.Connection[Row], parts: list[str], nodes: list[str]
) -> psycopg.Cursor[Row]:
    """Referenced parts missing from `blobs` and nodes missing from `nodes` (read after the
    pipeline's next sync)."""
    return conn.execute(
        "SELECT h FROM unnest(%s::text[]) AS h WHERE NOT EXISTS "
        "(SELECT 1 FROM blobs b WHERE b.hash = h) UNION ALL "
        "SELECT h FROM unnest(%s::text[]) AS h WHERE NOT EXISTS "
        "(SELECT 1 FROM nodes n WHERE n.hash = h)",
        [parts, nodes],
    )


def _notify(cur: psycopg.Cursor[Row], channel: str, instance: str, ids: list[str]) -> None:
    for start in range(0, len(ids), NOTIFY_IDS):
        payload = orjson.dumps({"from": instance, "ids": ids[start : start + NOTIFY_IDS]})
        cur.execute("SELECT pg_notify(%s, %s)", [channel, payload.decode()])


def _try_prune_lock(conn: psycopg.Connection[Row]) -> bool:
    """The transaction-scoped prune lock, if no other instance holds it."""
    lock = conn.execute(
        "SELECT pg_try_advisory_xact_lock(hashtext(%s || current_schema())) AS ok", [PRUNE_LOCK]
    ).fetchone()
    return bool(lock and lock["ok"])


def _delete(conn: psycopg.Connection[Row], victims: list[str]) -> None:
    changes = rollup.Changes()
    changes.add(conn.execute(OLD_ROWS, [victims]).fetchall(), -1)
    conn.execute("DELETE FROM exchanges WHERE id = ANY(%s)", [victims])
    conn.execute("DELETE FROM exchange_payloads WHERE id = ANY(%s)", [victims])
    for table in ANATOMY_TABLES:
        conn.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", [victims])
    if params := changes.params():
        conn.cursor().executemany(ROLLUP_UPSERT, params)
    conn.execute(rollup.DROP_EMPTY)
