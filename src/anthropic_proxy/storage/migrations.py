"""Ordered, named schema steps. Applied names are kept in `migrations`; SQL is portable between
SQLite and PostgreSQL (the PostgreSQL store swaps BLOB for BYTEA and REAL for DOUBLE PRECISION),
except steps given as `{dialect: sql}` (triggers, full-text search), picked by `ddl`."""

from __future__ import annotations

SQLITE, POSTGRESQL = "sqlite", "postgresql"
ROLLUP_WIDTHS = (60, 1800, 3 * 3600)
"""`exchange_rollup` keeps per-minute, -half-hour and -3-hour sums of finished exchanges; stats
read the coarsest level dividing their chart buckets (1 min … 30 days) instead of every row.
Each width divides the next, so finer levels fill the partial slots at the ends of a range."""
V1_ROLLUP_WIDTHS = (60, 3600)  # what 006 created
# (rollup column, value for one exchange row `R`); sums of COALESCEd values, counts of non-NULL.
ROLLUP_MEASURES = (
    ("n", "1"),
    ("n_duration", "CASE WHEN R.duration_ms IS NULL THEN 0 ELSE 1 END"),
    ("sum_duration", "COALESCE(R.duration_ms, 0)"),
    ("n_ttft", "CASE WHEN R.ttft_ms IS NULL THEN 0 ELSE 1 END"),
    ("sum_ttft", "COALESCE(R.ttft_ms, 0)"),
    ("input", "COALESCE(R.input_tokens, 0)"),
    ("output", "COALESCE(R.output_tokens, 0)"),
    ("cache_read", "COALESCE(R.cache_read_tokens, 0)"),
    ("cache_write", "COALESCE(R.cache_creation_tokens, 0)"),
    ("cost", "COALESCE(R.cost_usd, 0)"),
    ("request_bytes", "R.request_bytes"),
    ("response_bytes", "R.response_bytes"),
)
ROLLUP_KEYS = (
    ("state", "R.state"),
    ("status", "COALESCE(R.status, 0)"),
    ("model", "COALESCE(R.model, '')"),
    ("mode", "R.mode"),
    ("kind", "R.kind"),
)
SEARCH_COLUMNS = ("preview", "model", "upstream_model", "error_message")


def _rollup_upsert(row: str, sign: int, width: int, slot: str) -> str:
    """One exchange row (NEW or OLD) added to (sign 1) or taken from (-1) its rollup rows."""
    keys = ", ".join(k for k, _ in ROLLUP_KEYS)
    values = [
        str(width),
        slot.replace("R.", f"{row}."),
        *(v.replace("R.", f"{row}.") for _, v in ROLLUP_KEYS),
    ]
    values += [
        f"{'-' if sign < 0 else ''}({v.replace('R.', f'{row}.')})" for _, v in ROLLUP_MEASURES
    ]
    sets = ", ".join(f"{m} = exchange_rollup.{m} + excluded.{m}" for m, _ in ROLLUP_MEASURES)
    return (
        f"INSERT INTO exchange_rollup (width, slot, {keys}, {', '.join(m for m, _ in ROLLUP_MEASURES)}) "
        f"VALUES ({', '.join(values)}) ON CONFLICT (width, slot, {keys}) DO UPDATE SET {sets};"
    )


def _slot(dialect: str) -> str:
    # started_at is positive, so SQLite's truncating CAST floors; PostgreSQL's CAST would round.
    return (
        "CAST(R.started_at / {w} AS INTEGER)"
        if dialect == SQLITE
        else "FLOOR(R.started_at / {w})::BIGINT"
    )


def _rollup_steps(
    row: str, sign: int, dialect: str, widths: tuple[int, ...] = V1_ROLLUP_WIDTHS
) -> str:
    return "\n".join(_rollup_upsert(row, sign, w, _slot(dialect).format(w=w)) for w in widths)


