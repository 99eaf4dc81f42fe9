"""Partitions appearing, disappearing, and moving in and out of their partitioned table.

A partitioned table itself is created by `CreateTable` (its key is part of CREATE TABLE); here
are its partitions. A partition is created after its parent (CREATE_PARTITION, sub-partitions
after the partition they belong to) and dropped before it; a bound that changes is a detach and an
attach. Changes to the parent (columns, constraints, indexes) recurse to the partitions in
Postgres, so each of them locks the partitions too: `cover_partitions` adds them to the steps.

Locks (PostgreSQL docs, CREATE TABLE and ALTER TABLE): CREATE TABLE ... PARTITION OF and a plain
DETACH PARTITION take ACCESS EXCLUSIVE on the parent; ATTACH PARTITION takes SHARE UPDATE
EXCLUSIVE on the parent and ACCESS EXCLUSIVE on the attached table and on the default partition,
both of which it scans; DETACH PARTITION CONCURRENTLY takes SHARE UPDATE EXCLUSIVE, runs outside
a transaction, and is refused when the parent has a default partition.

Online forms (chosen in online.py): a detach runs CONCURRENTLY when it may, then drops the CHECK
Postgres leaves behind; an attach first adds a CHECK copying the bound NOT VALID and validates it,
so ATTACH proves the rows fit without its scan, then drops it. Creating a partition of an existing
table stays CREATE TABLE ... PARTITION OF (ACCESS EXCLUSIVE on the parent, briefly).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from ..errors import PlanError
from ..model import ForeignKey, Schema, Table
from ..plan import Hazard, LockMode, Step
from ..sqlnames import Ident, col, obj
from .base import Change, ObjectChange, Phase, data_loss, hazard
from .constraint import AddConstraint
from .ddl import constraint_def, table_name
from .table import _comments


def _names(*tables: Table | None) -> tuple[str, ...]:
    return tuple(table_name(t).as_string(None) for t in tables if t is not None)


def _partition_by(t: Table) -> sql.Composable:
    return (
        sql.SQL(" PARTITION BY {}").format(sql.SQL(t.partition_by))
        if t.partition_by
        else sql.SQL("")
    )


@dataclass(frozen=True)
class CreatePartition(ObjectChange):
    """CREATE TABLE x PARTITION OF p (own constraints) FOR VALUES ... [PARTITION BY ...].

    `parent_new`: the parent is created by this plan (nothing existing is locked). `default`: the
    parent's existing default partition, which Postgres scans for rows that belong here."""

    after: Table
    parent: Table
    depth: int = 1
    parent_new: bool = False
    default: Table | None = None
    phase = Phase.CREATE_PARTITION
    sign = "+"
    kind = "partition"

    @property
    def subject(self) -> Any:
        return self.after

    def key(self) -> tuple[str, ...]:
        return (f"{self.depth:02d}", self.after.schema_, self.after.name)

    def statements(self) -> list[sql.Composable]:
        t = self.after
        constraints = [t.primary_key, *t.unique_constraints, *t.check_constraints]
        items = [constraint_def(c) for c in constraints if c is not None]
        own = sql.SQL(" ({})").format(sql.SQL(", ").join(items)) if items else sql.SQL("")
        create = sql.SQL("CREATE TABLE {} PARTITION OF {}{} {}{}").format(
            table_name(t),
            table_name(self.parent),
            own,
            sql.SQL(t.partition_bound or ""),
            _partition_by(t),
        )
        return [create, *_comments(t)]

    def reverse(self) -> Change:
        return DropPartition(self.after, self.parent, self.depth, parent_new=self.parent_new)

    def description(self) -> str:
        return f"Create partition {self.after.qname} of {self.parent.qname}"

    def lock(self) -> LockMode | None:
        return None if self.parent_new else "ACCESS EXCLUSIVE"

    def tables(self) -> tuple[str, ...]:
        """The parent, its default partition, and the tables the parent's foreign keys reference:
        cloning a foreign key onto the partition locks those (SHARE ROW EXCLUSIVE)."""
        if self.parent_new:
            return ()
        refs = {
            obj(f.referenced_schema, f.referenced_table).as_string(None)
            for f in self.parent.foreign_keys
        }
        named = _names(self.parent, self.default)
        return named + tuple(sorted(refs - set(named)))

    def hazards(self) -> list[Hazard]:
        if self.parent_new:
            return []
        out = [
            hazard(
                "LP320",
                f"CREATE TABLE ... PARTITION OF takes an ACCESS EXCLUSIVE lock on "
                f"{self.parent.qname}: its queries wait",
            )
        ]
        if self.default is not None:
            d = self.default.qname
            out += [
                hazard(
                    "LP320",
                    f"The default partition {d} is scanned for rows of the new partition under "
                    "ACCESS EXCLUSIVE",
                ),
                hazard("LP204", f"Creating the partition fails if {d} holds rows of its bound"),
            ]
        return out

    def notes(self) -> list[str]:
        return [f"Table {self.parent.qname} is created by this plan: the partition is instant"]


