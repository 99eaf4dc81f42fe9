"""Two schemas in, the typed changes between them out.

Objects pair up by schema-qualified name only (a rename is a drop and an add: Lockplane never
guesses). Each kind is compared with the same set arithmetic; what the changes mean, cost and
undo lives in `changes/`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from .changes.aggregates import CreateAggregate, DropAggregate, SetAggregateComment
from .changes.base import Change
from .changes.column import AlterColumnType, SetDefault, column_changes
from .changes.constraint import AddConstraint, CreateIndex, DropConstraint, DropIndex
from .changes.ddl import Constraint
from .changes.domains import (
    AddDomainCheck,
    AddDomainCheckLate,
    CreateDomain,
    DropDomain,
    DropDomainCheck,
    SetDomainDefault,
    SetDomainNotNull,
    ValidateDomainCheck,
    ValidateDomainCheckLate,
)
from .changes.functions import (
    CreateFunction,
    DropCheckAround,
    DropDefaultAround,
    DropFunction,
    DropIndexAround,
    ReplaceFunction,
    SetDefaultAround,
    replaceable,
)
from .changes.generated import generated_changes
from .changes.grants import ChangePrivileges, Securable, SetOwner, securable_key
from .changes.objects import (
    AddEnumValues,
    AlterExtension,
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
    RenameEnumValues,
    ReplaceEnum,
    SetSequenceOwner,
    SetTableComment,
)
from .changes.partindex import partitioned_indexes
from .changes.partitions import compared, partition_changes, plain_foreign_keys
from .changes.partkeys import partitioned_keys
from .changes.policies import (
    AlterPolicy,
    CreatePolicy,
    DropPolicy,
    SetRowSecurity,
    uncovered,
)
from .changes.storage import SetStorageParameters, options
from .changes.table import (
    AddColumn,
    CreateTable,
    DropColumn,
    DropTable,
    SetLogged,
    attached,
    core,
)
from .changes.triggers import CreateTrigger, DropTrigger, ReplaceTrigger
from .changes.usertypes import (
    AlterCompositeType,
    CreateCompositeType,
    CreateRangeType,
    DropCompositeType,
    DropRangeType,
    RecreateRangeType,
    SetRangeTypeComment,
)
from .changes.views import (
    CreateView,
    DropView,
    DropViewBeforeTypes,
    ReplaceView,
    SetViewColumnComment,
    SetViewComment,
    appends_only,
    matview_relation,
)
from .deps import Graph, Node, aggregate_text, recreated_functions, resolved_text
from .errors import PlanError
from .model import (
    PRIVILEGES,
    CheckConstraint,
    Column,
    Domain,
    DomainCheck,
    Enum,
    Extension,
    ForeignKey,
    Function,
    Grant,
    Index,
    Policy,
    PrimaryKey,
    RangeType,
    Schema,
    SequenceOwner,
    Table,
    UniqueConstraint,
    View,
    default_multirange_name,
    qualified,
)
from .sqlnames import needs_quotes, obj

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
    """DROP TABLE takes a table's triggers with it, and DROP SCHEMA would have to
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


def _refuse_losing_function_privileges(old: Schema, new: Schema, recreated: set[Node]) -> None:
    """A function dropped and created again comes back with the default privileges (EXECUTE for
    PUBLIC): when they are not managed and differ from that, the plan refuses."""
    held = {(u.schema_, u.name) for u in old.unmanaged if u.kind == "privileges" and u.on is None}
    keys = {f.key for f in new.functions}
    for f in old.functions:
        if ("function", f.schema_, f.name) not in recreated or f.key not in keys:
            continue
        if (f.schema_, f"{f.name}({f.identity})") in held:
            raise PlanError(
                f"{f.kind} {f.qname} is dropped and created again by this plan, which would reset "
                "its privileges to the default: plan with grants managed (introspect --grants), "
                "so that they are granted again"
            )


def _routine(f: Function) -> Function:
    """The function without its privileges and owner, which change in place (`_grants_and_owner`)."""
    return f.model_copy(update={"grants": None, "owner": None})


def _refuse_overwriting_partition_columns(old: Schema, changes: list[Change]) -> None:
    """A partition's own column default and column comment are unmanaged: a default set on the
    parent's column recurses to the partitions and overwrites the one, and dropping the parent's
    column takes both along. The plan refuses rather than lose them."""
    owned = {(u.schema_, u.on, u.name): u.kind for u in old.unmanaged}
    owned = {k: v for k, v in owned.items() if v.startswith("partition column")}
    if not owned:
        return
    for c in changes:
        if isinstance(c, DropColumn):
            kinds = ("partition column default", "partition column comment")
        elif isinstance(c, SetDefault) or (
            isinstance(c, AlterColumnType) and c.before.default != c.after.default
        ):
            kinds = ("partition column default",)
        else:
            continue
        for t in old.tables:
            if t.partition_of is None or not _descends(old, t, c.table.schema_, c.table.name):
                continue
            kind = owned.get((t.schema_, t.name, c.before.name))
            if kind in kinds:
                raise PlanError(
                    f"column {c.table.qname}.{c.before.name} changes, which would overwrite or "
                    f"drop the {kind.removeprefix('partition column ')} of partition {t.qname}'s "
                    "own column, which Lockplane does not manage; change that by hand first"
                )


def _descends(schema: Schema, t: Table, parent_schema: str, parent_name: str) -> bool:
    up = schema.parent(t)
    while up is not None:
        if (up.schema_, up.name) == (parent_schema, parent_name):
            return True
        up = schema.parent(up)
    return False


