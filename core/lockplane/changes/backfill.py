"""Adding a column whose existing rows need computed values, without a long lock.

`ADD COLUMN c uuid NOT NULL DEFAULT gen_random_uuid()` rewrites the table under ACCESS EXCLUSIVE:
Postgres evaluates a volatile default for every row inside the one statement. So does any plan
that must set a new column from an expression (`Column.backfill`). The online form splits it:

1. add the column nullable and bare (catalog only), and set its default for the rows written
   from then on;
2. backfill the existing rows in batches (backfill.py, run durably by the executor);
3. SET NOT NULL through a validated CHECK, which needs no scan under the strong lock.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from ..castrules import is_volatile
from ..model import Column, Table
from ..plan import Backfill, Hazard, LockMode, Step
from ..sqlnames import col
from .base import Change, NothingToUndo, Phase
from .column import SetDefault, SetNullable
from .ddl import table_name
from .table import AddColumn


def needs_backfill(change: AddColumn) -> bool:
    """A column added to an existing table whose rows need values computed row by row."""
    c = change.after
    if c.identity is not None or c.generated is not None:
        return False
    if change.table.partition_by is not None and change.table.primary_key is None:
        return False  # heap-page batches mean nothing across partitions
    return c.backfill is not None or is_volatile(c.default)


def backfill_forms(change: AddColumn) -> list[Change]:
    """The add, its backfill and its NOT NULL, as separate changes (see the module's doc)."""
    c, t = change.after, change.table
    expression = c.backfill or c.default
    assert expression is not None  # needs_backfill said so
    bare = c.model_copy(update={"nullable": True, "default": None, "backfill": None})
    defaulted = bare.model_copy(update={"default": c.default})
    add = AddColumn(t, bare, rename_of=change.rename_of)
    # design advice about the column as it ends up (a serial default...) that the bare add
    # cannot see travels with the backfill
    seen = {h.rule for h in add.hazards()}
    advice = tuple(h for h in change.hazards() if h.severity == "info" and h.rule not in seen)
    out: list[Change] = [add]
    if c.default is not None:
        out.append(SetDefault(t, bare, defaulted))
    out.append(BackfillColumn(t, defaulted, expression, advice))
    if not c.nullable:
        out.append(SetNullable(t, defaulted, c.content()))
    return out


@dataclass(frozen=True)
class BackfillColumn(Change):
    table: Table
    column: Column
    expression: str
    advice: tuple[Hazard, ...] = ()
    phase = Phase.ADD_COLUMN
    sign = "~"
    kind = "column"

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.table.name, self.column.name)

    @property
    def target(self) -> str:
        return f"{self.table.qname}.{self.column.name}"

    def statements(self) -> list[sql.Composable]:
        name = col(self.column.name)
        return [
            sql.SQL("UPDATE {} SET {} = ({}) WHERE {} IS NULL").format(
                table_name(self.table), name, sql.SQL(self.expression), name
            )
        ]

    def reverse(self) -> Change:
        return NothingToUndo(
            self, why="the backfilled values go with their column", note="Runs nothing"
        )

    def description(self) -> str:
        return (
            f"Backfill column {self.column.name} of table {self.table.qname} with "
            f"{self.expression}, in batches"
        )

    def lock(self) -> LockMode | None:
        return "ROW EXCLUSIVE"

    def hazards(self) -> list[Hazard]:
        return list(self.advice)

    def notes(self) -> list[str]:
        return [
            "Runs in batches of about 200 ms, each its own transaction, its cursor journalled "
            "with it: a writer waits for one batch at most, and an interrupted run resumes at "
            "the next batch"
        ]

    def to_step(self) -> Step:
        key = self.table.primary_key.columns if self.table.primary_key is not None else ()
        spec = Backfill(
            schema=self.table.schema_,
            table=self.table.name,
            column=self.column.name,
            expression=self.expression,
            key=key,
        )
        return super().to_step().model_copy(update={"backfill": spec})