@dataclass(frozen=True)
class DropPartition(ObjectChange):
    """DROP TABLE of a partition: before its parent's drop (sub-partitions first), so the
    rollback creates the parent before its partitions. `parent_new`: the plan drops the parent
    too, so the rollback creates this partition on a parent it has just created."""

    before: Table
    parent: Table
    depth: int = 1
    parent_new: bool = False
    phase = Phase.DROP_TABLE
    sign = "-"
    kind = "partition"

    @property
    def subject(self) -> Any:
        return self.before

    def key(self) -> tuple[str, ...]:
        return ("", f"{99 - self.depth:02d}", self.before.schema_, self.before.name)

    def statements(self) -> list[sql.Composable]:
        return [sql.SQL("DROP TABLE {}").format(table_name(self.before))]

    def reverse(self) -> Change:
        return CreatePartition(self.before, self.parent, self.depth, parent_new=self.parent_new)

    def description(self) -> str:
        return f"Drop partition {self.before.qname} of {self.parent.qname}"

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE"

    def tables(self) -> tuple[str, ...]:
        return _names(self.before, self.parent)

    def hazards(self) -> list[Hazard]:
        return data_loss("LP102", f"partition {self.before.qname}")


@dataclass(frozen=True)
class AttachPartition(Change):
    """ALTER TABLE p ATTACH PARTITION x FOR VALUES ...: x is scanned (unless a validated CHECK
    implies the bound) under ACCESS EXCLUSIVE, and so is the default partition."""

    table: Table  # the partition as the target document has it
    parent: Table
    default: Table | None = None
    phase = Phase.ATTACH_PARTITION
    sign = "~"
    kind = "partition"

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.table.name)

    @property
    def target(self) -> str:
        return self.table.qname

    def detail(self) -> str:
        return f"attached to {self.parent.qname} {self.table.partition_bound}"

    def statements(self) -> list[sql.Composable]:
        return [
            sql.SQL("ALTER TABLE {} ATTACH PARTITION {} {}").format(
                table_name(self.parent),
                table_name(self.table),
                sql.SQL(self.table.partition_bound or ""),
            )
        ]

    def reverse(self) -> Change:
        return DetachPartition(self.table, self.parent, default=self.default)

    def description(self) -> str:
        return (
            f"Attach {self.table.qname} to {self.parent.qname} as partition "
            f"{self.table.partition_bound}"
        )

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE"

    def tables(self) -> tuple[str, ...]:
        return _names(self.parent, self.table, self.default)

    def hazards(self) -> list[Hazard]:
        t = self.table.qname
        return [
            hazard(
                "LP320",
                f"ATTACH PARTITION scans {t} under ACCESS EXCLUSIVE to check its rows fit the bound",
            ),
            hazard("LP204", f"ATTACH PARTITION fails if a row of {t} is outside the bound"),
            *self._default_scan(),
        ]

    def _default_scan(self) -> list[Hazard]:
        if self.default is None:
            return []
        d = self.default.qname
        return [
            hazard(
                "LP320",
                f"The default partition {d} is scanned under ACCESS EXCLUSIVE for rows of the "
                "attached bound",
            ),
            hazard("LP204", f"ATTACH PARTITION fails if {d} holds rows of the attached bound"),
        ]


