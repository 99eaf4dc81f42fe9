"""Data preflight: read-only queries on the real database that find the rows a step would choke on.

The shadow proves a plan on an empty copy of the schema, so it cannot see data: SET NOT NULL
over a NULL, a unique index over duplicates, a cast over a value that does not convert. Those
steps would fail only on the real apply, after the lock was taken. The preflight asks the real
database first, in one READ ONLY transaction with a statement_timeout, and reports how many rows
are in the way and which (by primary key, or ctid when there is none), so the fix is obvious.

A check that times out, or cannot be phrased for this case, is "not checked", never a failure:
the preflight only adds evidence; the real apply still runs in one transaction and fails safely.
Changes on tables created by the plan are skipped: those tables are empty.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from psycopg import sql

from .castrules import classify, parse
from .changes.aggregates import CreateAggregate, DropAggregate
from .changes.base import Change
from .changes.column import AlterColumnType, SetNullable
from .changes.constraint import AddConstraint, CreateIndex
from .changes.functions import CreateFunction, DropFunction, ReplaceFunction
from .changes.objects import ReplaceEnum
from .changes.online import ValidateConstraint, online_forms
from .changes.table import AddColumn
from .changes.views import CreateView, DropView
from .db import connect, mask_url
from .diff import Diff, diff
from .introspect import introspect
from .model import (
    CheckConstraint,
    ForeignKey,
    IndexKey,
    PrimaryKey,
    Table,
    UniqueConstraint,
    View,
)
from .plan import Plan
from .sqlnames import Ident, obj

_DROPS = (DropView, DropFunction, DropAggregate)
_CREATES = (CreateView, CreateFunction, CreateAggregate)
EXAMPLES = 5
DEFAULT_TIMEOUT = 10.0
_ROW = "lp_row"  # the alias every probe gives the table it scans (self-referencing FKs need one)
_STRINGS = {"text", "character varying", "character", "citext", "bpchar", "name"}
_INT_RANGES = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}


@dataclass(frozen=True)
class PreflightCheck:
    """One question asked of the data: passed, failed, or None when it could not be answered."""

    what: str  # the offending rows, e.g. "with NULL in users.email"
    step: str
    passed: bool | None
    count: int | None = None  # None: unknown (a trial cast failed, or not checked)
    unit: str = "row"
    examples: tuple[str, ...] = ()
    sql: str = ""
    detail: str = ""

    def text(self) -> str:
        if self.passed is None:
            return f"{self.step}: rows {self.what}: not checked ({self.detail})"
        if self.count is None:
            amount = f"at least one {self.unit}"
        else:
            amount = f"{self.count} {self.unit}{'' if self.count == 1 else 's'}"
        line = f"{self.step}: {amount} {self.what}"
        if self.examples:
            line += "; e.g. " + ", ".join(self.examples)
        if self.detail:
            line += f" ({self.detail})"
        return line


@dataclass
class PreflightReport:
    checks: list[PreflightCheck] = field(default_factory=list)
    skipped: str | None = None  # why no check ran at all
    database: str = ""  # the database asked, password masked
    replica: bool = False  # asked a replica (preflight_url) rather than the target itself

    @property
    def ok(self) -> bool:
        return all(c.passed is not False for c in self.checks)

    @property
    def failures(self) -> list[PreflightCheck]:
        return [c for c in self.checks if c.passed is False]

    def asked(self) -> str:
        """Which database answered, when it was not the target: a replica may lag behind."""
        return f"rows counted on the replica {self.database}" if self.replica else ""

    def text(self) -> str:
        where = [f"  ({self.asked()})"] if self.asked() else []
        if self.skipped:
            return "\n".join([f"- data preflight skipped: {self.skipped}", *where])
        if not self.checks:
            return "\n".join(["✓ data preflight: no step depends on existing rows", *where])
        mark = {True: "✓", False: "✗", None: "-"}
        return "\n".join([*(f"{mark[c.passed]} {c.text()}" for c in self.checks), *where])

    def failure_message(self) -> str:
        """One line per failing check, each naming its step (a notebook's status shows only the
        first line), then what it means for the database."""
        lines = [f"data preflight failed: {c.text()}" for c in self.failures]
        if self.replica:
            lines.append(f"The {self.asked()}.")
        return "\n".join([*lines, "Nothing was applied: the database is unchanged."])

    def rows(self) -> list[dict[str, Any]]:
        """One row per check, for a DataFrame in a notebook."""
        return [
            {
                "step": c.step,
                "rows": c.what,
                "passed": c.passed,
                "count": c.count,
                "examples": list(c.examples),
                "sql": c.sql,
                "detail": c.detail,
            }
            for c in self.checks
        ]


@dataclass(frozen=True)
class _Probe:
    """A check before it runs: the table it scans and which of its rows are in the way.

    `where` marks offending rows; `partition` instead marks rows whose key repeats (within
    `where`), counted as groups. A `trial` probe only evaluates the cast: it fails by erroring.
    """

    step: str
    what: str
    table: Table  # the table as it is before the plan: its primary key names the examples
    where: sql.Composable
    partition: tuple[sql.Composable, ...] = ()
    trial: sql.Composable | None = None
    error_info: sql.Composable | None = None  # the server's message for the first offender
    unit: str = "row"

    @property
    def name(self) -> Ident:
        return obj(self.table.schema_, self.table.name)

    def keys(self) -> list[sql.Composable]:
        pk = self.table.primary_key
        if pk is None:
            return [sql.SQL("ctid")]
        return [Ident(c) for c in pk.columns]

    def key_names(self) -> list[str]:
        pk = self.table.primary_key
        return list(pk.columns) if pk is not None else ["ctid"]

    def count_sql(self) -> sql.Composable:
        if self.trial is not None:
            return sql.SQL("SELECT count({}) FROM {} AS {}").format(
                self.trial, self.name, Ident(_ROW)
            )
        if self.partition:
            return sql.SQL(
                "SELECT count(*) FROM (SELECT 1 FROM {} AS {} WHERE {} GROUP BY {} "
                "HAVING count(*) > 1) AS lp_groups"
            ).format(self.name, Ident(_ROW), self.where, sql.SQL(", ").join(self.partition))
        return sql.SQL("SELECT count(*) FROM {} AS {} WHERE {}").format(
            self.name, Ident(_ROW), self.where
        )

    def examples_sql(self) -> sql.Composable:
        keys = self.keys()
        aliases = [Ident(f"lp_k{i}") for i in range(len(keys))]
        inner = sql.SQL(", ").join(
            sql.SQL("{} AS {}").format(k, a) for k, a in zip(keys, aliases, strict=True)
        )
        repeats = sql.SQL("1")
        if self.partition:
            repeats = sql.SQL("count(*) OVER (PARTITION BY {})").format(
                sql.SQL(", ").join(self.partition)
            )
        return sql.SQL(
            "SELECT {} FROM (SELECT {}, {} AS lp_n FROM {} AS {} WHERE {}) AS lp_rows "
            "WHERE lp_n > {} ORDER BY {} LIMIT {}"
        ).format(
            sql.SQL(", ").join(sql.SQL("{}::text").format(a) for a in aliases),
            inner,
            repeats,
            self.name,
            Ident(_ROW),
            self.where,
            sql.Literal(1 if self.partition else 0),
            sql.SQL(", ").join(aliases),
            sql.Literal(EXAMPLES),
        )


def preflight(
    conn: psycopg.Connection, diff: Diff, *, timeout: float = DEFAULT_TIMEOUT
) -> PreflightReport:
    """Run the checks the diff's data-dependent changes need, read-only, each within `timeout`
    seconds. `conn` must be idle (autocommit, or no transaction open)."""
    probes = list(_probes(diff, conn.info.server_version))
    report = PreflightReport(checks=owner_checks(conn, diff))
    if not probes:
        return report
    with conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        conn.execute(
            sql.SQL("SET LOCAL statement_timeout = {}").format(
                sql.Literal(f"{max(1, int(timeout * 1000))}ms")
            )
        )
        report.checks += [_run(conn, p, timeout) for p in probes]
    return report


_OWNERS = """
SELECT o.i, pg_get_userbyid(coalesce(c.relowner, p.proowner)), current_user
  FROM unnest(%(kinds)s::text[], %(schemas)s::text[], %(names)s::text[], %(args)s::text[])
       WITH ORDINALITY AS o(kind, schema, name, args, i)
  JOIN pg_namespace n ON n.nspname = o.schema
  LEFT JOIN pg_class c ON o.kind = 'relation' AND c.relnamespace = n.oid AND c.relname = o.name
  LEFT JOIN pg_proc p ON o.kind = 'routine' AND p.pronamespace = n.oid AND p.proname = o.name
       AND pg_get_function_identity_arguments(p.oid) = o.args
 WHERE coalesce(c.relowner, p.proowner) IS NOT NULL
