-- Privileges of tables, partitions, views, materialized views, free-standing sequences,
-- functions and procedures, one row per object, grantee and grant option (read only when asked),
-- keyed by the object's oid and catalog ('pg_class' or 'pg_proc'). The owner's own privileges are
-- implicit and not listed; a NULL ACL means the defaults, which acldefault spells out (for a
-- function: EXECUTE to PUBLIC). Grantee 0 is PUBLIC.
WITH objects AS (
  SELECT 'pg_class' AS catalog, c.oid, c.relowner AS owner,
         coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char",
                                       c.relowner)) AS acl
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S')
    AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
    AND n.nspname !~ '^pg_(toast|temp_)'
  UNION ALL
  SELECT 'pg_proc', p.oid, p.proowner, coalesce(p.proacl, acldefault('f', p.proowner))
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE p.prokind IN ('f', 'p')
    AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
    AND n.nspname !~ '^pg_(toast|temp_)'
)
SELECT o.catalog,
       o.oid,
       CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE g.rolname::text END AS grantee,
       array_agg(acl.privilege_type::text ORDER BY acl.privilege_type) AS privileges,
       acl.is_grantable AS with_grant_option
FROM objects o
CROSS JOIN LATERAL aclexplode(o.acl) acl
LEFT JOIN pg_roles g ON g.oid = acl.grantee
WHERE acl.grantee <> o.owner
GROUP BY o.catalog, o.oid, acl.grantee, g.rolname, acl.is_grantable
