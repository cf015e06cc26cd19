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
        