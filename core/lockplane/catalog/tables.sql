-- Ordinary tables with their comments and row-level security flags. Partitioned tables and partitions are not listed here:
-- unmanaged.sql inventories them.
SELECT c.oid, n.nspname AS schema, c.relname AS name, d.description AS comment,
       c.relpersistence = 'u' AS unlogged,
       c.relrowsecurity AS row_level_security, c.relforcerowsecurity AS force_row_level_security
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description d
  ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
WHERE c.relkind = 'r' AND NOT c.relispartition
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (
    SELECT FROM pg_depend dep
    WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid AND dep.deptype = 'e'
  )
