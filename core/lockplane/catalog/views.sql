-- Views and materialized views: the query as pg_get_viewdef(oid, true) prints it (leading
-- blanks and the final semicolon trimmed), the options a plain view can carry (check_option,
-- security_barrier, security_invoker; reloptions keep them as text, read back as Postgres parses
-- them) and the columns the view exposes, as parallel arrays in attnum order. Indexes of
-- materialized views come from indexes.sql.
SELECT c.oid,
       n.nspname AS schema,
       c.relname AS name,
       regexp_replace(pg_get_viewdef(c.oid, true), '^\s+|;\s*$', '', 'g') AS definition,
       c.relkind = 'm' AS materialized,
       (SELECT o.option_value FROM pg_options_to_table(c.reloptions) o
         WHERE o.option_name = 'check_option') AS check_option,
       coalesce((SELECT o.option_value::bool FROM pg_options_to_table(c.reloptions) o
                  WHERE o.option_name = 'security_barrier'), false) AS security_barrier,
       coalesce((SELECT o.option_value::bool FROM pg_options_to_table(c.reloptions) o
                  WHERE o.option_name = 'security_invoker'), false) AS security_invoker,
       coalesce(cols.names, '{}') AS column_names,
       coalesce(cols.types, '{}') AS column_types,
       obj_description(c.oid, 'pg_class') AS comment
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN LATERAL (
  SELECT array_agg(a.attname::text ORDER BY a.attnum) AS names,
         array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum) AS types
  FROM pg_attribute a
  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
) cols ON true
WHERE c.relkind IN ('v', 'm')
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (
    SELECT FROM pg_depend dep
    WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid AND dep.deptype = 'e'
  )