def _rollup_drop_empty(row: str, dialect: str) -> str:
    """Rollup rows of one exchange row (OLD) that no exchange adds to any more, deleted: slots
    emptied by pruning must not pile up (stats look for the first and last non-empty slot)."""
    keys = " AND ".join(f"{k} = {v.replace('R.', f'{row}.')}" for k, v in ROLLUP_KEYS)
    return "\n".join(
        f"DELETE FROM exchange_rollup WHERE width = {w} AND "
        f"slot = {_slot(dialect).format(w=w).replace('R.', f'{row}.')} AND {keys} AND n = 0;"
        for w in ROLLUP_WIDTHS
    )


def _rollup_backfill(
    dialect: str, widths: tuple[int, ...] = V1_ROLLUP_WIDTHS, where: str = ""
) -> str:
    slot = _slot(dialect).replace("R.", "")
    keys = ", ".join(k for k, _ in ROLLUP_KEYS)
    measures = ", ".join(m for m, _ in ROLLUP_MEASURES)
    return "\n".join(
        f"INSERT INTO exchange_rollup (width, slot, {keys}, {measures}) "
        f"SELECT {w}, {slot.format(w=w)}, {', '.join(v.replace('R.', '') for _, v in ROLLUP_KEYS)}, "
        f"{', '.join(f'SUM({v})'.replace('R.', '') for _, v in ROLLUP_MEASURES)} FROM exchanges "
        f"{where} GROUP BY {slot.format(w=w)}, "
        f"{', '.join(v.replace('R.', '') for _, v in ROLLUP_KEYS)};"
        for w in widths
    )


