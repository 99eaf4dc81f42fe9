-- Sequences, without identity columns' internal ones (pg_depend deptype 'i': part of the column);
-- OWNED BY (serial, or explicit) comes from the deptype 'a' dependency on a table column.
SELECT n.nspname AS schema,
       c.relname AS name,
       format_type(s.seqtypid, NULL) AS type,
       s.seqstart AS start,
       s.seqincrement AS increment,
       s.seqmin AS min_value,
       s.seqmax AS max_value,
       s.seqcache AS cache,
       s.seqcycle AS cycle,
       tn.nspname AS owner_schema,
       tc.relname AS owner_table,
       ta.attname AS owner_column
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_depend own
  ON own.classid = 'pg_class'::regclass AND own.objid = c.oid
  AND own.refclassid = 'pg_class'::regclass AND own.refobjsubid > 0 AND own.deptype = 'a'
LEFT JOIN pg_class tc ON tc.oid = own.refobjid
LEFT JOIN pg_namespace tn ON tn.oid = tc.relnamespace
LEFT JOIN pg_attribute ta ON ta.attrelid = own.refobjid AND ta.attnum = own.refobjsubid
WHERE n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (
    SELECT FROM pg_depend dep
    WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid AND dep.deptype IN ('e', 'i')
  )
