"""Indexes of a partitioned table, built online.

Postgres refuses CREATE INDEX CONCURRENTLY on a partitioned table, and a plain CREATE INDEX there
holds SHARE on every partition while it builds each partition's index. The online form builds
the same thing in steps that never block writes during a build:

1. each leaf partition's index, CREATE INDEX CONCURRENTLY (outside a transaction, alone);
2. the root's index, CREATE INDEX ... ON ONLY: catalog only, instant, INVALID until every
   partition's index is attached;
3. ALTER INDEX root_idx ATTACH PARTITION child_idx for each partition of the root; a
   sub-partitioned one's index is made in the same transaction (`CreateIndexOnlyAttached`). The
   last attach makes the root's index valid.

The partitions' indexes get the names Postgres gives them when it recurses
(`<partition>_<columns>_idx`), so the result is the one the plain form leaves; where that name
cannot be known here (expression keys, truncation, a name already taken), or where the plan
changes the table's partitions, the index stays in its plain form.

Rollback: an attach leaves nothing to undo by itself (Postgres has no DETACH for an index), nor
does a sub-partitioned partition's index (attached as it is created); the DROP INDEX of the
root's index drops every attached index with it, and each leaf's build is undone by DROP INDEX
CONCURRENTLY IF EXISTS, so a rollback from any point leaves none behind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from psycopg import sql

from ..errors import PlanError
from ..model import Index, Schema, Table
from ..plan import Hazard, LockMode
from ..sqlnames import obj
from .base import Change, NothingToUndo
from .constraint import CreateIndex, DropIndex
from .ddl import index_def, table_name

MAX_NAME_BYTES = 63
DROPPED_WITH_PARENT = "dropping the parent index drops the attached one"


@dataclass(frozen=True)
class CreatePartitionedIndex(CreateIndex):
    """A CREATE INDEX on an existing partitioned table, as the plain form runs it, with the tree
    its online form needs: each partition (any depth) with its parent and the name Postgres
    gives its index; empty when the online form is not possible (see the module docstring)."""

    tree: tuple[tuple[Table, Table, str], ...] = ()


@dataclass(frozen=True)
class CreateIndexOnly(CreateIndex):
    """CREATE INDEX ... ON ONLY a partitioned table: no partition is touched, no row read; the
    index is INVALID until every partition's index is attached. `root` names the top table."""

    root: Table | None = None

    def statements(self) -> list[sql.Composable]:
        return [index_def(self.table, self.after, only=True)]

    def reverse(self) -> Change:
        return DropIndexIfExists(self.table, self.after, root=self.root)

    def description(self) -> str:
        return f"Create index {self.after.name} on only {self.table.qname} (invalid until attached)"

    def lock(self) -> LockMode | None:
        return "SHARE"

    def tables(self) -> tuple[str, ...]:
        return (table_name(self.root or self.table).as_string(None),)

    def hazards(self) -> list[Hazard]:
        return []

    def notes(self) -> list[str]:
        return [
            "ON ONLY: a catalog change, instant; the partitions' indexes are built concurrently"
        ]


@dataclass(frozen=True)
class DropIndexIfExists(DropIndex):
    """The inverse of `CreateIndexOnly`: DROP INDEX IF EXISTS, which also drops the partitions'
    indexes attached to it."""

    root: Table | None = None

    def statements(self) -> list[sql.Composable]:
        name = obj(self.table.schema_, self.before.name)
        return [sql.SQL("DROP INDEX IF EXISTS {}").format(name)]

    def reverse(self) -> Change:
        return CreateIndexOnly(self.table, self.before, root=self.root)

    def tables(self) -> tuple[str, ...]:
        return (table_name(self.root or self.table).as_string(None),)


def _attach(parent: Table, parent_index: str, table: Table, index: str) -> sql.Composable:
    return sql.SQL("ALTER INDEX {} ATTACH PARTITION {}").format(
        obj(parent.schema_, parent_index), obj(table.schema_, index)
    )


