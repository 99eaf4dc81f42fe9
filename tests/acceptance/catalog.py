"""An independent reader of a database's schema, plus the scratch-database helpers the suite uses.

The acceptance suite checks the engine's result against something the engine did not write: these
queries share no code with `lockplane.introspect`, and they print every object the way Postgres
itself prints it (`format_type`, `pg_get_expr`, `pg_get_constraintdef`, `pg_get_indexdef`). If the
engine's introspection forgets a detail, its plans may silently ignore that detail; this reader
will still see it and the comparison will fail.

Everything returned is plain, sorted dicts and lists, so `==` is the whole comparison and pytest's
diff of a failure is readable. `snapshot_diff` gives a shorter, path-by-path account.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import yaml
from psycopg import sql
from servers import create_database, drop_database

EXCLUDED_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast", "lockplane")
"""`lockplane` holds the engine's own ledger; it is not part of the user's schema."""

HAZARD_CODES = frozenset(
    {
        "DATA_LOSS",
        "DATA_DEPENDENT",
        "TABLE_REWRITE",
        "BLOCKING_LOCK",
        "IRREVERSIBLE",
        "BREAKING_CHANGE",
        "SCHEMA_DESIGN",
    }
)
CASE_KEYS = frozenset(
    {
        "name",
        "old",
        "rows",
        "new",
        "hazards",
        "offline_hazards",
        "online",
        "expect_apply_error",
        "expect_empty",
        "reversible",
        "xfail",
        "introspect",
        "enum_renames",
    }
)
"""`enum_renames: {enum: {new_label: old_label}}`: the rename hint (`Enum.renamed`) added to the
NEW document after introspection, which never fills it; `enum` as format_type prints it.
`xfail: "<reason>"` marks a known engine bug: strict, so the fix shows up as a failing XPASS.
`offline_hazards`: what the `--no-online` plan raises, when it differs from the online plan's
`hazards`; `online: false` plans and applies the case without online forms.
`introspect: {grants: true, owners: true}`: keyword arguments of every `introspect_url` of the
case, for cases whose documents manage table privileges or owners (off by default, as in the
engine)."""
CASES_DIR = Path(__file__).parent / "cases"

# A namespace is "ours" unless it is a system one, a temp/toast one, or the engine's ledger.
_USER_NAMESPACE = """
    n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'lockplane')
    AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
"""
# Objects created by an extension belong to the extension, not to the user's schema.
_NOT_EXTENSION_MEMBER = """
    NOT EXISTS (SELECT 1 FROM pg_depend d
                WHERE d.classid = {catalog}::regclass AND d.objid = {oid} AND d.deptype = 'e')
