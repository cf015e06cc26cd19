CREATE INDEX exchanges_duration ON exchanges
            (duration_ms, id, started_at, state, model, mode, kind, status);
        CREATE INDEX exchanges_ttft ON exchanges
            (ttft_ms, id, started_at, state, model, mode, kind, status);
        CREATE INDEX exchanges_ttfb ON exchanges (ttfb_ms, id);
        CREATE INDEX exchanges_cost ON exchanges (cost_usd, id);
        CREATE INDEX exchanges_input ON exchanges (input_tokens, id);
        CREATE INDEX exchanges_output ON exchanges (output_tokens, id);
        CREATE INDEX exchanges_status ON exchanges (status, id);
        CREATE INDEX exchanges_request_bytes ON exchanges (request_bytes, id);
        CREATE INDEX exchanges_response_bytes ON exchanges (response_bytes, id);
        CREATE INDEX exchanges_mode_started ON exchanges (mode, started_at)
        