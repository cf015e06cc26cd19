CREATE VIRTUAL TABLE exchanges_search USING fts5(
                preview, model, upstream_model, error_message, content='exchanges', content_rowid='rowid',
                tokenize='trigram');
            CREATE TRIGGER exchanges_search_insert AFTER INSERT ON exchanges BEGIN
                INSERT INTO exchanges_search (rowid, preview, model, upstream_model, error_message)
                VALUES (NEW.rowid, NEW.preview, NEW.model, NEW.upstream_model, NEW.error_message);
            END;
            CREATE TRIGGER exchanges_search_delete AFTER DELETE ON exchanges BEGIN
                INSERT INTO exchanges_search (exchanges_search, rowid, preview, model, upstream_model, error_message)
                VALUES ('delete', OLD.rowid, OLD.preview, OLD.model, OLD.upstream_model, OLD.error_message);
            END;
            CREATE TRIGGER exchanges_search_update AFTER UPDATE OF preview, model, upstream_model, error_message
            ON exchanges BEGIN
                INSERT INTO exchanges_search (exchanges_search, rowid, preview, model, upstream_model, error_message)
                VALUES ('delete', OLD.rowid, OLD.preview, OLD.model, OLD.upstream_model, OLD.error_message);
                INSERT INTO exchanges_search (rowid, preview, model, upstream_model, error_message)
                VALUES (NEW.rowid, NEW.preview, NEW.model, NEW.upstream_model, NEW.error_message);
            END;
            INSERT INTO exchanges_search (exchanges_search) VALUES ('rebuild')
            