def diff(old: Schema, new: Schema) -> Diff:
    _refuse_dropping_unmanaged(old, new)
    desired = new  # with its plan hints, for the plan's record of its target
    new, backfills = _without_backfills(new)
    changes: list[Change] = []
    changes += _schemas(old, new)
    changes += _extensions(old, new)
    enum_changes, enum_defaults = _enums(old, new)
    changes += enum_changes
    changes += _domains(old, new)
    changes += _user_types(old, new)
    changes += _sequences(old, new)
    changes += _tables(_follow_renames(old, enum_changes), new, enum_defaults)
    _refuse_overwriting_partition_columns(old, changes)
    changes += _aggregates(old, new)
    reasons, recreated = _rebuild_reasons(old, new, Graph(old), changes)
    changes += _views(old, new, changes, reasons)
    changes += _access(old, new, recreated)
    changes += _sequences_and_functions_access(old, new)
    changes += _storage(old, new)
    changes += _aggregates_around(old, new, changes, recreated)
    dropped_aggregates = {
        ("function", *_qualified(c.before)) for c in changes if isinstance(c, DropAggregate)
    }
    place = _placement(old, new, set(reasons), dropped_aggregates)
    changes += _functions_and_triggers(old, new, place, recreated)
    changes = _place_aggregates(old, new, changes, place)
    changes = _clear_of_recreated(old, _late_table_parts(old, new, changes, place), recreated)
    changes = [_backfilled(c, backfills) for c in changes]
    return Diff(_reverse_hints(old, enum_changes), desired, tuple(changes))


ColumnKey = tuple[str, str, str]


def _without_backfills(new: Schema) -> tuple[Schema, dict[ColumnKey, Column]]:
    """`new` without its columns' backfill hints (they are not content, so they must never
    read as a difference), and the hinted columns, to hand to the columns this plan adds."""
    hinted = {(t.schema_, t.name, c.name): c for t in new.tables for c in t.columns if c.backfill}
    if not hinted:
        return new, hinted
    tables = tuple(
        t.model_copy(update={"columns": tuple(c.content() for c in t.columns)}) for t in new.tables
    )
    return new.model_copy(update={"tables": tables}), hinted


def _backfilled(change: Change, hinted: dict[ColumnKey, Column]) -> Change:
    if not isinstance(change, AddColumn):
        return change
    column = hinted.get((change.table.schema_, change.table.name, change.after.name))
    return change if column is None else replace(change, after=column)


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
    altered: list[Change] = [AlterExtension(o, n) for o, n in d.altered]
    return [CreateExtension(e) for e in d.added] + [DropExtension(e) for e in d.dropped] + altered


def _follow_renames(old: Schema, changes: list[Change]) -> Schema:
    """`old` with its tables as they read once enum values are renamed: defaults and expressions
    hold the label's oid, so Postgres prints them with the new label at once (`'new'::type`)."""
    pairs: list[tuple[str, str]] = []
    for c in changes:
        if isinstance(c, RenameEnumValues):
            name = obj(c.after.schema_, c.after.name).as_string(None)
            for b, a in c.pairs():
                pairs.append((_enum_literal(b, name), _enum_literal(a, name)))
    if not pairs:
        return old

    def follow(value: Any) -> Any:
        if isinstance(value, str):
            for b, a in pairs:
                value = value.replace(b, a)
            return value
        if isinstance(value, list):
            return [follow(v) for v in value]
        if isinstance(value, dict):
            return {k: follow(v) for k, v in value.items()}
        return value

    tables = [
        Table.model_validate(follow(t.model_dump(mode="json", by_alias=True))) for t in old.tables
    ]
    return old.model_copy(update={"tables": tuple(tables)})


def _reverse_hints(old: Schema, changes: list[Change]) -> Schema:
    """`old` with the inverse rename hints, so that a plan's reverse (whose target is `old`)
    renames the labels back rather than replacing the type."""
    back = {
        (c.before.schema_, c.before.name): {b: a for b, a in c.pairs()}
        for c in changes
        if isinstance(c, RenameEnumValues)
    }
    if not back:
        return old
    enums = [e.model_copy(update={"renamed": back.get(_qualified(e), {})}) for e in old.enums]
    return old.model_copy(update={"enums": tuple(enums)})


def _enum_literal(label: str, type_name: str) -> str:
    return "'" + label.replace("'", "''") + "'::" + type_name


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
    hints = {(e.schema_, e.name): e.renamed for e in new.enums if e.renamed}
    news = _by((e.content() for e in new.enums), _qualified)
    d = diff_kind(_by(old.enums, _qualified), news)
    out: list[Change] = [CreateEnum(e) for e in d.added] + [DropEnum(e) for e in d.dropped]
    owned: set[tuple[str, str, str]] = set()
    for o, n in d.altered:
        hint = hints.get(_qualified(n), {})
        stale = [
            (now, was) for now, was in hint.items() if was not in o.labels and now not in o.labels
        ]
        if stale:
            now, was = stale[0]
            raise PlanError(
                f"enum {n.qname}: renamed says {now!r} was {was!r}, but the database has neither "
                "label; fix or remove the hint"
            )
        renames = [(was, now) for now, was in hint.items() if was in o.labels]
        if renames:
            mapping = dict(renames)
            renamed = o.model_copy(update={"labels": tuple(mapping.get(x, x) for x in o.labels)})
            out.append(RenameEnumValues(o, renamed))
            o = renamed
            if o == n:
                continue
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
    """Domains are created among the types, before functions; a check that calls a function
    the plan creates, drops or replaces is therefore added on its own after the functions, and
    dropped on its own before them (so the rollback, reversed, keeps the same order)."""
    d = diff_kind(_by(old.domains, _qualified), _by(new.domains, _qualified))
    og, ng = Graph(old), Graph(new)
    moving = _sql_names(
        {(f.schema_, f.name): f for f in (*old.functions, *new.functions)
         if f not in old.functions or f not in new.functions}.values()
    )  # fmt: skip

    def split(x: Domain) -> tuple[Domain, list[DomainCheck]]:
        apart = [c for c in x.check_constraints if _names_in(c.expression, moving)]
        kept = tuple(c for c in x.check_constraints if c not in apart)
        return x.model_copy(update={"check_constraints": kept}), apart

    out: list[Change] = []
    for x in d.added:
        core_domain, apart = split(x)
        out.append(CreateDomain(core_domain, ng.depth(("type", *_qualified(x)))))
        for c in apart:
            out.append(AddDomainCheckLate(x, c.model_copy(update={"not_valid": True})))
            if not c.not_valid:
                out.append(ValidateDomainCheckLate(x, c))
    for x in d.dropped:
        core_domain, apart = split(x)
        out += [DropDomainCheck(x, c) for c in apart]
        out.append(DropDomain(core_domain, og.depth(("type", *_qualified(x)))))
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
            late = bool(_names_in(c.expression, moving))
            add, validate = (
                (AddDomainCheckLate, ValidateDomainCheckLate)
                if late
                else (AddDomainCheck, ValidateDomainCheck)
            )
            out.append(add(n, c.model_copy(update={"not_valid": True})))
            if not c.not_valid:
                out.append(validate(n, c, users))
    return out


