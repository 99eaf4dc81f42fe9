"""Online forms: the same change, done in steps that never hold a blocking lock during a scan.

A logical change from the diff (an index, a constraint, SET NOT NULL on an existing table) is
replaced by a short sequence of changes, each its own step with its own SQL, inverse, lock and
hazards, so the rollback of the sequence is the inverses in reverse order and the shadow proves
it like anything else:

- an index: CREATE INDEX CONCURRENTLY; a dropped one DROP INDEX CONCURRENTLY. An index whose
  definition changed is built under a temporary name, the old one dropped, the new one renamed;
  when the old one uses a column the plan drops or retypes, the old drop comes first (as offline).
- a check or foreign key: ADD ... NOT VALID, then VALIDATE CONSTRAINT (SHARE UPDATE EXCLUSIVE).
- SET NOT NULL: a CHECK (col IS NOT NULL) NOT VALID, validated, lets SET NOT NULL skip its scan;
  the check is dropped afterwards.
- a unique constraint or primary key: its index built CONCURRENTLY, then attached with
  ADD CONSTRAINT ... USING INDEX (which keeps NULLS NOT DISTINCT from the index and takes
  DEFERRABLE itself, on PG15 as on PG18). A primary key over a column that can still hold NULLs
  stays plain: attaching would run SET NOT NULL's scan under ACCESS EXCLUSIVE anyway.
- partitions: DETACH ... CONCURRENTLY (no default partition), ATTACH after a validated CHECK
  copying the bound (changes/partitions.py). An index of a partitioned table is built ON ONLY
  it, each partition's concurrently, then attached (changes/partindex.py); a unique constraint
  or primary key from each leaf's own, built concurrently and attached USING INDEX, which the
  parent's ADD CONSTRAINT then attaches; SET NOT NULL leaf by leaf (changes/partkeys.py). Its
  other index changes and constraints stay plain: Postgres refuses CONCURRENTLY on one (DROP
  INDEX included), and (before 18) NOT VALID foreign keys; a foreign key referencing one stays
  plain too (VALIDATE would leave the per-partition clones NOT VALID).

Every CONCURRENTLY statement says IF [NOT] EXISTS, so a step retried after Postgres finished it
is a no-op; the executor drops the INVALID index a failed build leaves before it retries, so
IF NOT EXISTS never keeps a broken one. VALIDATE steps run in a transaction of their own
(`own_transaction`), and their inverse is a step that runs nothing (`NothingToUndo`).

Changes on tables the plan creates are left alone (empty tables need no care), as are indexes of
tables the plan drops. Each form sits where its logical change sits in the plan: the planner
orders the logical changes by phase, then expands each in place.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import sql

from ..model import (
    CheckConstraint,
    ForeignKey,
    Index,
    PrimaryKey,
    Schema,
    Table,
    UniqueConstraint,
)
from ..plan import Hazard, LockMode
from ..sqlnames import Ident, col, obj
from .backfill import backfill_forms, needs_backfill
from .base import Change, NothingToUndo, Phase, hazard
from .column import AlterColumnType, SetNullable
from .constraint import AddConstraint, CreateIndex, DropConstraint, DropIndex, kind_of
from .ddl import deferrable, index_def, table_name
from .objects import ReplaceEnum
from .partindex import CreatePartitionedIndex, online_partitioned_index
from .partitions import (
    AddForeignKeyToPartitioned,
    AttachPartition,
    AttachPartitionChecked,
    DetachPartition,
    bound_check,
    online_detach,
)
from .partkeys import (
    CreatePartitionedKey,
    SetPartitionedNotNull,
    online_partitioned_key,
    online_partitioned_not_null,
)
from .table import AddColumn, DropColumn

MAX_NAME_BYTES = 63  # NAMEDATALEN - 1: Postgres silently truncates longer names


def temp_name(base: str, tag: str) -> str:
    """A deterministic name for a helper object, `<base>_<tag>_<hash>`, cut to fit in 63 bytes
    (by bytes, never mid-character) so the name Postgres stores is the one the plan names."""
    suffix = f"_{tag}_{hashlib.sha256(base.encode()).hexdigest()[:8]}"
    room = MAX_NAME_BYTES - len(suffix.encode())
    return base.encode()[:room].decode(errors="ignore") + suffix


# ------------------------------------------------------------------------------------- indexes


@dataclass(frozen=True)
class CreateIndexConcurrently(CreateIndex):
    """CREATE INDEX CONCURRENTLY: writes continue during the build. `replaces` names the index
    this one will take the place of (it is built under a temporary name first); `constraint` is
    the unique constraint or primary key it is built for."""

    replaces: str | None = None
    constraint: PrimaryKey | UniqueConstraint | None = None
    transactional = False

    def statements(self) -> list[sql.Composable]:
        return [index_def(self.table, self.after, concurrently=True)]

    def reverse(self) -> Change:
        return DropIndexConcurrently(
            self.table,
            self.after,
            replaced=self.replaces is not None,
            for_constraint=self.constraint is not None,
        )

    def description(self) -> str:
        if self.replaces is not None:
            return f"Build the new definition of index {self.replaces} as {self.after.name}"
        if self.constraint is not None:
            c = self.constraint
            return f"Build unique index {self.after.name} for {kind_of(c)} {c.name} on {self.table.qname}"
        return super().description()

    def lock(self) -> LockMode | None:
        return "SHARE UPDATE EXCLUSIVE"

    def hazards(self) -> list[Hazard]:
        if not self.after.unique:
            return []
        t = self.table.qname
        if self.constraint is not None:
            c = self.constraint
            what = f"{kind_of(c).capitalize()} {c.name} fails if {t} holds duplicate keys"
        else:
            what = f"Unique index {self.replaces or self.after.name} fails if {t} holds duplicates"
        return [hazard("LP203", what + " (the failed build is dropped)")]

    def notes(self) -> list[str]:
        return [
            "CONCURRENTLY: reads and writes continue during the build (SHARE UPDATE EXCLUSIVE); "
            "it runs outside a transaction"
        ]


@dataclass(frozen=True)
class DropIndexConcurrently(DropIndex):
    """DROP INDEX CONCURRENTLY IF EXISTS: waits for queries using the index instead of blocking
    the table. IF EXISTS makes a retry harmless, and lets the rollback of an index built for a
    constraint run after DROP CONSTRAINT has already taken the index with it."""

    for_constraint: bool = False
    transactional = False

    def statements(self) -> list[sql.Composable]:
        name = obj(self.table.schema_, self.before.name)
        return [sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(name)]

    def reverse(self) -> Change:
        return CreateIndexConcurrently(self.table, self.before)

    def description(self) -> str:
        if self.for_constraint:
            return f"Drop index {self.before.name} if dropping its constraint left it"
        return super().description()

    def lock(self) -> LockMode | None:
        return "SHARE UPDATE EXCLUSIVE"

    def hazards(self) -> list[Hazard]:
        if self.replaced or self.for_constraint:
            return []
        return [hazard("LP105", f"Queries that used {self.before.name} may get slower")]

    def notes(self) -> list[str]:
        return ["CONCURRENTLY: reads and writes continue; it runs outside a transaction"]


@dataclass(frozen=True)
class RenameIndex(Change):
    """The last step of an index replacement: the new index takes the old one's name."""

    table: Table
    old_name: str
    new_name: str
    sign = "~"
    kind = "index"

    phase = Phase.CREATE_INDEX

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.new_name)

    @property
    def target(self) -> str:
        return f"{self.new_name} on {self.table.qname}"

    def statements(self) -> list[sql.Composable]:
        return [
            sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                obj(self.table.schema_, self.old_name), Ident(self.new_name)
            )
        ]

    def reverse(self) -> Change:
        return RenameIndex(self.table, self.new_name, self.old_name)

    def description(self) -> str:
        return f"Rename index {self.old_name} to {self.new_name}"

    def hazards(self) -> list[Hazard]:
        return [
            hazard(
                "LP404",
                f"Index {self.old_name} on {self.table.qname} is renamed to {self.new_name}",
            )
        ]

    def notes(self) -> list[str]:
        return ["Renaming an index locks only the index, and only the catalog changes"]


