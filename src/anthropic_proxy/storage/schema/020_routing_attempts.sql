ALTER TABLE exchanges ADD COLUMN provider TEXT;   -- routing provider that answered
        ALTER TABLE exchanges ADD COLUMN attempts TEXT;   -- JSON [{provider, model, key, status,
                                                          -- error, t, ms}] when it failed over
        CREATE INDEX exchanges_provider_started ON exchanges (provider, started_at);
        DROP VIEW exchange_details;
        CREATE VIEW exchange_details AS
            SELECT e.*, p.request_headers, p.response_headers, p.upstream_request,
                   p.response_body, p.timeline, p.payload
            FROM exchanges e LEFT JOIN exchange_payloads p ON p.id = e.id
        