-- Everything in scope that Lockplane sees but does not manage yet, as (kind, schema, name, on).
-- Listed so that nothing is silently ignored; never altered or dropped. `on` is the table a
-- trigger, policy, rule, constraint or virtual generated column belongs to (same schema as the
-- entry); for inheritance, the parent as schema-qualified display name.
WITH scoped_ns AS (
  SELECT n.oid, n.nspname
  FROM pg_namespace n
  WHERE n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
    AND n.nspname !~ '^pg_(toast|temp_)'
),
ext_member AS (
  SELECT dep.classid, dep.objid FROM pg_depend dep WHERE dep.deptype = 'e'
),
rel AS (
  SELECT c.oid, c.relname, c.relkind, c.relispartition, c.relrowsecurity, c.relforcerowsecurity,
         c.reltoastrelid, c.relacl, c.relowner, s.nspname
  FROM pg_class c
  JOIN scoped_ns s ON s.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
    AND NOT EXISTS (
      SELECT FROM ext_member e WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid
    )
)
SELECT 'foreign table' AS kind,
       r.nspname AS schema, r.relname AS name, NULL AS "on"
FROM rel r
WHERE r.relkind = 'f'
UNION ALL
-- Row-level security of tables is managed (tables.sql, policies.sql); that of views and
-- foreign tables is not.
SELECT 'row level security', r.nspname, r.relname, NULL
FROM rel r
WHERE r.relrowsecurity AND r.relkind NOT IN ('r', 'p')
UNION ALL
SELECT 'forced row level security', r.nspname, r.relname, NULL
FROM rel r
WHERE r.relforcerowsecurity AND r.relkind NOT IN ('r', 'p')
UNION ALL
-- Storage parameters of tables and materialized views are managed; those of their TOAST table
-- (`WITH (toast.autovacuum_enabled = false)`) are not.
SELECT 'toast storage parameters', r.nspname, r.relname, r.relname
FROM rel r
JOIN pg_class toast ON toast.oid = r.reltoastrelid
WHERE toast.reloptions IS NOT NULL
UNION ALL
-- A partition's own column default (one that differs from its parent's) and its column comments:
-- a partition lists no columns (they are its parent's), so the model cannot hold them.
SELECT 'partition column default', r.nspname, a.attname, r.relname
FROM rel r
JOIN pg_inherits inh ON inh.inhrelid = r.oid
JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_attribute pa ON pa.attrelid = inh.inhparent AND pa.attname = a.attname
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_attrdef pd ON pd.adrelid = pa.attrelid AND pd.adnum = pa.attnum
WHERE r.relispartition AND a.attgenerated = '' AND a.attidentity = ''
  AND pg_get_expr(d.adbin, d.adrelid) IS DISTINCT FROM pg_get_expr(pd.adbin, pd.adrelid)
UNION ALL
SELECT 'partition column comment', r.nspname, a.attname, r.relname
FROM rel r
JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_description d
  ON d.objoid = r.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = a.attnum
WHERE r.relispartition
UNION ALL
-- Privileges of views and materialized views, and functions' that differ from the default:
-- listed so that a plan that does not manage them (introspect without grants, which then drops
-- these entries) never rebuilds the object without them.
SELECT 'privileges', r.nspname, r.relname, r.relname
FROM rel r
WHERE r.relkind IN ('v', 'm')
  AND EXISTS (SELECT FROM aclexplode(r.relacl) acl WHERE acl.grantee <> r.relowner)
UNION ALL
SELECT 'privileges', s.nspname, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       NULL
FROM pg_proc p
JOIN scoped_ns s ON s.oid = p.pronamespace
WHERE p.prokind IN ('f', 'p') AND p.proacl IS NOT NULL
  AND NOT (p.proacl @> acldefault('f', p.proowner) AND acldefault('f', p.proowner) @> p.proacl)
  AND NOT EXISTS (
    SELECT FROM pg_depend dep
    WHERE dep.classid = 'pg_proc'::regclass AND dep.objid = p.oid AND dep.deptype IN ('e', 'i')
  )
UNION ALL
SELECT 'column privileges', r.nspname, a.attname, r.relname
FROM rel r
JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE cardinality(a.attacl) > 0
UNION ALL
SELECT 'virtual generated column', r.nspname, a.attname, r.relname
FROM rel r
JOIN pg_attribute a ON a.attrelid = r.oid
WHERE r.relkind IN ('r', 'p')
  AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = 'v'
UNION ALL
SELECT 'inheritance', r.nspname, r.relname,
       CASE WHEN pn.nspname = 'public' THEN pc.relname::text
            ELSE pn.nspname || '.' || pc.relname END
FROM rel r
JOIN pg_inherits inh ON inh.inhrelid = r.oid
JOIN pg_class pc ON pc.oid = inh.inhparent
JOIN pg_namespace pn ON pn.oid = pc.relnamespace
WHERE NOT r.relispartition
UNION ALL
SELECT 'exclusion constraint', r.nspname, con.conname, r.relname
FROM rel r
JOIN pg_constraint con ON con.conrelid = r.oid
WHERE con.contype = 'x' AND con.conparentid = 0 AND r.relkind IN ('r', 'p')
UNION ALL
-- Properties of managed constraints that the model cannot express yet: listed by constraint.
-- The WHERE keeps the per-constraint VALUES list to the few constraints that have any of them.
SELECT detail.kind, r.nspname, con.conname, r.relname
FROM rel r
JOIN pg_constraint con ON con.conrelid = r.oid
CROSS JOIN LATERAL (VALUES
  ('deferrable primary key', con.contype = 'p' AND con.condeferrable)
  , ('not valid not-null constraint', con.contype = 'n' AND NOT con.convalidated)
  , ('foreign key set columns', con.confdelsetcols IS NOT NULL)  -- pg>=15
  , ('not enforced constraint', NOT con.conenforced)  -- pg>=18
  , ('temporal constraint', con.conperiod)  -- pg>=18
) AS detail(kind, applies)
WHERE detail.applies AND con.contype IN ('p', 'u', 'c', 'f', 'n') AND con.conparentid = 0
  AND r.relkind IN ('r', 'p')
  AND (con.condeferrable OR NOT con.convalidated
       OR con.confdelsetcols IS NOT NULL  -- pg>=15
       OR con.conperiod  -- pg>=18
  )
UNION ALL
SELECT 'constraint include columns', r.nspname, con.conname, r.relname
FROM pg_index ix
JOIN pg_constraint con ON con.conindid = ix.indexrelid AND con.contype IN ('p', 'u')
JOIN rel r ON r.oid = con.conrelid
WHERE ix.indnatts > ix.indnkeyatts AND con.conparentid = 0
  AND r.relkind IN ('r', 'p')
UNION ALL
SELECT 'invalid index', r.nspname, ic.relname, r.relname
FROM rel r
JOIN pg_index i ON i.indrelid = r.oid
JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE NOT (i.indisvalid AND i.indislive) AND r.relkind IN ('r', 'p')
UNION ALL
SELECT 'trigger', r.nspname, t.tgname, r.relname
FROM rel r
JOIN pg_trigger t ON t.tgrelid = r.oid
WHERE NOT t.tgisinternal AND t.tgparentid = 0
  AND r.relkind NOT IN ('r', 'p')  -- triggers.sql reads those of tables
UNION ALL
SELECT 'policy', r.nspname, pol.polname, r.relname
FROM rel r
JOIN pg_policy pol ON pol.polrelid = r.oid
WHERE r.relkind NOT IN ('r', 'p')  -- policies.sql reads those of tables
UNION ALL
SELECT 'rule', r.nspname, rw.rulename, r.relname
FROM rel r
JOIN pg_rewrite rw ON rw.ev_class = r.oid
WHERE rw.rulename <> '_RETURN'
UNION ALL
SELECT 'window function',
       s.nspname,
       p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       NULL
FROM pg_proc p
JOIN scoped_ns s ON s.oid = p.pronamespace
WHERE p.prokind = 'w'  -- functions.sql reads functions and procedures, aggregates.sql aggregates
  AND NOT EXISTS (  -- nor the constructors PostgreSQL makes for a range type (deptype 'i')
  SELECT FROM pg_depend dep
  WHERE dep.classid = 'pg_proc'::regclass AND dep.objid = p.oid AND dep.deptype IN ('e', 'i')
)
UNION ALL
SELECT 'base type', s.nspname, t.typname, NULL
FROM pg_type t
JOIN scoped_ns s ON s.oid = t.typnamespace
WHERE t.typtype = 'b' AND t.typcategory <> 'A'
  AND NOT EXISTS (
    SELECT FROM ext_member e WHERE e.classid = 'pg_type'::regclass AND e.objid = t.oid
  )
UNION ALL
SELECT 'collation', s.nspname, co.collname, NULL
FROM pg_collation co
JOIN scoped_ns s ON s.oid = co.collnamespace
WHERE NOT EXISTS (
  SELECT FROM ext_member e WHERE e.classid = 'pg_collation'::regclass AND e.objid = co.oid
)
UNION ALL
SELECT 'statistics', s.nspname, st.stxname, r.relname
FROM pg_statistic_ext st
JOIN scoped_ns s ON s.oid = st.stxnamespace
JOIN pg_class r ON r.oid = st.stxrelid
WHERE NOT EXISTS (
  SELECT FROM ext_member e WHERE e.classid = 'pg_statistic_ext'::regclass AND e.objid = st.oid
)
UNION ALL
SELECT 'event trigger', NULL, et.evtname, NULL
FROM pg_event_trigger et
WHERE NOT EXISTS (
  SELECT FROM ext_member e WHERE e.classid = 'pg_event_trigger'::regclass AND e.objid = et.oid
)