# --------------------------------------------------------------------------------- constraints


@dataclass(frozen=True)
class AttachConstraint(Change):
    """ADD CONSTRAINT ... USING INDEX: the index was built (and the keys checked) concurrently,
    so this step only records the constraint, under a brief ACCESS EXCLUSIVE lock."""

    table: Table
    after: PrimaryKey | UniqueConstraint
    leaf: bool = False  # a leaf partition's, for its parent's (changes/partkeys.py)
    sign = "+"

    phase = Phase.ADD_CONSTRAINT

    @property
    def kind(self) -> str:
        return kind_of(self.after)

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.table.name, self.after.name or "")

    @property
    def target(self) -> str:
        return f"{self.after.name} on {self.table.qname}"

    def statements(self) -> list[sql.Composable]:
        c = self.after
        what = "PRIMARY KEY" if isinstance(c, PrimaryKey) else "UNIQUE"
        parts: list[sql.Composable] = [
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} " + what + " USING INDEX {}").format(
                table_name(self.table), Ident(c.name or ""), Ident(c.name or "")
            )
        ]
        if isinstance(c, UniqueConstraint):
            parts += deferrable(c)
        return [sql.SQL(" ").join(parts)]

    def reverse(self) -> Change:
        return DetachConstraint(self.table, self.after, leaf=self.leaf)

    def description(self) -> str:
        c = self.after
        what = "partition" if self.leaf else "table"
        return f"Add {kind_of(c)} {c.name} to {what} {self.table.qname} using index {c.name}"

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE"

    def notes(self) -> list[str]:
        return ["The index is built and its keys checked: attaching it only updates the catalog"]


