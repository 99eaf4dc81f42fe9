-- Ordinary and partitioned tables and partitions, with their comments. A partitioned table
-- (relkind 'p') has its key as pg_get_partkeydef prints it; a partition its parent (one
-- pg_inherits row; display-qualified: bare in public) and its bound as pg_get_expr prints it.
-- Storage parameters are the table's reloptions as name and value arrays (those of its TOAST
-- table, `toast.*`, are listed by unmanaged.sql).
SELECT c.oid, n.nspname AS schema, c.relname AS name, d.description AS comment,
       c.relpersistence = 'u' AS unlogged,
       c.relrowsecurity AS row_level_security,
       c.relforcerowsecurity AS force_row_level_security,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_by,
       CASE WHEN pn.nspname = 'public' THEN pc.relname::text
            ELSE pn.nspname || '.' || pc.relname END AS partition_of,
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS partition_bound,
       coalesce(opts.names, '{}') AS storage_names,
       coalesce(opts.vals, '{}') AS storage_values
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description d
  ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
LEFT JOIN pg_inherits inh ON inh.inhrelid = c.oid AND c.relispartition
LEFT JOIN pg_class pc ON pc.oid = inh.inhparent
LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
LEFT JOIN LATERAL (
  SELECT array_agg(o.option_name::text ORDER BY o.option_name) AS names,
         array_agg(o.option_value::text ORDER BY o.option_name) AS vals
  FROM pg_options_to_table(c.reloptions) o
) opts ON c.reloptions IS NOT NULL
WHERE c.relkind IN ('r', 'p')
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (
    SELECT FROM pg_depend dep
    WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid AND dep.deptype = 'e'
  )
