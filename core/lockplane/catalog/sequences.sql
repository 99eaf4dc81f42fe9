-- Sequences, with the column that owns them: deptype 'a' for OWNED BY (serial, or explicit),
-- deptype 'i' for an identity column's internal sequence. Identity sequences are not listed as
-- sequences: their options belong to the column (owner_table_oid, owner_position find it).
SELECT n.nspname AS schema,
       c.relname AS name,
       format_type(s.seqtypid, NULL) AS type,
       s.seqstart AS start,
       s.seqincrement AS increment,
       s.seqmin AS min_value,
       s.seqmax AS max_value,
       s.seqcache AS cache,
       s.seqcycle AS cycle,
       own.deptype AS ownership,
       own.refobjid AS owner_table_oid,
       own.refobjsubid AS owner_position,
       tn.nspname AS owner_schema,
       tc.relname AS owner_table,
       ta.attname AS owner_column,
       c.oid
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_depend own
  ON own.classid = 'pg_class'::regclass AND own.objid = c.oid
  AND own.refclassid = 'pg_class'::regclass AND own.refobjsubid > 0 AND own.deptype IN ('a', 'i')
LEFT JOIN pg_class tc ON tc.oid = own.refobjid
LEFT JOIN pg_namespace tn ON tn.oid = tc.relnamespace
LEFT JOIN pg_attribute ta ON ta.attrelid = own.refobjid AND ta.attnum = own.refobjsubid
WHERE n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (
    SELECT FROM pg_depend dep
    WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid AND dep.deptype = 'e'
  )
