"""Two schemas in, the typed changes between them out.

Objects pair up by schema-qualified name only (a rename is a drop and an add: Lockplane never
guesses). Each kind is compared with the same set arithmetic; what the changes mean, cost and
undo lives in `changes/`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from .changes.base import Change
from .changes.column import AlterColumnType, column_changes
from .changes.constraint import AddConstraint, CreateIndex, DropConstraint, DropIndex
from .changes.ddl import Constraint
from .changes.domains import (
    AddDomainCheck,
    CreateDomain,
    DropDomain,
    DropDomainCheck,
    SetDomainDefault,
    SetDomainNotNull,
    ValidateDomainCheck,
)
from .changes.objects import (
    AddEnumValues,
    AlterSequence,
    CreateEnum,
    CreateExtension,
    CreateSchema,
    CreateSequence,
    DropEnum,
    DropExtension,
    DropSchema,
    DropSequence,
    EnumColumn,
    ReplaceEnum,
    SetSequenceOwner,
    SetTableComment,
)
from .changes.partitions import compared, partition_changes, plain_foreign_keys
from .changes.table import (
    AddColumn,
    CreateTable,
    DropColumn,
    DropTable,
    SetLogged,
    attached,
    core,
)
from .errors import PlanError
from .model import (
    Domain,
    Enum,
    Extension,
    ForeignKey,
    Index,
    PrimaryKey,
    Schema,
    SequenceOwner,
    Table,
    UniqueConstraint,
)
from .sqlnames import obj

T = TypeVar("T")
K = TypeVar("K")


@dataclass(frozen=True)
class KindDiff:
    added: list[Any]
    dropped: list[Any]
    altered: list[tuple[Any, Any]]


def diff_kind(old: Mapping[K, T], new: Mapping[K, T]) -> KindDiff:
    return KindDiff(
        added=[new[k] for k in sorted(new.keys() - old.keys())],  # type: ignore[type-var]
        dropped=[old[k] for k in sorted(old.keys() - new.keys())],  # type: ignore[type-var]
        altered=[(old[k], new[k]) for k in sorted(old.keys() & new.keys()) if old[k] != new[k]],  # type: ignore[type-var]
    )


def _by(items: Iterable[T], key: Callable[[T], K]) -> dict[K, T]:
    return {key(i): i for i in items}


def _qualified(o: Any) -> tuple[str, str]:
    return (o.schema_, o.name)


@dataclass(frozen=True)
class Diff:
    """The changes between two schemas, unordered; `planner.make_plan` orders them."""

    old: Schema
    new: Schema
    changes: tuple[Change, ...]

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def rows(self) -> list[dict[str, str]]:
        """One row per change: what a table in a notebook or `lockplane diff` shows."""
        return [
            {"change": c.sign, "kind": c.kind, "object": c.target, "detail": c.detail()}
            for c in sorted(self.changes, key=lambda c: (c.kind, c.target, c.sign))
        ]

    def summary(self) -> str:
        if self.is_empty:
            return "No changes: the schemas are identical."
        lines = [
            f"{r['change']} {r['kind']} {r['object']}" + (f": {r['detail']}" if r["detail"] else "")
            for r in self.rows()
        ]
        return "\n".join(lines) + f"\n\n{len(lines)} change{'s' if len(lines) != 1 else ''}"

    def to_json(self) -> str:
        return json.dumps({"changes": self.rows()}, indent=2, ensure_ascii=False) + "\n"


def _refuse_dropping_unmanaged(old: Schema, new: Schema) -> None:
    """DROP TABLE takes a table's triggers and policies with it, and DROP SCHEMA would have to
    take whatever else lives there: a plan never drops what Lockplane does not manage."""
    for t in old.tables:
        if new.table(t.schema_, t.name) is not None:
            continue
        for u in old.unmanaged:
            if u.on == t.name and (u.schema_ or "public") == t.schema_:
                raise PlanError(
                    f"table {t.qname} is dropped by this plan, but it has {u.kind} {u.name!r}, which "
                    "Lockplane does not manage; drop that by hand first, or keep the table"
                )
    for name in set(old.schemas) - set(new.schemas):
        held = [u for u in old.unmanaged if u.schema_ == name]
        if held:
            raise PlanError(
                f"schema {name} is dropped by this plan, but it holds {held[0].kind} "
                f"{held[0].name!r}, which Lockplane does not manage; drop that by hand first"
            )


def diff(old: Schema, new: Schema) -> Diff:
    _refuse_dropping_unmanaged(old, new)
    changes: list[Change] = []
    changes += _schemas(old, new)
    changes += _extensions(old, new)
    enum_changes, enum_defaults = _enums(old, new)
    changes += enum_changes
    changes += _domains(old, new)
    changes += _sequences(old, new)
    changes += _tables(old, new, enum_defaults)
    return Diff(old, new, tuple(changes))


def _schemas(old: Schema, new: Schema) -> list[Change]:
    d = diff_kind({s: s for s in old.schemas}, {s: s for s in new.schemas})
    return [CreateSchema(s) for s in d.added] + [DropSchema(s) for s in d.dropped]


def _extensions(old: Schema, new: Schema) -> list[Change]:
    # A desired extension without a version accepts whatever version is installed.
    def same(o: Extension, n: Extension) -> Extension:
        return n if n.version is not None else n.model_copy(update={"version": o.version})

    olds = _by(old.extensions, lambda e: e.name)
    news = {
        k: same(olds[k], v) if k in olds else v
        for k, v in _by(new.extensions, lambda e: e.name).items()
    }
    d = diff_kind(olds, news)
    if d.altered:
        o, n = d.altered[0]
        raise PlanError(
            f"extension {n.name}: moving it ({o.schema_} → {n.schema_}) or changing its version "
            f"({o.version} → {n.version}) is not supported yet; do it by hand, then plan again"
        )
    return [CreateExtension(e) for e in d.added] + [DropExtension(e) for e in d.dropped]


def _enum_type_names(enum: Enum) -> tuple[str, str]:
    name = obj(enum.schema_, enum.name).as_string(None)
    return name, name + "[]"


def _enum_columns(
    old: Schema, new: Schema, enum: Enum, *, keep_defaults: bool
) -> tuple[EnumColumn, ...]:
    """The existing columns of this enum type; with `keep_defaults`, their defaults stay as they
    are, otherwise the replacement sets the target's default (see EnumColumn)."""
    scalar, array = _enum_type_names(enum)
    out = []
    for t in old.tables:
        for c in t.columns:
            if c.type not in (scalar, array):
                continue
            target = new.table(t.schema_, t.name)
            target_col = target.column(c.name) if target is not None else None
            after = c.default
            if not keep_defaults:
                after = (
                    target_col.default
                    if target_col is not None and target_col.type == c.type
                    else None
                )
            out.append(EnumColumn(core(t), c.name, c.type == array, c.default, after))
    return tuple(out)


