"""Alterations of an existing column: type, default, nullability, identity, comment.

Each is its own change so that each carries its own lock and hazards; they share a phase and sort
by column, then by `order`, so a column is taken apart before it is put back together (identity
dropped before a default is set, NOT NULL set before identity is added).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from psycopg import sql

from ..castrules import classify
from ..errors import PlanError
from ..model import Column, IdentityOptions, Table
from ..plan import Hazard, LockMode
from ..sqlnames import col
from .base import Change, Phase, hazard
from .ddl import (
    column_target,
    comment_on,
    identity_options_sql,
    identity_sql,
    table_name,
    type_sql,
)
from .table import design_advice


@dataclass(frozen=True)
class ColumnChange(Change):
    table: Table
    before: Column
    after: Column
    phase = Phase.ALTER_COLUMN
    sign = "~"
    kind = "column"
    order: ClassVar[int]

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.table.name, self.after.name, str(self.order))

    @property
    def target(self) -> str:
        return f"{self.table.qname}.{self.after.name}"

    def alter(self, *actions: sql.Composable) -> sql.Composed:
        return sql.SQL("ALTER TABLE {} {}").format(
            table_name(self.table),
            sql.SQL(", ").join(
                sql.SQL("ALTER COLUMN {} {}").format(col(self.after.name), a) for a in actions
            ),
        )

    def reverse(self) -> Change:
        return type(self)(self.table, self.after, self.before)

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE"


@dataclass(frozen=True)
class DropIdentity(ColumnChange):
    """Removing identity from a column (before any new default can be set on it)."""

    order = 1

    def statements(self) -> list[sql.Composable]:
        return [self.alter(sql.SQL("DROP IDENTITY"))]

    def reverse(self) -> Change:
        return AddIdentity(self.table, self.after, self.before)

    def description(self) -> str:
        return f"Drop identity from column {self.target}"

    def detail(self) -> str:
        return f"identity {self.before.identity} → none"

    def hazards(self) -> list[Hazard]:
        return [hazard("LP407", f"{self.target} stops generating values: inserts must supply them")]


@dataclass(frozen=True)
class AlterColumnType(ColumnChange):
    """A type or collation change. The default is dropped before and set after (to the new
    default, which this change then owns), because Postgres refuses to convert a default it
    cannot cast automatically.

    `linked`: the tables at the other end of foreign keys on this column that stay in place
    during the change; Postgres rebuilds those constraints, locking those tables too."""

    linked: tuple[str, ...] = ()
    order = 2

    def reverse(self) -> Change:
        return AlterColumnType(self.table, self.after, self.before, self.linked)

    def tables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*super().tables(), *self.linked)))

    def statements(self) -> list[sql.Composable]:
        b, a = self.before, self.after
        change = classify(b.type, a.type)
        retype = sql.SQL("TYPE {}").format(type_sql(a))
        if change.needs_using and b.type != a.type:
            retype = sql.SQL("{} USING {}::{}").format(retype, col(a.name), sql.SQL(a.type))
        actions: list[sql.Composable] = []
        if b.default is not None:
            actions.append(sql.SQL("DROP DEFAULT"))
        actions.append(retype)
        if a.default is not None:
            actions.append(sql.SQL("SET DEFAULT {}").format(sql.SQL(a.default)))
        return [self.alter(*actions)]

    def description(self) -> str:
        return f"Change type of column {self.target} to {self.after.type}"

    def detail(self) -> str:
        b, a = self.before, self.after
        return f"type {b.type}{_coll(b)} → {a.type}{_coll(a)}"

    def hazards(self) -> list[Hazard]:
        b, a = self.before, self.after
        change = classify(b.type, a.type)
        out: list[Hazard] = []
        if change.rewrites:  # a collation change alone keeps the data and rebuilds only indexes
            out.append(
                hazard(
                    "LP301",
                    f"Changing {self.target} from {b.type} to {a.type} rewrites the table and its "
                    "indexes under an ACCESS EXCLUSIVE lock (plan with --expand-contract to "
                    "switch over to a backfilled copy instead)",
                )
            )
        if change.may_fail:
            out.append(
                hazard(
                    "LP206",
                    f"Existing values of {self.target} may not convert to {a.type}; the change "
                    "fails if one does not",
                )
            )
        out.append(hazard("LP405", f"{self.target} changes from {self.detail()[5:]}"))
        if b.type != a.type:
            advice = design_advice(self.table, [a])
            out += [h for h in advice if h.rule != "LP501"]  # retyped, not newly serial
        if b.default is not None and a.default is None:
            out.append(hazard("LP406", f"The default of {self.target} ({b.default}) is dropped"))
        return out

    def notes(self) -> list[str]:
        return [f"{self.before.type} → {self.after.type} is binary compatible: no rewrite"]


def _coll(c: Column) -> str:
    return f" collate {c.collation}" if c.collation else ""


@dataclass(frozen=True)
class SetDefault(ColumnChange):
    order = 3

    def statements(self) -> list[sql.Composable]:
        if self.after.default is None:
            return [self.alter(sql.SQL("DROP DEFAULT"))]
        return [self.alter(sql.SQL("SET DEFAULT {}").format(sql.SQL(self.after.default)))]

    def description(self) -> str:
        if self.after.default is None:
            return f"Drop default of column {self.target}"
        return f"Set default of column {self.target} to {self.after.default}"

    def detail(self) -> str:
        return f"default {self.before.default or 'none'} → {self.after.default or 'none'}"

    def hazards(self) -> list[Hazard]:
        if self.after.default is not None or self.before.default is None:
            return []
        return [hazard("LP406", f"The default of {self.target} ({self.before.default}) is dropped")]

    def notes(self) -> list[str]:
        return ["Changing a default only affects future inserts"]


@dataclass(frozen=True)
class SetNullable(ColumnChange):
    order = 4

    def statements(self) -> list[sql.Composable]:
        return [self.alter(sql.SQL("DROP NOT NULL" if self.after.nullable else "SET NOT NULL"))]

    def description(self) -> str:
        verb = "Drop NOT NULL from" if self.after.nullable else "Set NOT NULL on"
        return f"{verb} column {self.target}"

    def detail(self) -> str:
        return "nullable" if self.after.nullable else "not null"

    def hazards(self) -> list[Hazard]:
        if self.after.nullable:
            return [
                hazard("LP402", f"Readers of {self.target} must now expect NULL values"),
            ]
        return [
            hazard(
                "LP202",
                f"SET NOT NULL on {self.target} fails if any existing row holds NULL",
            ),
            hazard(
                "LP309",
                f"SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock on {self.table.qname}",
            ),
        ]

    def notes(self) -> list[str]:
        return ["Dropping NOT NULL only relaxes a constraint"]


@dataclass(frozen=True)
class AddIdentity(ColumnChange):
    order = 5

    def statements(self) -> list[sql.Composable]:
        if self.before.identity is None:
            action: sql.Composable = sql.SQL("ADD {}").format(
                identity_sql(self.after.identity or "", self.after.identity_options)
            )
        else:
            action = sql.SQL("SET GENERATED {}").format(
                sql.SQL("ALWAYS" if self.after.identity == "always" else "BY DEFAULT")
            )
        return [self.alter(action)]

    def reverse(self) -> Change:
        if self.before.identity is None:
            return DropIdentity(self.table, self.after, self.before)
        return AddIdentity(self.table, self.after, self.before)

    def description(self) -> str:
        return f"Make column {self.target} an identity ({self.after.identity})"

    def detail(self) -> str:
        return f"identity {self.before.identity or 'none'} → {self.after.identity}"

    def hazards(self) -> list[Hazard]:
        what = "refuses explicit values" if self.after.identity == "always" else "generates values"
        return [hazard("LP407", f"{self.target} becomes identity {self.after.identity}: it {what}")]

    def notes(self) -> list[str]:
        return ["Identity only changes how future values are generated"]


@dataclass(frozen=True)
class SetIdentityOptions(ColumnChange):
    """The identity's sequence options (START, INCREMENT, bounds, CACHE, CYCLE)."""

    order = 6

    def statements(self) -> list[sql.Composable]:
        options = self.after.identity_options or IdentityOptions()
        return [
            self.alter(
                *(sql.SQL("SET {}").format(p) for p in identity_options_sql(options, alter=True))
            )
        ]

    def description(self) -> str:
        return f"Change identity options of column {self.target}"

    def detail(self) -> str:
        return "identity options changed"

    def notes(self) -> list[str]:
        return ["Identity options only change how future values are generated"]


