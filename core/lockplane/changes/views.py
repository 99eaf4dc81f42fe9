"""Views and materialized views: create, drop, replace, comment, and the rebuilds of dependents.

A view holds no data, so dropping one loses nothing but the name code selects from; a
materialized view's rows are its query's result, so they are recomputed, not lost. Postgres
refuses to change a column's type, or drop a column or table, while a view reads it, and
CREATE OR REPLACE VIEW can only append columns: in those cases the plan drops the view (and every
view that reads it, dependents first) and creates it again afterwards; the diff decides which
(see `diff._views`). `depth` is the view's place in the dependency graph (`deps.Graph.depth`),
so creates sort after the views they read and drops before. `reads` are the existing tables and
materialized views whose ACCESS SHARE lock the CREATE takes (as SQL names them; a plain view's
query is only parsed, a materialized view's runs, reading through plain views).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from ..model import Table, View, ViewColumn
from ..plan import Hazard, LockMode
from ..sqlnames import Ident, col, obj
from .base import Change, ObjectChange, Phase, hazard
from .ddl import comment_on, index_def
from .grants import access_statements


def _name(v: View) -> Ident:
    return obj(v.schema_, v.name)


def _what(v: View) -> str:
    return "MATERIALIZED VIEW" if v.materialized else "VIEW"


def _kind(v: View) -> str:
    return "materialized view" if v.materialized else "view"


def _options(v: View) -> sql.Composable:
    opts: list[sql.Composable] = []
    if v.check_option:
        opts.append(sql.SQL("check_option = {}").format(sql.Literal(v.check_option)))
    if v.security_barrier:
        opts.append(sql.SQL("security_barrier = true"))
    if v.security_invoker:
        opts.append(sql.SQL("security_invoker = true"))
    for name, value in v.storage_parameters.items():
        opts.append(sql.SQL("{} = {}").format(sql.SQL(name), sql.Literal(value)))
    return sql.SQL(" WITH ({})").format(sql.SQL(", ").join(opts)) if opts else sql.SQL("")


def view_def(v: View, *, replace: bool = False) -> sql.Composed:
    """CREATE [OR REPLACE] [MATERIALIZED] VIEW with its options; a materialized view is filled."""
    head = "CREATE OR REPLACE" if replace else "CREATE"
    tail = " WITH DATA" if v.materialized else ""
    return sql.SQL("{} {} {}{} AS {}{}").format(
        sql.SQL(head),
        sql.SQL(_what(v)),
        _name(v),
        _options(v),
        sql.SQL(v.definition),
        sql.SQL(tail),
    )


def matview_relation(v: View) -> Table:
    """The materialized view as the index changes of `changes.constraint` take a table (they
    only use its name)."""
    return Table(schema=v.schema_, name=v.name)


def _comment(v: View) -> list[sql.Composable]:
    """What a new view needs besides its query: its comments, and its privileges and owner when
    the document manages them (dropping a view takes all of these with it, so a rebuilt view
    gets them back here, and so does the rollback of a drop)."""
    out: list[sql.Composable] = []
    if v.comment is not None:
        out.append(comment_on(_what(v), _name(v), v.comment))
    out += [_column_comment(v, c.name, c.comment) for c in v.columns if c.comment is not None]
    return out + access_statements(v)


def _column_comment(v: View, column: str, text: str | None) -> sql.Composable:
    return comment_on("COLUMN", sql.SQL("{}.{}").format(_name(v), col(column)), text)


def _depth_key(depth: int) -> str:
    return f"{depth:05d}"


@dataclass(frozen=True)
class CreateView(ObjectChange):
    """A materialized view's indexes are built in the same step, on the new (unread) relation:
    the rollback of a drop must restore them with it. `rebuilt`: why an existing view is created
    again, for the description."""

    after: View
    depth: int = 0
    reads: tuple[str, ...] = ()
    rebuilt: str | None = None
    phase = Phase.CREATE_VIEW
    sign = "+"

    @property
    def kind(self) -> str:
        return _kind(self.after)

    @property
    def subject(self) -> Any:
        return self.after

    def key(self) -> tuple[str, ...]:
        return (_depth_key(self.depth), self.after.schema_, self.after.name)

    def statements(self) -> list[sql.Composable]:
        v = self.after
        return [view_def(v), *_comment(v), *(index_def(matview_relation(v), i) for i in v.indexes)]

    def reverse(self) -> Change:
        return DropView(self.after, self.depth, self.reads, rebuilt=self.rebuilt)

    def description(self) -> str:
        why = f" (rebuilt after {self.rebuilt})" if self.rebuilt else ""
        return f"Create {self.kind} {self.after.qname}{why}"

    def lock(self) -> LockMode | None:
        return "ACCESS SHARE" if self.reads else None

    def tables(self) -> tuple[str, ...]:
        return self.reads

    def notes(self) -> list[str]:
        if self.after.materialized:
            return [
                "A new materialized view: its query runs once to fill it, reading under ACCESS SHARE"
            ]
        return ["Creating a view stores a query; no row is read or written"]


@dataclass(frozen=True)
class DropView(ObjectChange):
    """`rebuilt`: the view is created again later in this plan (see CreateView); `lost`: the
    columns the view it is rebuilt as no longer has."""

    before: View
    depth: int = 0
    reads: tuple[str, ...] = ()
    rebuilt: str | None = None
    lost: tuple[str, ...] = ()
    phase = Phase.DROP_VIEW
    sign = "-"

    @property
    def kind(self) -> str:
        return _kind(self.before)

    @property
    def subject(self) -> Any:
        return self.before

    def key(self) -> tuple[str, ...]:
        return (_depth_key(99999 - self.depth), self.before.schema_, self.before.name)

    def statements(self) -> list[sql.Composable]:
        return [sql.SQL("DROP {} {}").format(sql.SQL(_what(self.before)), _name(self.before))]

    def reverse(self) -> Change:
        return CreateView(self.before, self.depth, self.reads, rebuilt=self.rebuilt)

    def description(self) -> str:
        why = f" (rebuilt after {self.rebuilt})" if self.rebuilt else ""
        return f"Drop {self.kind} {self.before.qname}{why}"

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE" if self.before.materialized else None

    def tables(self) -> tuple[str, ...]:
        return (_name(self.before).as_string(None),) if self.before.materialized else ()

    def hazards(self) -> list[Hazard]:
        q = self.before.qname
        if self.rebuilt is None:
            return [hazard("LP110", f"Code that selects from {self.kind} {q} will fail")]
        out = []
        if self.lost:
            msg = f"Code that selects {', '.join(self.lost)} from {self.kind} {q} will fail"
            out.append(hazard("LP110", msg))
        if self.before.materialized:
            msg = (
                f"Materialized view {q} is dropped and filled again: its readers wait from the "
                "drop until the plan commits, while its query runs"
            )
            out.append(hazard("LP408", msg))
        return out

    def notes(self) -> list[str]:
        if self.before.materialized:
            return [
                "A materialized view's rows are its query's result: recreating it recomputes them"
            ]
        return ["A view holds no data; nothing is lost"]


@dataclass(frozen=True)
class DropViewBeforeTypes(DropView):
    """A drop in a plan that replaces an enum under a view (or adds values to one, whose
    rollback replaces it): ALTER_ENUM runs before DROP_VIEW, and Postgres refuses to retype a
    column a view reads, so this plan's view drops all come first (the enum phase's creates do
    not care; dependents still go first by key)."""

    phase = Phase.CREATE_ENUM


@dataclass(frozen=True)
class ReplaceView(ObjectChange):
    """CREATE OR REPLACE VIEW: the new query keeps the old columns (names and types, in order)
    and may append some; options are replaced too. Postgres cannot take columns away this way,
    so the way back, when it does, drops and creates the view (the diff only replaces views no
    other view reads, so nothing stands in the way)."""

    before: View
    after: View
    depth: int = 0
    reads: tuple[str, ...] = ()
    phase = Phase.CREATE_VIEW
    sign = "~"
    kind = "view"

    @property
    def subject(self) -> Any:
        return self.after

    def key(self) -> tuple[str, ...]:
        return (_depth_key(self.depth), self.after.schema_, self.after.name)

    def statements(self) -> list[sql.Composable]:
        o, n = self.before, self.after
        if appends_only(o, n):  # keeps comments and grants; their own changes change them
            return [view_def(n, replace=True)]
        return [sql.SQL("DROP VIEW {}").format(_name(o)), view_def(n), *_comment(n)]

    def reverse(self) -> Change:
        return ReplaceView(self.after, self.before, self.depth, self.reads)

    def description(self) -> str:
        how = "" if appends_only(self.before, self.after) else " (drop and create)"
        return f"Replace view {self.after.qname}{how}"

    def detail(self) -> str:
        return "definition"

    def lock(self) -> LockMode | None:
        return "ACCESS SHARE" if self.reads else None

    def tables(self) -> tuple[str, ...]:
        return self.reads

    def notes(self) -> list[str]:
        return ["The view holds no data; readers see the new query once the plan commits"]


def appends_only(old: View, new: View) -> bool:
    """Whether CREATE OR REPLACE VIEW can turn `old` into `new`: both plain, columns known on
    both sides, and the new ones start with the old ones (same names and types, in order)."""
    return (
        not old.materialized
        and not new.materialized
        and bool(old.columns)
        and bool(new.columns)
        and _shapes(new.columns[: len(old.columns)]) == _shapes(old.columns)
    )


def _shapes(columns: tuple[ViewColumn, ...]) -> list[tuple[str, str]]:
    """Names and types: what CREATE OR REPLACE VIEW must keep (comments are kept besides)."""
    return [(c.name, c.type) for c in columns]


class _ViewComment(Change):
    """A comment on a view or one of its columns: metadata only (a materialized view still
    takes SHARE UPDATE EXCLUSIVE for it)."""

    view: View
    before: str | None
    after: str | None

    def detail(self) -> str:
        return f"comment {self.before!r} → {self.after!r}"

    def lock(self) -> LockMode | None:
        return "SHARE UPDATE EXCLUSIVE" if self.view.materialized else None

    def tables(self) -> tuple[str, ...]:
        return (_name(self.view).as_string(None),) if self.view.materialized else ()

    def notes(self) -> list[str]:
        return ["Comments are metadata only"]


@dataclass(frozen=True)
class SetViewComment(_ViewComment):
    view: View
    before: str | None
    after: str | None
    phase = Phase.COMMENT
    sign = "~"

    @property
    def kind(self) -> str:
        return _kind(self.view)

    def key(self) -> tuple[str, ...]:
        return (self.view.schema_, self.view.name)

    @property
    def target(self) -> str:
        return self.view.qname

    def statements(self) -> list[sql.Composable]:
        return [comment_on(_what(self.view), _name(self.view), self.after)]

    def reverse(self) -> Change:
        return SetViewComment(self.view, self.after, self.before)

    def description(self) -> str:
        return f"Set comment on {self.kind} {self.view.qname}"


@dataclass(frozen=True)
class SetViewColumnComment(_ViewComment):
    """COMMENT ON COLUMN of a view or materialized view's column."""

    view: View
    column: str
    before: str | None
    after: str | None
    phase = Phase.COMMENT
    sign = "~"

    @property
    def kind(self) -> str:
        return f"{_kind(self.view)} column"

    def key(self) -> tuple[str, ...]:
        return (self.view.schema_, self.view.name, self.column)

    @property
    def target(self) -> str:
        return f"{self.view.qname}.{self.column}"

    def statements(self) -> list[sql.Composable]:
        return [_column_comment(self.view, self.column, self.after)]

    def reverse(self) -> Change:
        return SetViewColumnComment(self.view, self.column, self.after, self.before)

    def description(self) -> str:
        return f"Set comment on {self.kind} {self.target}"