"""


def owner_checks(conn: psycopg.Connection, d: Diff) -> list[PreflightCheck]:
    """Views, functions and aggregates the plan drops and creates again (a function's
    replacement too, when CREATE OR REPLACE cannot do it): created anew, each
    would belong to the role that applies, whoever owned it. Unless the document manages its
    owner (then the plan sets it back), an owner that is not that role fails the preflight:
    ownership changes only when asked (read owners with `introspect --owners`)."""
    dropped = {_rebuilt_key(c): c for c in d.changes if isinstance(c, _DROPS)}
    kept: list[tuple[tuple[str, str, str, str], Change]] = [
        (key, dropped[key])
        for c in d.changes
        if isinstance(c, _CREATES)
        and (key := _rebuilt_key(c)) in dropped
        and getattr(c.after, "owner", None) is None
    ]
    kept += [
        (_rebuilt_key(c), c)
        for c in d.changes
        if isinstance(c, ReplaceFunction) and not c.in_place and c.after.owner is None
    ]
    if not kept:
        return []
    keys = [key for key, _ in kept]
    rows = conn.execute(
        _OWNERS,
        {
            "kinds": [k[0] for k in keys],
            "schemas": [k[1] for k in keys],
            "names": [k[2] for k in keys],
            "args": [k[3] for k in keys],
        },
    ).fetchall()
    out: list[PreflightCheck] = []
    for number, owner, me in rows:
        if owner == me:
            continue
        drop = kept[number - 1][1]
        what = (
            f"({drop.kind} {drop.target}) owned by {owner}, not by {me} who applies: created "
            f"again, it would belong to {me}; read owners (`lockplane introspect --owners`) so "
            "the plan gives it back"
        )
        out.append(PreflightCheck(what, drop.description(), False, count=1, unit="object"))
    return out


def _rebuilt_key(change: Change) -> tuple[str, str, str, str]:
    """(kind, schema, name, identity arguments) of a view or routine, as the catalog has it."""
    thing = change.before if isinstance(change, _DROPS) else change.after  # type: ignore[attr-defined]
    if isinstance(thing, View):
        return "relation", thing.schema_, thing.name, ""
    return "routine", thing.schema_, thing.name, thing.identity


def preflight_url(explicit: str | None = None) -> str | None:
    """Where the preflight reads rows when it should spare the primary: the explicit URL, else
    $LOCKPLANE_PREFLIGHT_URL, else None (the target itself), like DATABASE_URL in db.py."""
    return explicit or os.environ.get("LOCKPLANE_PREFLIGHT_URL") or None


def preflight_plan(
    plan: Plan,
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    replica_url: str | None = None,
) -> PreflightReport:
    """The preflight of a plan on the database at `url`; steps are named by their number.

    With `replica_url` the checks run there instead (a read replica or hot standby holding the
    same data), so the scans never load the primary; a replica whose schema is not the plan's
    source (it lags behind a schema change, or is another database) is skipped, not trusted.
    """
    asked, replica = (replica_url, True) if replica_url else (url, False)
    if plan.source is None or plan.target is None:
        return PreflightReport(
            skipped="the plan carries no source and target schemas (seed format), "
            "so the checks cannot be derived",
            database=mask_url(asked),
            replica=replica,
        )
    d = diff(plan.source, plan.target)
    with connect(asked, autocommit=True) as conn:
        if replica:
            differs = diff(plan.source, introspect(conn))
            if not differs.is_empty:
                return PreflightReport(
                    skipped=f"the replica {mask_url(asked)} does not hold the schema the plan "
                    "starts from (it lags behind, or is another database): "
                    + "; ".join(differs.summary().splitlines()[:3]),
                    database=mask_url(asked),
                    replica=True,
                )
        report = preflight(conn, d, timeout=timeout)
    report.database, report.replica = mask_url(asked), replica
    numbers = {s.description: n for n, s in enumerate(plan.steps, 1)}
    checking = {
        change.description(): _checking_step(forms) for change, forms in online_forms(d.changes)
    }

    def step_of(name: str) -> str:
        """The plan step that would fail: in an online plan, the one that checks the rows
        (VALIDATE, the concurrent build); in a plan made with --no-online, the change itself."""
        for candidate in (checking.get(name), name):
            if candidate in numbers:
                return f"step {numbers[candidate]} ({candidate})"
        return name

    report.checks = [replace(c, step=step_of(c.step)) for c in report.checks]
    return report


def _checking_step(forms: list[Change]) -> str | None:
    """Of a change's online forms, the one that reads the existing rows."""
    for form in forms:
        if isinstance(form, ValidateConstraint) or (
            isinstance(form, CreateIndex) and form.after.unique
        ):
            return form.description()
    return None


