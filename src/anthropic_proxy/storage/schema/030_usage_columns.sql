ALTER TABLE exchanges ADD COLUMN project TEXT;                -- working directory or header
    ALTER TABLE exchanges ADD COLUMN tags TEXT;                   -- 'a,b' sorted, from x-proxy-tags
    ALTER TABLE exchanges ADD COLUMN ratelimit TEXT;              -- JSON of anthropic-ratelimit-*
    ALTER TABLE exchanges ADD COLUMN cache_miss_reason TEXT;      -- upstream diagnostics
    ALTER TABLE exchanges ADD COLUMN cache_missed_tokens INTEGER;
    ALTER TABLE exchanges ADD COLUMN calculated_cost_usd REAL;    -- genai-prices, when cost_usd
                                                                  -- is the upstream's own
    CREATE INDEX exchanges_project_started ON exchanges (project, started_at);
    CREATE INDEX exchanges_ratelimit_started ON exchanges (started_at) WHERE ratelimit IS NOT NULL;
    
    DROP VIEW exchange_details;
    CREATE VIEW exchange_details AS
        SELECT e.*, p.request_headers, p.response_headers, p.upstream_request,
               p.response_body, p.timeline, p.payload
        FROM exchanges e LEFT JOIN exchange_payloads p ON p.id = e.id
