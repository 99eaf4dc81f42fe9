-- Columns of the tables in tables.sql, with attnum as `position`. Not sorted here: ordering
-- 20,000 rows spills out of a default work_mem and costs more than sorting in Python. Types print
-- as format_type() does with search_path = public; expressions as pg_get_expr(..., pretty).
-- pg_attrdef holds either a default or a stored generated column's expression; identity columns
-- have neither (their sequence's options come with sequences.sql). Virtual generated columns
-- (PostgreSQL 18, attgenerated 'v') are unmanaged: no expression here. Partitions have no
-- columns of their own (all of theirs come from the parent, attinhcount > 0): none listed.
SELECT a.attrelid AS table_oid,
       a.attnum AS position,
       a.attname AS name,
       format_type(a.atttypid, a.atttypmod) AS type,
       NOT a.attnotnull AS nullable,
       CASE WHEN a.attidentity = '' AND a.attgenerated = ''
            THEN pg_get_expr(ad.adbin, ad.adrelid, true) END AS "default",
       a.attidentity AS identity,
       CASE WHEN a.attgenerated = 's'
            THEN pg_get_expr(ad.adbin, ad.adrelid, true) END AS generated,
       CASE WHEN a.attcollation <> t.typcollation THEN
         CASE WHEN cn.nspname IN ('pg_catalog', 'public') THEN co.collname::text
              ELSE cn.nspname || '.' || co.collname END
       END AS collation,
       d.description AS comment
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
LEFT JOIN pg_description d
  ON d.objoid = a.attrelid AND d.classoid = 'pg_class'::regclass AND d.objsubid = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped
  AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (
    SELECT FROM pg_depend dep
    WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid AND dep.deptype = 'e'
  )
