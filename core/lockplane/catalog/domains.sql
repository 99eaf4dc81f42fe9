-- Domains with their base type, default, NOT NULL, collation (only where it differs from the
-- base type's) and check constraints as three parallel arrays in name order. PostgreSQL 17+
-- also records a domain's NOT NULL as a constraint of type 'n'; typnotnull says the same on every
-- version, so only checks are read from pg_constraint.
SELECT n.nspname AS schema,
       t.typname AS name,
       format_type(t.typbasetype, t.typtypmod) AS type,
       pg_get_expr(t.typdefaultbin, 0, true) AS "default",
       t.typnotnull AS not_null,
       CASE WHEN t.typcollation <> bt.typcollation THEN
         CASE WHEN cn.nspname IN ('pg_catalog', 'public') THEN co.collname::text
              ELSE cn.nspname || '.' || co.collname END
       END AS collation,
       coalesce(ck.names, '{}') AS check_names,
       coalesce(ck.expressions, '{}') AS check_expressions,
       coalesce(ck.validated, '{}') AS check_validated
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_type bt ON bt.oid = t.typbasetype
LEFT JOIN pg_collation co ON co.oid = t.typcollation
LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
LEFT JOIN LATERAL (
  SELECT array_agg(con.conname::text ORDER BY con.conname) AS names,
         array_agg(pg_get_expr(con.conbin, 0, true) ORDER BY con.conname) AS expressions,
         array_agg(con.convalidated ORDER BY con.conname) AS validated
  FROM pg_constraint con
  WHERE con.contypid = t.oid AND con.contype = 'c'
) ck ON true
WHERE t.typtype = 'd'
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (
    SELECT FROM pg_depend dep
    WHERE dep.classid = 'pg_type'::regclass AND dep.objid = t.oid AND dep.deptype = 'e'
  )
