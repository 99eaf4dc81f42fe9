-- Functions and procedures (aggregates.sql reads aggregates; window functions stay unmanaged), printed the way
-- PostgreSQL prints them. body is prosrc, or for an SQL-standard body (BEGIN ATOMIC / RETURN)
-- what pg_get_function_sqlbody prints. cost and rows only where they differ from what CREATE
-- FUNCTION picks. Extension members and the constructors of range types (deptype 'i') are left
-- to unmanaged.sql.
SELECT n.nspname AS schema,
       p.proname AS name,
       CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END AS kind,
       pg_get_function_arguments(p.oid) AS arguments,
       CASE WHEN p.prokind = 'f' THEN pg_get_function_result(p.oid) END AS returns,
       l.lanname AS language,
       coalesce(pg_get_function_sqlbody(p.oid), p.prosrc) AS body,
       p.prosqlbody IS NOT NULL AS sql_body,
       p.provolatile AS volatility,
       p.proisstrict AS strict,
       p.prosecdef AS security_definer,
       p.proleakproof AS leakproof,
       p.proparallel AS parallel,
       CASE WHEN p.prokind = 'f'
             AND p.procost <> CASE WHEN l.lanname IN ('c', 'internal') THEN 1 ELSE 100 END
            THEN p.procost END AS cost,
       CASE WHEN p.proretset AND p.prorows <> 1000 THEN p.prorows END AS rows,
       coalesce(p.proconfig, '{}') AS config,
       obj_description(p.oid, 'pg_proc') AS comment,
       p.oid
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
WHERE p.prokind IN ('f', 'p')
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (
    SELECT FROM pg_depend dep
    WHERE dep.classid = 'pg_proc'::regclass AND dep.objid = p.oid AND dep.deptype IN ('e', 'i')
  )