def _uses_new_label(new: Schema, enum: Enum, added: list[str]) -> bool:
    """A default naming a label added by this plan cannot run in the same transaction as
    ALTER TYPE ... ADD VALUE (Postgres: "unsafe use of new value"), so such a change is a
    replacement instead."""
    names = _enum_type_names(enum)
    return any(
        f"'{label}'" in (c.default or "")
        for t in new.tables
        for c in t.columns
        if c.type in names
        for label in added
    )


def _enums(old: Schema, new: Schema) -> tuple[list[Change], set[tuple[str, str, str]]]:
    """The enum changes, and the columns whose default a replacement takes care of."""
    d = diff_kind(_by(old.enums, _qualified), _by(new.enums, _qualified))
    out: list[Change] = [CreateEnum(e) for e in d.added] + [DropEnum(e) for e in d.dropped]
    owned: set[tuple[str, str, str]] = set()
    for o, n in d.altered:
        kept = [x for x in n.labels if x in o.labels]
        added = [x for x in n.labels if x not in o.labels]
        if kept == list(o.labels) and not _uses_new_label(new, n, added):
            out.append(AddEnumValues(o, n, _enum_columns(old, new, o, keep_defaults=True)))
        else:
            columns = _enum_columns(old, new, o, keep_defaults=False)
            owned |= {(c.table.schema_, c.table.name, c.column) for c in columns}
            out.append(ReplaceEnum(o, n, columns))
    return out, owned


def _domain_users(old: Schema, domain: Domain) -> tuple[str, ...]:
    """The existing tables with a column of the domain (or an array of it), which tightening the
    domain scans."""
    names = _enum_type_names(domain)  # type: ignore[arg-type]
    return tuple(
        obj(t.schema_, t.name).as_string(None)
        for t in old.tables
        if any(c.type in names for c in t.columns)
    )