def _run(conn: psycopg.Connection, probe: _Probe, timeout: float) -> PreflightCheck:
    query = probe.count_sql()
    base = PreflightCheck(probe.what, probe.step, None, unit=probe.unit, sql=query.as_string(conn))
    try:
        with conn.transaction():  # a savepoint: a timeout or error ends this check only
            row = conn.execute(query).fetchone()
            count = int(row[0]) if row and probe.trial is None else 0
            if count == 0:
                return replace(base, passed=True, count=0)
            found = conn.execute(probe.examples_sql()).fetchall()
            examples = tuple(_key_text(probe.key_names(), r) for r in found)
            detail = ""
            if probe.error_info is not None:
                first = conn.execute(probe.error_info).fetchone()
                detail = str(first[0]) if first and first[0] else ""
            return replace(base, passed=False, count=count, examples=examples, detail=detail)
    except psycopg.errors.QueryCanceled:
        return replace(base, detail=f"timed out after {timeout:g}s")
    except psycopg.errors.DataError as exc:
        if probe.trial is None:
            return replace(base, detail=_reason(exc))
        return replace(base, passed=False, detail=_reason(exc))
    except psycopg.Error as exc:
        return replace(base, detail=_reason(exc))


def _reason(exc: psycopg.Error) -> str:
    return (exc.diag.message_primary or str(exc)).strip()


