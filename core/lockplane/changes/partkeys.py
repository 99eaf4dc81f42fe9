"""Unique constraints, primary keys and SET NOT NULL on a partitioned table, done online.

Postgres refuses CREATE INDEX CONCURRENTLY and ADD CONSTRAINT ... USING INDEX on a partitioned
table, and a plain ADD UNIQUE / PRIMARY KEY there builds every partition's index under SHARE
(ACCESS EXCLUSIVE on the table itself). But when a partition already holds a matching unique
index *with a constraint on it*, the parent's ADD CONSTRAINT attaches that one instead of
building (DefineIndex looks for it), and a sub-partitioned partition's index and constraint are
made in the catalog only. So the online form is:

1. each leaf partition's unique index, CREATE UNIQUE INDEX CONCURRENTLY (writes continue);
2. each leaf's constraint, ADD CONSTRAINT ... USING INDEX (ACCESS EXCLUSIVE on the leaf, a
   moment: the keys were checked by the build);
3. the parent's ADD CONSTRAINT: ACCESS EXCLUSIVE on it and SHARE on the partitions for a
   moment; every leaf index is attached as it is (same relfilenode), nothing is built.

The leaves' indexes get the names Postgres gives them when it recurses (`<partition>_pkey`,
`<partition>_<columns>_key`), so the result is the one the plain form leaves; where that name
cannot be known here (a key that is not a plain column, truncation, a name already taken), or
where the plan changes the table's partitions, the constraint stays in its plain form.

A primary key needs its columns NOT NULL: SET NOT NULL on a partitioned table (which the diff
plans before the key) runs the online SET NOT NULL of changes/online.py on each leaf (a helper
CHECK, NOT VALID, validated, lets SET NOT NULL skip its scan), then on the parent, which has
nothing left to scan.

Rollback: the parent's DROP CONSTRAINT drops the leaves' constraints and indexes with it (they
are attached), so the leaves' steps are undone by DROP CONSTRAINT IF EXISTS and DROP INDEX
CONCURRENTLY IF EXISTS, and a rollback from any point leaves none behind. The parent's DROP NOT
NULL comes before the leaves' (PG15 recurses it to them; PG18 leaves their own).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import Column, PrimaryKey, Schema, Table, UniqueConstraint
from ..plan import Hazard
from .base import Change
from .column import SetNullable
from .constraint import AddConstraint
from .partindex import MAX_NAME_BYTES, names_taken, stable_tree


@dataclass(frozen=True)
class CreatePartitionedKey(AddConstraint):
    """ADD UNIQUE / PRIMARY KEY on an existing partitioned table, as the plain form runs it,
    with the leaf partitions its online form builds on and the name of each one's index."""

    leaves: tuple[tuple[Table, str], ...] = ()


@dataclass(frozen=True)
class AttachPartitionKeys(AddConstraint):
    """The parent's ADD CONSTRAINT once every leaf holds a matching constraint: Postgres
    attaches them, and makes a sub-partitioned partition's in the catalog; nothing is built."""

    def hazards(self) -> list[Hazard]:
        return []

    def notes(self) -> list[str]:
        return [
            "Every leaf partition holds a matching constraint, built concurrently: Postgres "
            "attaches them (ACCESS EXCLUSIVE on the table, SHARE on its partitions, a moment) "
            "and builds nothing"
        ]


@dataclass(frozen=True)
class SetPartitionedNotNull(SetNullable):
    """SET NOT NULL on an existing partitioned table, as the plain form runs it (a scan of every
    partition under ACCESS EXCLUSIVE), with the leaves its online form sets it on first."""

    leaves: tuple[Table, ...] = ()


@dataclass(frozen=True)
class SetNotNullOverPartitions(SetNullable):
    """The parent's SET NOT NULL once every leaf is NOT NULL: nothing left to scan."""

    def reverse(self) -> Change:
        return SetNullable(self.table, self.after, self.before)

    def hazards(self) -> list[Hazard]:
        return []

    def notes(self) -> list[str]:
        return [
            "Every partition is NOT NULL already: the ACCESS EXCLUSIVE locks are held a moment, "
            "no row is read"
        ]


def online_partitioned_key(change: CreatePartitionedKey) -> list[Change]:
    """The steps of the module docstring, or the change itself when it has no leaves."""
    from .online import AttachConstraint, CreateIndexConcurrently, key_index  # imports us

    if not change.leaves:
        return [change]
    c = change.after
    assert isinstance(c, (PrimaryKey, UniqueConstraint))
    out: list[Change] = []
    attaches: list[Change] = []
    for leaf, name in change.leaves:
        mine = c.model_copy(update={"name": name})
        out.append(CreateIndexConcurrently(leaf, key_index(mine), constraint=mine))
        attaches.append(AttachConstraint(leaf, mine, leaf=True))
    return [*out, *attaches, AttachPartitionKeys(change.table, c)]


def online_partitioned_not_null(change: SetPartitionedNotNull) -> list[Change]:
    from .online import not_null_dance  # imports us

    if not change.leaves:
        return [change]
    out: list[Change] = []
    for leaf in change.leaves:
        out += not_null_dance(SetNullable(leaf, change.before, change.after))
    return [*out, SetNotNullOverPartitions(change.table, change.before, change.after)]


def _key_name(
    t: Table, c: PrimaryKey | UniqueConstraint, taken: set[tuple[str, str]]
) -> str | None:
    """The name Postgres gives `c`'s copy on partition `t` (ChooseIndexName for a constraint:
    `<table>_pkey`, or `<table>_<columns>_key`) when it fits without truncation and is free."""
    middle = "" if isinstance(c, PrimaryKey) else "_" + "_".join(c.columns)
    name = f"{t.name}{middle}_{'pkey' if isinstance(c, PrimaryKey) else 'key'}"
    if len(name.encode()) > MAX_NAME_BYTES or (t.schema_, name) in taken:
        return None
    taken.add((t.schema_, name))
    return name


def partitioned_keys(changes: list[Change], old: Schema, new: Schema) -> list[Change]:
    """Give each unique constraint or primary key added to an existing partitioned table, and
    each SET NOT NULL on one, the leaf partitions its online form works on."""
    out: list[Change] = []
    taken = names_taken(old) | names_taken(new)
    for c in changes:
        t = getattr(c, "table", None)
        if t is None or t.partition_by is None:
            out.append(c)
        elif type(c) is AddConstraint and not c.new_table and _is_key(c.after):
            tree = stable_tree(old, new, t)
            named = [(leaf, _key_name(leaf, c.after, taken)) for leaf in _leaves(tree)]
            ok = tree and all(n is not None for _, n in named)
            leaves = tuple((leaf, n) for leaf, n in named if n is not None) if ok else ()
            out.append(CreatePartitionedKey(t, c.after, leaves=leaves))
        elif type(c) is SetNullable and _sets_not_null(c.before, c.after):
            tree = stable_tree(old, new, t)
            out.append(SetPartitionedNotNull(t, c.before, c.after, leaves=_leaves(tree or [])))
        else:
            out.append(c)
    return out


def _is_key(c: object) -> bool:
    return isinstance(c, (PrimaryKey, UniqueConstraint)) and bool(c.name)


def _sets_not_null(before: Column, after: Column) -> bool:
    return before.nullable and not after.nullable


def _leaves(tree: list[tuple[Table, Table]] | None) -> tuple[Table, ...]:
    return tuple(t for t, _ in tree or () if t.partition_by is None)
