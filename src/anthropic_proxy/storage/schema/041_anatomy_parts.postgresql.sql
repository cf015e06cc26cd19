-- Context-anatomy totals over a range summed from one row per (exchange, category) instead of
-- parsing every vector's JSON twice (its total, then its keys): each part carries its share of
-- the exchange's input cost (cost * tokens / the vector's total). Written with the vector;
-- filled here from the vectors already kept. An empty vector (a request that could not be
-- analysed) has no parts; the partial index counts those.
CREATE TABLE exchange_anatomy_parts (
    id TEXT NOT NULL,                  -- exchanges.id
    key TEXT NOT NULL,                 -- category key, e.g. tool_results:Bash
    tokens BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL, -- this part's share of the input cost
    PRIMARY KEY (id, key)
);
INSERT INTO exchange_anatomy_parts (id, key, tokens, cost_usd)
    SELECT a.id, j.key, j.value::bigint,
        CASE WHEN t.total > 0 THEN COALESCE(a.input_cost_usd, 0) * j.value::bigint / t.total
        ELSE 0 END
    FROM exchange_anatomy a,
        LATERAL (SELECT SUM(value::bigint)::double precision AS total
            FROM jsonb_each_text(a.vector::jsonb)) t,
        jsonb_each_text(a.vector::jsonb) j;
CREATE INDEX exchange_anatomy_empty ON exchange_anatomy (id) WHERE vector = '{}';