def _key_text(names: list[str], values: tuple[Any, ...]) -> str:
    if len(names) == 1:
        return f"{names[0]}={values[0]}"
    return f"({', '.join(names)})=({', '.join(str(v) for v in values)})"


def _probes(d: Diff, version: int) -> Iterator[_Probe]:
    for change in d.changes:
        yield from _probes_of(change, d, version)


def _old(d: Diff, table: Table) -> Table | None:
    return d.old.table(table.schema_, table.name)


def _probes_of(change: Change, d: Diff, version: int) -> Iterator[_Probe]:
    step = change.description()
    if isinstance(change, ReplaceEnum):
        removed = [x for x in change.before.labels if x not in change.after.labels]
        for c in change.columns if removed else ():
            old = _old(d, c.table)
            if old is None:
                continue
            labels = sql.SQL(", ").join(sql.Literal(x) for x in removed)
            where = (
                sql.SQL("{}::text[] && ARRAY[{}]::text[]")
                if c.array
                else sql.SQL("{}::text IN ({})")
            ).format(Ident(c.column), labels)
            what = f"of {old.qname}.{c.column} using removed label {', '.join(removed)}"
            yield _Probe(step, what, old, where)
        return
    table = getattr(change, "table", None)
    if table is None or getattr(change, "new_table", False):
        return
    old = _old(d, table)
    if old is None:
        return
    if isinstance(change, AddColumn):
        c = change.after
        if c.backfill is not None and not c.nullable:
            what = f"in {old.qname} for which the backfill of NOT NULL column {c.name} is NULL"
            yield _Probe(step, what, old, sql.SQL("({}) IS NULL").format(sql.SQL(c.backfill)))
        elif not c.nullable and c.default is None and c.identity is None and c.generated is None:
            what = f"in {old.qname}, which NOT NULL column {c.name} without a default cannot fill"
            yield _Probe(step, what, old, sql.SQL("true"))
    elif isinstance(change, SetNullable):
        if change.before.nullable and not change.after.nullable:
            what = f"with NULL in {old.qname}.{change.after.name}"
            yield _Probe(step, what, old, sql.SQL("{} IS NULL").format(Ident(change.after.name)))
    elif isinstance(change, AlterColumnType):
        probe = _cast_probe(change, old, d, version)
        if probe is not None:
            yield probe
    elif isinstance(change, CreateIndex):
        i = change.after
        if i.unique:
            keys = [_index_key(k) for k in i.columns]
            what = f"of rows with the same key in {old.qname}, which unique index {i.name} forbids"
            yield _duplicates(step, what, old, keys, i.nulls_not_distinct, i.where)
    elif isinstance(change, AddConstraint):
        yield from _constraint_probes(step, change, old, d)