ROLLUP_TABLE = f"""
CREATE TABLE exchange_rollup (         -- sums per (slot, state, status, model, mode, kind)
    width INTEGER NOT NULL,            -- slot width in seconds: 60 or 3600
    slot BIGINT NOT NULL,              -- floor(started_at / width)
    state TEXT NOT NULL, status INTEGER NOT NULL, model TEXT NOT NULL, mode TEXT NOT NULL,
    kind TEXT NOT NULL,
    n INTEGER NOT NULL, n_duration INTEGER NOT NULL, sum_duration REAL NOT NULL,
    n_ttft INTEGER NOT NULL, sum_ttft REAL NOT NULL, input BIGINT NOT NULL, output BIGINT NOT NULL,
    cache_read BIGINT NOT NULL, cache_write BIGINT NOT NULL, cost REAL NOT NULL,
    request_bytes BIGINT NOT NULL, response_bytes BIGINT NOT NULL,
    PRIMARY KEY (width, slot, {", ".join(k for k, _ in ROLLUP_KEYS)})
);
"""
ROLLUP_TABLE_V2 = ROLLUP_TABLE.replace(
    "-- slot width in seconds: 60 or 3600", "-- slot width in seconds: ROLLUP_WIDTHS"
)
NOT_PENDING = "state <> 'pending'"
ROLLUP_V2 = {
    # Finished exchanges only: a pending row is added once, when it finishes (the recorder writes
    # long exchanges twice, begin and finish), and stats count pending rows from `exchanges`.
    # WITHOUT ROWID keeps each slot's rows together in primary-key order: one b-tree per upsert
    # and a range read per query.
    SQLITE: f"""
    DROP TRIGGER exchanges_rollup_insert;
    DROP TRIGGER exchanges_rollup_update;
    DROP TRIGGER exchanges_rollup_delete;
    DROP TABLE exchange_rollup;
    {ROLLUP_TABLE_V2.rstrip().removesuffix(";")} WITHOUT ROWID;
    CREATE TRIGGER exchanges_rollup_insert AFTER INSERT ON exchanges
    WHEN NEW.{NOT_PENDING} BEGIN
    {_rollup_steps("NEW", 1, SQLITE, ROLLUP_WIDTHS)}
    END;
    CREATE TRIGGER exchanges_rollup_update_old AFTER UPDATE ON exchanges
    WHEN OLD.{NOT_PENDING} BEGIN
    {_rollup_steps("OLD", -1, SQLITE, ROLLUP_WIDTHS)}
    {_rollup_drop_empty("OLD", SQLITE)}
    END;
    CREATE TRIGGER exchanges_rollup_update_new AFTER UPDATE ON exchanges
    WHEN NEW.{NOT_PENDING} BEGIN
    {_rollup_steps("NEW", 1, SQLITE, ROLLUP_WIDTHS)}
    END;
    CREATE TRIGGER exchanges_rollup_delete AFTER DELETE ON exchanges
    WHEN OLD.{NOT_PENDING} BEGIN
    {_rollup_steps("OLD", -1, SQLITE, ROLLUP_WIDTHS)}
    {_rollup_drop_empty("OLD", SQLITE)}
    END;
    {_rollup_backfill(SQLITE, ROLLUP_WIDTHS, f"WHERE {NOT_PENDING}")}
    """,
    POSTGRESQL: f"""
    DROP TRIGGER exchanges_rollup ON exchanges;
    DROP FUNCTION exchanges_rollup();
    DROP TABLE exchange_rollup;
    {ROLLUP_TABLE_V2}
    CREATE FUNCTION exchanges_rollup() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            IF OLD.{NOT_PENDING} THEN
                {_rollup_steps("OLD", -1, POSTGRESQL, ROLLUP_WIDTHS)}
                {_rollup_drop_empty("OLD", POSTGRESQL)}
            END IF;
        END IF;
        IF TG_OP <> 'DELETE' THEN
            IF NEW.{NOT_PENDING} THEN
                {_rollup_steps("NEW", 1, POSTGRESQL, ROLLUP_WIDTHS)}
            END IF;
        END IF;
        RETURN NULL;
    END $fn$;
    CREATE TRIGGER exchanges_rollup AFTER INSERT OR UPDATE OR DELETE ON exchanges
        FOR EACH ROW EXECUTE FUNCTION exchanges_rollup();
    {_rollup_backfill(POSTGRESQL, ROLLUP_WIDTHS, f"WHERE {NOT_PENDING}")}
    """,
}
USAGE_VIEW = """
    DROP VIEW exchange_details;
    CREATE VIEW exchange_details AS
        SELECT e.*, p.request_headers, p.response_headers, p.upstream_request,
               p.response_body, p.timeline, p.payload
        FROM exchanges e LEFT JOIN exchange_payloads p ON p.id = e.id
"""
USAGE_COLUMNS = (
    # Usage insight (issue 14): attribution, rate-limit readings, upstream cache diagnostics.
    # The view is re-created so PostgreSQL (which froze `e.*` at creation) shows the new columns.
    """
    ALTER TABLE exchanges ADD COLUMN project TEXT;                -- working directory or header
    ALTER TABLE exchanges ADD COLUMN tags TEXT;                   -- 'a,b' sorted, from x-proxy-tags
    ALTER TABLE exchanges ADD COLUMN ratelimit TEXT;              -- JSON of anthropic-ratelimit-*
    ALTER TABLE exchanges ADD COLUMN cache_miss_reason TEXT;      -- upstream diagnostics
    ALTER TABLE exchanges ADD COLUMN cache_missed_tokens INTEGER;
    ALTER TABLE exchanges ADD COLUMN calculated_cost_usd REAL;    -- genai-prices, when cost_usd
                                                                  -- is the upstream's own
    CREATE INDEX exchanges_project_started ON exchanges (project, started_at);
    CREATE INDEX exchanges_ratelimit_started ON exchanges (started_at) WHERE ratelimit IS NOT NULL;
    """
    + USAGE_VIEW
)
SEARCH_ALL = " || ' ' || ".join(f"COALESCE({c}, '')" for c in SEARCH_COLUMNS)

