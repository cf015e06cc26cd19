-- The store's writer keeps the search queue and the text index itself (SQLiteStore.write,
-- _prune, clear). With a trigger on `exchanges` every insert was a multi-row statement, for
-- which SQLite copies each page the row touches (the row and its ~20 index pages, 16 KB each)
-- into a statement journal first: 360 KB written per exchange, a fifth of the recorder's time.
DROP TRIGGER exchanges_search_insert;
DROP TRIGGER exchanges_search_delete;
DROP TRIGGER exchanges_search_update;
