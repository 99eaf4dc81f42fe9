-- Installed extensions whose schema is in scope (plpgsql lives in pg_catalog and is left out).
SELECT x.extname AS name, n.nspname AS schema, x.extversion AS version
FROM pg_extension x
JOIN pg_namespace n ON n.oid = x.extnamespace
WHERE n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
  AND n.nspname !~ '^pg_(toast|temp_)'
ORDER BY 1