@dataclass(frozen=True)
class DetachConstraint(DropConstraint):
    """DROP CONSTRAINT of an attached constraint (its index goes with it); its own inverse
    attaches again, so inverting twice gives back the same statements. A leaf partition's says
    IF EXISTS: the rollback's DROP of its parent's constraint, which comes first, drops it."""

    leaf: bool = False

    def statements(self) -> list[sql.Composable]:
        if not self.leaf:
            return super().statements()
        return [
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(
                table_name(self.table), Ident(self.before.name or "")
            )
        ]

    def reverse(self) -> Change:
        assert isinstance(self.before, (PrimaryKey, UniqueConstraint))
        return AttachConstraint(self.table, self.before, leaf=self.leaf)

    def description(self) -> str:
        if not self.leaf:
            return super().description()
        return (
            f"Drop {kind_of(self.before)} {self.before.name} from partition {self.table.qname} "
            "if dropping its parent's left it"
        )


@dataclass(frozen=True)
class ValidateConstraint(Change):
    """VALIDATE CONSTRAINT after ADD ... NOT VALID: existing rows are checked under SHARE UPDATE
    EXCLUSIVE (plus ROW SHARE on a referenced table), so reads and writes continue. It runs in a
    transaction of its own, so it never holds the lock of the ADD before it. `not_null_of` names
    the column whose SET NOT NULL this check prepares."""

    table: Table
    constraint: CheckConstraint | ForeignKey
    referenced_new: bool = False
    not_null_of: str | None = None
    sign = "~"
    own_transaction = True

    @property
    def phase(self) -> int:  # type: ignore[override]
        if isinstance(self.constraint, ForeignKey):
            return Phase.ADD_FOREIGN_KEY
        return Phase.ALTER_COLUMN if self.not_null_of is not None else Phase.ADD_CONSTRAINT

    @property
    def kind(self) -> str:
        return kind_of(self.constraint)

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.table.name, self.constraint.name, "validate")

    @property
    def target(self) -> str:
        return f"{self.constraint.name} on {self.table.qname}"

    def statements(self) -> list[sql.Composable]:
        return [
            sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(
                table_name(self.table), Ident(self.constraint.name)
            )
        ]

    def reverse(self) -> Change:
        return NothingToUndo(self)

    def description(self) -> str:
        c, t = self.constraint, self.table.qname
        if self.not_null_of is not None:
            return f"Validate helper check {c.name}: no NULL in {t}.{self.not_null_of}"
        return f"Validate {kind_of(c)} {c.name} on table {t}"

    def lock(self) -> LockMode | None:
        return "SHARE UPDATE EXCLUSIVE"

    def tables(self) -> tuple[str, ...]:
        out = [table_name(self.table).as_string(None)]
        c = self.constraint
        if isinstance(c, ForeignKey) and not self.referenced_new:
            out.append(obj(c.referenced_schema, c.referenced_table).as_string(None))
        return tuple(dict.fromkeys(out))

    def hazards(self) -> list[Hazard]:
        c, t = self.constraint, self.table.qname
        if self.not_null_of is not None:
            where = f"{t}.{self.not_null_of}"
            return [hazard("LP202", f"SET NOT NULL on {where} fails if any row holds NULL there")]
        if isinstance(c, ForeignKey):
            ref = obj(c.referenced_schema, c.referenced_table).as_string(None)
            return [
                hazard(
                    "LP205", f"Foreign key {c.name} fails if {t} has rows with no match in {ref}"
                )
            ]
        return [hazard("LP204", f"Check {c.name} fails if an existing row of {t} violates it")]

    def notes(self) -> list[str]:
        return [
            "VALIDATE CONSTRAINT takes SHARE UPDATE EXCLUSIVE: reads and writes continue while "
            "existing rows are checked"
        ]