# 009: the recorder's cost per exchange and the store's size (issue 10). Fixed text: a past
# migration must not change when today's constants do.
RECORDER_V2 = {
    SQLITE: """
    DROP TRIGGER exchanges_rollup_insert;
    DROP TRIGGER exchanges_rollup_update_old;
    DROP TRIGGER exchanges_rollup_update_new;
    DROP TRIGGER exchanges_rollup_delete;
    DROP TRIGGER exchanges_search_insert;
    DROP TRIGGER exchanges_search_delete;
    DROP TRIGGER exchanges_search_update;
    DROP TABLE exchanges_search;
    -- detail=none: no token positions, a fifth of the size and half the cost per row; a search
    -- ANDs the query's trigrams (a superset) and the LIKE decides, as before.
    CREATE VIRTUAL TABLE exchanges_search USING fts5(
        preview, model, upstream_model, error_message, content='exchanges', content_rowid='rowid',
        tokenize='trigram', detail='none');
    -- Indexing is deferred: a new row only joins `search_queue`, and the recorder indexes the
    -- queue a few thousand rows at a time when it has a moment (`SQLiteStore.index_text`);
    -- searches scan the queued rows with LIKE, so results never miss a row. Trigram indexing
    -- was three quarters of the cost of writing a row.
    CREATE TABLE search_queue (row INTEGER PRIMARY KEY);
    CREATE TRIGGER exchanges_search_insert AFTER INSERT ON exchanges BEGIN
        INSERT INTO search_queue SELECT NEW.rowid  -- not OR IGNORE: an UPSERT overrides it
        WHERE NOT EXISTS (SELECT 1 FROM search_queue WHERE row = NEW.rowid);
    END;
    CREATE TRIGGER exchanges_search_delete AFTER DELETE ON exchanges BEGIN
        INSERT INTO exchanges_search (exchanges_search, rowid, preview, model, upstream_model,
            error_message)
        SELECT 'delete', OLD.rowid, OLD.preview, OLD.model, OLD.upstream_model, OLD.error_message
        WHERE NOT EXISTS (SELECT 1 FROM search_queue WHERE row = OLD.rowid);
        DELETE FROM search_queue WHERE row = OLD.rowid;
    END;
    CREATE TRIGGER exchanges_search_update AFTER UPDATE OF preview, model, upstream_model,
        error_message ON exchanges BEGIN
        INSERT INTO exchanges_search (exchanges_search, rowid, preview, model, upstream_model,
            error_message)
        SELECT 'delete', OLD.rowid, OLD.preview, OLD.model, OLD.upstream_model, OLD.error_message
        WHERE NOT EXISTS (SELECT 1 FROM search_queue WHERE row = OLD.rowid);
        INSERT INTO search_queue SELECT NEW.rowid  -- not OR IGNORE: an UPSERT overrides it
        WHERE NOT EXISTS (SELECT 1 FROM search_queue WHERE row = NEW.rowid);
    END;
    INSERT INTO exchanges_search (exchanges_search) VALUES ('rebuild');
    CREATE TABLE nodes (                   -- conversation chains: see storage/bodies.py
        hash TEXT PRIMARY KEY,             -- digest of "parent:message"
        parent TEXT,                       -- the node before, NULL for a first message
        message TEXT NOT NULL              -- blobs.hash of the message
    ) WITHOUT ROWID;
    ALTER TABLE exchange_payloads ADD COLUMN body_refs TEXT;  -- JSON array: parts used directly
    ALTER TABLE exchange_payloads ADD COLUMN tip TEXT;        -- nodes.hash of the last message
    ALTER TABLE exchange_payloads ADD COLUMN payload BLOB;    -- headers, response, timeline: packed
    DROP VIEW exchange_details;
    CREATE VIEW exchange_details AS
        SELECT e.*, p.request_headers, p.response_headers, p.upstream_request,
               p.response_body, p.timeline, p.payload
        FROM exchanges e LEFT JOIN exchange_payloads p ON p.id = e.id;
    UPDATE exchange_payloads SET body_refs = (
        SELECT json_group_array(hash) FROM exchange_blobs b WHERE b.exchange_id = exchange_payloads.id);
    DROP TABLE exchange_blobs
    """,
    POSTGRESQL: """
    DROP TRIGGER exchanges_rollup ON exchanges;
    DROP FUNCTION exchanges_rollup();
    CREATE TABLE nodes (hash TEXT PRIMARY KEY, parent TEXT, message TEXT NOT NULL);
    ALTER TABLE exchange_payloads ADD COLUMN body_refs TEXT;
    ALTER TABLE exchange_payloads ADD COLUMN tip TEXT;
    ALTER TABLE exchange_payloads ADD COLUMN payload BLOB;
    DROP VIEW exchange_details;
    CREATE VIEW exchange_details AS
        SELECT e.*, p.request_headers, p.response_headers, p.upstream_request,
               p.response_body, p.timeline, p.payload
        FROM exchanges e LEFT JOIN exchange_payloads p ON p.id = e.id;
    UPDATE exchange_payloads p SET body_refs = (
        SELECT json_agg(hash)::text FROM exchange_blobs b WHERE b.exchange_id = p.id);
    DROP TABLE exchange_blobs
    """,
}

