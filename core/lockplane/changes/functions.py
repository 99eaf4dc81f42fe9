"""Functions and procedures: create, drop, and replace (in place when Postgres allows it).

CREATE OR REPLACE keeps the function's oid, grants and dependents, but Postgres accepts it only
when the identity arguments, the result type and the kind are unchanged (and no input is
renamed); anything else is a DROP and a CREATE, which breaks callers in between and takes the
triggers that use the function with it (the diff drops and recreates those around it).

Bodies are created with `check_function_bodies = off`, as pg_dump restores them, so a body may
read tables created later in the plan. Argument and result types are resolved at once, though,
and so is an SQL-standard body (BEGIN ATOMIC / RETURN): a function that names a table created by
the plan is created late (after tables and columns), and dropped early when its table goes; one
that names a view the plan creates (RETURNS SETOF a view) is created among the views, and
dropped among them, in the dependency graph's order (`deps.Graph.depth`). Within a phase,
functions go in graph depth order too, so an SQL-standard body finds the functions it calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from ..model import Function
from ..plan import Hazard, LockMode
from ..sqlnames import Ident, obj
from .base import Change, ObjectChange, Phase, hazard
from .column import SetDefault
from .constraint import DropConstraint, DropIndex
from .ddl import comment_on
from .grants import access_statements

# Settings whose value is a list of names: proconfig holds them as SQL would write them.
_LIST_SETTINGS = frozenset({"search_path", "temp_tablespaces", "session_preload_libraries"})
_NO_BODY_CHECK = sql.SQL("SET LOCAL check_function_bodies = off")


def signature(f: Function) -> sql.Composable:
    """`name(identity arguments)`, as DROP, COMMENT and ALTER FUNCTION name one overload."""
    return sql.SQL("{}({})").format(obj(f.schema_, f.name), sql.SQL(f.identity))


def _setting(item: str) -> sql.Composable:
    name, _, value = item.partition("=")
    if name.lower() in _LIST_SETTINGS:
        return sql.SQL("SET {} = {}").format(Ident(name), sql.SQL(value))
    return sql.SQL("SET {} = {}").format(Ident(name), sql.Literal(value))


def create_sql(f: Function, *, replace: bool = False) -> sql.Composable:
    """The CREATE statement, with only the options that differ from what Postgres picks."""
    verb = "CREATE OR REPLACE" if replace else "CREATE"
    parts: list[sql.Composable] = [
        sql.SQL("{} {} {}({})").format(
            sql.SQL(verb), sql.SQL(f.kind.upper()), obj(f.schema_, f.name), sql.SQL(f.arguments)
        )
    ]
    if f.returns is not None:
        parts.append(sql.SQL("RETURNS {}").format(sql.SQL(f.returns)))
    parts.append(sql.SQL("LANGUAGE {}").format(Ident(f.language)))
    if f.kind == "function":
        if f.volatility != "volatile":
            parts.append(sql.SQL(f.volatility.upper()))
        if f.strict:
            parts.append(sql.SQL("STRICT"))
        if f.leakproof:
            parts.append(sql.SQL("LEAKPROOF"))
        if f.parallel != "unsafe":
            parts.append(sql.SQL("PARALLEL {}").format(sql.SQL(f.parallel.upper())))
        if f.cost is not None:
            parts.append(sql.SQL("COST {}").format(sql.Literal(f.cost)))
        if f.rows is not None:
            parts.append(sql.SQL("ROWS {}").format(sql.Literal(f.rows)))
    if f.security_definer:
        parts.append(sql.SQL("SECURITY DEFINER"))
    parts += [_setting(item) for item in f.config]
    if f.sql_body:
        parts.append(sql.SQL(f.body))
    else:
        parts.append(sql.SQL("AS {}").format(sql.Literal(f.body)))
    return sql.SQL("\n").join(parts)


def _create_phase(late: bool, with_views: bool) -> int:
    if with_views:
        return Phase.CREATE_VIEW
    return Phase.CREATE_FUNCTION_LATE if late else Phase.CREATE_FUNCTION


def _depth_key(depth: int) -> str:
    """As views.py spells a depth, so functions and views in one phase interleave by depth."""
    return f"{depth:05d}"


def _definer_hazards(f: Function) -> list[Hazard]:
    if f.security_definer and not any(c.startswith("search_path=") for c in f.config):
        msg = f"SECURITY DEFINER {f.kind} {f.qname} runs with the caller's search_path"
        return [hazard("LP508", msg)]
    return []


@dataclass(frozen=True)
class CreateFunction(ObjectChange):
    """`late`: after tables and columns, because its types or SQL-standard body name a table
    this plan creates; `tables_read`: existing tables an SQL-standard body reads (parsing it
    takes ACCESS SHARE on them); `with_views`: its types or SQL-standard body name a view this
    plan creates, so it is created among the views; `depth`: its dependency graph depth."""

    after: Function
    late: bool = False
    tables_read: tuple[str, ...] = ()
    with_views: bool = False
    depth: int = 0
    sign = "+"

    @property
    def phase(self) -> int:  # type: ignore[override]
        return _create_phase(self.late, self.with_views)

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.after.kind

    @property
    def subject(self) -> Any:
        return self.after

    def key(self) -> tuple[str, ...]:
        return (_depth_key(self.depth), *self.after.key)

    def statements(self) -> list[sql.Composable]:
        out: list[sql.Composable] = [_NO_BODY_CHECK, create_sql(self.after)]
        if self.after.comment is not None:
            out.append(
                comment_on(self.after.kind.upper(), signature(self.after), self.after.comment)
            )
        return out + access_statements(self.after)

    def reverse(self) -> Change:
        return DropFunction(
            self.after, self.late, self.tables_read, with_views=self.with_views, depth=self.depth
        )

    def description(self) -> str:
        return f"Create {self.after.kind} {self.after.qname}"

    def lock(self) -> LockMode | None:
        return "ACCESS SHARE" if self.tables_read else None

    def tables(self) -> tuple[str, ...]:
        return self.tables_read

    def hazards(self) -> list[Hazard]:
        return _definer_hazards(self.after)

    def notes(self) -> list[str]:
        return ["A new function changes nothing that runs until something calls it"]


@dataclass(frozen=True)
class DropFunction(ObjectChange):
    """`early`: before tables are dropped, because its types name a table this plan drops;
    `with_views`: among the views, before those its types name (deepest first)."""

    before: Function
    early: bool = False
    tables_read: tuple[str, ...] = ()
    with_views: bool = False
    depth: int = 0
    sign = "-"

    @property
    def phase(self) -> int:  # type: ignore[override]
        if self.with_views:
            return Phase.DROP_VIEW
        # early: after views (which may call it) are dropped, before the tables it names
        return Phase.DROP_COLUMN if self.early else Phase.DROP_FUNCTION

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.before.kind

    @property
    def subject(self) -> Any:
        return self.before

    def key(self) -> tuple[str, ...]:
        return (_depth_key(99999 - self.depth), *self.before.key)

    def statements(self) -> list[sql.Composable]:
        kind = sql.SQL(self.before.kind.upper())
        return [sql.SQL("DROP {} {}").format(kind, signature(self.before))]

    def reverse(self) -> Change:
        return CreateFunction(
            self.before, self.early, self.tables_read, with_views=self.with_views, depth=self.depth
        )

    def description(self) -> str:
        return f"Drop {self.before.kind} {self.before.qname}"

    def hazards(self) -> list[Hazard]:
        return [
            hazard("LP108", f"Code that calls {self.before.kind} {self.before.qname} will fail")
        ]

    def notes(self) -> list[str]:
        return ["Nothing in the schema uses it by the time it is dropped"]


def replaceable(before: Function, after: Function) -> bool:
    """Whether CREATE OR REPLACE can turn `before` into `after`: same kind, identity arguments
    and result, and (Postgres checks this too) the same argument list up to defaults."""
    same = (before.kind, before.identity, before.returns) == (
        after.kind,
        after.identity,
        after.returns,
    )
    defaults_kept = after.arguments.count(" DEFAULT ") >= before.arguments.count(" DEFAULT ")
    return same and (before.arguments == after.arguments or defaults_kept)


@dataclass(frozen=True)
class ReplaceFunction(ObjectChange):
    """CREATE OR REPLACE where Postgres allows it, else DROP + CREATE in one step; the reverse
    is the replacement back. `late`: as for CreateFunction, the new definition names a table
    this plan creates; `with_views` and `depth` as for CreateFunction."""

    before: Function
    after: Function
    tables_read: tuple[str, ...] = ()
    late: bool = False
    with_views: bool = False
    depth: int = 0
    sign = "~"

    @property
    def phase(self) -> int:  # type: ignore[override]
        return _create_phase(self.late, self.with_views)

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.after.kind

    @property
    def subject(self) -> Any:
        return self.after

    def key(self) -> tuple[str, ...]:
        return (_depth_key(self.depth), *self.after.key)

    @property
    def in_place(self) -> bool:
        return replaceable(self.before, self.after)

    def statements(self) -> list[sql.Composable]:
        b, a = self.before, self.after
        out: list[sql.Composable] = [_NO_BODY_CHECK]
        if self.in_place:
            kept = {"comment": a.comment, "grants": a.grants, "owner": a.owner}
            if b.model_copy(update=kept) != a:
                out.append(create_sql(a, replace=True))
        else:
            drop = sql.SQL("DROP {} {}").format(sql.SQL(b.kind.upper()), signature(b))
            out += [drop, create_sql(a)]
        if a.comment != b.comment or (not self.in_place and a.comment is not None):
            out.append(comment_on(a.kind.upper(), signature(a), a.comment))
        return out if self.in_place else out + access_statements(a)

    def reverse(self) -> Change:
        return ReplaceFunction(
            self.after, self.before, self.tables_read, self.late, self.with_views, self.depth
        )

    def description(self) -> str:
        how = "" if self.in_place else " (drop and create)"
        return f"Replace {self.before.kind} {self.before.qname}{how}"

    def detail(self) -> str:
        b, a = self.before, self.after
        changed = [k for k in Function.model_fields if getattr(b, k) != getattr(a, k)]
        return ", ".join(changed)

    def lock(self) -> LockMode | None:
        return "ACCESS SHARE" if self.tables_read else None

    def tables(self) -> tuple[str, ...]:
        return self.tables_read

    def hazards(self) -> list[Hazard]:
        out = _definer_hazards(self.after) if not _definer_hazards(self.before) else []
        if not self.in_place:
            msg = (
                f"{self.before.kind.capitalize()} {self.before.qname} is dropped and created as "
                f"{self.after.qname}: code that calls the old signature fails"
            )
            out.append(hazard("LP108", msg))
        return out

    def notes(self) -> list[str]:
        if self.in_place:
            return ["CREATE OR REPLACE keeps the function's grants and dependents"]
        return ["The drop and the create run in one transaction: no caller sees it missing"]


@dataclass(frozen=True)
class DropDefaultAround(SetDefault):
    """A column default dropped before a function it calls is dropped and created again (Postgres
    refuses DROP FUNCTION under it), or before its table is dropped when that function goes
    first (among the views); a SetDefaultAround puts it back after. It goes with the policies,
    before the functions that go among the views."""

    phase = Phase.DROP_POLICY

    def description(self) -> str:
        if self.after.default is not None:
            return super().description()
        return f"Drop default of column {self.target} (set again after its function)"

    def hazards(self) -> list[Hazard]:
        if self.after.default is not None:
            return []
        msg = f"The default of {self.target} is dropped until its function is created again"
        return [hazard("LP406", msg)]


@dataclass(frozen=True)
class SetDefaultAround(SetDefault):
    """A column default set once the function it calls exists (again): after the functions
    created among the views, and after a new table is created without it (`new_table`: that
    table, which no one else holds yet)."""

    new_table: bool = False
    phase = Phase.ADD_CONSTRAINT

    def lock(self) -> LockMode | None:  # its reverse, in the rollback, locks the table
        return None if self.new_table else super().lock()


@dataclass(frozen=True)
class DropCheckAround(DropConstraint):
    """A check dropped before a function it calls is dropped (as DropDefaultAround)."""

    phase = Phase.DROP_POLICY  # type: ignore[assignment]


@dataclass(frozen=True)
class DropIndexAround(DropIndex):
    """An index dropped before a function it calls is dropped (as DropDefaultAround)."""

    phase = Phase.DROP_POLICY
