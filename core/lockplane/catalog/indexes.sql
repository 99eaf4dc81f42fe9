-- Valid indexes of the tables in tables.sql that do not back a primary-key, unique or exclusion
-- constraint (those are part of the constraint), nor the partitions of a partitioned table's
-- index (relispartition on the index: they belong to the parent's index). One row per index; per-key details come as
-- parallel arrays over indkey (1..indnatts; keys are 1..indnkeyatts, the rest are INCLUDE):
--   key_columns      column name, NULL for an expression key
--   key_expressions  pg_get_indexdef(index, k, true) for expression keys, else NULL
--   key_descending / key_nulls_first   indoption bits 1 and 2
--   key_opclasses    operator class, NULL when it is the default for the key's type and method
--   key_collations   collation, NULL when it is the column's own; for an expression key, only
--                    when pg_get_indexdef prints it (the expression's own collation is not in
--                    the catalogs, so we ask the function that knows it). Asked only when the
--                    index collation is not the key type's default: an expression collated
--                    otherwise but indexed COLLATE "default" explicitly reads as no collation.
-- Operator classes and collations print unqualified in pg_catalog and public, else schema.name.
WITH idx AS (
  SELECT i.indexrelid, i.indrelid, i.indkey, i.indclass, i.indcollation, i.indoption
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE i.indisvalid AND i.indislive
    AND c.relkind IN ('r', 'p', 'm')
    AND NOT EXISTS (SELECT FROM pg_class ix WHERE ix.oid = i.indexrelid AND ix.relispartition)
    AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
    AND n.nspname !~ '^pg_(toast|temp_)'
    AND NOT EXISTS (
      SELECT FROM pg_depend dep
      WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid AND dep.deptype = 'e'
    )
    AND NOT EXISTS (
      SELECT FROM pg_constraint con
      WHERE con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x')
    )
),
-- One row per key, joined set-wise (a per-index LATERAL makes the planner rescan pg_opclass
-- and pg_collation once per index).
key AS (
  SELECT idx.indexrelid, k.ord, k.attnum, idx.indoption[k.ord - 1] AS option,
         idx.indclass[k.ord - 1] AS opclass, idx.indcollation[k.ord - 1] AS collation,
         CASE WHEN k.attnum = 0 THEN pg_get_indexdef(idx.indexrelid, k.ord::int, true) END
           AS expression,
         CASE WHEN k.attnum = 0 AND idx.indcollation[k.ord - 1] <> kt.typcollation
              THEN pg_get_indexdef(idx.indexrelid, 0, true) END AS definition,
         a.attname, a.attcollation, coalesce(a.atttypid, ia.atttypid) AS keytype
  FROM idx
  CROSS JOIN unnest(idx.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
  LEFT JOIN pg_attribute a ON a.attrelid = idx.indrelid AND a.attnum = k.attnum
  LEFT JOIN pg_attribute ia ON ia.attrelid = idx.indexrelid AND ia.attnum = k.ord
  LEFT JOIN pg_type kt ON kt.oid = ia.atttypid
),
default_opclass AS (
  SELECT opcmethod, opcintype FROM pg_opclass WHERE opcdefault
),
keys AS (
  SELECT key.indexrelid,
         array_agg(key.attname::text ORDER BY key.ord) AS key_columns,
         array_agg(key.expression ORDER BY key.ord) AS key_expressions,
         array_agg(coalesce((key.option & 1) <> 0, false) ORDER BY key.ord) AS key_descending,
         array_agg(coalesce((key.option & 2) <> 0, false) ORDER BY key.ord) AS key_nulls_first,
         array_agg(
           CASE WHEN NOT (opc.opcdefault AND (
                  opc.opcintype = key.keytype
                  OR NOT EXISTS (
                    SELECT FROM default_opclass dflt
                    WHERE dflt.opcmethod = opc.opcmethod AND dflt.opcintype = key.keytype)))
                THEN CASE WHEN opcn.nspname IN ('pg_catalog', 'public') THEN opc.opcname::text
                          ELSE opcn.nspname || '.' || opc.opcname END
           END ORDER BY key.ord) AS key_opclasses,
         array_agg(
           CASE WHEN CASE WHEN key.attnum = 0
                          THEN strpos(key.definition, key.expression || ' COLLATE ') > 0
                          ELSE key.collation <> key.attcollation END
                THEN CASE WHEN coln.nspname IN ('pg_catalog', 'public') THEN col.collname::text
                          ELSE coln.nspname || '.' || col.collname END
           END ORDER BY key.ord) AS key_collations
  FROM key
  LEFT JOIN pg_opclass opc ON opc.oid = key.opclass
  LEFT JOIN pg_namespace opcn ON opcn.oid = opc.opcnamespace
  LEFT JOIN pg_collation col ON col.oid = key.collation
  LEFT JOIN pg_namespace coln ON coln.oid = col.collnamespace
  GROUP BY key.indexrelid
)
SELECT i.indrelid AS table_oid,
       ic.relname AS name,
       i.indisunique AS "unique",
       am.amname AS method,
       i.indnkeyatts AS key_count,
       keys.key_columns,
       keys.key_expressions,
       keys.key_descending,
       keys.key_nulls_first,
       keys.key_opclasses,
       keys.key_collations,
       pg_get_expr(i.indpred, i.indrelid, true) AS "where",
       i.indnullsnotdistinct AS nulls_not_distinct  -- pg>=15
       false AS nulls_not_distinct  -- pg<15
FROM keys
JOIN pg_index i ON i.indexrelid = keys.indexrelid
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