def _type_users(schema: Schema, t: Any) -> list[str]:
    """What uses type `t` (or an array of it) in `schema`: table columns and attributes of
    composite types, as `table.column` / `type.attribute`."""
    names = _enum_type_names(t)
    if isinstance(t, RangeType):  # its multirange type goes with it
        multirange = t.multirange or default_multirange_name(t.name)
        names += _enum_type_names(t.model_copy(update={"name": multirange}))
    out = [f"{x.qname}.{c.name}" for x in schema.tables for c in x.columns if c.type in names]
    out += [
        f"{x.qname}.{a.name}"
        for x in schema.composite_types
        for a in x.attributes
        if a.type in names
    ]
    return out


def _user_types(old: Schema, new: Schema) -> list[Change]:
    """Composite and range types, in dependency graph order with domains. A change Postgres
    refuses while something uses the type (ALTER ATTRIBUTE ... TYPE, any change to a range
    type) is refused here while it is used."""
    out: list[Change] = []
    d = diff_kind(_by(old.composite_types, _qualified), _by(new.composite_types, _qualified))
    og, ng = Graph(old), Graph(new)
    out += [CreateCompositeType(t, ng.depth(("type", *_qualified(t)))) for t in d.added]
    out += [DropCompositeType(t, og.depth(("type", *_qualified(t)))) for t in d.dropped]
    for o, n in d.altered:
        olds = {a.name: a for a in o.attributes}
        retyped = [a.name for a in n.attributes if a.name in olds and olds[a.name] != a]
        users = _type_users(old, o)
        if retyped and users:
            raise PlanError(
                f"composite type {n.qname}: attribute {retyped[0]} changes type while "
                f"{users[0]} uses the type, which Postgres refuses; change that by hand"
            )
        tables = tuple(
            dict.fromkeys(
                obj(t.schema_, t.name).as_string(None)
                for t in old.tables
                if any(c.type in _enum_type_names(o) for c in t.columns)
            )
        )
        out.append(AlterCompositeType(o, n, tables))
    d = diff_kind(_by(old.range_types, _qualified), _by(new.range_types, _qualified))
    out += [CreateRangeType(r, ng.depth(("type", *_qualified(r)))) for r in d.added]
    out += [DropRangeType(r, og.depth(("type", *_qualified(r)))) for r in d.dropped]
    for o, n in d.altered:
        if o.model_copy(update={"comment": n.comment}) == n:
            out.append(SetRangeTypeComment(o, n))
            continue
        users = _type_users(old, o)
        if users:
            raise PlanError(
                f"range type {n.qname}: it cannot be altered, and {users[0]} uses it; "
                "drop and re-create it by hand, then plan again"
            )
        out.append(RecreateRangeType(o, n))
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
        unset = {"owned_by": None, "grants": None, "owner": None}  # these change on their own
        bare_o, bare_n = o.model_copy(update=unset), n.model_copy(update=unset)
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
    linked = plain_foreign_keys(_link_foreign_keys(out, old), new)
    return partitioned_keys(partitioned_indexes(linked, old, new), old, new)


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
    kept = [i for i in o.indexes if i in n.indexes] + [
        c for name, c in _constraints(o).items() if _constraints(n).get(name) == c
    ]
    for co, cn in cols.altered:
        default_done = (o.schema_, o.name, co.name) in enum_defaults
        if co.generated != cn.generated:
            rebuilt, co = generated_changes(core(o), core(n), co, cn, kept)
            out += rebuilt
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


def _aggregates(old: Schema, new: Schema) -> list[Change]:
    """Aggregates pair up by identity arguments; a changed one, or one whose support function is
    dropped or created again with another signature, is dropped and created again (the views
    that call it are rebuilt around it by `_rebuild_reasons`)."""
    new_functions = _by(new.functions, lambda f: f.key)
    moved = {
        name
        for f in old.functions
        if (g := new_functions.get(f.key)) is None or not replaceable(f, g)
        for name in (f.name, obj(f.schema_, f.name).as_string(None))
    }
    d = diff_kind(_by(old.aggregates, lambda a: a.key), _by(new.aggregates, lambda a: a.key))
    out: list[Change] = [CreateAggregate(a) for a in d.added]
    out += [DropAggregate(a) for a in d.dropped]
    for o, n in d.altered:
        if o.model_copy(update={"comment": n.comment}) == n:
            out.append(SetAggregateComment(n, o.comment, n.comment))
        else:
            out += [
                DropAggregate(o, "its definition changes"),
                CreateAggregate(n, "its definition changes"),
            ]
    for a in old.aggregates:
        used = sorted(set(a.functions) & moved)
        if a in new.aggregates and used:
            why = f"function {used[0]} is created again"
            out += [DropAggregate(a, why), CreateAggregate(a, why)]
    return out


