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
        