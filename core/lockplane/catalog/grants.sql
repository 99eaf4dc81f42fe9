-- Table privileges, by table oid, one row per grantee and grant option (read only when asked).
-- The owner's own privileges are implicit and not listed; a NULL relacl means the defaults
-- (owner only). Grantee 0 is PUBLIC.
SELECT c.oid AS table_oid,
       CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE g.rolname::text END AS grantee,
       array_agg(acl.privilege_type::text ORDER BY acl.privilege_type) AS privileges,
       acl.is_grantable AS with_grant_option
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL aclexplode(c.relacl) acl
LEFT JOIN pg_roles g ON g.oid = acl.grantee
WHERE c.relkind = 'r' AND NOT c.relispartition AND acl.grantee <> c.relowner
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
  AND n.nspname !~ '^pg_(toast|temp_)'
GROUP BY c.oid, acl.grantee, g.rolname, acl.is_grantable