@dataclass(frozen=True)
class AttachIndex(Change):
    """ALTER INDEX parent_idx ATTACH PARTITION child_idx: catalog only (no rows read); the
    attach that completes a level marks its parent index valid, up to the root's."""

    table: Table  # the partition
    parent: Table
    index: str
    parent_index: str
    root: Table
    phase = CreateIndex.phase
    sign = "~"
    kind = "index"

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.index)

    @property
    def target(self) -> str:
        return f"{self.index} on {self.table.qname}"

    def statements(self) -> list[sql.Composable]:
        return [_attach(self.parent, self.parent_index, self.table, self.index)]

    def reverse(self) -> Change:
        # Postgres cannot detach an index: dropping the parent's, the rollback's next step,
        # drops this one with it.
        return NothingToUndo(self, DROPPED_WITH_PARENT, "Runs nothing")

    def description(self) -> str:
        return f"Attach index {self.index} of {self.table.qname} to {self.parent_index}"

    def lock(self) -> LockMode | None:
        return "ACCESS SHARE"

    def tables(self) -> tuple[str, ...]:
        return (table_name(self.root).as_string(None),)

    def notes(self) -> list[str]:
        return [
            "A catalog change: no rows are read; the partition's index is locked for a moment "
            "(ACCESS EXCLUSIVE on the index only)"
        ]


@dataclass(frozen=True)
class CreateIndexOnlyAttached(CreateIndexOnly):
    """The index of a sub-partitioned partition of the root, in one transaction (catalog only:
    SHARE on the partitioned tables of the subtree for a moment): ON ONLY each
    partitioned table of its subtree, bottom up, each attaching its partitions' indexes (the
    leaves' are built already) so it is valid before it is attached above; the last statement
    attaches it to the root's index. It never exists unattached, so the rollback's DROP of the
    root's index always takes it (its inverse runs nothing); and since no index turns valid
    while attached below the root, Postgres locks nothing above it (PG15 takes ACCESS EXCLUSIVE
    on the grandparent when an attached index turns valid)."""

    parent_index: str = ""
    below: tuple[tuple[Table, Table, str], ...] = ()  # the subtree: partition, parent, index name

    def statements(self) -> list[sql.Composable]:
        assert self.root is not None
        top = _attach(self.root, self.parent_index, self.table, self.after.name)
        return [*self._level(self.table, self.after.name), top]

    def _level(self, t: Table, name: str) -> list[sql.Composable]:
        out = [index_def(t, self.after.model_copy(update={"name": name}), only=True)]
        for child, parent, child_name in self.below:
            if parent.qname == t.qname:
                if child.partition_by is not None:
                    out += self._level(child, child_name)
                out.append(_attach(t, name, child, child_name))
        return out

    def reverse(self) -> Change:
        # The rollback's DROP of the root's index, which comes next, drops this one with it.
        return NothingToUndo(self, DROPPED_WITH_PARENT, "Runs nothing")

    def description(self) -> str:
        return (
            f"Create index {self.after.name} on only {self.table.qname} and its partitions, "
            f"attach their indexes, then it to {self.parent_index}"
        )


def online_partitioned_index(change: CreatePartitionedIndex) -> list[Change]:
    """The steps of the module docstring, or the change itself when it has no tree."""
    from .online import CreateIndexConcurrently  # online imports this module

    if not change.tree:
        return [change]
    root, index = change.table, change.after
    named = {root.qname: index.name} | {t.qname: name for t, _, name in change.tree}

    def renamed(t: Table) -> Index:
        return index.model_copy(update={"name": named[t.qname]})

    leaves = [(t, p, n) for t, p, n in change.tree if t.partition_by is None]
    out: list[Change] = [CreateIndexConcurrently(t, renamed(t)) for t, _, _ in leaves]
    out.append(CreateIndexOnly(root, index, root=root))
    for t, p, n in change.tree:
        if p.qname != root.qname:
            continue
        if t.partition_by is None:
            out.append(AttachIndex(t, p, n, index.name, root))
        else:
            below = tuple(x for x in change.tree if _under(change.tree, x[0], t))
            out.append(
                CreateIndexOnlyAttached(
                    t, renamed(t), root=root, parent_index=index.name, below=below
                )
            )
    return out


def _under(tree: tuple[tuple[Table, Table, str], ...], table: Table, top: Table) -> bool:
    """Whether `table` is a partition of `top`, at any depth."""
    up = {t.qname: p.qname for t, p, _ in tree}
    at = up.get(table.qname)
    while at is not None and at != top.qname:
        at = up.get(at)
    return at == top.qname


