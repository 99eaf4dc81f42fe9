-- Range types with what CREATE TYPE ... AS RANGE said: subtype, operator class (only when it is
-- not the subtype's default), collation (only when it differs from the subtype's), canonical and
-- subtype_diff functions, and the multirange type PostgreSQL 14+ creates along (pg_range's own
-- row, so the multirange and the constructor functions are never separate objects here).
SELECT n.nspname AS schema,
       t.typname AS name,
       format_type(r.rngsubtype, NULL) AS subtype,
       CASE WHEN NOT opc.opcdefault THEN
         CASE WHEN opn.nspname IN ('pg_catalog', 'public') THEN opc.opcname::text
              ELSE opn.nspname || '.' || opc.opcname END
       END AS subtype_opclass,
       CASE WHEN r.rngcollation <> st.typcollation THEN
         CASE WHEN cn.nspname IN ('pg_catalog', 'public') THEN co.collname::text
              ELSE cn.nspname || '.' || co.collname END
       END AS collation,
       nullif(r.rngcanonical, 0)::regproc::text AS canonical,
       nullif(r.rngsubdiff, 0)::regproc::text AS subtype_diff,
       mt.typname AS multirange,
       d.description AS comment
FROM pg_range r
JOIN pg_type t ON t.oid = r.rngtypid
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_type st ON st.oid = r.rngsubtype
JOIN pg_opclass opc ON opc.oid = r.rngsubopc
JOIN pg_namespace opn ON opn.oid = opc.opcnamespace
JOIN pg_type mt ON mt.oid = r.rngmultitypid
LEFT JOIN pg_collation co ON co.oid = r.rngcollation
LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
LEFT JOIN pg_description d
  ON d.objoid = t.oid AND d.classoid = 'pg_type'::regclass AND d.objsubid = 0
WHERE n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (
    SELECT FROM pg_depend dep
    WHERE dep.classid = 'pg_type'::regclass AND dep.objid = t.oid AND dep.deptype = 'e'
  )