@dataclass(frozen=True)
class DetachPartition(Change):
    """ALTER TABLE p DETACH PARTITION x: ACCESS EXCLUSIVE on the parent, no scan."""

    table: Table  # the partition as the source document has it
    parent: Table
    default: Table | None = None
    phase = Phase.DETACH_PARTITION
    sign = "~"
    kind = "partition"

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.table.name)

    @property
    def target(self) -> str:
        return self.table.qname

    def detail(self) -> str:
        return f"detached from {self.parent.qname}"

    def statements(self) -> list[sql.Composable]:
        return [
            sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(
                table_name(self.parent), table_name(self.table)
            )
        ]

    def reverse(self) -> Change:
        return AttachPartition(self.table, self.parent, default=self.default)

    def description(self) -> str:
        return f"Detach partition {self.table.qname} from {self.parent.qname}"

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE"

    def tables(self) -> tuple[str, ...]:
        return _names(self.parent, self.table, self.default)

    def hazards(self) -> list[Hazard]:
        why = (
            "it has a default partition, so CONCURRENTLY is not allowed"
            if self.default is not None
            else "online plans detach CONCURRENTLY instead"
        )
        return [
            hazard(
                "LP320",
                f"DETACH PARTITION takes an ACCESS EXCLUSIVE lock on {self.parent.qname} ({why})",
            ),
            self._detached(),
        ]

    def _detached(self) -> Hazard:
        return hazard(
            "LP420",
            f"Queries on {self.parent.qname} stop seeing the rows of {self.table.qname}",
        )


@dataclass(frozen=True)
class DetachPartitionConcurrently(DetachPartition):
    """DETACH PARTITION ... CONCURRENTLY: SHARE UPDATE EXCLUSIVE, in two transactions of its
    own (so outside any). Its inverse runs alone too, as a plain ATTACH."""

    transactional = False

    def statements(self) -> list[sql.Composable]:
        return [
            sql.SQL("ALTER TABLE {} DETACH PARTITION {} CONCURRENTLY").format(
                table_name(self.parent), table_name(self.table)
            )
        ]

    def reverse(self) -> Change:
        return AttachPartitionAlone(self.table, self.parent, default=self.default)

    def lock(self) -> LockMode | None:
        return "SHARE UPDATE EXCLUSIVE"

    def hazards(self) -> list[Hazard]:
        return [
            self._detached(),
            hazard(
                "LP420",
                f"DETACH PARTITION {self.table.qname} CONCURRENTLY waits for every transaction "
                f"using {self.parent.qname}; if it is interrupted, run ALTER TABLE "
                f"{self.parent.qname} DETACH PARTITION {self.table.qname} FINALIZE",
            ),
        ]

    def notes(self) -> list[str]:
        return ["CONCURRENTLY: queries on the partitioned table continue (SHARE UPDATE EXCLUSIVE)"]


@dataclass(frozen=True)
class AttachPartitionAlone(AttachPartition):
    """The inverse of a concurrent detach: the same ATTACH, run alone in autocommit."""

    transactional = False

    def reverse(self) -> Change:
        return DetachPartitionConcurrently(self.table, self.parent, default=self.default)