@dataclass(frozen=True)
class AddNotNullCheck(AddConstraint):
    """The NOT VALID `CHECK (col IS NOT NULL)` that lets SET NOT NULL skip its scan."""

    column: str = ""

    def reverse(self) -> Change:
        return DropNotNullCheck(self.table, self.after, column=self.column)

    def description(self) -> str:
        return (
            f"Add helper check {self.after.name} ({self.column} IS NOT NULL) to table "
            f"{self.table.qname} (NOT VALID), so SET NOT NULL needs no scan"
        )


@dataclass(frozen=True)
class DropNotNullCheck(DropConstraint):
    """The helper check goes once NOT NULL holds; its inverse re-adds it NOT VALID (cheap), which
    is all the rollback's next step, DROP NOT NULL, needs."""

    column: str = ""
    incidental: bool = True

    def reverse(self) -> Change:
        return AddNotNullCheck(self.table, self.before, column=self.column)

    def description(self) -> str:
        return f"Drop helper check {self.before.name} from table {self.table.qname}"

    def notes(self) -> list[str]:
        return ["The check is redundant once the column is NOT NULL"]


@dataclass(frozen=True)
class SetNotNullChecked(SetNullable):
    """SET NOT NULL once a validated check proves the column holds no NULL: no scan."""

    def hazards(self) -> list[Hazard]:
        return super().hazards() if self.after.nullable else []

    def notes(self) -> list[str]:
        if self.after.nullable:
            return super().notes()
        return ["A validated CHECK (col IS NOT NULL) lets SET NOT NULL skip the scan"]


# ------------------------------------------------------------------------------------- rewrite


_WORD = re.compile(r'"((?:[^"]|"")*)"|([A-Za-z_][A-Za-z0-9_$]*)')


def _words(text: str | None) -> set[str]:
    """Names an expression may mention: quoted ones exactly, bare ones folded to lower case."""
    return {
        quoted.replace('""', '"') if quoted else bare.lower()
        for quoted, bare in _WORD.findall(text or "")
    }


def _columns_used(index: Index) -> set[str]:
    """Every column the index may depend on; expressions are read generously (any word that is
    a column name counts), which only ever picks the safe drop-first order."""
    out = set(index.include) | _words(index.where)
    for key in index.columns:
        if isinstance(key, str):
            out.add(key)
        elif key.column is not None:
            out.add(key.column)
        else:
            out |= _words(key.expression)
    return out


@dataclass(frozen=True)
class _Context:
    """What the rewrite of one change needs to know about the others."""

    unstable: dict[tuple[str, str], set[str]]  # columns each table drops or retypes
    replaced: dict[tuple[str, str], DropIndex]  # index (schema, name) -> the drop of its old form
    expand: tuple[Schema, Schema] | None = None  # (old, new): retype through expand/contract

    @classmethod
    def of(cls, changes: Sequence[Change], expand: tuple[Schema, Schema] | None = None) -> _Context:
        unstable: dict[tuple[str, str], set[str]] = {}
        replaced: dict[tuple[str, str], DropIndex] = {}
        for c in changes:
            if isinstance(c, (DropColumn, AlterColumnType)):
                column = c.before.name
                unstable.setdefault((c.table.schema_, c.table.name), set()).add(column)
            elif isinstance(c, ReplaceEnum):
                for e in c.columns:
                    unstable.setdefault((e.table.schema_, e.table.name), set()).add(e.column)
            elif isinstance(c, DropIndex) and c.replaced and not c.table_dropped:
                replaced[(c.table.schema_, c.before.name)] = c
        return cls(unstable, replaced, expand)

    def swappable(self, drop: DropIndex) -> bool:
        """Whether the old index can stay until its replacement is built."""
        moving = self.unstable.get((drop.table.schema_, drop.table.name), set())
        return not (_columns_used(drop.before) & moving)


def not_null_dance(change: SetNullable) -> list[Change]:
    """SET NOT NULL through a validated CHECK (col IS NOT NULL), which lets it skip its scan."""
    t, column = change.table, change.after.name
    check = CheckConstraint(
        name=temp_name(f"{t.name}_{column}", "lp_not_null"),
        expression=f"{col(column).as_string(None)} IS NOT NULL",
    )
    loose = check.model_copy(update={"not_valid": True})
    return [
        AddNotNullCheck(t, loose, column=column),
        ValidateConstraint(t, check, not_null_of=column),
        SetNotNullChecked(t, change.before, change.after),
        DropNotNullCheck(t, loose, column=column),
    ]


def _attachable(table: Table, c: PrimaryKey | UniqueConstraint) -> bool:
    if not c.name:
        return False
    if isinstance(c, PrimaryKey):
        columns = [table.column(name) for name in c.columns]
        return all(x is not None and not x.nullable for x in columns)
    return True


