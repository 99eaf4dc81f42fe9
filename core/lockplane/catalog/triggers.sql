-- Triggers of tables (plain and partitioned tables and partitions), with the parts of their definition
-- read from pg_trigger; the WHEN condition as pg_get_triggerdef prints it (pg_get_expr cannot
-- print OLD and NEW). Internal triggers (foreign keys) and clones on partitions (tgparentid) are
-- not objects of their own (a trigger on a partitioned table is one object, on it); triggers of
-- unmanaged relations (views, foreign tables) are listed by unmanaged.sql.
SELECT t.tgrelid AS table_oid,
       t.tgname AS name,
       t.tgtype AS type,
       array(
         SELECT a.attname::text
         FROM unnest(t.tgattr) WITH ORDINALITY AS k(attnum, position)
         JOIN pg_attribute a ON a.attrelid = t.tgrelid AND a.attnum = k.attnum
         ORDER BY k.position
       ) AS update_columns,
       substring(pg_get_triggerdef(t.oid, true)
                 FROM ' WHEN \((.*)\) EXECUTE (?:FUNCTION|PROCEDURE) ') AS "when",
       t.tgfoid::regproc::text AS function,
       t.tgnargs AS nargs,
       t.tgargs AS args,
       t.tgenabled AS enabled,
       t.tgconstraint <> 0 AS "constraint",
       t.tgdeferrable AS deferrable,
       t.tginitdeferred AS initially_deferred,
       obj_description(t.oid, 'pg_trigger') AS comment
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal AND t.tgparentid = 0
  AND c.relkind IN ('r', 'p')
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'lockplane'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (
    SELECT FROM pg_depend dep
    WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid AND dep.deptype = 'e'
  )
