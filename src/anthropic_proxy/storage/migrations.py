"""Ordered, named schema steps, each a fixed SQL text in `schema/`.

A step's text never changes once it has shipped: stores that applied it must agree with stores
that apply it today, so nothing in it is generated from today's constants (006-008 once were;
their files hold the text they generated). A schema change is a new step: a new file and a new
line in `MIGRATIONS`. The files keep the text as it was applied, indentation included: SQLite
stores each CREATE's text in `sqlite_master`.

Applied names are kept in the `migrations` table. SQL is portable between SQLite and PostgreSQL
(the PostgreSQL store swaps BLOB for BYTEA and REAL for DOUBLE PRECISION), except steps with a
file per dialect (`NAME.sqlite.sql`, `NAME.postgresql.sql`: triggers, full-text search).

Imports nothing beyond `os`: the statusline's short path (`usage/quickline.py`) reads the names.
"""

from __future__ import annotations

import os

SQLITE, POSTGRESQL = "sqlite", "postgresql"
ROLLUP_WIDTHS = (60, 1800, 3 * 3600)
"""`exchange_rollup` keeps per-minute, -half-hour and -3-hour sums of finished exchanges (the
levels 008 created); stats read the coarsest level dividing their chart buckets (1 min … 30
days) instead of every row. Each width divides the next, so finer levels fill the partial slots
at the ends of a range."""
SCHEMA_DIR = os.path.join(os.path.dirname(__file__), "schema")


def _step(name: str, *, per_dialect: bool = False) -> tuple[str, str]:
    """(name, its file in `schema/`, with `{dialect}` where there is one file per dialect)."""
    return name, f"{name}.{{dialect}}.sql" if per_dialect else f"{name}.sql"


MIGRATIONS: tuple[tuple[str, str], ...] = (
    # Applied in this order (030-032 were named on a branch before 020).
    _step("001_exchanges"),  # exchanges, exchange_payloads (the bulky columns), the view
    _step("002_exchange_indexes"),
    _step("003_blobs"),  # content-addressed bodies (dropped by 009 for nodes + payload)
    _step("004_shared_state"),  # shared_config and alerts_sent, across instances
    _step("005_sort_and_percentile_indexes"),
    # 006: exchange_rollup at 60 s and 1 h, kept by triggers.
    _step("006_stats_rollup", per_dialect=True),
    # 007: a trigram index for substring search; the LIKE still runs on the candidates. PostgreSQL
    # uses pg_trgm when the server has it, else searches scan.
    _step("007_text_search", per_dialect=True),
    # 008: rollup levels ROLLUP_WIDTHS, finished exchanges only (pending rows are added when they
    # finish); WITHOUT ROWID keeps each slot's rows together.
    _step("008_stats_rollup_levels", per_dialect=True),
    # 009: the recorder's cost per exchange and the store's size (issue 10): no rollup triggers
    # (storage/rollup.py sums per batch), deferred text indexing via search_queue, conversation
    # chains in `nodes`, one packed `payload` per exchange.
    _step("009_recorder_v2", per_dialect=True),
    # 030: usage insight (issue 14): attribution, rate-limit readings, cache diagnostics; the view
    # is re-created so PostgreSQL (which froze `e.*` at creation) shows the new columns.
    _step("030_usage_columns"),
    _step("031_usage_anatomy"),  # context anatomy vectors, computed on demand
    _step("032_usage_backend_priced"),  # the few exchanges the upstream priced itself
    _step("020_routing_attempts"),  # routing (issue 13): provider and failover attempts
    # 040: SQLite's search queue and text index kept by the store's writer, not by triggers (a
    # trigger made every insert a multi-row statement: SQLite then copies each page the row
    # touches into a statement journal first, ~360 KB per exchange).
    _step("040_search_queue_by_writer", per_dialect=True),
    # 041: context-anatomy parts, one row per (exchange, category) with its share of the input
    # cost, so totals over a range are a plain SUM (issue 14), and a partial index of the empty
    # vectors (requests that could not be analysed).
    _step("041_anatomy_parts", per_dialect=True),
)


def ddl(step: str, dialect: str) -> str:
    """A migration step's SQL for one dialect, read from its file."""
    with open(os.path.join(SCHEMA_DIR, step.format(dialect=dialect)), encoding="utf-8") as file:
        return file.read()
