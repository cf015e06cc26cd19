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
    