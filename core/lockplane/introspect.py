"""Introspection: read a live database into a `Schema`, one set-based query per object kind.

Per-table queries cost a round trip and a plan per table and grow with the schema; here each kind
is one query over the whole database (SQL in `lockplane/catalog/*.sql`), and the nested document is
assembled in Python with dicts keyed by table oid, then validated once by pydantic. Everything runs
in one read-only transaction (repeatable read when we own the transaction) with
`search_path = public`, so names print unqualified in public and qualified elsewhere, the same way
on every database.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

import psycopg
from psycopg import pq

from . import catalog
from .db import SEARCH_PATH, connect
from .errors import LockplaneError
from .model import Schema

_FK_ACTIONS = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}
_IDENTITY = {"a": "always", "d": "by default"}
_IDENTITY_DEFAULTS = {
    "start": None,
    "increment": 1,
    "min_value": None,
    "max_value": None,
    "cache": 1,
    "cycle": False,
}
_TYPE_BOUNDS = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
KINDS = (
    "schemas",
    "extensions",
    "enums",
    "domains",
    "composite_types",
    "range_types",
    "sequences",
    "tables",
    "columns",
    "constraints",
    "indexes",
    "views",
    "policies",
    "functions",
    "aggregates",
    "triggers",
    "unmanaged",
)
OPTIONAL_KINDS = ("grants", "owners")
"""Read only when asked: a document without them leaves privileges and owners alone."""

Row = tuple[Any, ...]


def introspect_url(url: str, *, grants: bool = False, owners: bool = False) -> Schema:
    """Connect with Lockplane's session settings, introspect, close."""
    with connect(url) as conn:
        return introspect(conn, grants=grants, owners=owners)


def introspect(conn: psycopg.Connection, *, grants: bool = False, owners: bool = False) -> Schema:
    """The schema of the database `conn` is connected to; privileges (`grants`) and owners
    (`owners`) of tables, views, sequences and functions only when asked, since a document that
    has them manages them."""
    extra = tuple(k for k, wanted in zip(OPTIONAL_KINDS, (grants, owners), strict=True) if wanted)
    with _gc_paused():
        return assemble(fetch(conn, extra))


def _securables(schema: Schema) -> tuple[Any, ...]:
    """Everything that can have grants and an owner."""
    return (*schema.tables, *schema.views, *schema.sequences, *schema.functions)


def opt_in(schema: Schema) -> dict[str, bool]:
    """The `introspect` options that read back what `schema` manages (grants, owners), so that
    a database built from it can be compared with it."""
    objects = _securables(schema)
    return {
        "grants": any(o.grants is not None for o in objects),
        "owners": any(o.owner is not None for o in objects),
    }


def like(doc: Schema, read: Schema) -> Schema:
    """`read` with grants and owners only where `doc` has them: an object whose document leaves
    them out does not manage them, and must not start to because it was read back."""
    wanted = {(type(o), _identity(o)): o for o in _securables(doc)}

    def trimmed(o: Any) -> Any:
        d = wanted.get((type(o), _identity(o)))
        update: dict[str, Any] = {}
        if o.grants is not None and (d is None or d.grants is None):
            update["grants"] = None
        if o.owner is not None and (d is None or d.owner is None):
            update["owner"] = None
        return o.model_copy(update=update) if update else o

    kinds = ("tables", "views", "sequences", "functions")
    return read.model_copy(update={k: tuple(trimmed(o) for o in getattr(read, k)) for k in kinds})


