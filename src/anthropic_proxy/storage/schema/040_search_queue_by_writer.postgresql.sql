-- Nothing to do: PostgreSQL's text search is an ordinary index (007), with no triggers.
SELECT 1;
