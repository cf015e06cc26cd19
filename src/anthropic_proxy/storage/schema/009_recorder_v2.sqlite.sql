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
    