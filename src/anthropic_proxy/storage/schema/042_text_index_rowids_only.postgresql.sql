-- Nothing to do: PostgreSQL's text search is pg_trgm's index (007), which keeps no positions.
SELECT 1;