def _aggregates_around(
    old: Schema, new: Schema, changes: list[Change], recreated: set[Node]
) -> list[Change]:
    """Unchanged aggregates that use what the plan drops and creates again (a rebuilt view's row
    type, a recreated function) and that `_aggregates` leaves alone: dropped before, created
    again after."""
    dropped = {c.before.key for c in changes if isinstance(c, DropAggregate)}
    out: list[Change] = []
    for a in old.aggregates:
        if (
            a.key not in dropped
            and a in new.aggregates
            and ("function", *_qualified(a)) in recreated
        ):
            why = "what it uses is created again"
            out += [DropAggregate(a, why), CreateAggregate(a, why)]
    return out


def _place_aggregates(
    old: Schema, new: Schema, changes: list[Change], place: _Placement
) -> list[Change]:
    """Aggregates created and dropped where `place` says, in graph depth order with functions
    (an aggregate over a function created among the views goes there too, and a function
    whose SQL-standard body calls an aggregate comes after it)."""
    og, ng = Graph(old), Graph(new)
    out: list[Change] = []
    for c in changes:
        if isinstance(c, CreateAggregate):
            node: Node = ("function", *_qualified(c.after))
            late, views = node in place.late, node in place.with_views
            c = replace(c, late=late, with_views=views, depth=ng.depth(node))
        elif isinstance(c, DropAggregate):
            node = ("function", *_qualified(c.before))
            c = replace(c, with_views=node in place.drop_with_views, depth=og.depth(node))
        out.append(c)
    return out


def _rebuild_reasons(
    old: Schema, new: Schema, graph: Graph, changes: list[Change]
) -> tuple[dict[Node, str], set[Node]]:
    """The existing views kept by name that must be dropped and created again, with why: they
    read a column whose type changes or that is dropped, a dropped table, a view that is itself
    dropped or rebuilt, or a function that is dropped and created again (Postgres refuses each
    of those under a view); and those functions (`deps.recreated_functions`)."""
    moved: dict[tuple[str, str], set[str]] = {}
    for c in changes:
        if isinstance(c, (AlterColumnType, DropColumn)):
            moved.setdefault((c.table.schema_, c.table.name), set()).add(c.before.name)
        elif isinstance(c, (ReplaceEnum, AddEnumValues)):  # the rollback of an add replaces
            for e in c.columns:
                moved.setdefault((e.table.schema_, e.table.name), set()).add(e.column)
    news = _by(new.views, _qualified)
    reasons: dict[Node, str] = {}
    for v in old.views:
        node: Node = ("view", v.schema_, v.name)
        n = news.get((v.schema_, v.name))
        if n is None:
            continue
        for (schema, name), used in sorted(graph.columns_used(node).items()):
            hit = sorted(used & moved.get((schema, name), set()))
            if new.table(schema, name) is None:
                reasons[node] = f"table {qualified(schema, name)} is dropped"
            elif hit:
                reasons[node] = f"column {qualified(schema, name)}.{hit[0]} changes"
    for c in changes:  # Postgres refuses to drop an aggregate a view calls
        if isinstance(c, DropAggregate):
            a = c.before.name
            name = re.escape(f'"{a}"' if needs_quotes(a) else a)
            for v in old.views:
                called = re.search(rf'(?<![\w$"]){name}\s*\(', v.definition)
                if called and (v.schema_, v.name) in news:
                    reasons[("view", v.schema_, v.name)] = f"aggregate {c.before.qname} changes"
    gone = {("view", v.schema_, v.name) for v in old.views if (v.schema_, v.name) not in news}
    recreated = recreated_functions(old, new)

    def spread() -> None:
        """Readers of what is dropped or rebuilt are rebuilt, dependencies first, so each names
        a view it reads (a cycle of spare edges may leave none to name)."""
        for user in sorted(
            graph.dependents(gone | set(reasons)), key=lambda u: (graph.depth(u), u)
        ):
            if user[0] == "view" and (user[1], user[2]) in news and user not in reasons:
                read = sorted(graph.dependencies(user) & (gone | set(reasons)))
                what = f"{read[0][0]} {qualified(*read[0][1:])}" if read else "a view it reads"
                reasons[user] = f"{what} changes"

    # A function whose types or SQL-standard body name a rebuilt view is recreated around it,
    # which rebuilds the views that call it in turn: repeat until nothing more is rebuilt.
    while True:
        gone |= recreated
        spread()
        for v in old.views:
            node = ("view", v.schema_, v.name)
            n = news.get((v.schema_, v.name))
            if n is None or node in reasons or _same_query(v, n):
                continue
            if not appends_only(v, n) or graph.dependents({node}):
                reasons[node] = "its query changes"
        spread()
        more = recreated_functions(old, new, reasons)
        if more <= recreated:
            return reasons, recreated
        recreated |= more


def _same_query(o: View, n: View) -> bool:
    """Equal but for what is changed in place (comments, indexes, storage parameters, grants,
    owner); columns count only when both documents list them (a hand-written one may not)."""
    strip: dict[str, Any] = {"comment": None, "indexes": (), "storage_parameters": {}}
    strip |= {"grants": None, "owner": None}

    def shape(v: View) -> View:
        columns = tuple(c.model_copy(update={"comment": None}) for c in v.columns)
        cut = strip if (o.columns and n.columns) else strip | {"columns": ()}
        return v.model_copy(update={"columns": columns, **cut})

    return shape(o) == shape(n)


