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
        