"""

_SCHEMAS_SQL = f"""
SELECT n.nspname FROM pg_namespace n
WHERE {_USER_NAMESPACE}
ORDER BY 1
"""

_EXTENSIONS_SQL = """
SELECT e.extname, n.nspname, e.extversion
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
ORDER BY 1
"""

_ENUMS_SQL = f"""
SELECT format('%I.%I', n.nspname, t.typname),
       array(SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype = 'e' AND {_USER_NAMESPACE}
  AND {_NOT_EXTENSION_MEMBER.format(catalog="'pg_type'", oid="t.oid")}
ORDER BY 1
"""

_DOMAINS_SQL = f"""
SELECT format('%I.%I', n.nspname, t.typname), format_type(t.typbasetype, t.typtypmod),
       t.typdefault, t.typnotnull,
       CASE WHEN t.typcollation = 0 THEN NULL
            ELSE (SELECT format('%I.%I', cn.nspname, co.collname)
                    FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace
                   WHERE co.oid = t.typcollation) END,
       array(SELECT co.conname || ': ' || pg_get_constraintdef(co.oid, true)
                    || CASE WHEN co.convalidated THEN '' ELSE ' /* NOT VALID */' END
               FROM pg_constraint co
              WHERE co.contypid = t.oid AND co.contype = 'c' ORDER BY co.conname)
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype = 'd' AND {_USER_NAMESPACE}
  AND {_NOT_EXTENSION_MEMBER.format(catalog="'pg_type'", oid="t.oid")}
ORDER BY 1
"""

_AGGREGATES_SQL = f"""
SELECT format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
       array[a.aggkind::text, a.aggnumdirectargs::text, a.aggtransfn::regprocedure::text,
             a.aggtranstype::regtype::text, a.aggtransspace::text,
             a.aggfinalfn::regprocedure::text, a.aggfinalextra::text, a.aggfinalmodify::text,
             a.aggcombinefn::regprocedure::text, a.aggserialfn::regprocedure::text,
             a.aggdeserialfn::regprocedure::text, coalesce(a.agginitval, '<null>'),
             a.aggmtransfn::regprocedure::text, a.aggminvtransfn::regprocedure::text,
             a.aggmtranstype::regtype::text, a.aggmtransspace::text,
             a.aggmfinalfn::regprocedure::text, a.aggmfinalextra::text,
             a.aggmfinalmodify::text, coalesce(a.aggminitval, '<null>'),
             a.aggsortop::regoperator::text, p.proparallel::text],
       obj_description(p.oid, 'pg_proc')
FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE {_USER_NAMESPACE}
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                  AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY 1
"""

# ACLs as Postgres prints them (`grantee=privileges/grantor`), the defaults spelled out by
# acldefault so that "never granted" and "granted and revoked again" read alike.
_ACL = (
    "array(SELECT x::text FROM unnest(coalesce({acl}, acldefault({kind}, {owner}))) x ORDER BY 1)"
)

_FUNCTIONS_SQL = f"""
SELECT format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
       pg_get_functiondef(p.oid), obj_description(p.oid, 'pg_proc'),
       {_ACL.format(acl="p.proacl", kind="'f'", owner="p.proowner")},
       pg_get_userbyid(p.proowner)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.prokind IN ('f', 'p') AND {_USER_NAMESPACE}
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                  AND d.objid = p.oid AND d.deptype IN ('e', 'i'))
ORDER BY 1
"""

# Every user trigger that is not a clone on a partition, on any relation: the engine must
# manage those of tables and leave the others (listed as unmanaged) exactly as they were.
_TRIGGERS_SQL = f"""
SELECT format('%I.%I', n.nspname, c.relname) || ' ' || quote_ident(t.tgname),
       pg_get_triggerdef(t.oid), t.tgenabled, obj_description(t.oid, 'pg_trigger')
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal AND t.tgparentid = 0 AND {_USER_NAMESPACE}
ORDER BY 1
"""

# Composite types (relkind 'c', not a table's row type) with their attributes in order, each as
# `name type [COLLATE x]` (the collation only when it is not the type's default).
_COMPOSITES_SQL = f"""
SELECT format('%I.%I', n.nspname, t.typname),
       array(SELECT format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod))
                    || CASE WHEN a.attcollation <> at.typcollation
                            THEN ' COLLATE ' || a.attcollation::regcollation::text ELSE '' END
               FROM pg_attribute a JOIN pg_type at ON at.oid = a.atttypid
              WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY a.attnum),
       obj_description(t.oid, 'pg_type')
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_class c ON c.oid = t.typrelid
WHERE t.typtype = 'c' AND c.relkind = 'c' AND {_USER_NAMESPACE}
  AND {_NOT_EXTENSION_MEMBER.format(catalog="'pg_type'", oid="t.oid")}
ORDER BY 1
"""

# Range types from pg_range, everything CREATE TYPE ... AS RANGE can say, printed by regtype,
# regproc and regcollation; the multirange type comes along as one of its properties.
_RANGES_SQL = f"""
SELECT format('%I.%I', n.nspname, t.typname), r.rngsubtype::regtype::text,
       (SELECT format('%I.%I', opn.nspname, opc.opcname) FROM pg_opclass opc
          JOIN pg_namespace opn ON opn.oid = opc.opcnamespace WHERE opc.oid = r.rngsubopc),
       CASE WHEN r.rngcollation = 0 THEN NULL ELSE r.rngcollation::regcollation::text END,
       CASE WHEN r.rngcanonical = 0 THEN NULL ELSE r.rngcanonical::regproc::text END,
       CASE WHEN r.rngsubdiff = 0 THEN NULL ELSE r.rngsubdiff::regproc::text END,
       r.rngmultitypid::regtype::text,
       obj_description(t.oid, 'pg_type')