def _index_key(key: str | IndexKey) -> sql.Composable:
    if isinstance(key, str):
        return Ident(key)
    if key.column is not None:
        return Ident(key.column)
    return sql.SQL("({})").format(sql.SQL(key.expression or ""))


def _duplicates(
    step: str,
    what: str,
    table: Table,
    keys: list[sql.Composable],
    nulls_not_distinct: bool,
    where: str | None = None,
) -> _Probe:
    """Rows sharing a key: NULLs are distinct unless told otherwise, as in a unique index."""
    conditions: list[sql.Composable] = []
    if where:
        conditions.append(sql.SQL("({})").format(sql.SQL(where)))
    if not nulls_not_distinct:
        conditions += [sql.SQL("{} IS NOT NULL").format(k) for k in keys]
    predicate = sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("true")
    return _Probe(step, what, table, predicate, partition=tuple(keys), unit="group")


def _constraint_probes(step: str, change: AddConstraint, old: Table, d: Diff) -> Iterator[_Probe]:
    c = change.after
    if getattr(c, "not_valid", False):
        return
    if isinstance(c, PrimaryKey):
        keys = [Ident(x) for x in c.columns]
        names = ", ".join(c.columns)
        nulls = sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(k) for k in keys)
        yield _Probe(step, f"with NULL in primary key ({names}) of {old.qname}", old, nulls)
        key = f"primary key {c.name}" if c.name else "the primary key"
        what = f"of rows sharing ({names}) in {old.qname}, which {key} forbids"
        yield _duplicates(step, what, old, list(keys), nulls_not_distinct=True)
    elif isinstance(c, UniqueConstraint):
        keys = [Ident(x) for x in c.columns]
        names = ", ".join(c.columns)
        what = f"of rows sharing ({names}) in {old.qname}, which {c.name} forbids"
        yield _duplicates(step, what, old, keys, c.nulls_not_distinct)
    elif isinstance(c, CheckConstraint):
        where = sql.SQL("NOT ({})").format(sql.SQL(c.expression))  # NULL passes a CHECK
        yield _Probe(step, f"of {old.qname} violating {c.name} ({c.expression})", old, where)
    elif isinstance(c, ForeignKey):
        yield _orphans(step, c, old, d)


