-- Free-standing composite types (CREATE TYPE ... AS (...)): their pg_class entry has relkind 'c'
-- (a table's row type has 'r' and belongs to the table). Attributes as three parallel arrays in
-- attnum order; a collation only where it differs from the attribute type's default.
SELECT n.nspname AS schema,
       t.typname AS name,
       coalesce(att.names, '{}') AS attribute_names,
       coalesce(att.types, '{}') AS attribute_types,
       coalesce(att.collations, '{}') AS attribute_collations,
       d.description AS comment
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_class c ON c.oid = t.typrelid AND c.relkind = 'c'
LEFT JOIN pg_description d
  ON d.objoid = t.oid AND d.classoid = 'pg_type'::regclass AND d.objsubid = 0
LEFT JOIN LATERAL (
  SELECT array_agg(a.attname::text ORDER BY a.attnum) AS names,
         array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum) AS types,
         array_agg(
           CASE WHEN a.attcollation <> at.typcollation THEN
             CASE WHEN cn.nspname IN ('pg_catalog', 'public') THEN co.collname::text
                  ELSE cn.nspname || '.' || co.collname END
           END ORDER BY a.attnum) AS collations
  FROM pg_attribute a
  JOIN pg_type at ON at.oid = a.atttypid
  LEFT JOIN pg_collation co ON co.oid = a.attcollation
  LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
) att ON true
WHERE t.typtype = 'c'
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (
    SELECT FROM pg_depend dep
    WHERE dep.classid = 'pg_type'::regclass AND dep.objid = t.oid AND dep.deptype = 'e'
  )
