"""Tables and columns appearing and disappearing.

A table is created with its columns, primary key, unique and check constraints and comments in
one step; its indexes and foreign keys are separate changes, so that tables can reference each
other in any order (circular foreign keys) and so that dropping a table first drops what hangs
off it, each with its own inverse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from ..castrules import is_volatile
from ..model import Column, Table
from ..plan import Hazard, LockMode
from ..sqlnames import col
from .base import Change, ObjectChange, Phase, data_loss, hazard
from .ddl import Constraint, column_def, column_target, comment_on, constraint_def, table_name


def _comments(table: Table) -> list[sql.Composable]:
    out: list[sql.Composable] = []
    if table.comment is not None:
        out.append(comment_on("TABLE", table_name(table), table.comment))
    out += [
        comment_on("COLUMN", column_target(table, c.name), c.comment)
        for c in table.columns
        if c.comment is not None
    ]
    return out


_SMALL_INTS = {"integer", "smallint"}  # canonical spellings (types.py)


def design_advice(table: Table, columns: list[Column]) -> list[Hazard]:
    """Schema-design advice (LP5xx) for columns a plan creates; existing columns are left alone,
    since changing them is a migration of its own."""
    keys = set(table.primary_key.columns) if table.primary_key else set()
    out: list[Hazard] = []
    for c in columns:
        where = f"{table.qname}.{c.name}"
        if c.default is not None and c.default.startswith("nextval("):
            out.append(hazard("LP501", f"{where} is a serial column; prefer an identity column"))
        if c.type.startswith("timestamp") and "without time zone" in c.type:
            out.append(hazard("LP502", f"{where} is {c.type}; prefer timestamptz"))
        if c.type == "character" or c.type.startswith("character("):
            out.append(hazard("LP503", f"{where} is {c.type}; prefer text or varchar"))
        if c.name in keys and c.type in _SMALL_INTS:
            out.append(
                hazard(
                    "LP504", f"Primary key {where} is {c.type}; prefer bigint before it overflows"
                )
            )
        elif c.type in _SMALL_INTS:
            out.append(hazard("LP505", f"{where} is {c.type}; prefer bigint"))
        if c.type.startswith("character varying("):
            out.append(hazard("LP506", f"{where} is {c.type}; prefer text with a CHECK"))
    return out


def core(table: Table) -> Table:
    """The part of a table created in one statement: no indexes, no foreign keys, and no
    NOT VALID checks (Postgres accepts NOT VALID only in ALTER TABLE)."""
    checks = tuple(c for c in table.check_constraints if not c.not_valid)
    return table.model_copy(update={"indexes": (), "foreign_keys": (), "check_constraints": checks})


def attached(table: Table) -> list[Constraint]:
    """The constraints added to a table after it is created (and dropped before it is)."""
    return [*table.foreign_keys, *(c for c in table.check_constraints if c.not_valid)]


@dataclass(frozen=True)
class CreateTable(ObjectChange):
    after: Table
    phase = Phase.CREATE_TABLE
    sign = "+"
    kind = "table"

    @property
    def subject(self) -> Any:
        return self.after

    def statements(self) -> list[sql.Composable]:
        t = self.after
        items = [column_def(c) for c in t.columns]
        constraints = [t.primary_key, *t.unique_constraints, *t.check_constraints]
        items += [constraint_def(c) for c in constraints if c is not None]
        create = sql.SQL("CREATE {}TABLE {} ({}){}").format(
            sql.SQL("UNLOGGED " if t.unlogged else ""),
            table_name(t),
            sql.SQL(", ").join(items),
            sql.SQL(" PARTITION BY {}").format(sql.SQL(t.partition_by))
            if t.partition_by
            else sql.SQL(""),
        )
        return [create, *_comments(t)]

    def reverse(self) -> Change:
        return DropTable(self.after)

    def description(self) -> str:
        return f"Create table {self.after.qname}"

    def hazards(self) -> list[Hazard]:
        return design_advice(self.after, list(self.after.columns))

    def notes(self) -> list[str]:
        return ["Table creation is always safe"]


@dataclass(frozen=True)
class DropTable(ObjectChange):
    before: Table
    phase = Phase.DROP_TABLE
    sign = "-"
    kind = "table"

    @property
    def subject(self) -> Any:
        return self.before

    def statements(self) -> list[sql.Composable]:
        # No CASCADE: anything Lockplane does not manage that depends on the table stops the plan.
        return [sql.SQL("DROP TABLE {}").format(table_name(self.before))]

    def reverse(self) -> Change:
        return CreateTable(self.before)

    def description(self) -> str:
        return f"Drop table {self.before.qname}"

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE"

    def tables(self) -> tuple[str, ...]:
        return (table_name(self.before).as_string(None),)

    def hazards(self) -> list[Hazard]:
        return data_loss("LP102", f"table {self.before.qname}")


@dataclass(frozen=True)
class AddColumn(Change):
    table: Table
    after: Column
    rename_of: str | None = None  # a column of the same type dropped by the same plan
    phase = Phase.ADD_COLUMN
    sign = "+"
    kind = "column"

    def key(self) -> tuple[str, ...]:
        """Added columns keep the order they have in the desired table."""
        position = next(i for i, c in enumerate(self.table.columns) if c.name == self.after.name)
        return (self.table.schema_, self.table.name, f"{position:05d}")

    @property
    def target(self) -> str:
        return f"{self.table.qname}.{self.after.name}"

    def statements(self) -> list[sql.Composable]:
        add = sql.SQL("ALTER TABLE {} ADD COLUMN {}").format(
            table_name(self.table), column_def(self.after)
        )
        if self.after.comment is None:
            return [add]
        return [
            add,
            comment_on("COLUMN", column_target(self.table, self.after.name), self.after.comment),
        ]

    def reverse(self) -> Change:
        return DropColumn(self.table, self.after)

    def description(self) -> str:
        return f"Add column {self.after.name} to table {self.table.qname}"

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE"

    def hazards(self) -> list[Hazard]:
        c = self.after
        out: list[Hazard] = []
        if not c.nullable and c.default is None and c.identity is None:
            out.append(
                hazard(
                    "LP201",
                    f"Cannot add NOT NULL column '{c.name}' without a DEFAULT value: "
                    "it fails if the table has rows",
                )
            )
        if c.identity is not None or c.generated is not None or is_volatile(c.default):
            out.append(
                hazard(
                    "LP302",
                    f"Column '{c.name}' gets a per-row value: the table is rewritten under an "
                    "ACCESS EXCLUSIVE lock",
                )
            )
        if self.rename_of is not None:
            out.append(
                hazard(
                    "LP401",
                    f"Column '{self.rename_of}' is dropped and '{c.name}' ({c.type}) added: if this "
                    f"is a rename, the values of '{self.rename_of}' are lost",
                )
            )
        return out + design_advice(self.table, [c])

    def notes(self) -> list[str]:
        c = self.after
        if c.nullable:
            return [f"Column '{c.name}' is nullable - safe to add"]
        return [f"Column '{c.name}' has a default - safe to add"]


@dataclass(frozen=True)
class DropColumn(Change):
    table: Table
    before: Column
    phase = Phase.DROP_COLUMN
    sign = "-"
    kind = "column"

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.table.name, self.before.name)

    @property
    def target(self) -> str:
        return f"{self.table.qname}.{self.before.name}"

    def statements(self) -> list[sql.Composable]:
        return [
            sql.SQL("ALTER TABLE {} DROP COLUMN {}").format(
                table_name(self.table), col(self.before.name)
            )
        ]

    def reverse(self) -> Change:
        return AddColumn(self.table, self.before)

    def description(self) -> str:
        return f"Drop column {self.before.name} from table {self.table.qname}"

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE"

    def hazards(self) -> list[Hazard]:
        return data_loss("LP103", f"column {self.table.qname}.{self.before.name}")


@dataclass(frozen=True)
class SetLogged(Change):
    """LOGGED / UNLOGGED: Postgres rewrites the table either way."""

    table: Table
    unlogged: bool
    phase = Phase.ALTER_COLUMN
    sign = "~"
    kind = "table"

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.table.name, "")

    @property
    def target(self) -> str:
        return self.table.qname

    def statements(self) -> list[sql.Composable]:
        word = "UNLOGGED" if self.unlogged else "LOGGED"
        return [sql.SQL("ALTER TABLE {} SET " + word).format(table_name(self.table))]

    def reverse(self) -> Change:
        return SetLogged(self.table, not self.unlogged)

    def description(self) -> str:
        return f"Make table {self.table.qname} {'unlogged' if self.unlogged else 'logged'}"

    def detail(self) -> str:
        return "unlogged" if self.unlogged else "logged"

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE"

    def hazards(self) -> list[Hazard]:
        return [hazard("LP303", f"SET {self.detail().upper()} rewrites {self.table.qname}")]
