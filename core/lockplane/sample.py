"""Sampled data on the shadow: up to N real rows per table, so data-dependent steps get tried.

An empty shadow proves that a plan's SQL is valid, not that it survives the rows it will meet:
SET NOT NULL over a NULL, a unique index over duplicates, a cast over a value that does not
convert all pass on empty tables. With a sample, the shadow holds a small, consistent copy of
the real rows before the plan runs, so those steps fail there first.

How the copy stays consistent and cheap:
- The source is read in one REPEATABLE READ READ ONLY transaction: one snapshot for every table,
  and nothing is ever written to it (it may be a hot standby).
- The schema is built without its foreign keys (and NOT VALID checks, which existing rows may
  violate); the rows are copied with COPY; the constraints are added last.
- Tables are copied parents first, and a child's rows are picked among those whose foreign key
  points at a parent row already copied (the copied keys go to the source as array parameters),
  so the sample is mostly whole rather than mostly orphans. Self-references and cycles cannot be
  ordered that way: the rows left without a parent are deleted on the shadow until no foreign
  key is violated (deleting a parent can orphan a child, hence a fixpoint).
- Rows are taken in primary-key order, so the same data gives the same sample.
- Generated columns are not copied (Postgres computes them); identity columns are (COPY writes
  them even when GENERATED ALWAYS); sequences are then advanced past the copied values, so a
  step that inserts does not collide with a copied row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from .changes.base import Change
from .changes.constraint import AddConstraint
from .db import connect, mask_url
from .diff import diff
from .errors import LockplaneError
from .model import ForeignKey, Schema, Table
from .plan import Step
from .planner import order
from .sqlnames import Ident, obj

_INTEGERS = {"smallint", "integer", "bigint"}

# Sequences that feed a column: identity and serial (owned, deptype 'i' / 'a') and any
# sequence a column default calls nextval() on.
_SEQUENCES = """
SELECT DISTINCT s.oid, n.nspname, t.relname, a.attname
  FROM pg_depend d
  JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
  JOIN pg_class t ON t.oid = d.refobjid
  JOIN pg_namespace n ON n.oid = t.relnamespace
  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
   AND d.deptype IN ('a', 'i')
UNION
SELECT DISTINCT s.oid, n.nspname, t.relname, a.attname
  FROM pg_attrdef ad
  JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
                  AND d.refclassid = 'pg_class'::regclass
  JOIN pg_class s ON s.oid = d.refobjid AND s.relkind = 'S'
  JOIN pg_class t ON t.oid = ad.adrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ad.adnum
"""

_SOURCE_COLUMNS = """
SELECT n.nspname, c.relname, a.attname
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p')
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE a.attnum > 0 AND NOT a.attisdropped
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""


class SampleFailed(LockplaneError):
    """Copying the sample to the shadow failed; the message names the table and the source."""


@dataclass(frozen=True)
class SampleReport:
    """What the shadow holds: rows per table (after orphans were removed)."""

    limit: int
    rows: dict[str, int] = field(default_factory=dict)
    orphans: int = 0
    missing: tuple[str, ...] = ()  # tables of the schema the source does not have

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def text(self) -> str:
        tables = len(self.rows)
        line = (
            f"{tables} table{'s' if tables != 1 else ''}, {self.total} "
            f"row{'s' if self.total != 1 else ''} (up to {self.limit} per table), "
            f"{self.orphans} orphan{'s' if self.orphans != 1 else ''} removed"
        )
        if self.missing:
            line += f"; not in the source: {', '.join(self.missing)}"
        return line


def after_data(change: Change) -> bool:
    """Constraints that must wait for the sample: foreign keys (the rows are not whole until
    the orphans are gone) and NOT VALID checks (existing rows may violate them)."""
    if not isinstance(change, AddConstraint):
        return False
    return isinstance(change.after, ForeignKey) or bool(getattr(change.after, "not_valid", False))


def build_steps(schema: Schema) -> tuple[list[Step], list[Step]]:
    """The steps that build `schema` from nothing, split into (before the data, after it)."""
    changes = order(diff(Schema(), schema).changes)
    before = [c.to_step() for c in changes if not after_data(c)]
    after = [c.to_step() for c in changes if after_data(c)]
    return before, after


