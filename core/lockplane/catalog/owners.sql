-- Owners of tables, partitions, views, materialized views, sequences, functions and procedures,
-- keyed by oid and catalog like grants.sql (read only when asked).
SELECT 'pg_class' AS catalog, c.oid, pg_get_userbyid(c.relowner) AS owner
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S')
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
  AND n.nspname !~ '^pg_(toast|temp_)'
UNION ALL
SELECT 'pg_proc', p.oid, pg_get_userbyid(p.proowner)
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.prokind IN ('f', 'p')
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
  AND n.nspname !~ '^pg_(toast|temp_)'