@dataclass(frozen=True)
class SetColumnComment(ColumnChange):
    order = 7
    phase = Phase.COMMENT

    def statements(self) -> list[sql.Composable]:
        return [
            comment_on("COLUMN", column_target(self.table, self.after.name), self.after.comment)
        ]

    def description(self) -> str:
        return f"Set comment on column {self.target}"

    def detail(self) -> str:
        return f"comment {self.before.comment!r} → {self.after.comment!r}"

    def lock(self) -> LockMode | None:
        return "SHARE UPDATE EXCLUSIVE"

    def notes(self) -> list[str]:
        return ["Comments are metadata only"]


def column_changes(
    table: Table, before: Column, after: Column, *, default_done: bool = False
) -> list[Change]:
    """The alterations that turn `before` into `after` (column order is not something Postgres
    can change, and is ignored). `default_done`: an enum replacement already sets the default."""
    if before.generated != after.generated:  # diff.py's generated_changes handles these first
        raise PlanError(f"column {table.qname}.{after.name}: its generation changes")
    out: list[Change] = []
    if before.identity is not None and after.identity is None:
        out.append(DropIdentity(table, before, after))
    retyped = (before.type, before.collation) != (after.type, after.collation)
    if retyped:
        update = {"type": after.type, "collation": after.collation, "default": after.default}
        out.append(AlterColumnType(table, before, before.model_copy(update=update)))
    elif before.default != after.default and not default_done:
        out.append(SetDefault(table, before, after))
    if before.nullable != after.nullable:
        out.append(SetNullable(table, before, after))
    if after.identity is not None and before.identity != after.identity:
        out.append(AddIdentity(table, before, after))
    elif after.identity is not None and before.identity_options != after.identity_options:
        out.append(SetIdentityOptions(table, before, after))
    if before.comment != after.comment:
        out.append(SetColumnComment(table, before, after))
    return out