@dataclass(frozen=True)
class DropDetachCheck(Change):
    """DETACH ... CONCURRENTLY leaves a CHECK copying the partition constraint on the detached
    table, named as Postgres names an unnamed check (see `detach_check_name`); it goes. Its
    inverse runs nothing: the rollback's ATTACH does not need it back."""

    table: Table
    name: str
    phase = Phase.DETACH_PARTITION
    sign = "-"
    kind = "check constraint"

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.table.name, self.name)

    @property
    def target(self) -> str:
        return f"{self.name} on {self.table.qname}"

    def statements(self) -> list[sql.Composable]:
        return [
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(
                table_name(self.table), Ident(self.name)
            )
        ]

    def reverse(self) -> Change:
        return KeepDetachCheck(self.table, self.name)

    def description(self) -> str:
        return f"Drop the check {self.name} that DETACH CONCURRENTLY added to {self.table.qname}"

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE"

    def notes(self) -> list[str]:
        return ["A catalog-only change on the table just detached: no scan"]


@dataclass(frozen=True)
class KeepDetachCheck(DropDetachCheck):
    """The inverse of `DropDetachCheck`: a step that runs nothing (a comment)."""

    def statements(self) -> list[sql.Composable]:
        return [sql.SQL("-- nothing to undo: the check DETACH CONCURRENTLY added is not needed")]

    def reverse(self) -> Change:
        return DropDetachCheck(self.table, self.name)

    def description(self) -> str:
        return f"Nothing to undo for the check {self.name} on {self.table.qname}"

    def lock(self) -> LockMode | None:
        return None

    def notes(self) -> list[str]:
        return ["Runs nothing"]


_BARE = re.compile(r"^(?:RANGE|LIST|HASH) \(([a-z_][a-z0-9_$]*)\)$")


def detach_check_name(partition: Table, parent: Table) -> str | None:
    """The name Postgres gives the check DETACH CONCURRENTLY adds (an unnamed check over one
    column: `<table>_<column>_check`), when the key is one plain column and the name fits
    without truncation; None otherwise (the detach then stays plain)."""
    m = _BARE.match(parent.partition_by or "")
    if m is None:
        return None
    name = f"{partition.name}_{m.group(1)}_check"
    taken = {c.name for c in partition.check_constraints}
    return name if len(name.encode()) <= 63 and name not in taken else None


_RANGE = re.compile(r"^FOR VALUES FROM \((.+)\) TO \((.+)\)$")
_LIST = re.compile(r"^FOR VALUES IN \((.+)\)$")


def bound_check(table: Table, parent: Table) -> str | None:
    """A CHECK expression equal to the partition constraint of `table`'s bound, from which
    ATTACH PARTITION can prove the rows fit without scanning them: for a key of one plain column
    and a RANGE bound or a LIST bound without NULL; None otherwise (the attach then scans)."""
    key = _BARE.match(parent.partition_by or "")
    bound = table.partition_bound or ""
    if key is None:
        return None
    column = col(key.group(1)).as_string(None)
    if (m := _RANGE.match(bound)) is not None:
        parts = [f"{column} IS NOT NULL"]
        low, high = m.groups()
        if low != "MINVALUE":
            parts.append(f"{column} >= {low}")
        if high != "MAXVALUE":
            parts.append(f"{column} < {high}")
        return " AND ".join(parts)
    if (m := _LIST.match(bound)) is not None and not re.search(r"\bNULL\b", m.group(1)):
        return f"{column} IS NOT NULL AND {column} = ANY (ARRAY[{m.group(1)}])"
    return None


@dataclass(frozen=True)
class AttachPartitionChecked(AttachPartition):
    """ATTACH once a validated CHECK implies the bound: Postgres skips the scan of the table;
    only the default partition, if any, is still scanned."""

    def hazards(self) -> list[Hazard]:
        return self._default_scan()

    def notes(self) -> list[str]:
        return ["A validated CHECK matching the bound lets ATTACH PARTITION skip the scan"]


