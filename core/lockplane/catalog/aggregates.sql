-- Aggregates, ordinary and ordered-set, printed the way PostgreSQL prints them: support
-- functions as regproc (qualified only when not on the search path), types as format_type.
-- Options only where they differ from what CREATE AGGREGATE picks. Extension members are left
-- to unmanaged.sql.
SELECT n.nspname AS schema,
       p.proname AS name,
       pg_get_function_arguments(p.oid) AS arguments,
       a.aggkind = 'h' AS hypothetical,
       a.aggtransfn::regproc::text AS sfunc,
       format_type(a.aggtranstype, NULL) AS stype,
       a.aggtransspace AS sspace,
       nullif(a.aggfinalfn, 0)::regproc::text AS finalfunc,
       a.aggfinalextra AS finalfunc_extra,
       nullif(a.aggfinalmodify, CASE a.aggkind WHEN 'n' THEN 'r' ELSE 'w' END) AS finalfunc_modify,
       nullif(a.aggcombinefn, 0)::regproc::text AS combinefunc,
       nullif(a.aggserialfn, 0)::regproc::text AS serialfunc,
       nullif(a.aggdeserialfn, 0)::regproc::text AS deserialfunc,
       a.agginitval AS initcond,
       nullif(a.aggmtransfn, 0)::regproc::text AS msfunc,
       nullif(a.aggminvtransfn, 0)::regproc::text AS minvfunc,
       CASE WHEN a.aggmtranstype <> 0 THEN format_type(a.aggmtranstype, NULL) END AS mstype,
       a.aggmtransspace AS msspace,
       nullif(a.aggmfinalfn, 0)::regproc::text AS mfinalfunc,
       a.aggmfinalextra AS mfinalfunc_extra,
       nullif(a.aggmfinalmodify, 'r') AS mfinalfunc_modify,
       a.aggminitval AS minitcond,
       (SELECT format('OPERATOR(%I.%s)', opn.nspname, o.oprname)
        FROM pg_operator o JOIN pg_namespace opn ON opn.oid = o.oprnamespace
        WHERE o.oid = a.aggsortop) AS sortop,
       p.proparallel AS parallel,
       obj_description(p.oid, 'pg_proc') AS comment
FROM pg_aggregate a
JOIN pg_proc p ON p.oid = a.aggfnoid
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (
    SELECT FROM pg_depend dep
    WHERE dep.classid = 'pg_proc'::regclass AND dep.objid = p.oid AND dep.deptype = 'e'
  )
