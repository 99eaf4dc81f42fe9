-- Primary keys, unique, check and foreign-key constraints of the tables in tables.sql.
-- Column lists come from unnest(conkey, confkey) WITH ORDINALITY so key order is kept.
-- Left out: NOT NULL rows (PostgreSQL 18 contype 'n': the column's nullable flag), exclusion
-- constraints (unmanaged.sql), and clones with a parent constraint (conparentid <> 0), which
-- PostgreSQL adds for foreign keys that reference a partitioned table and for the keys and
-- foreign keys a partition inherits from its parent. Checks inherited from a parent
-- (coninhcount > 0, merged ones included) belong to the parent.
WITH con AS (
  SELECT con.*
  FROM pg_constraint con
  JOIN pg_class c ON c.oid = con.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE con.contype IN ('p', 'u', 'c', 'f') AND con.conparentid = 0 AND con.coninhcount = 0
    AND c.relkind IN ('r', 'p')
    AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
    AND n.nspname !~ '^pg_(toast|temp_)'
    AND NOT EXISTS (
      SELECT FROM pg_depend dep
      WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid AND dep.deptype = 'e'
    )
),
-- Key columns, unnested set-wise for all constraints at once (not a LATERAL per constraint).
keys AS (
  SELECT con.oid,
         array_agg(a.attname::text ORDER BY k.ord) AS columns,
         array_agg(fa.attname::text ORDER BY k.ord) AS referenced_columns
  FROM con
  CROSS JOIN unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(attnum, refattnum, ord)
  JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
  LEFT JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = k.refattnum
  WHERE con.contype <> 'c'
  GROUP BY con.oid
)
SELECT con.conrelid AS table_oid,
       con.conname AS name,
       con.contype AS kind,
       keys.columns,
       keys.referenced_columns,
       rn.nspname AS referenced_schema,
       rc.relname AS referenced_table,
       con.confdeltype AS on_delete,
       con.confupdtype AS on_update,
       con.confmatchtype = 'f' AS match_full,
       con.condeferrable AS deferrable,
       con.condeferred AS initially_deferred,
       con.connoinherit AS no_inherit,
       NOT con.convalidated AS not_valid,
       CASE WHEN con.contype = 'c' THEN pg_get_expr(con.conbin, con.conrelid, true) END
         AS expression,
       coalesce(ix.indnullsnotdistinct, false) AS nulls_not_distinct  -- pg>=15
       false AS nulls_not_distinct  -- pg<15
FROM con
LEFT JOIN keys ON keys.oid = con.oid
LEFT JOIN pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
LEFT JOIN pg_index ix ON ix.indexrelid = con.conindid AND con.contype = 'u'
