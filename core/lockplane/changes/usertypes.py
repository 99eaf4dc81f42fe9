"""Composite and range types: create, drop, and ALTER TYPE on a composite type's attributes.

Both are created in the CREATE_TYPE phase (after enums; before tables, whose columns may use
them) and dropped in DROP_TYPE (after the tables and columns that used them), together with
domains: a domain may be over a composite or range type, and those may hold a domain, so the
three kinds go in the dependency graph's order (`deps.Graph.depth`, `depth` here): created
deepest last, dropped deepest first. A composite type's attributes can be added and dropped in
place, also while columns use the type (stored values read the new attribute as NULL, and lose
the dropped one); Postgres refuses ALTER ATTRIBUTE ... TYPE while a column uses the type, so the
diff refuses that plan up front (or drops and re-creates an unused type). A range type has no
ALTER for what defines it; the diff re-creates an unused one and refuses to change a used one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from ..model import CompositeAttribute, CompositeType, RangeType
from ..plan import Hazard
from ..sqlnames import Ident, obj
from .base import Change, ObjectChange, Phase, hazard
from .ddl import collation, comment_on


def _attribute_sql(a: CompositeAttribute) -> sql.Composable:
    text = sql.SQL("{} {}").format(Ident(a.name), sql.SQL(a.type))
    if a.collation:
        return sql.SQL("{} COLLATE {}").format(text, collation(a.collation))
    return text


def _type_name(t: CompositeType | RangeType) -> sql.Composable:
    return obj(t.schema_, t.name)


def create_key(depth: int, schema: str, name: str) -> tuple[str, ...]:
    """Where a type (composite, range, domain) of graph depth `depth` is created."""
    return (f"{depth:03d}", schema, name)


def drop_key(depth: int, schema: str, name: str) -> tuple[str, ...]:
    """Where it is dropped: the deepest first."""
    return (f"{999 - depth:03d}", schema, name)


@dataclass(frozen=True)
class CreateCompositeType(ObjectChange):
    """`depth`: its dependency graph depth; the types it holds are created first."""

    after: CompositeType
    depth: int = 0
    phase = Phase.CREATE_TYPE
    sign = "+"
    kind = "composite type"

    @property
    def subject(self) -> Any:
        return self.after

    def key(self) -> tuple[str, ...]:
        return create_key(self.depth, self.after.schema_, self.after.name)

    def statements(self) -> list[sql.Composable]:
        t = self.after
        out: list[sql.Composable] = [
            sql.SQL("CREATE TYPE {} AS ({})").format(
                _type_name(t), sql.SQL(", ").join(_attribute_sql(a) for a in t.attributes)
            )
        ]
        if t.comment is not None:
            out.append(comment_on("TYPE", _type_name(t), t.comment))
        return out

    def reverse(self) -> Change:
        return DropCompositeType(self.after, self.depth)

    def description(self) -> str:
        return f"Create composite type {self.after.qname}"

    def notes(self) -> list[str]:
        return ["Creating a type is always safe"]


@dataclass(frozen=True)
class DropCompositeType(ObjectChange):
    """The types that hold others (deeper, `depth`) go first."""

    before: CompositeType
    depth: int = 0
    phase = Phase.DROP_TYPE
    sign = "-"
    kind = "composite type"

    @property
    def subject(self) -> Any:
        return self.before

    def key(self) -> tuple[str, ...]:
        return drop_key(self.depth, self.before.schema_, self.before.name)

    def statements(self) -> list[sql.Composable]:
        return [sql.SQL("DROP TYPE {}").format(_type_name(self.before))]

    def reverse(self) -> Change:
        return CreateCompositeType(self.before, self.depth)

    def description(self) -> str:
        return f"Drop composite type {self.before.qname}"

    def hazards(self) -> list[Hazard]:
        return [hazard("LP108", f"Code that names type {self.before.qname} will fail")]

    def notes(self) -> list[str]:
        return ["No column uses the type by the time it is dropped"]


@dataclass(frozen=True)
class AlterCompositeType(ObjectChange):
    """ALTER TYPE ... DROP / ADD / ALTER ATTRIBUTE and the comment, in one step. `users`: the
    existing tables with a column of the type, whose stored values lose a dropped attribute."""

    before: CompositeType
    after: CompositeType
    users: tuple[str, ...] = ()
    phase = Phase.CREATE_TYPE
    sign = "~"
    kind = "composite type"

    @property
    def subject(self) -> Any:
        return self.after

    def key(self) -> tuple[str, ...]:  # after the types it may start to use are created
        return ("999", self.after.schema_, self.after.name)

    def _actions(self) -> list[sql.Composable]:
        olds = {a.name: a for a in self.before.attributes}
        news = {a.name: a for a in self.after.attributes}
        actions: list[sql.Composable] = [
            sql.SQL("DROP ATTRIBUTE {}").format(Ident(a.name))
            for a in self.before.attributes
            if a.name not in news
        ]
        for a in self.after.attributes:
            if a.name not in olds:
                actions.append(sql.SQL("ADD ATTRIBUTE {}").format(_attribute_sql(a)))
            elif olds[a.name] != a:
                retype = sql.SQL("ALTER ATTRIBUTE {} TYPE {}").format(
                    Ident(a.name), sql.SQL(a.type)
                )
                if a.collation:
                    retype = sql.SQL("{} COLLATE {}").format(retype, collation(a.collation))
                actions.append(retype)
        return actions

    def statements(self) -> list[sql.Composable]:
        out: list[sql.Composable] = []
        actions = self._actions()
        if actions:
            out.append(
                sql.SQL("ALTER TYPE {} {}").format(
                    _type_name(self.after), sql.SQL(", ").join(actions)
                )
            )
        if self.before.comment != self.after.comment:
            out.append(comment_on("TYPE", _type_name(self.after), self.after.comment))
        return out

    def reverse(self) -> Change:
        return AlterCompositeType(self.after, self.before, self.users)

    def description(self) -> str:
        return f"Alter composite type {self.after.qname}"

    def detail(self) -> str:
        def show(t: CompositeType) -> str:
            return ", ".join(f"{a.name} {a.type}" for a in t.attributes)

        return f"({show(self.before)}) → ({show(self.after)})"

    def hazards(self) -> list[Hazard]:
        olds = {a.name: a for a in self.before.attributes}
        news = {a.name for a in self.after.attributes}
        out = [
            hazard("LP405", f"Attribute {a.name} of {self.after.qname} changes to {a.type}")
            for a in self.after.attributes
            if a.name in olds and olds[a.name] != a
        ]
        dropped = [a.name for a in self.before.attributes if a.name not in news]
        if not dropped or not self.users:
            return out
        what = f"attribute{'s' if len(dropped) > 1 else ''} {', '.join(dropped)} of type "
        what += f"{self.after.qname} (stored in {', '.join(self.users)})"
        out.append(hazard("LP103", f"Drops {what} and the values in it"))
        out.append(hazard("LP107", f"The rollback adds {what} back empty (NULL)"))
        return out

    def notes(self) -> list[str]:
        return ["Stored values are not rewritten: an added attribute reads as NULL"]


def _range_sql(r: RangeType) -> sql.Composable:
    options: list[sql.Composable] = [sql.SQL("SUBTYPE = {}").format(sql.SQL(r.subtype))]
    if r.subtype_opclass:
        options.append(sql.SQL("SUBTYPE_OPCLASS = {}").format(Ident(*r.subtype_opclass.split("."))))
    if r.collation:
        options.append(sql.SQL("COLLATION = {}").format(collation(r.collation)))
    if r.canonical:
        options.append(sql.SQL("CANONICAL = {}").format(sql.SQL(r.canonical)))
    if r.subtype_diff:
        options.append(sql.SQL("SUBTYPE_DIFF = {}").format(sql.SQL(r.subtype_diff)))
    if r.multirange:
        options.append(sql.SQL("MULTIRANGE_TYPE_NAME = {}").format(obj(r.schema_, r.multirange)))
    return sql.SQL("CREATE TYPE {} AS RANGE ({})").format(
        _type_name(r), sql.SQL(", ").join(options)
    )


@dataclass(frozen=True)
class CreateRangeType(ObjectChange):
    """`depth`: as for CreateCompositeType (its subtype may be a domain)."""

    after: RangeType
    depth: int = 0
    phase = Phase.CREATE_TYPE
    sign = "+"
    kind = "range type"

    @property
    def subject(self) -> Any:
        return self.after

    def key(self) -> tuple[str, ...]:
        return create_key(self.depth, self.after.schema_, self.after.name)

    def statements(self) -> list[sql.Composable]:
        out = [_range_sql(self.after)]
        if self.after.comment is not None:
            out.append(comment_on("TYPE", _type_name(self.after), self.after.comment))
        return out

    def reverse(self) -> Change:
        return DropRangeType(self.after, self.depth)

    def description(self) -> str:
        return f"Create range type {self.after.qname}"

    def notes(self) -> list[str]:
        return ["Creating a type is always safe (its multirange type comes with it)"]


@dataclass(frozen=True)
class DropRangeType(ObjectChange):
    before: RangeType
    depth: int = 0
    phase = Phase.DROP_TYPE
    sign = "-"
    kind = "range type"

    @property
    def subject(self) -> Any:
        return self.before

    def key(self) -> tuple[str, ...]:
        return drop_key(self.depth, self.before.schema_, self.before.name)

    def statements(self) -> list[sql.Composable]:
        return [sql.SQL("DROP TYPE {}").format(_type_name(self.before))]

    def reverse(self) -> Change:
        return CreateRangeType(self.before, self.depth)

    def description(self) -> str:
        return f"Drop range type {self.before.qname}"

    def hazards(self) -> list[Hazard]:
        return [hazard("LP108", f"Code that names type {self.before.qname} will fail")]

    def notes(self) -> list[str]:
        return ["No column uses the type by the time it is dropped"]


@dataclass(frozen=True)
class SetRangeTypeComment(ObjectChange):
    before: RangeType
    after: RangeType
    phase = Phase.COMMENT
    sign = "~"
    kind = "range type"

    @property
    def subject(self) -> Any:
        return self.after

    def statements(self) -> list[sql.Composable]:
        return [comment_on("TYPE", _type_name(self.after), self.after.comment)]

    def reverse(self) -> Change:
        return SetRangeTypeComment(self.after, self.before)

    def description(self) -> str:
        return f"Set comment on range type {self.after.qname}"

    def detail(self) -> str:
        return f"comment {self.before.comment!r} → {self.after.comment!r}"

    def notes(self) -> list[str]:
        return ["Comments are metadata only"]


@dataclass(frozen=True)
class RecreateRangeType(ObjectChange):
    """A range type no column uses, changed: dropped and created again (no ALTER exists)."""

    before: RangeType
    after: RangeType
    phase = Phase.CREATE_TYPE
    sign = "~"
    kind = "range type"

    @property
    def subject(self) -> Any:
        return self.after

    def statements(self) -> list[sql.Composable]:
        out = [sql.SQL("DROP TYPE {}").format(_type_name(self.before)), _range_sql(self.after)]
        if self.after.comment is not None:
            out.append(comment_on("TYPE", _type_name(self.after), self.after.comment))
        return out

    def reverse(self) -> Change:
        return RecreateRangeType(self.after, self.before)

    def description(self) -> str:
        return f"Re-create range type {self.after.qname}"

    def hazards(self) -> list[Hazard]:
        msg = f"Range type {self.after.qname} is dropped and re-created: functions bound to it fail"
        return [hazard("LP108", msg)]

    def notes(self) -> list[str]:
        return ["No column uses the type, so nothing stored depends on it"]
