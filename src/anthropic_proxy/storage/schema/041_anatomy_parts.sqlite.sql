-- Context-anatomy totals over a range summed from one row per (exchange, category) instead of
-- parsing every vector's JSON twice (its total, then its keys): each part carries its share of
-- the exchange's input cost (cost * tokens / the vector's total). Written with the vector;
-- filled here from the vectors already kept. An empty vector (a request that could not be
-- analysed) has no parts; the partial index counts those.
CREATE TABLE exchange_anatomy_parts (
    id TEXT NOT NULL,                  -- exchanges.id
    key TEXT NOT NULL,                 -- category key, e.g. tool_results:Bash
    tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,            -- this part's share of the input cost
    PRIMARY KEY (id, key)
) WITHOUT ROWID;
INSERT INTO exchange_anatomy_parts (id, key, tokens, cost_usd)
    WITH r AS MATERIALIZED (SELECT id, vector, input_cost_usd AS cost,
        (SELECT SUM(k.value) FROM json_each(vector) AS k) AS total FROM exchange_anatomy)
    SELECT r.id, j.key, j.value,
        CASE WHEN r.total > 0 THEN COALESCE(r.cost, 0) * j.value / r.total ELSE 0 END
    FROM r, json_each(r.vector) AS j;
CREATE INDEX exchange_anatomy_empty ON exchange_anatomy (id) WHERE vector = '{}';
