-- Views and materialized views: the query as pg_get_viewdef(oid, true) prints it (leading
-- blanks and the final semicolon trimmed), the options a plain view can carry (check_option,
-- security_barrier, security_invoker; reloptions keep them as text, read back as Postgres parses
-- them), the storage parameters of a materialized view (every other reloption, as name and
-- value arrays) and the columns the view exposes with their comments, as parallel arrays in
-- attnum order. Indexes of materialized views come from indexes.sql.
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
       coalesce(cols.comments, '{}') AS column_comments,
       obj_description(c.oid, 'pg_class') AS comment,
       coalesce(opts.names, '{}') AS storage_names,
       coalesce(opts.vals, '{}') AS storage_values
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN LATERAL (
  SELECT array_agg(a.attname::text ORDER BY a.attnum) AS names,
         array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum) AS types,
         array_agg(d.description ORDER BY a.attnum) AS comments
  FROM pg_attribute a
  LEFT JOIN pg_description d
    ON d.objoid = a.attrelid AND d.classoid = 'pg_class'::regclass AND d.objsubid = a.attnum
  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
) cols ON true
LEFT JOIN LATERAL (
  SELECT array_agg(o.option_name::text ORDER BY o.option_name) AS names,
         array_agg(o.option_value::text ORDER BY o.option_name) AS vals
  FROM pg_options_to_table(c.reloptions) o
  WHERE o.option_name <> ALL (ARRAY['check_option', 'security_barrier', 'security_invoker'])
) opts ON true
WHERE c.relkind IN ('v', 'm')
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (
    SELECT FROM pg_depend dep
    WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid AND dep.deptype = 'e'
  )