FROM pg_range r
JOIN pg_type t ON t.oid = r.rngtypid
JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE {_USER_NAMESPACE}
  AND {_NOT_EXTENSION_MEMBER.format(catalog="'pg_type'", oid="t.oid")}
ORDER BY 1
"""

_SEQUENCES_SQL = f"""
SELECT format('%I.%I', n.nspname, c.relname),
       format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
       s.seqcache, s.seqcycle,
       (SELECT format('%I.%I.%I', tn.nspname, tc.relname, a.attname)
               || CASE d.deptype WHEN 'i' THEN ' (identity)' ELSE ' (owned by)' END
          FROM pg_depend d
          JOIN pg_class tc ON tc.oid = d.refobjid
          JOIN pg_namespace tn ON tn.oid = tc.relnamespace
          JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
         WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
           AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
         LIMIT 1),
       {_ACL.format(acl="c.relacl", kind="'s'", owner="c.relowner")},
       pg_get_userbyid(c.relowner)
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {_USER_NAMESPACE}
  AND {_NOT_EXTENSION_MEMBER.format(catalog="'pg_class'", oid="c.oid")}
ORDER BY 1
"""

_TABLES_SQL = f"""
SELECT c.oid, format('%I.%I', n.nspname, c.relname), c.relkind, c.relpersistence,
       obj_description(c.oid, 'pg_class'),
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
       (SELECT format('%I.%I', pn.nspname, pc.relname)
          FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent
          JOIN pg_namespace pn ON pn.oid = pc.relnamespace
         WHERE i.inhrelid = c.oid),
       c.relispartition,
       pg_get_expr(c.relpartbound, c.oid),
       coalesce(array(SELECT unnest(c.reloptions) ORDER BY 1), '{{}}')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND {_USER_NAMESPACE}
  AND {_NOT_EXTENSION_MEMBER.format(catalog="'pg_class'", oid="c.oid")}
ORDER BY 2
"""

_COLUMNS_SQL = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
       CASE WHEN a.attcollation = 0 THEN NULL
            ELSE (SELECT format('%%I.%%I', cn.nspname, co.collname)
                    FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace
                   WHERE co.oid = a.attcollation) END,
       col_description(a.attrelid, a.attnum)
FROM pg_attribute a
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

# PG18 records NOT NULL as constraints of type 'n'; attnotnull already says the same thing, and
# PG15 has no such rows, so ignoring them keeps snapshots comparable across versions.
_CONSTRAINTS_SQL = """
SELECT co.conrelid, co.conname, pg_get_constraintdef(co.oid, true),
       obj_description(co.oid, 'pg_constraint')
FROM pg_constraint co
WHERE co.conrelid = ANY(%s) AND co.contype <> 'n'
ORDER BY co.conrelid, co.conname
"""

_INDEXES_SQL = """
SELECT i.indrelid, ic.relname, pg_get_indexdef(i.indexrelid), i.indisvalid,
       obj_description(i.indexrelid, 'pg_class')
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE i.indrelid = ANY(%s)
ORDER BY i.indrelid, ic.relname
"""

_VIEWS_SQL = f"""
SELECT format('%I.%I', n.nspname, c.relname), c.relkind, pg_get_viewdef(c.oid, true),
       coalesce(array(SELECT unnest(c.reloptions) ORDER BY 1), '{{}}'),
       obj_description(c.oid, 'pg_class'),
       array(SELECT a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
               FROM pg_attribute a
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY a.attnum),
       array(SELECT pg_get_indexdef(i.indexrelid)
               FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
              WHERE i.indrelid = c.oid ORDER BY ic.relname),
       array(SELECT a.attname || ': ' || col_description(c.oid, a.attnum)
               FROM pg_attribute a
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                AND col_description(c.oid, a.attnum) IS NOT NULL
              ORDER BY a.attnum),
       {_ACL.format(acl="c.relacl", kind="'r'", owner="c.relowner")},
       pg_get_userbyid(c.relowner)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm') AND {_USER_NAMESPACE}
  AND {_NOT_EXTENSION_MEMBER.format(catalog="'pg_class'", oid="c.oid")}
