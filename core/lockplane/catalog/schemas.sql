-- Namespaces besides public, empty ones included (schema creation is part of the schema).
-- Scope, shared by every catalog query: not pg_catalog, information_schema, pg_toast*, pg_temp*,
-- nor `lockplane` (the ledger), and nothing that belongs to an extension (pg_depend deptype 'e').
SELECT n.nspname AS name
FROM pg_namespace n
WHERE n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane', 'public'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (
    SELECT FROM pg_depend dep
    WHERE dep.classid = 'pg_namespace'::regclass AND dep.objid = n.oid AND dep.deptype = 'e'
  )
ORDER BY 1
