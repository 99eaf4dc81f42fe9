"""Changing a column's type without rewriting the table under ACCESS EXCLUSIVE: expand/contract.

`ALTER COLUMN c TYPE t` rewrites a table that is not binary compatible with the change while
it holds ACCESS EXCLUSIVE: nothing reads or writes the table meanwhile. With
`--expand-contract` the planner does it the way pgroll does, in steps that each lock briefly:

1. expand: add a copy column of the new type, and a trigger that keeps it in step with the
   original on every insert and update (the application goes on writing the original);
2. backfill the copy for the rows already there (batches, journalled, resumable);
3. give the copy the original's NOT NULL (through a validated check: no scan under the strong
   lock) and its indexes (built concurrently);
4. contract, in one short transaction: drop the trigger and the original, rename the copy
   and its indexes into place.

The reverse of the last step rebuilds the original from the copy in one blocking statement: a
rollback is rare, and it must still be exact. A column that other objects depend on (keys,
constraints, views, policies, functions, triggers, expression or partial indexes) cannot be
switched over this way; the planner says which and why rather than guess.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from pydantic import BaseModel

from ..castrules import classify
from ..errors import PlanError
from ..model import Column, Index, Schema, Table
from ..plan import Hazard, LockMode
from ..sqlnames import col, obj
from .backfill import BackfillColumn
from .base import Change, Phase, hazard
from .column import AlterColumnType, SetNullable
from .constraint import CreateIndex
from .ddl import column_target, comment_on, index_def, table_name, type_sql
from .online import _words, temp_name


def expand_forms(change: AlterColumnType, old: Schema, new: Schema) -> list[Change]:
    """The expand/contract form of a rewriting type change; PlanError when it cannot be."""
    t, before, after = change.table, change.before, change.after
    if not classify(before.type, after.type).rewrites:
        return [change]
    old_table = old.table(t.schema_, t.name)
    assert old_table is not None  # a column changes type only in a table that exists
    why = _blocked(old_table, before.name, old, new) or (
        f"foreign keys on it involve {', '.join(change.linked)}" if change.linked else None
    )
    if why is not None:
        raise PlanError(
            f"--expand-contract: column {t.qname}.{before.name} cannot be switched over "
            f"online: {why}; plan without --expand-contract to change its type in place"
        )
    copy = after.model_copy(
        update={
            "name": temp_name(before.name, "lp_new"),
            "nullable": True,
            "default": None,
            "comment": None,
        }
    )
    sync = Sync(t, before.name, copy)
    out: list[Change] = [AddCopy(t, copy), CreateSync(sync)]
    out.append(BackfillColumn(t, copy, f"{col(before.name).as_string(None)}::{after.type}"))
    if not before.nullable:
        out.append(SetNullable(t, copy, copy.model_copy(update={"nullable": False})))
    copies = [
        (index, _copied(index, before.name, copy.name))
        for index in _indexes(old_table, before.name)
    ]
    out += [CreateIndex(t, twin) for _, twin in copies]
    out.append(Switch(sync, before, after, tuple(copies)))
    return out


def _indexes(table: Table, column: str) -> list[Index]:
    return [i for i in table.indexes if column in i.columns]


def _copied(index: Index, column: str, copy: str) -> Index:
    columns = tuple(copy if k == column else k for k in index.columns)
    return index.model_copy(update={"name": temp_name(index.name, "lp_new"), "columns": columns})


def _blocked(table: Table, column: str, *schemas: Schema) -> str | None:
    """Why the column cannot be switched over, or None. Read generously: a word that may name
    the column is taken to, which can only refuse too much, never break a plan."""
    if table.partition_by is not None or table.partition_of is not None:
        return "it belongs to a partitioned table"
    keys = [
        ("the primary key", table.primary_key.columns if table.primary_key else ()),
        *((f"unique constraint {u.name}", u.columns) for u in table.unique_constraints),
        *((f"foreign key {f.name}", f.columns) for f in table.foreign_keys),
    ]
    for what, columns in keys:
        if column in columns:
            return f"{what} uses it"
    for index in table.indexes:
        plain = column in index.columns and not index.where and column not in index.include
        if column in _words(_text(index)) and not plain:
            return f"index {index.name} uses it in an expression, INCLUDE or WHERE"
    texts: list[tuple[str, str]] = [
        *((f"check {c.name}", c.expression) for c in table.check_constraints),
        *(
            (f"column {c.name}", c.generated or c.default or "")
            for c in table.columns
            if c.name != column
        ),
        *((f"policy {p.name}", _text(p)) for p in table.policies),
        *((f"trigger {g.name}", _text(g)) for g in table.triggers),
    ]
    for schema in schemas:
        texts += [(f"view {v.qname}", v.definition) for v in schema.views]
        texts += [(f"function {f.qname}", f.body) for f in schema.functions]
        for other in schema.tables:
            for fk in other.foreign_keys:
                here = (fk.referenced_schema, fk.referenced_table) == (table.schema_, table.name)
                if here and column in fk.referenced_columns:
                    return f"foreign key {fk.name} of {other.qname} references it"
    for what, text in texts:
        if column in _words(text):
            return f"{what} may use it"
    return None


def _text(model: BaseModel) -> str:
    """Every string in a model, one after another: what its SQL may mention."""

    def strings(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for v in value.values():
                yield from strings(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                yield from strings(v)

    return "\n".join(strings(model.model_dump(mode="json")))


@dataclass(frozen=True)
class Sync:
    """The trigger that keeps the copy in step with the original during the switch-over."""

    table: Table
    column: str  # the original
    copy: Column

    @property
    def function(self) -> sql.Composable:
        return obj(self.table.schema_, temp_name(f"{self.table.name}_{self.column}", "lp_sync"))

    @property
    def trigger(self) -> sql.Identifier:
        return sql.Identifier(temp_name(self.column, "lp_sync"))

    def create(self) -> list[sql.Composable]:
        body = sql.SQL("BEGIN NEW.{} := (NEW.{})::{}; RETURN NEW; END").format(
            col(self.copy.name), col(self.column), sql.SQL(self.copy.type)
        )
        return [
            sql.SQL("CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS {}").format(
                self.function, sql.Literal(body.as_string(None))
            ),
            sql.SQL(
                "CREATE TRIGGER {} BEFORE INSERT OR UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {}()"
            ).format(self.trigger, table_name(self.table), self.function),
        ]

    def drop(self) -> list[sql.Composable]:
        return [
            sql.SQL("DROP TRIGGER {} ON {}").format(self.trigger, table_name(self.table)),
            sql.SQL("DROP FUNCTION {}()").format(self.function),
        ]


class _OnColumn(Change):
    """A step of the switch-over of one column: named after it, ordered with it."""

    phase = Phase.ALTER_COLUMN
    sign = "~"
    kind = "column"
    table: Table

    @property
    @abstractmethod
    def column(self) -> str: ...

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.table.name, self.column)

    @property
    def target(self) -> str:
        return f"{self.table.qname}.{self.column}"


@dataclass(frozen=True)
class AddCopy(_OnColumn):
    table: Table
    copy: Column

    @property
    def column(self) -> str:
        return self.copy.name

    def statements(self) -> list[sql.Composable]:
        return [
            sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                table_name(self.table), col(self.copy.name), type_sql(self.copy)
            )
        ]

    def reverse(self) -> Change:
        return DropCopy(self.table, self.copy)

    def description(self) -> str:
        return f"Add column {self.copy.name} ({self.copy.type}) to table {self.table.qname}, the copy to switch over to"

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE"

    def notes(self) -> list[str]:
        return ["A nullable column without a default: a catalog change, no rewrite"]


@dataclass(frozen=True)
class DropCopy(AddCopy):
    def statements(self) -> list[sql.Composable]:
        return [
            sql.SQL("ALTER TABLE {} DROP COLUMN {}").format(
                table_name(self.table), col(self.copy.name)
            )
        ]

    def reverse(self) -> Change:
        return AddCopy(self.table, self.copy)

    def description(self) -> str:
        return f"Drop column {self.copy.name} from table {self.table.qname} (a copy)"

    def notes(self) -> list[str]:
        return ["Only the copy goes: the original column still holds every value"]


@dataclass(frozen=True)
class CreateSync(_OnColumn):
    sync: Sync

    @property
    def table(self) -> Table:  # type: ignore[override]
        return self.sync.table

    @property
    def column(self) -> str:
        return self.sync.copy.name

    def statements(self) -> list[sql.Composable]:
        return self.sync.create()

    def reverse(self) -> Change:
        return DropSync(self.sync)

    def description(self) -> str:
        return (
            f"Keep {self.sync.copy.name} in step with {self.sync.column} on every write to "
            f"{self.table.qname} (trigger)"
        )

    def lock(self) -> LockMode | None:
        return "SHARE ROW EXCLUSIVE"


@dataclass(frozen=True)
class DropSync(CreateSync):
    def statements(self) -> list[sql.Composable]:
        return self.sync.drop()

    def reverse(self) -> Change:
        return CreateSync(self.sync)

    def description(self) -> str:
        return f"Drop the trigger keeping {self.sync.copy.name} in step with {self.sync.column}"

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE"


@dataclass(frozen=True)
class Switch(_OnColumn):
    """The contract: the copy takes the original's place, with its default, comment and the
    names of its indexes, in one short transaction."""

    sync: Sync
    before: Column
    after: Column
    copies: tuple[tuple[Index, Index], ...]  # (original index, its copy on the new column)

    @property
    def table(self) -> Table:  # type: ignore[override]
        return self.sync.table

    @property
    def column(self) -> str:
        return self.before.name

    def _renames(self, forward: bool) -> list[sql.Composable]:
        out: list[sql.Composable] = []
        for original, twin in self.copies:
            old, new = (twin.name, original.name) if forward else (original.name, twin.name)
            out.append(
                sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                    obj(self.table.schema_, old), sql.Identifier(new)
                )
            )
        return out

    def _finish(self, column: Column) -> list[sql.Composable]:
        t, name = table_name(self.table), col(column.name)
        out: list[sql.Composable] = []
        if column.default is not None:
            out.append(
                sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}").format(
                    t, name, sql.SQL(column.default)
                )
            )
        if column.comment is not None:
            out.append(comment_on("COLUMN", column_target(self.table, column.name), column.comment))
        return out

    def statements(self) -> list[sql.Composable]:
        t = table_name(self.table)
        return [
            *self.sync.drop(),
            sql.SQL("ALTER TABLE {} DROP COLUMN {}").format(t, col(self.before.name)),
            sql.SQL("ALTER TABLE {} RENAME COLUMN {} TO {}").format(
                t, col(self.sync.copy.name), col(self.before.name)
            ),
            *self._finish(self.after),
            *self._renames(forward=True),
        ]

    def reverse(self) -> Change:
        return Unswitch(self)

    def description(self) -> str:
        return (
            f"Switch column {self.target} over to {self.after.type}: drop the original, "
            f"rename {self.sync.copy.name} into its place"
        )

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE"

    def hazards(self) -> list[Hazard]:
        return [
            hazard("LP405", f"{self.target} changes from {self.before.type} to {self.after.type}")
        ]

    def notes(self) -> list[str]:
        return ["Catalog changes only: the values were copied and converted beforehand"]


@dataclass(frozen=True)
class Unswitch(_OnColumn):
    """The way back from a switch-over: the original rebuilt from the copy, in one statement
    that rewrites every row under ACCESS EXCLUSIVE (a rollback must be exact, not fast)."""

    done: Switch

    @property
    def table(self) -> Table:  # type: ignore[override]
        return self.done.table

    @property
    def column(self) -> str:
        return self.done.before.name

    def statements(self) -> list[sql.Composable]:
        d, t = self.done, table_name(self.table)
        name, copy = col(d.before.name), col(d.sync.copy.name)
        out = [*d._renames(forward=False)]
        if d.after.default is not None:
            out.append(sql.SQL("ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT").format(t, name))
        if d.after.comment is not None:
            out.append(comment_on("COLUMN", column_target(self.table, d.before.name), None))
        out += [
            sql.SQL("ALTER TABLE {} RENAME COLUMN {} TO {}").format(t, name, copy),
            sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(t, name, type_sql(d.before)),
            sql.SQL("UPDATE {} SET {} = ({})::{}").format(t, name, copy, sql.SQL(d.before.type)),
            *d._finish(d.before),
        ]
        if not d.before.nullable:
            out.append(sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET NOT NULL").format(t, name))
        out += [index_def(self.table, original) for original, _ in d.copies]
        return [*out, *d.sync.create()]

    def reverse(self) -> Change:
        return self.done

    def description(self) -> str:
        return f"Rebuild column {self.target} as {self.done.before.type} from its copy"

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE"

    def hazards(self) -> list[Hazard]:
        return [
            hazard(
                "LP312",
                f"Undoing the switch-over rebuilds {self.target} and copies every row back under "
                "an ACCESS EXCLUSIVE lock",
            )
        ]