def _orphans(step: str, fk: ForeignKey, old: Table, d: Diff) -> _Probe:
    """Rows whose (complete) key has no match; with MATCH FULL also partly NULL keys."""
    mine = [Ident(_ROW, x) for x in fk.columns]
    complete = sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(k) for k in mine)
    ref = obj(fk.referenced_schema, fk.referenced_table)
    if d.old.table(fk.referenced_schema, fk.referenced_table) is None:
        missing: sql.Composable = sql.SQL("true")  # the plan creates it: it is empty
    else:
        match = sql.SQL(" AND ").join(
            sql.SQL("{} = {}").format(Ident("lp_ref", r), k)
            for r, k in zip(fk.referenced_columns, mine, strict=True)
        )
        missing = sql.SQL("NOT EXISTS (SELECT 1 FROM {} AS lp_ref WHERE {})").format(ref, match)
    where = sql.SQL("({}) AND {}").format(complete, missing)
    if fk.match_full and len(mine) > 1:
        partial = sql.SQL("num_nulls({}) BETWEEN 1 AND {}").format(
            sql.SQL(", ").join(mine), sql.Literal(len(mine) - 1)
        )
        where = sql.SQL("({}) OR ({})").format(partial, where)
    target = f"{ref.as_string(None)} ({', '.join(fk.referenced_columns)})"
    what = f"of {old.qname} ({', '.join(fk.columns)}) with no match in {target}"
    return _Probe(step, what, old, where)


def _cast_probe(change: AlterColumnType, old: Table, d: Diff, version: int) -> _Probe | None:
    """Values that will not convert. Exact where the rule is known (enum labels, lengths, text
    input on PG16+ via pg_input_is_valid, integers via a pattern on PG15); otherwise a trial
    cast of the whole column, which says only whether some value fails."""
    b, a = change.before, change.after
    if b.type == a.type or not classify(b.type, a.type).may_fail:
        return None
    column, target, step = Ident(a.name), parse(a.type), change.description()
    what = f"of {old.qname}.{a.name} whose value does not convert to {a.type}"
    present = sql.SQL("{} IS NOT NULL AND ").format(column)
    labels = _enum_labels(d, a.type)
    if labels is not None:
        listed = sql.SQL(", ").join(sql.Literal(x) for x in labels)
        where = sql.SQL("{}{}::text NOT IN ({})").format(present, column, listed)
        return _Probe(step, what, old, where)
    if target.base in {"character varying", "character"} and target.modifiers and not target.array:
        what = f"of {old.qname}.{a.name} longer than {target.modifiers[0]} characters"
        where = sql.SQL("char_length(rtrim({}::text, ' ')) > {}").format(
            column, sql.Literal(target.modifiers[0])
        )
        return _Probe(step, what, old, where)
    source = parse(b.type)
    if source.base in _STRINGS and not source.array:
        if version >= 160000:
            valid = sql.SQL("pg_input_is_valid({}::text, {})").format(column, sql.Literal(a.type))
            where = sql.SQL("{}NOT {}").format(present, valid)
            info = sql.SQL(
                "SELECT (pg_input_error_info({}::text, {})).message FROM {} AS {} WHERE {} LIMIT 1"
            ).format(column, sql.Literal(a.type), obj(old.schema_, old.name), Ident(_ROW), where)
            return _Probe(step, what, old, where, error_info=info)
        if target.base in _INT_RANGES and not target.array:
            low, high = _INT_RANGES[target.base]
            pattern = sql.Literal(r"^\s*[+-]?[0-9]+\s*$")
            where = sql.SQL(
                "{0}CASE WHEN {1}::text ~ {2} THEN {1}::text::numeric NOT BETWEEN {3} AND {4} "
                "ELSE true END"
            ).format(present, column, pattern, sql.Literal(low), sql.Literal(high))
            return _Probe(step, what, old, where)
    trial = sql.SQL("{}::{}").format(column, sql.SQL(a.type))
    return _Probe(step, what, old, sql.SQL("true"), trial=trial)


def _enum_labels(d: Diff, type_name: str) -> tuple[str, ...] | None:
    """The labels of the enum `type_name` (as format_type prints it) in the target schema."""
    for e in d.new.enums:
        if obj(e.schema_, e.name).as_string(None) == type_name:
            return tuple(e.labels)
    return None