def online_detach(change: DetachPartition) -> list[Change]:
    """The online form of a detach: CONCURRENTLY, then the check it leaves dropped; plain when
    the parent has a default partition (Postgres refuses CONCURRENTLY then), or when the name of
    that check cannot be known (see `detach_check_name`)."""
    name = detach_check_name(change.table, change.parent)
    if type(change) is not DetachPartition or change.default is not None or name is None:
        return [change]
    return [
        DetachPartitionConcurrently(change.table, change.parent),
        DropDetachCheck(change.table, name),
    ]


def partition_changes(old: Schema, new: Schema, o: Table | None, n: Table | None) -> list[Change]:
    """Create, drop, attach or detach `o`/`n` (the same table in the old and new document, None
    where it is absent) as their partition fields say; [] when these do not change."""
    out: list[Change] = []
    if o is not None and o.partition_of is not None:
        o_parent = old.parent(o)
        assert o_parent is not None  # Schema validation: a partition's parent is in the document
        moved = n is None or (n.partition_of, n.partition_bound) != (
            o.partition_of,
            o.partition_bound,
        )
        if n is None:
            parent_dropped = new.table(o_parent.schema_, o_parent.name) is None
            out.append(
                DropPartition(o, o_parent, old.partition_depth(o), parent_new=parent_dropped)
            )
        elif moved:
            out.append(DetachPartition(o, o_parent, default=default_partition(old, o_parent, o)))
    if n is not None and n.partition_of is not None:
        n_parent = new.parent(n)
        assert n_parent is not None
        parent_new = old.table(n_parent.schema_, n_parent.name) is None
        if o is None:
            default = None if parent_new else default_partition(old, n_parent, n)
            out.append(
                CreatePartition(
                    n, n_parent, new.partition_depth(n), parent_new=parent_new, default=default
                )
            )
        elif (o.partition_of, o.partition_bound) != (n.partition_of, n.partition_bound):
            out.append(AttachPartition(n, n_parent, default=default_partition(old, n_parent, n)))
    return out


def default_partition(schema: Schema, parent: Table, besides: Table) -> Table | None:
    """The default partition of `parent` in `schema`, other than `besides` itself."""
    return next(
        (
            t
            for t in schema.tables
            if t.partition_of == parent.qname
            and t.partition_bound == "DEFAULT"
            and (t.schema_, t.name) != (besides.schema_, besides.name)
        ),
        None,
    )