def copy_sample(
    source_url: str, conn: psycopg.Connection, schema: Schema, limit: int
) -> SampleReport:
    """Copy up to `limit` rows of each table of `schema` from `source_url` into `conn` (the
    shadow, which holds the schema without its foreign keys), remove orphans, advance sequences.

    Runs in `conn`'s current transaction; the source is only read, in one read-only snapshot.
    """
    source = connect(source_url)
    try:
        source.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        source.read_only = True
        present = _source_columns(source)
        copied: dict[tuple[str, str], int] = {}
        missing: list[str] = []
        for table in _parents_first(schema.tables):
            known = present.get((table.schema_, table.name))
            if known is None:
                missing.append(table.qname)
                continue
            columns = [c.name for c in table.columns if c.generated is None and c.name in known]
            if not columns:
                continue
            copied[(table.schema_, table.name)] = _copy_table(
                source, conn, schema, table, columns, limit, copied, source_url
            )
        source.rollback()
    finally:
        source.close()
    orphans = _remove_orphans(conn, schema)
    _advance_sequences(conn)
    rows = {}
    for table in schema.tables:
        if (table.schema_, table.name) in copied:
            count = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(obj(table.schema_, table.name))
            ).fetchone()
            rows[table.qname] = int(count[0]) if count else 0
    return SampleReport(limit, rows, orphans, tuple(missing))


def _source_columns(source: psycopg.Connection) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for schema, table, column in source.execute(_SOURCE_COLUMNS):
        out.setdefault((schema, table), set()).add(column)
    return out


def _parents_first(tables: Iterable[Table]) -> list[Table]:
    """Tables ordered so that each comes after the tables its foreign keys reference; the
    tables of a cycle come in name order, once nothing outside the cycle is left before them."""
    by_key = {(t.schema_, t.name): t for t in tables}
    parents = {
        key: {
            (fk.referenced_schema, fk.referenced_table)
            for fk in t.foreign_keys
            if (fk.referenced_schema, fk.referenced_table) in by_key
            and (fk.referenced_schema, fk.referenced_table) != key
        }
        for key, t in by_key.items()
    }
    out: list[Table] = []
    done: set[tuple[str, str]] = set()
    while len(done) < len(by_key):
        ready = sorted(k for k in by_key if k not in done and parents[k] <= done)
        if not ready:  # a cycle: break it at the first table by name
            ready = [min(k for k in by_key if k not in done)]
        for key in ready:
            out.append(by_key[key])
            done.add(key)
    return out


def _copy_table(
    source: psycopg.Connection,
    conn: psycopg.Connection,
    schema: Schema,
    table: Table,
    columns: list[str],
    limit: int,
    copied: dict[tuple[str, str], int],
    source_url: str,
) -> int:
    """COPY up to `limit` rows from the source into the shadow; returns the rows copied."""
    conditions: list[sql.Composable] = []
    params: list[list[str]] = []
    for fk in table.foreign_keys:
        parent = schema.table(fk.referenced_schema, fk.referenced_table)
        parent_key = (fk.referenced_schema, fk.referenced_table)
        if fk.not_valid or parent is None or parent_key not in copied:
            continue  # self-references and cycles: the orphan removal deals with them
        condition = _among_copied(conn, fk, parent, params)
        if condition is not None:
            conditions.append(condition)
    name = obj(table.schema_, table.name)
    listed = sql.SQL(", ").join(Ident(c) for c in columns)
    where = sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("true")
    ordering = sql.SQL("")
    if table.primary_key is not None:
        ordering = sql.SQL(" ORDER BY {}").format(
            sql.SQL(", ").join(Ident(c) for c in table.primary_key.columns)
        )
    # ONLY: the rows of an inheritance child are its own table's, not its parent's.
    query = sql.SQL("COPY (SELECT {} FROM ONLY {} AS lp_row WHERE {}{} LIMIT {}) TO STDOUT").format(
        listed, name, where, ordering, sql.Literal(limit)
    )
    into = sql.SQL("COPY {} ({}) FROM STDIN").format(name, listed)
    reading, writing = source.cursor(), conn.cursor()
    try:
        with reading.copy(query, params or None) as out, writing.copy(into) as inp:
            for block in out:
                inp.write(block)
    except psycopg.Error as exc:
        reason = (exc.diag.message_primary or str(exc)).strip()
        raise SampleFailed(
            f"copying a sample of {table.qname} from {mask_url(source_url)} to the shadow "
            f"failed: {reason}"
        ) from None
    return max(writing.rowcount, 0)