_KEY = re.compile(r"^(?:RANGE|LIST|HASH) \((.*)\)$")
_PLAIN = re.compile(r"^[a-z_][a-z0-9_$]*$")


def _key_columns(t: Table) -> list[str] | None:
    """The partition key's columns when every key is a plain column; None otherwise."""
    m = _KEY.match(t.partition_by or "")
    if m is None:
        return None
    keys = [k.strip() for k in m.group(1).split(",")]
    return keys if all(_PLAIN.match(k) for k in keys) else None


def _check_unique(index: Index, tables: list[Table]) -> None:
    """Postgres refuses a unique index on a partitioned table whose keys do not include every
    partition key column (of each partitioned level): say so at plan time."""
    if not index.unique:
        return
    plain = {k for k in index.columns if isinstance(k, str)}
    for t in tables:
        keys = _key_columns(t)
        if keys is None or not set(keys) <= plain:
            raise PlanError(
                f"unique index {index.name} on partitioned table {tables[0].qname}: its columns "
                f"must include the partition key of {t.qname} ({t.partition_by}) as plain columns"
            )


def _tree(schema: Schema, root: Table) -> list[tuple[Table, Table]]:
    out: list[tuple[Table, Table]] = []
    todo = [root]
    while todo:
        parent = todo.pop()
        for t in schema.tables:
            if t.partition_of == parent.qname:
                out.append((t, parent))
                todo.append(t)
    return out


def stable_tree(old: Schema, new: Schema, root: Table) -> list[tuple[Table, Table]] | None:
    """The partitions (any depth) of an existing partitioned table, each with its parent, as
    the target has them; None when the plan adds, removes or moves any (or creates the table):
    an online form that works partition by partition needs them to stay put."""
    o = old.table(root.schema_, root.name)
    if o is None:
        return None
    tree = _tree(new, root)
    key = sorted((t.qname, p.qname, t.partition_bound) for t, p in tree)
    return (
        tree
        if sorted((t.qname, p.qname, t.partition_bound) for t, p in _tree(old, o)) == key
        else None
    )


def _child_name(t: Table, index: Index, taken: set[tuple[str, str]]) -> str | None:
    """The name Postgres gives `index`'s copy on partition `t` (ChooseIndexName: the table, the
    key and INCLUDE column names, `idx`), when every key is a column, the name fits without
    truncation and is free; None otherwise."""
    keys = [k if isinstance(k, str) else k.column for k in index.columns]
    columns = [*keys, *index.include]
    if None in columns or len(set(columns)) != len(columns):
        return None
    name = f"{t.name}_{'_'.join(str(c) for c in columns)}_idx"
    if len(name.encode()) > MAX_NAME_BYTES or (t.schema_, name) in taken:
        return None
    taken.add((t.schema_, name))
    return name


def names_taken(schema: Schema) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for t in schema.tables:
        out.add((t.schema_, t.name))
        out |= {(t.schema_, i.name) for i in t.indexes}
        out |= {(t.schema_, u.name) for u in t.unique_constraints}
        if t.primary_key is not None and t.primary_key.name:
            out.add((t.schema_, t.primary_key.name))
    return out


def partitioned_indexes(changes: list[Change], old: Schema, new: Schema) -> list[Change]:
    """Check the unique indexes of partitioned tables, and give each index created on an
    existing partitioned table the tree of partitions its online form builds on."""
    out: list[Change] = []
    taken = names_taken(old) | names_taken(new)
    for c in changes:
        if type(c) is not CreateIndex or c.table.partition_by is None:
            out.append(c)
            continue
        tree = _tree(new, c.table)
        _check_unique(c.after, [c.table, *(t for t, _ in tree if t.partition_by is not None)])
        if c.new_table:
            out.append(c)
            continue
        same = stable_tree(old, new, c.table) is not None
        triples = tuple((t, p, _child_name(t, c.after, taken)) for t, p in tree)
        online = same and triples and all(n is not None for _, _, n in triples)
        out.append(CreatePartitionedIndex(c.table, c.after, tree=triples if online else ()))
    return out