class PartitionCover:
    """Adds to each step the partitions of the partitioned tables it locks: ALTER TABLE, CREATE
    INDEX and the like recurse to them, so blocker checks and the shadow proof must know them.
    Partitions come from both documents (the rollback runs against the target one)."""

    def __init__(self, old: Schema, new: Schema) -> None:
        self.children: dict[str, set[str]] = {}
        for schema in (old, new):
            sql_names = {t.qname: table_name(t).as_string(None) for t in schema.tables}
            for t in schema.tables:
                if t.partition_of is not None and t.partition_of in sql_names:
                    parent = sql_names[t.partition_of]
                    self.children.setdefault(parent, set()).add(sql_names[t.qname])

    def below(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """Every partition, at any depth, of the tables named (as SQL names them)."""
        out: list[str] = []
        todo = [n for n in names if n in self.children]
        while todo:
            for child in sorted(self.children.get(todo.pop(), ())):
                out.append(child)
                todo.append(child)
        return tuple(out)

    def __call__(self, step: Step) -> Step:
        extra, extra_reverse = self.below(step.tables), self.below(step.reverse_tables)
        if not extra and not extra_reverse:
            return step
        return step.model_copy(
            update={
                "tables": tuple(dict.fromkeys(step.tables + extra)),
                "reverse_tables": tuple(dict.fromkeys(step.reverse_tables + extra_reverse)),
            }
        )


def _nameless(item: Any) -> Any:
    return item.model_copy(update={"name": ""})


def compared(old: Schema, new: Schema, o: Table, n: Table) -> tuple[Table, Table]:
    """The two forms of a table whose own columns, constraints and indexes the diff compares.

    A partition lists only what is its own. Attached, a plain table's columns become its new
    parent's, and its keys and indexes that match the parent's (by definition, whatever their
    name) are absorbed by them; detached, a partition keeps copies of its parent's columns, keys,
    checks and indexes, which the target document must list (by definition; the names Postgres
    gave them cannot be known here, so they are taken from the target document)."""
    if o.partition_by != n.partition_by:
        raise PlanError(
            f"table {n.qname}: changing its partitioning ({o.partition_by or 'none'} → "
            f"{n.partition_by or 'none'}) needs a copy of its data into a new table; do it by "
            "hand, then plan again"
        )
    o_parent, n_parent = old.parent(o), new.parent(n)
    if o_parent is None and n_parent is not None:
        inherited = new.effective_columns(n)
        if [(c.name, c.type) for c in o.columns] != [(c.name, c.type) for c in inherited]:
            raise PlanError(
                f"table {n.qname} cannot be attached to {n_parent.qname}: its columns (names, "
                "types and order) must be the partitioned table's"
            )
        return _without_inherited(o, n_parent), n
    if o_parent is not None and n_parent is None:
        released = _inherited_copies(o, o_parent, n)
        return released.model_copy(update={"columns": old.effective_columns(o)}), n
    return o, n


def _without_inherited(t: Table, parent: Table) -> Table:
    pk = t.primary_key
    if (
        pk is not None
        and parent.primary_key is not None
        and pk.columns == parent.primary_key.columns
    ):
        pk = None
    parents = {
        "unique_constraints": {_nameless(x) for x in parent.unique_constraints},
        "foreign_keys": {_nameless(x) for x in parent.foreign_keys},
        "indexes": {_nameless(x) for x in parent.indexes},
    }
    update: dict[str, Any] = {
        attr: tuple(x for x in getattr(t, attr) if _nameless(x) not in names)
        for attr, names in parents.items()
    }
    update["check_constraints"] = tuple(
        c for c in t.check_constraints if c not in parent.check_constraints
    )
    return t.model_copy(update={**update, "columns": (), "primary_key": pk})


def _inherited_copies(t: Table, parent: Table, target: Table) -> Table:
    """`t` (a partition) with the copies of its parent's keys, checks and indexes that it keeps
    when detached, named as `target` names them."""
    update: dict[str, Any] = {}
    if parent.primary_key is not None and t.primary_key is None:
        update["primary_key"] = parent.primary_key.model_copy(
            update={"name": f"{t.name}_pkey"[:63]}
        )
    for attr in ("unique_constraints", "foreign_keys", "indexes", "check_constraints"):
        items = list(getattr(t, attr))
        for item in getattr(parent, attr):
            named = next(
                (x for x in getattr(target, attr) if _nameless(x) == _nameless(item)), None
            )
            if named is None and attr == "check_constraints":
                named = item
            if named is None:
                raise PlanError(
                    f"partition {t.qname} keeps a copy of {item.name} of {parent.qname} when it "
                    "is detached: list it in the target document (under the name Postgres gave it)"
                )
            items.append(named)
        update[attr] = tuple(items)
    return t.model_copy(update=update)


@dataclass(frozen=True)
class AddForeignKeyToPartitioned(AddConstraint):
    """A foreign key referencing a partitioned table, added in one step: with NOT VALID +
    VALIDATE, Postgres (15) leaves the constraints it clones for each referenced partition
    NOT VALID."""


def plain_foreign_keys(changes: list[Change], new: Schema) -> list[Change]:
    """Mark the foreign keys added to existing tables that reference a partitioned table, so
    the online rewrite leaves them in one step."""
    partitioned = {(t.schema_, t.name) for t in new.tables if t.partition_by is not None}
    return [
        AddForeignKeyToPartitioned(c.table, c.after, c.new_table, c.referenced_new)
        if type(c) is AddConstraint
        and isinstance(c.after, ForeignKey)
        and (c.after.referenced_schema, c.after.referenced_table) in partitioned
        else c
        for c in changes
    ]
