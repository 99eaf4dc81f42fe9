"""Primary keys, unique, check and foreign-key constraints, and indexes.

A constraint or index that changes is dropped and added again under the same name: the drop runs
early in the plan and the add late, so whatever the old one blocked (a column drop, a type
change) happens in between. `new_table` marks objects on tables created by the same plan: those
tables are empty, so validating or building on them costs nothing and carries no hazard.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from ..model import CheckConstraint, ForeignKey, Index, PrimaryKey, Table, UniqueConstraint
from ..plan import Hazard, LockMode
from ..sqlnames import Ident, obj
from .base import Change, Phase, hazard
from .ddl import Constraint, constraint_def, index_def, table_name

_KIND = {
    PrimaryKey: "primary key",
    UniqueConstraint: "unique constraint",
    CheckConstraint: "check constraint",
    ForeignKey: "foreign key",
}


def kind_of(c: Constraint) -> str:
    return _KIND[type(c)]


@dataclass(frozen=True)
class AddConstraint(Change):
    table: Table
    after: Constraint
    new_table: bool = False
    referenced_new: bool = False  # a foreign key to a table this plan creates too
    sign = "+"

    @property
    def phase(self) -> int:  # type: ignore[override]
        return Phase.ADD_FOREIGN_KEY if isinstance(self.after, ForeignKey) else Phase.ADD_CONSTRAINT

    @property
    def kind(self) -> str:
        return kind_of(self.after)

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.table.name, self.after.name or "")

    @property
    def target(self) -> str:
        return f"{self.after.name} on {self.table.qname}"

    def statements(self) -> list[sql.Composable]:
        return [
            sql.SQL("ALTER TABLE {} ADD {}").format(
                table_name(self.table), constraint_def(self.after)
            )
        ]

    def reverse(self) -> Change:
        return DropConstraint(
            self.table,
            self.after,
            table_dropped=self.new_table,
            referenced_dropped=self.referenced_new,
        )

    def description(self) -> str:
        text = f"Add {kind_of(self.after)} {self.after.name} to table {self.table.qname}"
        return text + " (NOT VALID)" if getattr(self.after, "not_valid", False) else text

    def lock(self) -> LockMode | None:
        """Only locks on tables that exist before the plan matter to a reviewer."""
        if isinstance(self.after, ForeignKey):
            return None if self.new_table and self.referenced_new else "SHARE ROW EXCLUSIVE"
        return None if self.new_table else "ACCESS EXCLUSIVE"

    def tables(self) -> tuple[str, ...]:
        out = [] if self.new_table else [table_name(self.table).as_string(None)]
        c = self.after
        if isinstance(c, ForeignKey) and not self.referenced_new:
            out.append(obj(c.referenced_schema, c.referenced_table).as_string(None))
        return tuple(dict.fromkeys(out))

    def hazards(self) -> list[Hazard]:
        if self.new_table or getattr(self.after, "not_valid", False):
            return []
        c, t = self.after, self.table.qname
        if isinstance(c, ForeignKey):
            ref = obj(c.referenced_schema, c.referenced_table).as_string(None)
            return [
                hazard(
                    "LP205",
                    f"Foreign key {c.name} fails if {t} has rows with no match in {ref}",
                ),
                hazard(
                    "LP308",
                    f"Validating {c.name} scans {t} while blocking writes to {t} and {ref}",
                ),
            ]
        if isinstance(c, CheckConstraint):
            rule, what = "LP204", f"Check {c.name} fails if an existing row of {t} violates it"
        else:
            rule = "LP203"
            what = f"{kind_of(c).capitalize()} {c.name} fails if {t} holds duplicate or NULL keys"
        return [
            hazard(rule, what),
            hazard("LP307", f"Adding {c.name} scans {t} under an ACCESS EXCLUSIVE lock"),
        ]

    def notes(self) -> list[str]:
        if getattr(self.after, "not_valid", False):
            return ["NOT VALID: existing rows are not checked, so there is no scan"]
        return [f"Table {self.table.qname} is created by this plan: no rows to check"]


@dataclass(frozen=True)
class DropConstraint(Change):
    table: Table
    before: Constraint
    # Dropped only to be added back changed, or because its table is dropped: no hazard of its own.
    incidental: bool = False
    # The plan drops its table (or, for a foreign key, the referenced table) too: the rollback
    # recreates them, so the constraint added back locks nothing that exists before the rollback.
    table_dropped: bool = False
    referenced_dropped: bool = False
    sign = "-"

    @property
    def phase(self) -> int:  # type: ignore[override]
        return (
            Phase.DROP_FOREIGN_KEY if isinstance(self.before, ForeignKey) else Phase.DROP_CONSTRAINT
        )

    @property
    def kind(self) -> str:
        return kind_of(self.before)

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.table.name, self.before.name or "")

    @property
    def target(self) -> str:
        return f"{self.before.name} on {self.table.qname}"

    def statements(self) -> list[sql.Composable]:
        return [
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                table_name(self.table), Ident(self.before.name or "")
            )
        ]

    def reverse(self) -> Change:
        return AddConstraint(
            self.table,
            self.before,
            new_table=self.table_dropped,
            referenced_new=self.referenced_dropped,
        )

    def description(self) -> str:
        return f"Drop {kind_of(self.before)} {self.before.name} from table {self.table.qname}"

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE"

    def tables(self) -> tuple[str, ...]:
        """Dropping a foreign key drops its triggers on the referenced table too, under the same
        ACCESS EXCLUSIVE lock (observed on the shadow)."""
        out = [table_name(self.table).as_string(None)]
        c = self.before
        if isinstance(c, ForeignKey):
            out.append(obj(c.referenced_schema, c.referenced_table).as_string(None))
        return tuple(dict.fromkeys(out))

    def hazards(self) -> list[Hazard]:
        if self.incidental:
            return []
        return [
            hazard(
                "LP106",
                f"{self.table.qname} stops enforcing {kind_of(self.before)} {self.before.name}",
            )
        ]

    def notes(self) -> list[str]:
        return ["Dropping a constraint only relaxes what the table accepts"]


@dataclass(frozen=True)
class CreateIndex(Change):
    table: Table
    after: Index
    new_table: bool = False
    phase = Phase.CREATE_INDEX
    sign = "+"
    kind = "index"

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.after.name)

    @property
    def target(self) -> str:
        return f"{self.after.name} on {self.table.qname}"

    def statements(self) -> list[sql.Composable]:
        return [index_def(self.table, self.after)]

    def reverse(self) -> Change:
        return DropIndex(self.table, self.after, table_dropped=self.new_table)

    def description(self) -> str:
        return f"Create index {self.after.name}"

    def lock(self) -> LockMode | None:
        return None if self.new_table else "SHARE"

    def hazards(self) -> list[Hazard]:
        if self.new_table:
            return []
        out = [
            hazard(
                "LP305",
                f"Building {self.after.name} holds a SHARE lock on {self.table.qname}: writes wait "
                "until the build ends",
            )
        ]
        if self.after.unique:
            out.append(
                hazard(
                    "LP203",
                    f"Unique index {self.after.name} fails if {self.table.qname} holds duplicates",
                )
            )
        return out

    def notes(self) -> list[str]:
        return [f"Table {self.table.qname} is created by this plan: the build is instant"]


@dataclass(frozen=True)
class DropIndex(Change):
    table: Table
    before: Index
    replaced: bool = False  # dropped to be built again under the same name
    table_dropped: bool = False  # the table goes too: its lock is the table drop's
    phase = Phase.DROP_INDEX
    sign = "-"
    kind = "index"

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.before.name)

    @property
    def target(self) -> str:
        return f"{self.before.name} on {self.table.qname}"

    def statements(self) -> list[sql.Composable]:
        return [sql.SQL("DROP INDEX {}").format(obj(self.table.schema_, self.before.name))]

    def reverse(self) -> Change:
        return CreateIndex(self.table, self.before, new_table=self.table_dropped)

    def description(self) -> str:
        return f"Drop index {self.before.name}"

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE"

    def hazards(self) -> list[Hazard]:
        if self.table_dropped:
            return []
        where = self.table.qname
        if self.table.partition_by is not None:  # Postgres refuses CONCURRENTLY there
            where += (
                " and every partition (a partitioned table's index cannot be dropped CONCURRENTLY)"
            )
        out = [
            hazard(
                "LP306", f"DROP INDEX {self.before.name} takes an ACCESS EXCLUSIVE lock on {where}"
            )
        ]
        if not self.replaced:
            out.append(hazard("LP105", f"Queries that used {self.before.name} may get slower"))
        return out

    def notes(self) -> list[str]:
        return ["Dropping an index loses no data; queries that used it may get slower"]
