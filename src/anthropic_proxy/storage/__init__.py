"""Where exchanges live. `Store` is the contract every backend keeps; `open_store` picks one.

Writes come from the recorder's single writer (its own process, or a thread); reads run in a thread pool and use
`fetch` with portable SQL ('?' placeholders), built by the readers above (`monitor/queries.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

Row = dict[str, Any]
# What a row written through `Store.write` holds, per table (every backend's column lists).
COLUMNS = (
    (
        "id started_at finished_at kind mode method path query client_addr model upstream_model stream "
        "state status request_ref request_bytes response_bytes ttfb_ms ttft_ms duration_ms "
        "input_tokens output_tokens cache_creation_tokens cache_read_tokens cost_usd price_version "
        "stop_reason upstream_request_id session_id agent_id parent_agent_id error_kind error_message "
        "preview stored_bytes "
        "project tags ratelimit cache_miss_reason cache_missed_tokens calculated_cost_usd "  # usage insight (030_usage_*)
        "provider attempts"  # routing (020_routing_attempts)
    ).split()
)
# Rows before migration 009 kept request_headers, response_headers, upstream_request,
# response_body and timeline in columns of their own; `payload` now holds them packed together.
PAYLOAD_COLUMNS = "id payload body_refs tip".split()
Node = tuple[str, str | None, str]
"""A conversation node: (hash, parent node hash, message part hash); see `storage.bodies`."""


class Store(Protocol):
    """A backend: SQLite (embedded default) or PostgreSQL."""

    dialect: str
    """"sqlite" or "postgresql", for the few queries that differ (text search, index hints)."""

    def open(self) -> None: ...
    def close(self) -> None: ...
    def mark_interrupted(self) -> int:
        """Exchanges left pending by a crash become 'interrupted'; returns how many."""
        ...

    def write(
        self, rows: Sequence[Row], blobs: dict[str, bytes], nodes: Sequence[Node] = ()
    ) -> None:
        """Upsert exchange rows, their new body parts (compressed here) and new conversation
        nodes, and the stats rollup, in one transaction."""
        ...

    def known_blobs(self, hashes: Sequence[str]) -> set[str]: ...
    def blob(self, ref: str) -> bytes | None:
        """A blob's JSON bytes, decompressed."""
        ...

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...
    def clear(self) -> None: ...
    def size_bytes(self) -> int: ...
    def prune(self, max_records: int, max_age_s: int, max_bytes: int, batch: int = 500) -> int:
        """Delete up to `batch` of the oldest finished exchanges over a limit; returns how many."""
        ...

    def sweep(self) -> int:
        """Delete the parts and nodes no exchange uses (after pruning); returns how many parts."""
        ...

    def index_text(self, limit: int) -> int:
        """Index up to `limit` rows still waiting for the text search index; returns how many
        (0: none wait, or the backend indexes as it writes)."""
        ...

    def checkpoint(self) -> None:
        """The recorder is idle: shrink the store's write-ahead files if it has any."""
        ...


def open_store(database_url: str, data_dir: Path) -> Store:
    if database_url.startswith(("postgres://", "postgresql://")):
        from anthropic_proxy.storage.postgres import PostgresStore

        return PostgresStore(database_url)
    from anthropic_proxy.storage.sqlite import SQLiteStore

    path = (
        Path(database_url.removeprefix("sqlite:///")) if database_url else data_dir / "exchanges.db"
    )
    return SQLiteStore(path)