ORDER BY 1
"""


# Row level security, policies (the pg_policies view), owners and privileges (the SQL-standard
# information_schema view, the owner's own implicit privileges left out), keyed like tables.
_ACCESS_SQL = f"""
SELECT format('%I.%I', n.nspname, c.relname), c.relrowsecurity, c.relforcerowsecurity,
       pg_get_userbyid(c.relowner)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND {_USER_NAMESPACE}
"""

_POLICIES_SQL = """
SELECT format('%I.%I', schemaname, tablename), policyname, permissive, roles::text[], cmd, qual,
       with_check
FROM pg_policies
ORDER BY 1, 2
"""

_PRIVILEGES_SQL = """
SELECT format('%I.%I', p.table_schema, p.table_name), p.grantee, p.privilege_type, p.is_grantable
FROM information_schema.table_privileges p
JOIN pg_namespace n ON n.nspname = p.table_schema
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = p.table_name
WHERE p.grantee <> pg_get_userbyid(c.relowner)
ORDER BY 1, 2, 3
"""


def _sorted(d: dict[str, Any]) -> dict[str, Any]:
    """Insertion order = key order, so printed snapshots and pytest diffs are stable."""
    return {k: d[k] for k in sorted(d)}


def connect(url: str, *, autocommit: bool = True) -> psycopg.Connection:
    """A connection with `search_path = public`, so names print unqualified only in public."""
    return psycopg.connect(url, autocommit=autocommit, options="-c search_path=public")


def snapshot(url: str) -> dict[str, Any]:
    """Describe the user schema of the database at `url` as plain, sorted, comparable data.

    Tables are keyed by `format('%I.%I')` (quoted only where needed), so hostile names stay
    unambiguous. Columns are keyed by name with their order kept separately in `column_order`,
    so a difference names the column rather than a list position.
    """
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("SET search_path = public")
        cur.execute(_SCHEMAS_SQL)
        schemas = [r[0] for r in cur.fetchall()]
        cur.execute(_EXTENSIONS_SQL)
        extensions = {r[0]: {"schema": r[1], "version": r[2]} for r in cur.fetchall()}
        cur.execute(_ENUMS_SQL)
        enums = {r[0]: list(r[1]) for r in cur.fetchall()}
        cur.execute(_DOMAINS_SQL)
        domains = {
            r[0]: {
                "checks": list(r[5]),
                "collation": r[4],
                "default": r[2],
                "not_null": r[3],
                "type": r[1],
            }
            for r in cur.fetchall()
        }
        cur.execute(_FUNCTIONS_SQL)
        functions = {
            r[0]: {"acl": list(r[3]), "comment": r[2], "definition": r[1], "owner": r[4]}
            for r in cur.fetchall()
        }
        cur.execute(_AGGREGATES_SQL)
        aggregates = {r[0]: {"comment": r[2], "definition": list(r[1])} for r in cur.fetchall()}
        cur.execute(_TRIGGERS_SQL)
        triggers = {
            r[0]: {"comment": r[3], "definition": r[1], "enabled": r[2]} for r in cur.fetchall()
        }
        cur.execute(_COMPOSITES_SQL)
        composite_types = {
            r[0]: {"attributes": list(r[1]), "comment": r[2]} for r in cur.fetchall()
        }
        cur.execute(_RANGES_SQL)
        range_types = {
            r[0]: {
                "canonical": r[4],
                "collation": r[3],
                "comment": r[7],
                "multirange": r[6],
                "subtype": r[1],
                "subtype_diff": r[5],
                "subtype_opclass": r[2],
            }
            for r in cur.fetchall()
        }
        cur.execute(_SEQUENCES_SQL)
        sequences = {
            r[0]: {
                "acl": list(r[9]),
                "cache": r[6],
                "cycle": r[7],
                "increment": r[3],
                "max": r[5],
                "min": r[4],
                "owned_by": r[8],
                "owner": r[10],
                "start": r[2],
                "type": r[1],
            }
            for r in cur.fetchall()
        }
        cur.execute(_TABLES_SQL)
        table_rows = cur.fetchall()
        oids = [r[0] for r in table_rows]
        by_oid: dict[int, dict[str, Any]] = {}
        tables: dict[str, dict[str, Any]] = {}
        for (
            oid, key, kind, persistence, comment, key_def, parent, is_part, bound, reloptions,
        ) in table_rows:  # fmt: skip
            entry: dict[str, Any] = {
                "column_order": [],
                "columns": {},
                "comment": comment,
                "constraints": {},
                "indexes": {},
                "kind": kind,
                "options": list(reloptions),
                "partition": {"bound": bound, "key": key_def, "of": parent if is_part else None},
                "persistence": persistence,
            }
            by_oid[oid] = tables[key] = entry
        cur.execute(_COLUMNS_SQL, (oids,))
        for (
            relid,
            name,
            typ,
            notnull,
            default,
            ident,
            generated,
            collation,
            comment,
        ) in cur.fetchall():
            by_oid[relid]["column_order"].append(name)
            by_oid[relid]["columns"][name] = {
                "collation": collation,
                "comment": comment,
                "default": default,
                "generated": generated or None,
                "identity": ident or None,
                "not_null": notnull,
                "type": typ,
            }
        cur.execute(_CONSTRAINTS_SQL, (oids,))
        for relid, name, definition, comment in cur.fetchall():
            by_oid[relid]["constraints"][name] = (
                definition if comment is None else f"{definition} -- {comment}"
            )
        cur.execute(_INDEXES_SQL, (oids,))
        for relid, name, definition, valid, comment in cur.fetchall():
            text = definition if valid else f"{definition} /* INVALID */"
            by_oid[relid]["indexes"][name] = text if comment is None else f"{text} -- {comment}"
        _read_access(cur, tables)
        for entry in tables.values():
            for key in ("columns", "constraints", "indexes"):
                entry[key] = _sorted(entry[key])
        cur.execute(_VIEWS_SQL)
        views = {
            r[0]: {
                "acl": list(r[8]),
                "column_comments": list(r[7]),
                "columns": list(r[5]),
                "comment": r[4],
                "definition": r[2],
                "indexes": list(r[6]),
                "kind": r[1],
                "options": list(r[3]),
                "owner": r[9],
            }
            for r in cur.fetchall()
        }
    return {
        "aggregates": aggregates,
        "composite_types": composite_types,
        "domains": domains,
        "enums": enums,
        "extensions": extensions,
        "functions": functions,
        "range_types": range_types,
        "schemas": schemas,
        "sequences": sequences,
        "tables": tables,
        "views": views,
        "triggers": triggers,
    }


def _read_access(cur: psycopg.Cursor[Any], tables: dict[str, dict[str, Any]]) -> None:
    """Adds `rls`, `owner`, `policies` and `grants` to each table entry."""
    cur.execute(_ACCESS_SQL)
    for key, enabled, forced, owner in cur.fetchall():
        if key in tables:
            tables[key].update(
                {"rls": {"enabled": enabled, "forced": forced}, "owner": owner, "policies": {}}
            )
            tables[key]["grants"] = {}
    cur.execute(_POLICIES_SQL)
    for key, name, permissive, roles, cmd, qual, with_check in cur.fetchall():
        if key in tables:
            tables[key]["policies"][name] = {
                "command": cmd,
                "permissive": permissive,
                "roles": sorted(roles),
                "using": qual,
                "with_check": with_check,
            }
    cur.execute(_PRIVILEGES_SQL)
    for key, grantee, privilege, grantable in cur.fetchall():
        if key in tables:
            mark = " WITH GRANT OPTION" if grantable == "YES" else ""
            tables[key]["grants"].setdefault(grantee, []).append(privilege + mark)


def snapshot_diff(old: Any, new: Any, path: str = "") -> list[str]:
    """Every place where two snapshots differ, one line each, as `path: old -> new`.

    Missing keys are reported as `added`/`removed` rather than as a nested diff, so a whole
    table appearing reads as one line, not dozens.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        lines: list[str] = []
        for key in sorted(old.keys() | new.keys()):
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                lines.append(f"{sub}: removed (was {old[key]!r})")
            elif key not in old:
                lines.append(f"{sub}: added ({new[key]!r})")
            else:
                lines.extend(snapshot_diff(old[key], new[key], sub))
        return lines
    if old != new:
        return [f"{path or '<root>'}: {old!r} -> {new!r}"]
    return []