def _identity(o: Any) -> tuple[str, ...]:
    return o.key if hasattr(o, "key") else (o.schema_, o.name)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Tens of thousands of rows and models, none of them garbage: the cyclic collector would
    rescan them again and again while they are built (measured: 2-3x the assembly time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def fetch(conn: psycopg.Connection, extra: tuple[str, ...] = ()) -> dict[str, list[Row]]:
    """The raw rows of every catalog query, keyed by kind (kept apart so benchmarks can time it).

    When the connection is idle we open our own READ ONLY, REPEATABLE READ transaction, so all
    queries see one snapshot; inside a caller's transaction we use a savepoint made read only.
    Either way it is rolled back at the end, which also undoes our `SET LOCAL search_path`.
    """
    status = conn.info.transaction_status
    if status not in (pq.TransactionStatus.IDLE, pq.TransactionStatus.INTRANS):
        raise LockplaneError("cannot introspect: the connection's transaction is not usable")
    version = conn.info.server_version
    rows: dict[str, list[Row]] = {}
    with conn.transaction(force_rollback=True), conn.cursor() as cur:
        if status == pq.TransactionStatus.IDLE:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        else:
            cur.execute("SET TRANSACTION READ ONLY")
        cur.execute("SELECT set_config('search_path', %s, true)", (SEARCH_PATH,))
        for kind in KINDS + extra:
            cur.execute(catalog.query(kind, version))
            rows[kind] = cur.fetchall()
    return rows


def assemble(rows: dict[str, list[Row]]) -> Schema:
    """Build the document from the raw rows of each catalog query (shapes: the .sql files)."""
    tables: dict[int, dict[str, Any]] = {}
    for (
        oid, schema, name, comment, unlogged, rls, force_rls, partition_by, partition_of, bound,
        storage_names, storage_values,
    ) in rows["tables"]:  # fmt: skip
        tables[oid] = {
            "schema": schema,
            "name": name,
            "columns": [],
            "comment": comment,
            "unlogged": unlogged,
            "row_level_security": rls,
            "force_row_level_security": force_rls,
            "partition_by": partition_by,
            "partition_of": partition_of,
            "partition_bound": bound,
            "storage_parameters": dict(zip(storage_names, storage_values, strict=True)),
        }
    _add_policies(tables, rows["policies"])
    unmanaged = [_unmanaged(row) for row in rows["unmanaged"] if _unmanaged_now(row, rows)]
    columns = _add_columns(tables, rows["columns"])
    _add_constraints(tables, rows["constraints"])
    views = {row[0]: _view(row) for row in rows["views"]}
    _add_indexes(tables | views, rows["indexes"])  # materialized views have indexes too
    _add_triggers(tables, rows["triggers"])
    sequences: dict[int, dict[str, Any]] = {}
    for row in rows["sequences"]:
        sequence, identity_of = _sequence(row)
        if identity_of is None:
            sequences[row[-1]] = sequence
        elif identity_of in columns:  # a partitioned table's serves its partitions too
            options = _identity_options(sequence)
            if options:
                columns[identity_of]["identity_options"] = options
    functions = {row[-1]: _function(row) for row in rows["functions"]}
    securables = {("pg_class", oid): o for oid, o in (tables | views | sequences).items()}
    securables |= {("pg_proc", oid): f for oid, f in functions.items()}
    _add_grants_and_owners(securables, rows)
    return Schema.model_validate(
        {
            "schemas": [name for (name,) in rows["schemas"]],
            "extensions": [
                {"name": name, "schema": schema, "version": version}
                for name, schema, version in rows["extensions"]
            ],
            "enums": [
                {"schema": schema, "name": name, "labels": labels}
                for schema, name, labels in rows["enums"]
            ],
            "domains": [_domain(row) for row in rows["domains"]],
            "composite_types": [_composite(row) for row in rows["composite_types"]],
            "range_types": [_range(row) for row in rows["range_types"]],
            "sequences": list(sequences.values()),
            "tables": list(tables.values()),
            "views": list(views.values()),
            "functions": list(functions.values()),
            "aggregates": [_aggregate(row) for row in rows["aggregates"]],
            "unmanaged": unmanaged,
        }
    )


def _add_policies(tables: dict[int, dict[str, Any]], rows: list[Row]) -> None:
    for oid, name, permissive, command, roles, using, with_check in rows:
        tables[oid].setdefault("policies", []).append(
            {
                "name": name,
                "permissive": permissive,
                "command": command,
                "roles": roles,
                "using": using,
                "with_check": with_check,
            }
        )


def _add_grants_and_owners(
    objects: dict[tuple[str, int], dict[str, Any]], rows: dict[str, list[Row]]
) -> None:
    """Grants and owners when their queries ran: every object then gets a value, an empty list
    meaning "no privileges granted". Rows of objects that are not managed (an extension's, an
    identity column's sequence) are skipped."""
    if "grants" in rows:
        for o in objects.values():
            o["grants"] = []
        for catalog_, oid, grantee, privileges, with_grant_option in rows["grants"]:
            if (catalog_, oid) in objects:
                objects[catalog_, oid]["grants"].append(
                    {
                        "grantee": grantee,
                        "privileges": privileges,
                        "with_grant_option": with_grant_option,
                    }
                )
    for catalog_, oid, owner in rows.get("owners", ()):
        if (catalog_, oid) in objects:
            objects[catalog_, oid]["owner"] = owner


def _domain(row: Row) -> dict[str, Any]:
    schema, name, type_, default, not_null, collation, names, expressions, validated = row
    return {
        "schema": schema,
        "name": name,
        "type": type_,
        "default": default,
        "not_null": not_null,
        "collation": collation,
        "check_constraints": [
            {"name": n, "expression": e, "not_valid": not v}
            for n, e, v in zip(names, expressions, validated, strict=True)
        ],
    }


def _view(row: Row) -> dict[str, Any]:
    (
        _, schema, name, definition, materialized, check_option, security_barrier,
        security_invoker, column_names, column_types, column_comments, comment, storage_names,
        storage_values,
    ) = row  # fmt: skip
    return {
        "schema": schema,
        "name": name,
        "definition": definition,
        "materialized": materialized,
        "check_option": check_option,
        "security_barrier": security_barrier,
        "security_invoker": security_invoker,
        "columns": [
            {"name": n, "type": t, "comment": c}
            for n, t, c in zip(column_names, column_types, column_comments, strict=True)
        ],
        "comment": comment,
        "storage_parameters": dict(zip(storage_names, storage_values, strict=True)),
    }


_VOLATILITY = {"v": "volatile", "s": "stable", "i": "immutable"}
_PARALLEL = {"u": "unsafe", "r": "restricted", "s": "safe"}
_MODIFY = {"r": "read_only", "s": "shareable", "w": "read_write"}
_TRIGGER_ENABLED = {"O": "enabled", "D": "disabled", "R": "replica", "A": "always"}


def _aggregate(row: Row) -> dict[str, Any]:
    (
        schema, name, arguments, hypothetical, sfunc, stype, sspace, finalfunc, finalfunc_extra,
        finalfunc_modify, combinefunc, serialfunc, deserialfunc, initcond, msfunc, minvfunc,
        mstype, msspace, mfinalfunc, mfinalfunc_extra, mfinalfunc_modify, minitcond, sortop,
        parallel, comment,
    ) = row  # fmt: skip
    return {
        "schema": schema,
        "name": name,
        "arguments": arguments,
        "hypothetical": hypothetical,
        "sfunc": sfunc,
        "stype": stype,
        "sspace": sspace,
        "finalfunc": finalfunc,
        "finalfunc_extra": finalfunc_extra,
        "finalfunc_modify": _MODIFY.get(finalfunc_modify),
        "combinefunc": combinefunc,
        "serialfunc": serialfunc,
        "deserialfunc": deserialfunc,
        "initcond": initcond,
        "msfunc": msfunc,
        "minvfunc": minvfunc,
        "mstype": mstype,
        "msspace": msspace,
        "mfinalfunc": mfinalfunc,
        "mfinalfunc_extra": mfinalfunc_extra,
        "mfinalfunc_modify": _MODIFY.get(mfinalfunc_modify),
        "minitcond": minitcond,
        "sortop": sortop,
        "parallel": _PARALLEL[parallel],
        "comment": comment,
    }


def _function(row: Row) -> dict[str, Any]:
    (
        schema, name, kind, arguments, returns, language, body, sql_body, volatility, strict,
        security_definer, leakproof, parallel, cost, rows, config, comment, _oid,
    ) = row  # fmt: skip
    return {
        "schema": schema,
        "name": name,
        "kind": kind,
        "arguments": arguments,
        "returns": returns,
        "language": language,
        "body": body,
        "sql_body": sql_body,
        "volatility": _VOLATILITY[volatility],
        "strict": strict,
        "security_definer": security_definer,
        "leakproof": leakproof,
        "parallel": _PARALLEL[parallel],
        "cost": cost,
        "rows": rows,
        "config": config,
        "comment": comment,
    }


def _add_triggers(tables: dict[int, dict[str, Any]], rows: list[Row]) -> None:
    """tgtype bits (pg_trigger.h): 1 row, 2 before, 64 instead; events 4 insert, 8 delete,
    16 update, 32 truncate. tgargs holds the arguments NUL-terminated."""
    for (
        oid, name, type_, update_columns, when, function, nargs, args, enabled, constraint,
        deferrable, initially_deferred, comment,
    ) in rows:  # fmt: skip
        timing = "INSTEAD OF" if type_ & 64 else "BEFORE" if type_ & 2 else "AFTER"
        events = [e for bit, e in ((4, "INSERT"), (8, "DELETE"), (16, "UPDATE"), (32, "TRUNCATE"))
                  if type_ & bit]  # fmt: skip
        arguments = [a.decode() for a in bytes(args).split(b"\0")[:nargs]]
        tables[oid].setdefault("triggers", []).append(
            {
                "name": name,
                "timing": timing,
                "events": events,
                "update_columns": update_columns,
                "for_each": "row" if type_ & 1 else "statement",
                "when": when,
                "function": function,
                "arguments": arguments,
                "enabled": _TRIGGER_ENABLED[enabled],
                "constraint": constraint,
                "deferrable": deferrable,
                "initially_deferred": initially_deferred,
                "comment": comment,
            }
        )


def _composite(row: Row) -> dict[str, Any]:
    schema, name, names, types, collations, comment = row
    return {
        "schema": schema,
        "name": name,
        "attributes": [
            {"name": n, "type": t, "collation": c}
            for n, t, c in zip(names, types, collations, strict=True)
        ],
        "comment": comment,
    }


def _range(row: Row) -> dict[str, Any]:
    keys = ("schema", "name", "subtype", "subtype_opclass", "collation", "canonical")
    keys += ("subtype_diff", "multirange", "comment")
    return dict(zip(keys, row, strict=True))


def _unmanaged_now(row: Row, rows: dict[str, list[Row]]) -> bool:
    """Privileges of views and functions are unmanaged unless their grants were read."""
    return row[0] != "privileges" or "grants" not in rows


def _unmanaged(row: Row) -> dict[str, Any]:
    kind, schema, name, on = row
    return {"kind": kind, "schema": schema, "name": name, "on": on}


def _add_columns(
    tables: dict[int, dict[str, Any]], rows: list[Row]
) -> dict[tuple[int, int], dict[str, Any]]:
    """Columns in attnum order; returns them by (table oid, attnum) for identity options."""
    by_position: dict[tuple[int, int], dict[str, Any]] = {}
    ordered = sorted(rows, key=itemgetter(0, 1))  # (table oid, attnum); mostly in order already
    for (
        oid,
        position,
        name,
        type_,
        nullable,
        default,
        identity,
        generated,
        collation,
        comment,
    ) in ordered:
        column: dict[str, Any] = {"name": name, "type": type_, "nullable": nullable}
        if default is not None:
            column["default"] = default
        if identity:
            column["identity"] = _IDENTITY[identity]
        if generated is not None:
            column["generated"] = generated
        if collation is not None:
            column["collation"] = collation
        if comment is not None:
            column["comment"] = comment
        tables[oid]["columns"].append(column)
        by_position[oid, position] = column
    return by_position


def _add_constraints(tables: dict[int, dict[str, Any]], rows: list[Row]) -> None:
    for (
        oid, name, kind, columns, ref_columns, ref_schema, ref_table, on_delete, on_update,
        match_full, deferrable, deferred, no_inherit, not_valid, expression, nulls_not_distinct,
    ) in rows:  # fmt: skip
        table = tables[oid]
        if kind == "p":
            table["primary_key"] = {"name": name, "columns": columns}
        elif kind == "u":
            table.setdefault("unique_constraints", []).append(
                {
                    "name": name,
                    "columns": columns,
                    "nulls_not_distinct": nulls_not_distinct,
                    "deferrable": deferrable,
                    "initially_deferred": deferred,
                }
            )
        elif kind == "c":
            table.setdefault("check_constraints", []).append(
                {
                    "name": name,
                    "expression": expression,
                    "no_inherit": no_inherit,
                    "not_valid": not_valid,
                }
            )
        else:
            table.setdefault("foreign_keys", []).append(
                {
                    "name": name,
                    "columns": columns,
                    "referenced_schema": ref_schema,
                    "referenced_table": ref_table,
                    "referenced_columns": ref_columns,
                    "on_delete": _FK_ACTIONS[on_delete],
                    "on_update": _FK_ACTIONS[on_update],
                    "match_full": match_full,
                    "deferrable": deferrable,
                    "initially_deferred": deferred,
                    "not_valid": not_valid,
                }
            )


def _add_indexes(tables: dict[int, dict[str, Any]], rows: list[Row]) -> None:
    for (
        oid, name, unique, method, key_count, columns, expressions, descending, nulls_first,
        opclasses, collations, where, nulls_not_distinct,
    ) in rows:  # fmt: skip
        keys = [
            _index_key(*key)
            for key in zip(
                columns[:key_count],
                expressions[:key_count],
                descending[:key_count],
                nulls_first[:key_count],
                opclasses[:key_count],
                collations[:key_count],
                strict=True,
            )
        ]
        index: dict[str, Any] = {
            "name": name,
            "columns": keys,
            "unique": unique,
            "method": method,
            "nulls_not_distinct": nulls_not_distinct,
        }
        if len(columns) > key_count:
            index["include"] = columns[key_count:]
        if where is not None:
            index["where"] = where
        tables[oid].setdefault("indexes", []).append(index)


def _index_key(
    column: str | None,
    expression: str | None,
    descending: bool,
    nulls_first: bool,
    opclass: str | None,
    collation: str | None,
) -> str | dict[str, Any]:
    """A bare column name when nothing else is said, else an IndexKey with only what differs.

    NULLS ordering is recorded only against the default: LAST for ascending, FIRST for descending.
    """
    if column is not None and not (descending or nulls_first or opclass or collation):
        return column
    key: dict[str, Any] = {"column": column} if column is not None else {"expression": expression}
    if descending:
        key["descending"] = True
    if nulls_first != descending:
        key["nulls"] = "first" if nulls_first else "last"
    if opclass is not None:
        key["opclass"] = opclass
    if collation is not None:
        key["collation"] = collation
    return key


def _sequence(row: Row) -> tuple[dict[str, Any], tuple[int, int] | None]:
    """The sequence, and for an identity sequence the (table oid, attnum) of its column.

    min/max become None when they are what CREATE SEQUENCE picks for the type and direction.
    """
    (
        schema, name, type_, start, increment, min_value, max_value, cache, cycle,
        ownership, owner_oid, owner_position, owner_schema, owner_table, owner_column, _oid,
    ) = row  # fmt: skip
    low, high = _TYPE_BOUNDS[type_]
    default_min, default_max = (1, high) if increment > 0 else (low, -1)
    sequence: dict[str, Any] = {
        "schema": schema,
        "name": name,
        "type": type_,
        "start": start,
        "increment": increment,
        "min_value": None if min_value == default_min else min_value,
        "max_value": None if max_value == default_max else max_value,
        "cache": cache,
        "cycle": cycle,
    }
    if ownership == "i":
        return sequence, (owner_oid, owner_position)
    if ownership == "a":
        sequence["owned_by"] = {
            "schema": owner_schema,
            "table": owner_table,
            "column": owner_column,
        }
    return sequence, None


def _identity_options(sequence: dict[str, Any]) -> dict[str, Any]:
    """An identity sequence's options that differ from what Postgres picks; {} when none do.

    START defaults to the sequence's own MINVALUE when ascending, MAXVALUE when descending.
    """
    increment, min_value, max_value = (sequence[k] for k in ("increment", "min_value", "max_value"))
    if increment > 0:
        default_start = 1 if min_value is None else min_value
    else:
        default_start = -1 if max_value is None else max_value
    options = {
        "start": None if sequence["start"] == default_start else sequence["start"],
        "increment": increment,
        "min_value": min_value,
        "max_value": max_value,
        "cache": sequence["cache"],
        "cycle": sequence["cycle"],
    }
    return {} if options == _IDENTITY_DEFAULTS else options
