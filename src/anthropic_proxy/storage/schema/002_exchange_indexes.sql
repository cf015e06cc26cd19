CREATE INDEX exchanges_started ON exchanges (started_at);
        CREATE INDEX exchanges_state_started ON exchanges (state, started_at);
        CREATE INDEX exchanges_model_started ON exchanges (model, started_at);
        CREATE INDEX exchanges_session_started ON exchanges (session_id, started_at);
        CREATE INDEX exchanges_kind_started ON exchanges (kind, started_at)
        