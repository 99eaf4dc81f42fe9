"""Stored generated columns whose expression changes, or that become or stop being generated.

Postgres 15 cannot change a generation expression in place (SET EXPRESSION is PG17+) nor make a
plain column generated, so on every server the column is rebuilt: dropped and added back with its
new definition in one ALTER TABLE (the table is rewritten under ACCESS EXCLUSIVE). Dropping the
column takes the indexes and constraints on it along, so the same change re-creates the ones the
target keeps unchanged (`dependents`), and the comment; those that change have their own steps.
The rebuilt column moves to the end of the table. DROP EXPRESSION turns a generated column into a
plain one in place, keeping its values; its inverse is a rebuild.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from psycopg import sql

from ..model import CheckConstraint, Column, Index, Table
from ..plan import Hazard, LockMode
from ..sqlnames import col
from .base import Change, Phase, hazard
from .ddl import Constraint, column_def, column_target, comment_on, constraint_def, index_def
from .ddl import table_name as _table_name


@dataclass(frozen=True)
class RebuildColumn(Change):
    """Drop and add back a column as `after`, with the indexes and constraints that used it."""

    table: Table
    before: Column
    after: Column
    dependents: tuple[Index | Constraint, ...] = ()
    phase = Phase.ALTER_COLUMN
    sign = "~"
    kind = "column"

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.table.name, self.after.name, "0")

    @property
    def target(self) -> str:
        return f"{self.table.qname}.{self.after.name}"

    def statements(self) -> list[sql.Composable]:
        t, a = _table_name(self.table), self.after
        out: list[sql.Composable] = [
            sql.SQL("ALTER TABLE {} DROP COLUMN {}, ADD COLUMN {}").format(
                t, col(self.before.name), column_def(a)
            )
        ]
        for d in self.dependents:
            if isinstance(d, Index):
                out.append(index_def(self.table, d))
            else:
                out.append(sql.SQL("ALTER TABLE {} ADD {}").format(t, constraint_def(d)))
        if a.comment is not None:
            out.append(comment_on("COLUMN", column_target(self.table, a.name), a.comment))
        return out

    def reverse(self) -> Change:
        if self.before.generated is None and self.after.generated is not None:
            # Back to plain in place: the computed values stay, nothing is rewritten.
            return DropExpression(self.table, self.after, self.before, self.dependents)
        return RebuildColumn(self.table, self.after, self.before, self.dependents)

    def description(self) -> str:
        if self.after.generated is None:
            return f"Rebuild column {self.target} as a plain column"
        return f"Rebuild column {self.target} as generated from {self.after.generated}"

    def detail(self) -> str:
        return f"generated {self.before.generated} → {self.after.generated}"

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE"

    def hazards(self) -> list[Hazard]:
        names = ", ".join(d.name or "" for d in self.dependents)
        rebuilt = f", and rebuilds {names} under the same lock" if names else ""
        out = [
            hazard(
                "LP310",
                f"Rebuilding {self.target} rewrites {self.table.qname}{rebuilt}; the column "
                "moves to the end of the table",
            )
        ]
        out += [
            hazard(
                "LP204", f"Check {d.name} fails if a recomputed value of {self.target} violates it"
            )
            for d in self.dependents
            if isinstance(d, CheckConstraint)
        ]
        if self.before.generated is None:
            out += [
                hazard(
                    "LP103", f"The stored values of {self.target} are replaced by computed ones"
                ),
                hazard("LP107", f"The rollback keeps the computed values of {self.target}"),
            ]
        return out


@dataclass(frozen=True)
class DropExpression(Change):
    """Generated to plain in place: the stored values stay, later writes may set any value."""

    table: Table
    before: Column
    after: Column
    dependents: tuple[Index | Constraint, ...] = ()
    phase = Phase.ALTER_COLUMN
    sign = "~"
    kind = "column"

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.table.name, self.after.name, "0")

    @property
    def target(self) -> str:
        return f"{self.table.qname}.{self.after.name}"

    def statements(self) -> list[sql.Composable]:
        return [
            sql.SQL("ALTER TABLE {} ALTER COLUMN {} DROP EXPRESSION").format(
                _table_name(self.table), col(self.after.name)
            )
        ]

    def reverse(self) -> Change:
        return RebuildColumn(self.table, self.after, self.before, self.dependents)

    def description(self) -> str:
        return f"Make column {self.target} a plain column (drop its expression)"

    def detail(self) -> str:
        return f"generated {self.before.generated} → none"

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE"

    def hazards(self) -> list[Hazard]:
        return [hazard("LP407", f"{self.target} stops computing its values: writes must set them")]

    def notes(self) -> list[str]:
        return ["DROP EXPRESSION keeps the stored values and rewrites nothing"]


def _mentions(text: str | None, column: str) -> bool:
    """Whether an expression Postgres printed names the column (bare or double-quoted)."""
    if text is None:
        return False
    quoted = '"' + column.replace('"', '""') + '"'
    return (
        quoted in text or re.search(rf"(?<![\w\"]){re.escape(column)}(?![\w\"])", text) is not None
    )


def uses_column(item: Index | Constraint, column: str) -> bool:
    """Whether an index or constraint of the table involves the column (DROP COLUMN drops it)."""
    if isinstance(item, Index):
        keys = [k if isinstance(k, str) else k.column for k in item.columns]
        exprs = [k.expression for k in item.columns if not isinstance(k, str)]
        return (
            column in keys
            or column in item.include
            or _mentions(item.where, column)
            or any(_mentions(e, column) for e in exprs)
        )
    if isinstance(item, CheckConstraint):
        return _mentions(item.expression, column)
    return column in item.columns


def generated_changes(
    old: Table, new: Table, before: Column, after: Column, kept: list[Index | Constraint]
) -> tuple[list[Change], Column]:
    """The change for a column whose generation changes, and the column as that change leaves it
    (what the other alterations of the column start from). `kept`: the old table's indexes and
    constraints the target keeps as they are, among which those on the column are rebuilt."""
    dependents = tuple(d for d in kept if uses_column(d, before.name))
    if after.generated is None:
        done = before.model_copy(update={"generated": None})
        return [DropExpression(old, before, done, dependents)], done
    return [RebuildColumn(new, before, after, dependents)], after
