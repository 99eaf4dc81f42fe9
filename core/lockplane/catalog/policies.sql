-- Row-level security policies of tables (plain, partitioned, partitions), by table oid. Roles are names in name order,
-- 'public' for the PUBLIC pseudo-role (oid 0); expressions as pg_get_expr prints them.
SELECT pol.polrelid AS table_oid,
       pol.polname AS name,
       pol.polpermissive AS permissive,
       CASE pol.polcmd
         WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
         WHEN 'd' THEN 'DELETE' ELSE 'ALL'
       END AS command,
       ARRAY(
         SELECT CASE WHEN r.oid = 0 THEN 'public' ELSE a.rolname::text END
         FROM unnest(pol.polroles) AS r(oid)
         LEFT JOIN pg_roles a ON a.oid = r.oid
         ORDER BY 1
       ) AS roles,
       pg_get_expr(pol.polqual, pol.polrelid, true) AS using,
       pg_get_expr(pol.polwithcheck, pol.polrelid, true) AS with_check
FROM pg_policy pol
JOIN pg_class c ON c.oid = pol.polrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (
    SELECT FROM pg_depend dep
    WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid AND dep.deptype = 'e'
  )