MIGRATIONS: tuple[tuple[str, str | dict[str, str]], ...] = (
    (
        "001_exchanges",
        """
        CREATE TABLE exchanges (
            id TEXT PRIMARY KEY,
            started_at REAL NOT NULL,          -- unix seconds
            finished_at REAL,
            kind TEXT NOT NULL,                -- messages | count_tokens | models | other
            mode TEXT NOT NULL,                -- anthropic | openrouter
            method TEXT NOT NULL,
            path TEXT NOT NULL,
            query TEXT NOT NULL DEFAULT '',
            client_addr TEXT,
            model TEXT,                        -- as the client asked
            upstream_model TEXT,               -- backend model (translation mode)
            stream INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL,               -- pending success error client_closed timeout interrupted
            status INTEGER,
            request_ref TEXT,                  -- blobs.hash of the body skeleton (content-addressed)
            request_bytes INTEGER NOT NULL DEFAULT 0,
            response_bytes INTEGER NOT NULL DEFAULT 0,
            ttfb_ms REAL,
            ttft_ms REAL,
            duration_ms REAL,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cache_creation_tokens INTEGER,
            cache_read_tokens INTEGER,
            cost_usd REAL,
            price_version TEXT,
            stop_reason TEXT,
            upstream_request_id TEXT,
            session_id TEXT,
            agent_id TEXT,
            parent_agent_id TEXT,
            error_kind TEXT,
            error_message TEXT,
            preview TEXT,                      -- last user text + reply text, for search and lists
            stored_bytes INTEGER NOT NULL DEFAULT 0
        );
        -- The bulky columns live apart: stats and lists scan `exchanges` without paging through
        -- compressed bodies (5x faster aggregates at 100k rows).
        CREATE TABLE exchange_payloads (
            id TEXT PRIMARY KEY,
            request_headers TEXT,              -- JSON, secrets masked
            response_headers TEXT,             -- JSON, secrets masked
            upstream_request BLOB,             -- compressed JSON sent to the backend (translation)
            response_body BLOB,                -- compressed: JSON body, or the message rebuilt from a stream
            timeline BLOB                      -- compressed JSON [[offset_ms, event, bytes], ...]
        );
        CREATE VIEW exchange_details AS
            SELECT e.*, p.request_headers, p.response_headers, p.upstream_request,
                   p.response_body, p.timeline
            FROM exchanges e LEFT JOIN exchange_payloads p ON p.id = e.id
        """,
    ),
    (
        "002_exchange_indexes",
        """
        CREATE INDEX exchanges_started ON exchanges (started_at);
        CREATE INDEX exchanges_state_started ON exchanges (state, started_at);
        CREATE INDEX exchanges_model_started ON exchanges (model, started_at);
        CREATE INDEX exchanges_session_started ON exchanges (session_id, started_at);
        CREATE INDEX exchanges_kind_started ON exchanges (kind, started_at)
        """,
    ),
    (
        "003_blobs",
        """
        CREATE TABLE blobs (
            hash TEXT PRIMARY KEY,             -- blake2b-128 of the canonical JSON
            data BLOB NOT NULL,                -- zlib-compressed canonical JSON
            raw_bytes INTEGER NOT NULL
        );
        CREATE TABLE exchange_blobs (
            exchange_id TEXT NOT NULL,
            hash TEXT NOT NULL,
            PRIMARY KEY (exchange_id, hash)
        );
        CREATE INDEX exchange_blobs_hash ON exchange_blobs (hash)
        """,
    ),
    (
        "004_shared_state",
        """
        CREATE TABLE shared_config (           -- runtime config shared by instances (PostgreSQL)
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL,               -- JSON
            updated_at REAL NOT NULL,
            updated_by TEXT
        );
        CREATE TABLE alerts_sent (             -- one webhook per budget and period, across instances
            key TEXT PRIMARY KEY,
            sent_at REAL NOT NULL
        )
        """,
    ),
    (
        "005_sort_and_percentile_indexes",
        """
        CREATE INDEX exchanges_duration ON exchanges
            (duration_ms, id, started_at, state, model, mode, kind, status);
        CREATE INDEX exchanges_ttft ON exchanges
            (ttft_ms, id, started_at, state, model, mode, kind, status);
        CREATE INDEX exchanges_ttfb ON exchanges (ttfb_ms, id);
        CREATE INDEX exchanges_cost ON exchanges (cost_usd, id);
        CREATE INDEX exchanges_input ON exchanges (input_tokens, id);
        CREATE INDEX exchanges_output ON exchanges (output_tokens, id);
        CREATE INDEX exchanges_status ON exchanges (status, id);
        CREATE INDEX exchanges_request_bytes ON exchanges (request_bytes, id);
        CREATE INDEX exchanges_response_bytes ON exchanges (response_bytes, id);
        CREATE INDEX exchanges_mode_started ON exchanges (mode, started_at)
        """,
    ),
    (
        "006_stats_rollup",
        {
            SQLITE: ROLLUP_TABLE
            + f"""
            CREATE TRIGGER exchanges_rollup_insert AFTER INSERT ON exchanges BEGIN
            {_rollup_steps("NEW", 1, SQLITE)}
            END;
            CREATE TRIGGER exchanges_rollup_update AFTER UPDATE ON exchanges BEGIN
            {_rollup_steps("OLD", -1, SQLITE)}
            {_rollup_steps("NEW", 1, SQLITE)}
            END;
            CREATE TRIGGER exchanges_rollup_delete AFTER DELETE ON exchanges BEGIN
            {_rollup_steps("OLD", -1, SQLITE)}
            END;
            {_rollup_backfill(SQLITE)}
            """,
            POSTGRESQL: ROLLUP_TABLE
            + f"""
            CREATE FUNCTION exchanges_rollup() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
                IF TG_OP <> 'INSERT' THEN
                    {_rollup_steps("OLD", -1, POSTGRESQL)}
                END IF;
                IF TG_OP <> 'DELETE' THEN
                    {_rollup_steps("NEW", 1, POSTGRESQL)}
                END IF;
                RETURN NULL;
            END $fn$;
            CREATE TRIGGER exchanges_rollup AFTER INSERT OR UPDATE OR DELETE ON exchanges
                FOR EACH ROW EXECUTE FUNCTION exchanges_rollup();
            {_rollup_backfill(POSTGRESQL)}
            """,
        },
    ),
    (
        "007_text_search",
        {
            # Trigram full-text index: substring search (LIKE '%q%') without reading every row;
            # the LIKE still runs on the candidates, so results are the same as without it.
            SQLITE: f"""
            CREATE VIRTUAL TABLE exchanges_search USING fts5(
                {", ".join(SEARCH_COLUMNS)}, content='exchanges', content_rowid='rowid',
                tokenize='trigram');
            CREATE TRIGGER exchanges_search_insert AFTER INSERT ON exchanges BEGIN
                INSERT INTO exchanges_search (rowid, {", ".join(SEARCH_COLUMNS)})
                VALUES (NEW.rowid, {", ".join("NEW." + c for c in SEARCH_COLUMNS)});
            END;
            CREATE TRIGGER exchanges_search_delete AFTER DELETE ON exchanges BEGIN
                INSERT INTO exchanges_search (exchanges_search, rowid, {", ".join(SEARCH_COLUMNS)})
                VALUES ('delete', OLD.rowid, {", ".join("OLD." + c for c in SEARCH_COLUMNS)});
            END;
            CREATE TRIGGER exchanges_search_update AFTER UPDATE OF {", ".join(SEARCH_COLUMNS)}
            ON exchanges BEGIN
                INSERT INTO exchanges_search (exchanges_search, rowid, {", ".join(SEARCH_COLUMNS)})
                VALUES ('delete', OLD.rowid, {", ".join("OLD." + c for c in SEARCH_COLUMNS)});
                INSERT INTO exchanges_search (rowid, {", ".join(SEARCH_COLUMNS)})
                VALUES (NEW.rowid, {", ".join("NEW." + c for c in SEARCH_COLUMNS)});
            END;
            INSERT INTO exchanges_search (exchanges_search) VALUES ('rebuild')
            """,
            # pg_trgm when the server has it (a GIN index serves LOWER(col) LIKE '%q%'); without
            # it searches scan, as before.
            POSTGRESQL: """
            DO $do$ BEGIN
                CREATE EXTENSION IF NOT EXISTS pg_trgm;
            EXCEPTION WHEN OTHERS THEN
                RAISE NOTICE 'pg_trgm unavailable: text search scans';
            END $do$;
            DO $do$ DECLARE ns TEXT; BEGIN
                SELECT n.nspname INTO ns FROM pg_extension x
                    JOIN pg_namespace n ON n.oid = x.extnamespace WHERE x.extname = 'pg_trgm';
                IF ns IS NOT NULL THEN
                    EXECUTE format('CREATE INDEX exchanges_search ON exchanges USING gin ('
                        'LOWER(preview) %1$I.gin_trgm_ops, LOWER(model) %1$I.gin_trgm_ops, '
                        'LOWER(upstream_model) %1$I.gin_trgm_ops, '
                        'LOWER(error_message) %1$I.gin_trgm_ops)', ns);
                END IF;
            END $do$
            """,
        },
    ),
    ("008_stats_rollup_levels", ROLLUP_V2),
    ("009_recorder_v2", RECORDER_V2),
    ("030_usage_columns", USAGE_COLUMNS),
    (
        "031_usage_anatomy",
        # Context anatomy vectors, computed on demand by `usage.anatomy` (never by the recorder);
        # rows of pruned exchanges are never read (reads join by id) and are harmless.
        """
        CREATE TABLE exchange_anatomy (
            id TEXT PRIMARY KEY,               -- exchanges.id
            started_at REAL NOT NULL,
            vector TEXT NOT NULL,              -- JSON {category: tokens}, adds up to reported input
            input_cost_usd REAL                -- genai-prices cost of the exchange's input
        )
        """,
    ),
    (
        "032_usage_backend_priced",
        # Reports read whole half-hours from exchange_rollup; the few exchanges priced by the
        # upstream itself (OpenRouter usage.cost) are found here to show both prices.
        "CREATE INDEX exchanges_backend_priced ON exchanges (started_at) "
        "WHERE price_version = 'backend usage.cost'",
    ),
    (
        "020_routing_attempts",
        # Routing (issue 13): which provider served, and every attempt when there were several
        # (NULL for the usual single attempt: provider and status say it all). Fixed text.
        """
        ALTER TABLE exchanges ADD COLUMN provider TEXT;   -- routing provider that answered
        ALTER TABLE exchanges ADD COLUMN attempts TEXT;   -- JSON [{provider, model, key, status,
                                                          -- error, t, ms}] when it failed over
        CREATE INDEX exchanges_provider_started ON exchanges (provider, started_at);
        DROP VIEW exchange_details;
        CREATE VIEW exchange_details AS
            SELECT e.*, p.request_headers, p.response_headers, p.upstream_request,
                   p.response_body, p.timeline, p.payload
            FROM exchanges e LEFT JOIN exchange_payloads p ON p.id = e.id
        """,
    ),
)


def ddl(step: str | dict[str, str], dialect: str) -> str:
    """A migration step's SQL for one dialect."""
    return step if isinstance(step, str) else step[dialect]