def _reads(schema: Schema, graph: Graph, v: View, stable: set[Node]) -> tuple[str, ...]:
    """The relations CREATE of `v` locks (ACCESS SHARE) that exist before and after the plan:
    what it names directly, and for a materialized view (whose query runs) also what the plain
    views it reads name, recursively."""
    views = _by(schema.views, _qualified)
    out: set[Node] = set()
    todo, seen = [("view", v.schema_, v.name)], set()
    while todo:
        for dep in graph.dependencies(todo.pop()):
            plain = dep[0] == "view" and not views[dep[1], dep[2]].materialized
            if plain and v.materialized and dep not in seen:
                seen.add(dep)
                todo.append(dep)
            out.add(dep)
    return tuple(sorted(obj(s, n).as_string(None) for kind, s, n in out & stable))


def _views(
    old: Schema, new: Schema, changes: list[Change], reasons: dict[Node, str]
) -> list[Change]:
    """Views created, dropped, replaced in place, commented and indexed; and every view that
    stands in the way of another change (`reasons`, from `_rebuild_reasons`) dropped first and
    created again after, in dependency order (see `changes/views.py`)."""
    og, ng = Graph(old), Graph(new)
    olds, news = _by(old.views, _qualified), _by(new.views, _qualified)
    for (schema, name), v in olds.items():
        if (schema, name) in news and ("view", schema, name) not in reasons:
            continue
        for u in old.unmanaged:
            if u.on != name or (u.schema_ or "public") != schema:
                continue
            if u.kind == "privileges" and (schema, name) in news:
                raise PlanError(
                    f"view {v.qname} is dropped and created again by this plan, which would "
                    "lose its privileges: plan with grants managed (introspect --grants), so "
                    "that they are granted again"
                )
            if u.kind != "privileges":
                raise PlanError(
                    f"view {v.qname} is dropped by this plan, but it has {u.kind} {u.name!r}, "
                    "which Lockplane does not manage; drop that by hand first"
                )
    stable = {("table", t.schema_, t.name) for t in old.tables if new.table(t.schema_, t.name)}
    stable |= {
        ("view", *k)
        for k, v in olds.items()
        if v.materialized and k in news and ("view", *k) not in reasons
    }
    out: list[Change] = []

    def create(v: View, why: str | None = None) -> None:
        node = ("view", v.schema_, v.name)
        out.append(CreateView(v, ng.depth(node), _reads(new, ng, v, stable), rebuilt=why))

    def drop(v: View, why: str | None = None) -> None:
        node = ("view", v.schema_, v.name)
        after = news.get((v.schema_, v.name))
        kept = {c.name for c in after.columns} if after is not None and after.columns else None
        lost = tuple(c.name for c in v.columns if kept is not None and c.name not in kept)
        early = bool(reasons) and any(isinstance(c, (ReplaceEnum, AddEnumValues)) for c in changes)
        drop_class = DropViewBeforeTypes if early else DropView
        out.append(drop_class(v, og.depth(node), _reads(old, og, v, stable), why, lost))

    for key, v in olds.items():
        if key not in news:
            drop(v)
    for key, v in news.items():
        if key not in olds:
            create(v)
    for key, o in olds.items():
        n = news.get(key)
        why = reasons.get(("view", *key))
        if n is None:
            continue
        if why is not None:
            drop(o, why)
            create(n, why)
            continue
        if not _same_query(o, n):
            reads = set(_reads(old, og, o, stable)) | set(_reads(new, ng, n, stable))
            out.append(ReplaceView(o, n, ng.depth(("view", *key)), tuple(sorted(reads))))
        if o.comment != n.comment:
            out.append(SetViewComment(n, o.comment, n.comment))
        was = {c.name: c.comment for c in o.columns}
        out += [
            SetViewColumnComment(n, c.name, was.get(c.name), c.comment)
            for c in n.columns
            if c.comment != was.get(c.name)
        ]
        if o.storage_parameters != n.storage_parameters:
            before, after = options(o.storage_parameters), options(n.storage_parameters)
            out.append(
                SetStorageParameters("materialized view", n.schema_, n.name, n.qname, before, after)
            )
        out += _grants_and_owner(o, n)
        rel = matview_relation(n)
        idx = diff_kind(_by(o.indexes, lambda i: i.name), _by(n.indexes, lambda i: i.name))
        out += [CreateIndex(rel, i) for i in idx.added]
        out += [DropIndex(rel, i) for i in idx.dropped]
        for io, i_n in idx.altered:
            out += [DropIndex(rel, io, replaced=True), CreateIndex(rel, i_n)]
    return out


def _mentions(p: Policy, columns: set[str]) -> bool:
    """Whether a policy's expressions may use one of `columns` (a token match: a false positive
    only costs a drop and re-create of the policy)."""
    text = f"{p.using or ''} {p.with_check or ''}"
    return any(
        re.search(re.escape(f'"{c}"') if needs_quotes(c) else rf"(?<![\w$\"]){c}(?![\w$])", text)
        for c in columns
    )


def _levels(grants: tuple[Grant, ...]) -> dict[tuple[str, str], str]:
    return {
        (g.grantee, p): "grantable" if g.with_grant_option else "plain"
        for g in grants
        for p in g.privileges
    }


def _privileges(
    o: Any, old: tuple[Grant, ...], new: tuple[Grant, ...], *, incidental: bool = False
) -> list[Change]:
    """GRANT / REVOKE per grantee and (before, after) level, privileges in the canonical order."""
    before, after = _levels(old), _levels(new)
    moves: dict[tuple[str, str, str], list[str]] = {}
    for key in sorted(before.keys() | after.keys()):
        b, a = before.get(key, "none"), after.get(key, "none")
        if b != a:
            moves.setdefault((key[0], b, a), []).append(key[1])
    target = Securable.of(o)
    return [
        ChangePrivileges(target, g, tuple(p for p in PRIVILEGES if p in privs), b, a, incidental)  # type: ignore[arg-type]
        for (g, b, a), privs in moves.items()
    ]


