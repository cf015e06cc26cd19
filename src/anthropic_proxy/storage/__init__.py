"""Where exchanges live. `Store` is the contract every backend keeps; `open_store` picks one.

Writes come from the recorder's single writer (its own process, or a thread); reads run in a thread pool and use
`fetch` with portable SQL ('?' placeholders) built in `storage/queries.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

Row = dict[str, Any]


class Store(Protocol):
    """A backend: SQLite (embedded default) or PostgreSQL."""

    dialect: str
    """"sqlite" or "postgresql", for the few queries that differ (text search, index hints)."""

    def open(self) -> None: ...
    def close(self) -> None: ...
    def mark_interrupted(self) -> int:
        """Exchanges left pending by a crash become 'interrupted'; returns how many."""
        ...

    def write(self, rows: Sequence[Row], blobs: dict[str, bytes]) -> None:
        """Upsert exchange rows and their (compressed) blobs in one transaction."""
        ...

    def known_blobs(self, hashes: Sequence[str]) -> set[str]: ...
    def blob(self, ref: str) -> bytes | None:
        """A blob's JSON bytes, decompressed."""
        ...

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...
    def clear(self) -> None: ...
    def size_bytes(self) -> int: ...
    def prune(self, max_records: int, max_age_s: int, max_bytes: int, batch: int = 500) -> int: ...


def open_store(database_url: str, data_dir: Path) -> Store:
    if database_url.startswith(("postgres://", "postgresql://")):
        from anthropic_proxy.storage.postgres import PostgresStore

        return PostgresStore(database_url)
    from anthropic_proxy.storage.sqlite import SQLiteStore

    path = (
        Path(database_url.removeprefix("sqlite:///")) if database_url else data_dir / "exchanges.db"
    )
    return SQLiteStore(path)
