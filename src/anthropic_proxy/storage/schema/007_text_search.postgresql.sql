DO $do$ BEGIN
                CREATE EXTENSION IF NOT EXISTS pg_trgm;
            EXCEPTION WHEN OTHERS THEN
                RAISE NOTICE 'pg_trgm unavailable: text search scans';
            END $do$;
            DO $do$ DECLARE ns TEXT; BEGIN
                SELECT n.nspname INTO ns FROM pg_extension x
                    JOIN pg_namespace n ON n.oid = x.extnamespace WHERE x.extname = 'pg_trgm';
                IF ns IS NOT NULL THEN
                    EXECUTE format('CREATE INDEX exchanges_search ON exchanges USING gin ('
                        'LOWER(preview) %1$I.gin_trgm_ops, LOWER(model) %1$I.gin_trgm_ops, '
                        'LOWER(upstream_model) %1$I.gin_trgm_ops, '
                        'LOWER(error_message) %1$I.gin_trgm_ops)', ns);
                END IF;
            END $do$
            