def _grants_and_owner(o: Any, n: Any) -> list[Change]:
    """Of an object kept by the plan: grants when both documents list them, the owner when both
    name one."""
    out: list[Change] = []
    if n.grants is not None and o.grants is not None:
        out += _privileges(n, o.grants, n.grants)
    if n.owner is not None and o.owner is not None and n.owner != o.owner:
        out.append(SetOwner(Securable.of(n), o.owner, n.owner))
    return out


def _sequences_and_functions_access(old: Schema, new: Schema) -> list[Change]:
    """Grants and owners of sequences created, dropped (the revokes give the rollback's
    re-created sequence its privileges back) and kept, and of functions kept (a function created,
    or dropped and created again, gets them with its CREATE: see `CreateFunction`)."""
    out: list[Change] = []
    d = diff_kind(_by(old.sequences, securable_key), _by(new.sequences, securable_key))
    for t in d.added:
        out += _privileges(t, (), t.grants or (), incidental=True)
        if t.owner is not None:
            out.append(SetOwner(Securable.of(t), None, t.owner))
    for t in d.dropped:
        out += _privileges(t, t.grants or (), (), incidental=True)
    out += [c for o, n in d.altered for c in _grants_and_owner(o, n)]
    fd = diff_kind(_by(old.functions, securable_key), _by(new.functions, securable_key))
    return out + [c for o, n in fd.altered for c in _grants_and_owner(o, n)]


def _storage(old: Schema, new: Schema) -> list[Change]:
    """Storage parameters of tables; a created table gets them after CREATE TABLE, and a dropped
    one is reset first so that the rollback, which creates it again, sets them back."""
    out: list[Change] = []
    d = diff_kind(_by(old.tables, _qualified), _by(new.tables, _qualified))
    pairs = [(None, t) for t in d.added] + [(t, None) for t in d.dropped] + list(d.altered)
    for o, n in pairs:
        t = n if n is not None else o
        before = options(o.storage_parameters) if o is not None else ()
        after = options(n.storage_parameters) if n is not None else ()
        if before != after:
            incidental = o is None or n is None
            out.append(
                SetStorageParameters("table", t.schema_, t.name, t.qname, before, after, incidental)
            )
    return out


def _access(old: Schema, new: Schema, recreated: set[Node]) -> list[Change]:
    """Row level security, policies, grants (when the target lists them) and owners (when the
    target names one and the source knows the live one). A changed policy that uses a function
    in `recreated` is dropped before it and created after, not altered in place."""
    out: list[Change] = []
    graph = Graph(old)

    def calls_recreated(t: Table, p: Policy) -> bool:
        return bool(graph.dependencies(("policy", t.schema_, f"{t.name}.{p.name}")) & recreated)

    d = diff_kind(_by(old.tables, _qualified), _by(new.tables, _qualified))
    for t in d.added:
        out += [SetRowSecurity(t, f, True, incidental=True) for f in _rls_flags(t)]
        out += [CreatePolicy(t, p, incidental=True) for p in t.policies]
        out += _privileges(t, (), t.grants or (), incidental=True)
        if t.owner is not None:
            out.append(SetOwner(Securable.of(t), None, t.owner))
    for t in d.dropped:
        out += [SetRowSecurity(t, f, False, incidental=True) for f in _rls_flags(t)]
        out += [DropPolicy(t, p, incidental=True) for p in t.policies]
        out += _privileges(t, t.grants or (), (), incidental=True)
    for o, n in d.altered:
        for force, was, now in (
            (False, o.row_level_security, n.row_level_security),
            (True, o.force_row_level_security, n.force_row_level_security),
        ):
            if was != now:
                out.append(SetRowSecurity(n, force, now))
        retyped = {
            c.name for c in n.columns if (x := o.column(c.name)) is not None and x.type != c.type
        }
        pd = diff_kind(_by(o.policies, lambda p: p.name), _by(n.policies, lambda p: p.name))
        closes: tuple[str, ...] = ()
        if o.row_level_security and n.row_level_security:
            closes = tuple(c for c in uncovered(n) if c not in uncovered(o))
        out += [DropPolicy(o, p, closes=closes) for p in pd.dropped]
        out += [CreatePolicy(n, p) for p in pd.added]
        for b, a in pd.altered:
            if (
                AlterPolicy.applies(b, a)
                and not _mentions(b, retyped)
                and not calls_recreated(o, b)
            ):
                out.append(AlterPolicy(n, b, a))
            else:
                out += [DropPolicy(o, b, closes=closes), CreatePolicy(n, a)]
        # Postgres refuses ALTER COLUMN TYPE of a column a policy uses: drop it around the change.
        for p in n.policies:
            if p in o.policies and _mentions(p, retyped):
                out += [DropPolicy(o, p, rebuilt=True), CreatePolicy(n, p, rebuilt=True)]
        out += _grants_and_owner(o, n)
    return out


def _rls_flags(t: Table) -> list[bool]:
    """The `force` values of the row level security switches that are on for `t`."""
    return [
        f for f, on in ((False, t.row_level_security), (True, t.force_row_level_security)) if on
    ]


def _sql_names(objects: Iterable[Any]) -> list[str]:
    return [obj(t.schema_, t.name).as_string(None) for t in objects]


def _names_in(text: str, candidates: list[str]) -> tuple[str, ...]:
    """The names of `candidates` (as SQL prints them) that `text` names."""
    return tuple(n for n in candidates if re.search(rf'(?<![\w."]){re.escape(n)}(?![\w"])', text))


@dataclass(frozen=True)
class _Placement:
    """Where functions and aggregates go in a plan. Created: `late` (after tables and columns)
    when what they resolve at once names a table the plan creates, or calls a late one (an
    aggregate resolves all it calls); `with_views` (among the views, by graph depth) when it
    names a view the plan creates or rebuilds, or calls one that is. Dropped: `early` (before
    tables) when it names a table the plan drops; `drop_with_views` (among the views, deepest
    first) when it names a view the plan drops or rebuilds, or calls a function or aggregate
    that goes there or an aggregate the plan drops (Postgres records what an SQL-standard body
    calls)."""

    late: frozenset[Node]
    with_views: frozenset[Node]
    early: frozenset[Node]
    drop_with_views: frozenset[Node]
    views_rebuilt: tuple[str, ...]


