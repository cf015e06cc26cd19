CREATE TABLE exchange_anatomy (
            id TEXT PRIMARY KEY,               -- exchanges.id
            started_at REAL NOT NULL,
            vector TEXT NOT NULL,              -- JSON {category: tokens}, adds up to reported input
            input_cost_usd REAL                -- genai-prices cost of the exchange's input
        )
        