def _domains(old: Schema, new: Schema) -> list[Change]:
    d = diff_kind(_by(old.domains, _qualified), _by(new.domains, _qualified))
    out: list[Change] = [CreateDomain(x) for x in d.added] + [DropDomain(x) for x in d.dropped]
    for o, n in d.altered:
        if (o.type, o.collation) != (n.type, n.collation):
            raise PlanError(
                f"domain {n.qname}: changing its base type or collation ({o.type} → {n.type}) "
                "is not supported yet; do it by hand, then plan again"
            )
        users = _domain_users(old, o)
        if o.default != n.default:
            out.append(SetDomainDefault(o, n))
        if o.not_null != n.not_null:
            out.append(SetDomainNotNull(o, n, users))
        olds = _by(o.check_constraints, lambda c: c.name)
        news = _by(n.check_constraints, lambda c: c.name)
        checks = diff_kind(olds, news)
        for before, after in checks.altered:
            if before.expression == after.expression and before.not_valid and not after.not_valid:
                out.append(ValidateDomainCheck(n, after, users))
                continue
            checks.dropped.append(before)
            checks.added.append(after)
        out += [DropDomainCheck(o, c, users) for c in checks.dropped]
        for c in checks.added:
            out.append(AddDomainCheck(n, c.model_copy(update={"not_valid": True})))
            if not c.not_valid:
                out.append(ValidateDomainCheck(n, c, users))
    return out


def _missing(schema: Schema, owner: SequenceOwner | None) -> bool:
    """Whether an owning column's table is absent from `schema` (so there is none to lock)."""
    return owner is not None and schema.table(owner.schema_, owner.table) is None


def _sequences(old: Schema, new: Schema) -> list[Change]:
    d = diff_kind(_by(old.sequences, _qualified), _by(new.sequences, _qualified))
    out: list[Change] = []
    for s in d.added:
        out.append(CreateSequence(s.model_copy(update={"owned_by": None})))
        if s.owned_by is not None:
            out.append(
                SetSequenceOwner(s, None, s.owned_by, new_owner_table=_missing(old, s.owned_by))
            )
    for s in d.dropped:
        if s.owned_by is not None:
            out.append(
                SetSequenceOwner(s, s.owned_by, None, old_owner_dropped=_missing(new, s.owned_by))
            )
        out.append(DropSequence(s.model_copy(update={"owned_by": None})))
    for o, n in d.altered:
        bare_o, bare_n = (
            o.model_copy(update={"owned_by": None}),
            n.model_copy(update={"owned_by": None}),
        )
        if bare_o != bare_n:
            out.append(AlterSequence(bare_o, bare_n))
        if o.owned_by != n.owned_by:
            out.append(
                SetSequenceOwner(
                    bare_n,
                    o.owned_by,
                    n.owned_by,
                    new_owner_table=_missing(old, n.owned_by),
                    old_owner_dropped=_missing(new, o.owned_by),
                )
            )
    return out


def _references(c: Constraint) -> tuple[str, str] | None:
    return (c.referenced_schema, c.referenced_table) if isinstance(c, ForeignKey) else None


def _constraints(t: Table) -> dict[str, Constraint]:
    items: list[Constraint] = [*t.unique_constraints, *t.check_constraints, *t.foreign_keys]
    if t.primary_key is not None:
        items.append(t.primary_key)
    return {c.name or "": c for c in items}


def _referenceable(removed: Iterable[Any]) -> bool:
    """Whether a drop removes something a foreign key can reference (a PK, unique key or index)."""
    return any(
        isinstance(c, (PrimaryKey, UniqueConstraint)) or (isinstance(c, Index) and c.unique)
        for c in removed
    )


def _tables(old: Schema, new: Schema, enum_defaults: set[tuple[str, str, str]]) -> list[Change]:
    d = diff_kind(_by(old.tables, _qualified), _by(new.tables, _qualified))
    out: list[Change] = []
    created = {(t.schema_, t.name) for t in d.added}
    for t in d.added:
        out += [CreateTable(core(t))] if t.partition_of is None else []
        out += partition_changes(old, new, None, t)
        out += [CreateIndex(t, i, new_table=True) for i in t.indexes]
        out += [
            AddConstraint(t, c, new_table=True, referenced_new=_references(c) in created)
            for c in attached(t)
        ]
    dropped = {(t.schema_, t.name) for t in d.dropped}
    for t in d.dropped:
        out += [
            DropConstraint(
                t,
                c,
                incidental=True,
                table_dropped=True,
                referenced_dropped=_references(c) in dropped,
            )
            for c in attached(t)
        ]
        out += [DropIndex(t, i, table_dropped=True) for i in t.indexes]
        out += [DropTable(core(t))] if t.partition_of is None else []
        out += partition_changes(old, new, t, None)

    # Keys that are dropped or rebuilt take the foreign keys that reference them along.
    rekeyed: set[tuple[str, str]] = set()
    pairs = [compared(old, new, o, n) for o, n in d.altered]
    out += [c for o, n in d.altered for c in partition_changes(old, new, o, n)]
    for o, n in pairs:
        cd = diff_kind(_constraints(o), _constraints(n))
        idx = diff_kind(_by(o.indexes, lambda i: i.name), _by(n.indexes, lambda i: i.name))
        removed = (
            cd.dropped + [x for x, _ in cd.altered] + idx.dropped + [x for x, _ in idx.altered]
        )
        if _referenceable(removed):
            rekeyed.add((o.schema_, o.name))

    for o, n in pairs:
        out += _table_changes(o, n, rekeyed, enum_defaults, created)
    # Unchanged tables whose foreign keys point at a rebuilt key.
    unchanged = [t for t in old.tables if new.table(t.schema_, t.name) == t]
    for t in unchanged:
        for fk in t.foreign_keys:
            if (fk.referenced_schema, fk.referenced_table) in rekeyed:
                out += [DropConstraint(t, fk, incidental=True), AddConstraint(t, fk)]
    return plain_foreign_keys(_link_foreign_keys(out, old), new)