def server_major(url: str) -> int:
    with connect(url) as conn:
        row = conn.execute("SELECT current_setting('server_version_num')::int / 10000").fetchone()
    return int(row[0])  # type: ignore[index]


def table_contents(url: str) -> dict[str, tuple[int, str | None]]:
    """Row count and an md5 of every user table's rows (sorted by their text form).

    Used to prove that a failed apply left the data exactly as it was, not just the schema.
    Each table counts its own rows only (FROM ONLY): a partition's rows are its own, not its
    parent's too, so dropping or detaching one partition changes no other table's count.
    """
    out: dict[str, tuple[int, str | None]] = {}
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            f"""SELECT n.nspname, c.relname, format('%I.%I', n.nspname, c.relname)
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p') AND {_USER_NAMESPACE} ORDER BY 3"""
        )
        for schema, name, key in cur.fetchall():
            query = sql.SQL(
                "SELECT count(*), md5(string_agg(t::text, E'\\n' ORDER BY t::text)) FROM ONLY {} t"
            ).format(sql.Identifier(schema, name))
            cur.execute(query)
            count, digest = cur.fetchone()  # type: ignore[misc]
            out[key] = (count, digest)
    return out


# --- scratch databases --------------------------------------------------------------------------


def with_database(url: str, dbname: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


@contextmanager
def scratch_databases(admin_url: str, count: int) -> Iterator[list[str]]:
    """`count` fresh databases, dropped afterwards whatever happened in between."""
    urls: list[str] = []
    try:
        for _ in range(count):
            urls.append(create_database(admin_url))
        yield urls
    finally:
        for url in urls:
            drop_database(admin_url, url)


def run_sql(url: str, text: str | None) -> None:
    """Run a block of DDL/DML as one implicit transaction (simple query protocol)."""
    if text and text.strip():
        with connect(url) as conn:
            conn.execute(text.encode())  # bytes: no client-side placeholder parsing of `%`


# --- case files ---------------------------------------------------------------------------------


def load_cases(directory: Path = CASES_DIR) -> list[tuple[str, dict[str, Any]]]:
    """Every case as (`<kind>::<name>`, case), validated so a typo fails loudly, not silently.

    An unknown key would otherwise be ignored (e.g. `hazard:` for `hazards:`), turning a check
    into a no-op; an unknown hazard code could never match.
    """
    cases: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(directory.glob("*.yaml")):
        kind = path.stem
        data = yaml.safe_load(path.read_text()) or []
        seen: set[str] = set()
        for case in data:
            name = case.get("name")
            if not name or name in seen:
                raise ValueError(f"{path.name}: missing or duplicate case name {name!r}")
            seen.add(name)
            unknown = set(case) - CASE_KEYS
            if unknown:
                raise ValueError(f"{path.name}: {name}: unknown keys {sorted(unknown)}")
            if "old" not in case or "new" not in case or "hazards" not in case:
                raise ValueError(f"{path.name}: {name}: old, new and hazards are required")
            bad = (set(case["hazards"]) | set(case.get("offline_hazards", ()))) - HAZARD_CODES
            if bad:
                raise ValueError(f"{path.name}: {name}: unknown hazard codes {sorted(bad)}")
            if case.get("online", True) is not True and (
                case["online"] is not False or "offline_hazards" in case
            ):
                raise ValueError(
                    f"{path.name}: {name}: online is true or false, and an offline case "
                    "(online: false) states its hazards in hazards only"
                )
            cases.append((f"{kind}::{name}", case))
    return cases