def _among_copied(
    conn: psycopg.Connection, fk: ForeignKey, parent: Table, params: list[list[str]]
) -> sql.Composable | None:
    """`fk`'s columns are NULL (the key is not enforced) or among the parent keys on the shadow.

    The keys travel as text arrays cast back to the parent columns' types, which works for every
    type with a text form (enums and domains included); array-typed keys are left to the orphan
    removal.
    """
    types = []
    for ref in fk.referenced_columns:
        column = parent.column(ref)
        if column is None or column.type.endswith("]"):
            return None
        types.append(column.type)
    refs = [Ident(r) for r in fk.referenced_columns]
    found = conn.execute(
        sql.SQL("SELECT DISTINCT {} FROM {} WHERE {}").format(
            sql.SQL(", ").join(sql.SQL("{}::text").format(r) for r in refs),
            obj(parent.schema_, parent.name),
            sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(r) for r in refs),
        )
    ).fetchall()
    arrays = [sql.SQL("{}::{}[]").format(sql.Placeholder(), sql.SQL(t)) for t in types]
    params.extend([str(row[i]) for row in found] for i in range(len(types)))
    mine = [Ident("lp_row", c) for c in fk.columns]
    nulls = sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(c) for c in mine)
    if len(mine) == 1:
        match = sql.SQL("{} = ANY({})").format(mine[0], arrays[0])
    else:
        match = sql.SQL("({}) IN (SELECT * FROM unnest({}))").format(
            sql.SQL(", ").join(mine), sql.SQL(", ").join(arrays)
        )
    return sql.SQL("({} OR {})").format(nulls, match)


def _orphan_condition(fk: ForeignKey) -> sql.Composable:
    """Rows of the child (`lp_row`) that `fk` would reject: a complete key with no parent, or
    with MATCH FULL a partly NULL key."""
    mine = [Ident("lp_row", c) for c in fk.columns]
    complete = sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(c) for c in mine)
    match = sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(Ident("lp_ref", r), c)
        for r, c in zip(fk.referenced_columns, mine, strict=True)
    )
    where = sql.SQL("({}) AND NOT EXISTS (SELECT 1 FROM {} AS lp_ref WHERE {})").format(
        complete, obj(fk.referenced_schema, fk.referenced_table), match
    )
    if fk.match_full and len(mine) > 1:
        partial = sql.SQL("num_nulls({}) BETWEEN 1 AND {}").format(
            sql.SQL(", ").join(mine), sql.Literal(len(mine) - 1)
        )
        where = sql.SQL("({}) OR ({})").format(partial, where)
    return where


def _remove_orphans(conn: psycopg.Connection, schema: Schema) -> int:
    """Delete rows whose foreign key has no match until none is left; the number deleted."""
    deletes = [
        sql.SQL("DELETE FROM {} AS lp_row WHERE {}").format(
            obj(table.schema_, table.name), _orphan_condition(fk)
        )
        for table in schema.tables
        for fk in table.foreign_keys
        if not fk.not_valid and schema.table(fk.referenced_schema, fk.referenced_table) is not None
    ]
    total = 0
    while True:
        removed = sum(max(conn.execute(d).rowcount, 0) for d in deletes)
        if removed == 0:
            return total
        total += removed


def _advance_sequences(conn: psycopg.Connection) -> None:
    """Move each sequence that feeds a column past the largest copied value (the smallest, for
    a descending one), when that value is within the sequence's range."""
    for seq, schema, table, column in conn.execute(_SEQUENCES).fetchall():
        kind = conn.execute(
            "SELECT format_type(atttypid, NULL) FROM pg_attribute a JOIN pg_class c "
            "ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND a.attname = %s",
            [schema, table, column],
        ).fetchone()
        if kind is None or kind[0] not in _INTEGERS:
            continue
        c = Ident(column)
        conn.execute(
            sql.SQL(
                "SELECT setval(s.seqrelid, CASE WHEN s.seqincrement > 0 THEN x.hi ELSE x.lo END) "
                "FROM pg_sequence s, (SELECT max({c})::bigint AS hi, min({c})::bigint AS lo "
                "FROM {t}) AS x WHERE s.seqrelid = {oid} AND x.hi IS NOT NULL "
                "AND CASE WHEN s.seqincrement > 0 THEN x.hi ELSE x.lo END "
                "BETWEEN s.seqmin AND s.seqmax"
            ).format(c=c, t=obj(schema, table), oid=sql.Literal(seq))
        )