def _link_foreign_keys(changes: list[Change], old: Schema) -> list[Change]:
    """Give each column type change the tables at the other end of the foreign keys on that
    column that the plan keeps in place (the ones it drops go before the type change)."""
    dropped = {
        (c.table.schema_, c.table.name, c.before.name)
        for c in changes
        if isinstance(c, DropConstraint) and isinstance(c.before, ForeignKey)
    }
    kept = [
        (t, fk)
        for t in old.tables
        for fk in t.foreign_keys
        if (t.schema_, t.name, fk.name) not in dropped
    ]
    out: list[Change] = []
    for c in changes:
        if isinstance(c, AlterColumnType):
            here, column = (c.table.schema_, c.table.name), c.after.name
            linked: list[str] = []
            for t, fk in kept:
                far = (fk.referenced_schema, fk.referenced_table)
                if (t.schema_, t.name) == here and column in fk.columns:
                    linked.append(obj(*far).as_string(None))
                if far == here and column in fk.referenced_columns:
                    linked.append(obj(t.schema_, t.name).as_string(None))
            own = obj(*here).as_string(None)
            c = replace(c, linked=tuple(n for n in dict.fromkeys(linked) if n != own))
        out.append(c)
    return out


def _table_changes(
    o: Table,
    n: Table,
    rekeyed: set[tuple[str, str]],
    enum_defaults: set[tuple[str, str, str]],
    created: set[tuple[str, str]],
) -> list[Change]:
    """`created`: the tables this plan creates (a foreign key to one locks nothing that exists)."""
    out: list[Change] = []
    cols = diff_kind(_by(o.columns, lambda c: c.name), _by(n.columns, lambda c: c.name))
    dropped_types = {c.type: c.name for c in cols.dropped}
    out += [AddColumn(core(n), c, rename_of=dropped_types.get(c.type)) for c in cols.added]
    out += [DropColumn(core(o), c) for c in cols.dropped]
    for co, cn in cols.altered:
        default_done = (o.schema_, o.name, co.name) in enum_defaults
        out += column_changes(core(n), co, cn, default_done=default_done)

    cd = diff_kind(_constraints(o), _constraints(n))
    out += [AddConstraint(core(n), c, referenced_new=_references(c) in created) for c in cd.added]
    out += [DropConstraint(core(o), c) for c in cd.dropped]
    for co, cn in cd.altered:
        out += [
            DropConstraint(core(o), co, incidental=True),
            AddConstraint(core(n), cn, referenced_new=_references(cn) in created),
        ]
    # Foreign keys that did not change but reference a key rebuilt by this plan.
    changed = (
        {c.name for c in cd.added} | {c.name for c in cd.dropped} | {c.name for c, _ in cd.altered}
    )
    for fk in n.foreign_keys:
        if (
            fk in o.foreign_keys
            and fk.name not in changed
            and (fk.referenced_schema, fk.referenced_table) in rekeyed
        ):
            out += [DropConstraint(core(o), fk, incidental=True), AddConstraint(core(n), fk)]

    idx = diff_kind(_by(o.indexes, lambda i: i.name), _by(n.indexes, lambda i: i.name))
    out += [CreateIndex(core(n), i) for i in idx.added]
    out += [DropIndex(core(o), i) for i in idx.dropped]
    for io, i_n in idx.altered:
        out += [DropIndex(core(o), io, replaced=True), CreateIndex(core(n), i_n)]

    if o.comment != n.comment:
        out.append(SetTableComment(core(n), o.comment, n.comment))
    if o.unlogged != n.unlogged:
        out.append(SetLogged(core(n), n.unlogged))
    return out