def _placement(
    old: Schema, new: Schema, rebuilt: set[Node], dropped_aggregates: set[Node]
) -> _Placement:
    """Functions and aggregates in dependency graph order, each placed after what it uses
    (`rebuilt`: the views the plan drops and creates again)."""
    og, ng = Graph(old), Graph(new)
    olds, news = {_qualified(t) for t in old.tables}, {_qualified(t) for t in new.tables}
    created = _sql_names(t for t in new.tables if _qualified(t) not in olds)
    dropped = _sql_names(t for t in old.tables if _qualified(t) not in news)
    old_views, new_views = _by(old.views, _qualified), _by(new.views, _qualified)
    views_rebuilt = _sql_names(v for k, v in old_views.items() if ("view", *k) in rebuilt)
    views_created = _sql_names(v for k, v in new_views.items() if k not in old_views)
    views_dropped = _sql_names(v for k, v in old_views.items() if k not in new_views)

    def routines(schema: Schema, graph: Graph) -> list[tuple[Node, str, bool]]:
        """(node, text resolved at once, whether what it calls is resolved too), dependencies
        first."""
        out = [
            (("function", f.schema_, f.name), resolved_text(f), f.sql_body)
            for f in schema.functions
        ]
        out += [
            (("function", a.schema_, a.name), aggregate_text(a), True) for a in schema.aggregates
        ]
        return sorted(out, key=lambda r: (graph.depth(r[0]), r[0]))

    late: set[Node] = set()
    with_views: set[Node] = set()
    for node, text, resolves in routines(new, ng):
        calls = ng.dependencies(node) if resolves else frozenset()
        if _names_in(text, created) or calls & late:
            late.add(node)
        if _names_in(text, views_created + views_rebuilt) or calls & with_views:
            with_views.add(node)
    early: set[Node] = set()
    drop_with_views: set[Node] = set()
    for node, text, resolves in routines(old, og):
        calls = og.dependencies(node) if resolves else frozenset()
        if _names_in(text, dropped):
            early.add(node)
        if _names_in(text, views_dropped + views_rebuilt) or calls & (
            drop_with_views | dropped_aggregates
        ):
            drop_with_views.add(node)
    return _Placement(
        frozenset(late),
        frozenset(with_views),
        frozenset(early),
        frozenset(drop_with_views),
        tuple(views_rebuilt),
    )


def _functions_and_triggers(
    old: Schema, new: Schema, place: _Placement, recreated: set[Node]
) -> list[Change]:
    """Functions pair up by identity arguments; a lone overload dropped and a lone one added
    under one name is a signature change (drop and create). Functions go in dependency graph
    order, where `place` says; whatever uses a function that is dropped and created again
    (`recreated`: trigger, policy, column default, check, index; views in `_views`) is dropped
    before it and created again after. A function whose types or SQL-standard body name a view
    that is rebuilt is dropped and created among the views, around it."""
    og, ng = Graph(old), Graph(new)
    kept = _sql_names(t for t in old.tables if new.table(t.schema_, t.name) is not None)
    views_rebuilt = list(place.views_rebuilt)

    def read(f: Function) -> tuple[str, ...]:  # parsing an SQL-standard body locks its tables
        return _names_in(f.body, kept) if f.sql_body else ()

    late, with_views = place.late, place.with_views

    def create(f: Function) -> CreateFunction:
        node: Node = ("function", f.schema_, f.name)
        return CreateFunction(f, node in late, read(f), node in with_views, ng.depth(node))

    def drop(f: Function) -> DropFunction:
        node: Node = ("function", f.schema_, f.name)
        early, views = node in place.early, node in place.drop_with_views
        return DropFunction(f, early, read(f), views, og.depth(node))

    fd = diff_kind(_by(old.functions, lambda f: f.key), _by(new.functions, lambda f: f.key))
    pairs = [(o, n) for o, n in fd.altered if _routine(o) != _routine(n)]  # else: access only
    for f in list(fd.added):
        same_name = [x for x in fd.added if (x.schema_, x.name) == (f.schema_, f.name)]
        gone = [x for x in fd.dropped if (x.schema_, x.name) == (f.schema_, f.name)]
        if len(same_name) == 1 and len(gone) == 1:
            pairs.append((gone[0], f))
            fd.added.remove(f)
            fd.dropped.remove(gone[0])
    out: list[Change] = []
    out += [create(f) for f in fd.added]
    out += [drop(f) for f in fd.dropped]
    for o, n in pairs:
        c = create(n)
        if _names_in(resolved_text(o), views_rebuilt):
            out += [drop(o), c]
        else:
            out.append(ReplaceFunction(o, n, c.tables_read, c.late, c.with_views, c.depth))
    _refuse_losing_function_privileges(old, new, recreated)
    # An unchanged SQL-standard function that calls a recreated one, or one whose types name a
    # rebuilt view, goes and comes back with it.
    new_by_key = {f.key: f for f in new.functions}
    for f in old.functions:
        node = ("function", f.schema_, f.name)
        n = new_by_key.get(f.key)
        around = f.sql_body or _names_in(resolved_text(f), views_rebuilt)
        if n is not None and _routine(n) == _routine(f) and node in recreated and around:
            out += [replace(drop(f), with_views=True), replace(create(n), with_views=True)]

    def uses(t: Table, kind: str, name: str) -> bool:
        return bool(og.dependencies((kind, t.schema_, f"{t.name}.{name}")) & recreated)

    for n in new.tables:
        o = old.table(n.schema_, n.name)
        if o is None:
            out += [CreateTrigger(core(n), t, new_table=True) for t in n.triggers]
            continue
        td = diff_kind(_by(o.triggers, lambda t: t.name), _by(n.triggers, lambda t: t.name))
        out += [CreateTrigger(core(n), t) for t in td.added]
        out += [DropTrigger(core(o), t) for t in td.dropped]
        for b, a in td.altered:
            rest = {"enabled": a.enabled, "comment": a.comment}
            redefined = b.model_copy(update=rest) != a
            if uses(o, "trigger", b.name) or (redefined and (a.constraint or b.constraint)):
                out += [DropTrigger(core(o), b, incidental=True)]
                out += [CreateTrigger(core(n), a, incidental=True)]
            else:
                out.append(ReplaceTrigger(core(n), b, a))
        for t in o.triggers:
            if t in n.triggers and uses(o, "trigger", t.name):
                out += [DropTrigger(core(o), t, incidental=True)]
                out += [CreateTrigger(core(n), t, incidental=True)]
        out += _around_functions(o, n, uses)
    for o in old.tables:
        if new.table(o.schema_, o.name) is None:
            out += [DropTrigger(core(o), t, table_dropped=True) for t in o.triggers]
    return out