def _constraint_forms(change: AddConstraint) -> list[Change]:
    c, t = change.after, change.table
    if isinstance(c, (CheckConstraint, ForeignKey)):
        loose = c.model_copy(update={"not_valid": True})
        return [
            AddConstraint(t, loose, referenced_new=change.referenced_new),
            ValidateConstraint(t, c, referenced_new=change.referenced_new),
        ]
    if not _attachable(t, c):
        return [change]
    return [CreateIndexConcurrently(t, key_index(c), constraint=c), AttachConstraint(t, c)]


def key_index(c: PrimaryKey | UniqueConstraint) -> Index:
    """The unique index a key constraint is attached to, named as the constraint."""
    return Index(
        name=c.name or "",
        columns=c.columns,
        unique=True,
        nulls_not_distinct=isinstance(c, UniqueConstraint) and c.nulls_not_distinct,
    )


def _attach_forms(change: AttachPartition) -> list[Change]:
    """ATTACH PARTITION without its scan under ACCESS EXCLUSIVE: a CHECK copying the bound is
    added NOT VALID and validated (SHARE UPDATE EXCLUSIVE), the attach then proves the rows fit
    from it, and the check, redundant with the partition constraint, goes."""
    expression = bound_check(change.table, change.parent)
    if expression is None:
        return [change]
    t = change.table
    check = CheckConstraint(name=temp_name(f"{t.name}_bound", "lp_attach"), expression=expression)
    loose = check.model_copy(update={"not_valid": True})
    return [
        AddConstraint(t, loose),
        ValidateConstraint(t, check),
        AttachPartitionChecked(t, change.parent, default=change.default),
        DropConstraint(t, loose, incidental=True),
    ]


def _forms(change: Change, ctx: _Context) -> list[Change]:
    if isinstance(change, AlterColumnType) and ctx.expand is not None:
        from .expand import expand_forms  # it builds on this module's forms

        parts = expand_forms(change, *ctx.expand)
        if parts != [change]:
            return [form for part in parts for form in _forms(part, ctx)]
    if isinstance(change, AddColumn) and needs_backfill(change):
        return [form for part in backfill_forms(change) for form in _forms(part, ctx)]
    if isinstance(change, DetachPartition):
        return online_detach(change)
    if type(change) is AttachPartition:
        return _attach_forms(change)
    if isinstance(change, AddForeignKeyToPartitioned):
        return [change]
    if isinstance(change, CreatePartitionedIndex):
        return online_partitioned_index(change)
    if isinstance(change, CreatePartitionedKey):
        return online_partitioned_key(change)
    if isinstance(change, SetPartitionedNotNull):
        return online_partitioned_not_null(change)
    if getattr(getattr(change, "table", None), "partition_by", None) is not None:
        # Postgres refuses CONCURRENTLY on a partitioned table and NOT VALID foreign keys on one
        # (before 18): its indexes and constraints are built in one step, under the blocking
        # lock their hazards name.
        return [change]
    if isinstance(change, CreateIndex) and not change.new_table:
        drop = ctx.replaced.get((change.table.schema_, change.after.name))
        if drop is not None and ctx.swappable(drop):
            name = change.after.name
            temporary = change.after.model_copy(update={"name": temp_name(name, "lp_new")})
            return [
                CreateIndexConcurrently(change.table, temporary, replaces=name),
                DropIndexConcurrently(drop.table, drop.before, replaced=True),
                RenameIndex(change.table, temporary.name, name),
            ]
        return [CreateIndexConcurrently(change.table, change.after)]
    if isinstance(change, DropIndex) and not change.table_dropped:
        if change.replaced and ctx.swappable(change):
            return []  # the replacement's own forms drop it, once the new index is built
        return [DropIndexConcurrently(change.table, change.before, replaced=change.replaced)]
    if isinstance(change, AddConstraint) and not change.new_table:
        if getattr(change.after, "not_valid", False):
            return [change]
        return _constraint_forms(change)
    if isinstance(change, SetNullable) and change.before.nullable and not change.after.nullable:
        return not_null_dance(change)
    return [change]


def online_forms(
    changes: Sequence[Change], expand: tuple[Schema, Schema] | None = None
) -> list[tuple[Change, list[Change]]]:
    """Each change with the changes that carry it out online, in order (often just itself);
    with `expand` (the old and new schema), rewriting type changes go through expand/contract."""
    ctx = _Context.of(changes, expand)
    return [(c, _forms(c, ctx)) for c in changes]
