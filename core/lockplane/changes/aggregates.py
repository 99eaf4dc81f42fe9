"""Aggregates: create and drop; any other change is a drop and a create.

CREATE AGGREGATE resolves its support functions and state type at once, so an aggregate is
created with functions, after those it uses: late (after tables and columns) when it names a
table the plan creates or uses a late function, among the views when it names a view the plan
creates or uses a function created there (`late`, `with_views`); within a phase it goes in
dependency graph order (`depth`) with functions, so its support functions come before it and a
function whose SQL-standard body calls it after it. It is dropped after the views that call it
and before its functions (among the views, deepest first, when they go there). There is no
CREATE OR REPLACE that can change a support function or the state type in place, so a changed
aggregate is dropped and created again, and the views that call it are rebuilt around it
(diff.py), as is an unchanged one over something the plan drops and creates again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from ..model import Aggregate
from ..plan import Hazard
from ..sqlnames import obj
from .base import Change, ObjectChange, Phase, hazard
from .ddl import comment_on


def signature(a: Aggregate) -> sql.Composable:
    """`name(identity arguments)`, as DROP and COMMENT name one overload (`*` for none)."""
    return sql.SQL("{}({})").format(obj(a.schema_, a.name), sql.SQL(a.identity or "*"))


def create_sql(a: Aggregate) -> sql.Composable:
    """The CREATE statement, with only the options that differ from what Postgres picks."""
    opts: list[sql.Composable] = []

    def word(key: str, value: str | None) -> None:  # names, types, operators: printed by PG
        if value is not None:
            opts.append(sql.SQL("{} = {}").format(sql.SQL(key), sql.SQL(value)))

    def literal(key: str, value: str | int | None) -> None:
        if value:
            opts.append(sql.SQL("{} = {}").format(sql.SQL(key), sql.Literal(value)))

    word("SFUNC", a.sfunc)
    word("STYPE", a.stype)
    literal("SSPACE", a.sspace)
    word("FINALFUNC", a.finalfunc)
    if a.finalfunc_extra:
        opts.append(sql.SQL("FINALFUNC_EXTRA"))
    word("FINALFUNC_MODIFY", a.finalfunc_modify)
    word("COMBINEFUNC", a.combinefunc)
    word("SERIALFUNC", a.serialfunc)
    word("DESERIALFUNC", a.deserialfunc)
    if a.initcond is not None:
        opts.append(sql.SQL("INITCOND = {}").format(sql.Literal(a.initcond)))
    word("MSFUNC", a.msfunc)
    word("MINVFUNC", a.minvfunc)
    word("MSTYPE", a.mstype)
    literal("MSSPACE", a.msspace)
    word("MFINALFUNC", a.mfinalfunc)
    if a.mfinalfunc_extra:
        opts.append(sql.SQL("MFINALFUNC_EXTRA"))
    word("MFINALFUNC_MODIFY", a.mfinalfunc_modify)
    if a.minitcond is not None:
        opts.append(sql.SQL("MINITCOND = {}").format(sql.Literal(a.minitcond)))
    word("SORTOP", a.sortop)
    if a.parallel != "unsafe":
        opts.append(sql.SQL("PARALLEL = {}").format(sql.SQL(a.parallel.upper())))
    if a.hypothetical:
        opts.append(sql.SQL("HYPOTHETICAL"))
    return sql.SQL("CREATE AGGREGATE {}({}) (\n    {}\n)").format(
        obj(a.schema_, a.name), sql.SQL(a.arguments or "*"), sql.SQL(",\n    ").join(opts)
    )


def _phase(with_views: bool, views: int, otherwise: int) -> int:
    return views if with_views else otherwise


@dataclass(frozen=True)
class CreateAggregate(ObjectChange):
    """`rebuilt`: why an existing aggregate is created again (None for a new one); `late`,
    `with_views` and `depth` as for CreateFunction."""

    after: Aggregate
    rebuilt: str | None = None
    late: bool = False
    with_views: bool = False
    depth: int = 0
    sign = "+"
    kind = "aggregate"

    @property
    def phase(self) -> int:  # type: ignore[override]
        late = Phase.CREATE_FUNCTION_LATE if self.late else Phase.CREATE_FUNCTION
        return _phase(self.with_views, Phase.CREATE_VIEW, late)

    @property
    def subject(self) -> Any:
        return self.after

    def key(self) -> tuple[str, ...]:
        return (f"{self.depth:05d}", *self.after.key)

    def statements(self) -> list[sql.Composable]:
        out: list[sql.Composable] = [create_sql(self.after)]
        if self.after.comment is not None:
            out.append(comment_on("AGGREGATE", signature(self.after), self.after.comment))
        return out

    def reverse(self) -> Change:
        return DropAggregate(self.after, self.rebuilt, self.with_views, self.depth)

    def description(self) -> str:
        how = f" again ({self.rebuilt})" if self.rebuilt else ""
        return f"Create aggregate {self.after.qname}{how}"

    def notes(self) -> list[str]:
        return ["A new aggregate changes nothing that runs until a query calls it"]


@dataclass(frozen=True)
class DropAggregate(ObjectChange):
    """`rebuilt`: why it is dropped only to be created again later in the plan; `with_views`
    and `depth` as for DropFunction."""

    before: Aggregate
    rebuilt: str | None = None
    with_views: bool = False
    depth: int = 0
    sign = "-"
    kind = "aggregate"

    @property
    def phase(self) -> int:  # type: ignore[override]
        # after the views and policies that may call it, before its functions and state type
        return _phase(self.with_views, Phase.DROP_VIEW, Phase.DROP_CONSTRAINT)

    @property
    def subject(self) -> Any:
        return self.before

    def key(self) -> tuple[str, ...]:
        return (f"{99999 - self.depth:05d}", *self.before.key)

    def statements(self) -> list[sql.Composable]:
        return [sql.SQL("DROP AGGREGATE {}").format(signature(self.before))]

    def reverse(self) -> Change:
        return CreateAggregate(
            self.before, self.rebuilt, with_views=self.with_views, depth=self.depth
        )

    def description(self) -> str:
        how = f" to create it again ({self.rebuilt})" if self.rebuilt else ""
        return f"Drop aggregate {self.before.qname}{how}"

    def hazards(self) -> list[Hazard]:
        q = self.before.qname
        if self.rebuilt is not None:
            msg = f"Aggregate {q} is dropped and created again: queries that call it meanwhile fail"
            return [hazard("LP108", msg)]
        return [hazard("LP108", f"Queries that call aggregate {q} will fail")]

    def notes(self) -> list[str]:
        return ["Nothing in the schema calls it by the time it is dropped"]


@dataclass(frozen=True)
class SetAggregateComment(ObjectChange):
    after: Aggregate
    old: str | None
    new: str | None
    phase = Phase.COMMENT
    sign = "~"
    kind = "aggregate"

    @property
    def subject(self) -> Any:
        return self.after

    def key(self) -> tuple[str, ...]:
        return self.after.key

    def statements(self) -> list[sql.Composable]:
        return [comment_on("AGGREGATE", signature(self.after), self.new)]

    def reverse(self) -> Change:
        return SetAggregateComment(self.after, self.new, self.old)

    def description(self) -> str:
        return f"Set comment on aggregate {self.after.qname}"