def _late_table_parts(
    old: Schema, new: Schema, changes: list[Change], place: _Placement
) -> list[Change]:
    """A table created or dropped by the plan whose column defaults or checks call a function
    created after tables (late or among the views), or dropped before them (among the views):
    the table is created without them and they are added once the function exists; it is
    dropped after they are."""
    og, ng = Graph(old), Graph(new)

    def parts(t: Table, graph: Graph, functions: frozenset[Node]) -> tuple[list[Any], list[Any]]:
        def calls(kind: str, name: str) -> bool:
            return bool(graph.dependencies((kind, t.schema_, f"{t.name}.{name}")) & functions)

        columns = [c for c in t.columns if c.default and calls("default", c.name)]
        checks = [k for k in t.check_constraints if calls("check", k.name or "")]
        return columns, checks

    def without(t: Table, columns: list[Any], checks: list[Any]) -> Table:
        cols = tuple(
            c.model_copy(update={"default": None}) if c in columns else c for c in t.columns
        )
        kept = tuple(k for k in t.check_constraints if k not in checks)
        return t.model_copy(update={"columns": cols, "check_constraints": kept})

    out: list[Change] = []
    for c in changes:
        if type(c) is CreateTable:
            columns, checks = parts(c.after, ng, place.late | place.with_views)
            if columns or checks:
                bare = without(c.after, columns, checks)
                out.append(replace(c, after=bare))
                out += [SetDefaultAround(bare, bare.column(x.name), x, True) for x in columns]
                out += [AddConstraint(bare, k, new_table=True) for k in checks]
                continue
        elif type(c) is DropTable:
            columns, checks = parts(c.before, og, place.drop_with_views)
            if columns or checks:
                bare = without(c.before, columns, checks)
                out += [DropDefaultAround(c.before, x, bare.column(x.name)) for x in columns]
                out += [DropCheckAround(c.before, k, incidental=True) for k in checks]
                out.append(replace(c, before=bare))
                continue
        out.append(c)
    return out


def _clear_of_recreated(old: Schema, changes: list[Change], recreated: set[Node]) -> list[Change]:
    """The table diff's changes to what calls a function the plan drops and creates again,
    made to leave the old function free to go (and the rollback to put the old form back only
    once the old function is back): a changed index or check is dropped before the function
    (an index not swapped online after its replacement is built); a changed default, dropped
    before the function by `DropDefaultAround`, is set from no default once the function is
    back (dropping it again is left out)."""
    graph = Graph(old)

    def calls(t: Table, kind: str, name: str) -> bool:
        return bool(graph.dependencies((kind, t.schema_, f"{t.name}.{name}")) & recreated)

    out: list[Change] = []
    for c in changes:
        if type(c) is DropIndex and c.replaced and calls(c.table, "index", c.before.name):
            c = DropIndexAround(c.table, c.before)
        elif (
            type(c) is DropConstraint
            and isinstance(c.before, CheckConstraint)
            and calls(c.table, "check", c.before.name or "")
        ):
            c = DropCheckAround(c.table, c.before, c.incidental)
        elif (
            type(c) is SetDefault and c.before.default and calls(c.table, "default", c.before.name)
        ):
            if c.after.default is None:
                continue
            c = SetDefaultAround(c.table, c.before.model_copy(update={"default": None}), c.after)
        out.append(c)
    return out


def _around_functions(o: Table, n: Table, uses: Callable[[Table, str, str], bool]) -> list[Change]:
    """The policies, column defaults, checks and indexes of a kept table that use a function the
    plan drops and creates again, and that the table diff leaves alone: dropped before, created
    again after (a changed default is only dropped early; its new value is set as planned)."""
    out: list[Change] = []
    for p in o.policies:
        if p in n.policies and uses(o, "policy", p.name):
            out += [DropPolicy(o, p, rebuilt=True), CreatePolicy(n, p, rebuilt=True)]
    for c in o.columns:
        after = n.column(c.name)
        if c.default is None or after is None or not uses(o, "default", c.name):
            continue
        bare = c.model_copy(update={"default": None})
        out.append(DropDefaultAround(core(o), c, bare))
        if after.default == c.default:
            out.append(SetDefaultAround(core(n), bare, c))
    for k in o.check_constraints:
        if k in n.check_constraints and uses(o, "check", k.name):
            out += [DropCheckAround(core(o), k, incidental=True), AddConstraint(core(n), k)]
    for i in o.indexes:
        if i in n.indexes and uses(o, "index", i.name):
            # not `replaced`: an online swap would build the new index before the function exists
            out += [DropIndexAround(core(o), i), CreateIndex(core(n), i)]
    return out
