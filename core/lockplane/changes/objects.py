"""Schema-level objects: namespaces, extensions, enums, sequences, and table comments."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from psycopg import sql

from ..extpaths import UpdatePaths
from ..model import Enum, Extension, Sequence, SequenceOwner, Table
from ..plan import Hazard, LockMode
from ..sqlnames import Ident, col, obj
from .base import Change, ObjectChange, Phase, hazard
from .ddl import comment_on, table_name


@dataclass(frozen=True)
class CreateSchema(Change):
    name: str
    phase = Phase.CREATE_SCHEMA
    sign = "+"
    kind = "schema"

    def key(self) -> tuple[str, ...]:
        return (self.name,)

    @property
    def target(self) -> str:
        return self.name

    def statements(self) -> list[sql.Composable]:
        return [sql.SQL("CREATE SCHEMA {}").format(Ident(self.name))]

    def reverse(self) -> Change:
        return DropSchema(self.name)

    def description(self) -> str:
        return f"Create schema {self.name}"

    def notes(self) -> list[str]:
        return ["Creating a schema is always safe"]


@dataclass(frozen=True)
class DropSchema(Change):
    name: str
    phase = Phase.DROP_SCHEMA
    sign = "-"
    kind = "schema"

    def key(self) -> tuple[str, ...]:
        return (self.name,)

    @property
    def target(self) -> str:
        return self.name

    def statements(self) -> list[sql.Composable]:
        # No CASCADE: a schema still holding objects Lockplane does not manage stops the plan.
        return [sql.SQL("DROP SCHEMA {}").format(Ident(self.name))]

    def reverse(self) -> Change:
        return CreateSchema(self.name)

    def description(self) -> str:
        return f"Drop schema {self.name}"

    def hazards(self) -> list[Hazard]:
        return [hazard("LP101", f"Clients and functions that name schema {self.name} will fail")]

    def notes(self) -> list[str]:
        return ["The schema is empty by the time it is dropped"]


@dataclass(frozen=True)
class CreateExtension(ObjectChange):
    after: Extension
    phase = Phase.CREATE_EXTENSION
    sign = "+"
    kind = "extension"

    @property
    def subject(self) -> Any:
        return self.after

    def statements(self) -> list[sql.Composable]:
        stmt = sql.SQL("CREATE EXTENSION {} WITH SCHEMA {}").format(
            Ident(self.after.name), Ident(self.after.schema_)
        )
        if self.after.version:
            stmt = sql.SQL("{} VERSION {}").format(stmt, sql.Literal(self.after.version))
        return [stmt]

    def reverse(self) -> Change:
        return DropExtension(self.after)

    def description(self) -> str:
        return f"Create extension {self.after.name}"

    def notes(self) -> list[str]:
        return ["Creating an extension adds objects and changes no data"]


@dataclass(frozen=True)
class DropExtension(ObjectChange):
    before: Extension
    phase = Phase.DROP_EXTENSION
    sign = "-"
    kind = "extension"

    @property
    def subject(self) -> Any:
        return self.before

    def statements(self) -> list[sql.Composable]:
        return [sql.SQL("DROP EXTENSION {}").format(Ident(self.before.name))]

    def reverse(self) -> Change:
        return CreateExtension(self.before)

    def description(self) -> str:
        return f"Drop extension {self.before.name}"

    def hazards(self) -> list[Hazard]:
        return [hazard("LP109", f"Queries using extension {self.before.name} will fail")]

    def notes(self) -> list[str]:
        return ["Without CASCADE: the drop fails if anything still uses the extension"]


@dataclass(frozen=True)
class AlterExtension(ObjectChange):
    """A version update (ALTER EXTENSION ... UPDATE TO) or a move (SET SCHEMA), or both.

    Whether a version update can be undone depends on the update scripts the server ships (see
    extpaths.py): `path_back` says whether it has a path from the new version back to the old
    one; None means no database was asked. Without a known path back the update is one-way:
    its step carries no reverse, the rollback of its plan refuses, and apply needs
    --allow-destructive (LP112)."""

    before: Extension
    after: Extension
    path_back: bool | None = None
    phase = Phase.ALTER_EXTENSION
    sign = "~"
    kind = "extension"

    @property
    def subject(self) -> Any:
        return self.after

    @property
    def updates(self) -> bool:
        return self.before.version != self.after.version and self.after.version is not None

    def one_way(self) -> bool:
        return self.updates and not self.path_back

    def statements(self) -> list[sql.Composable]:
        b, a = self.before, self.after
        out: list[sql.Composable] = []
        if self.updates:
            out.append(
                sql.SQL("ALTER EXTENSION {} UPDATE TO {}").format(
                    Ident(a.name), sql.Literal(a.version)
                )
            )
        if b.schema_ != a.schema_:
            out.append(
                sql.SQL("ALTER EXTENSION {} SET SCHEMA {}").format(Ident(a.name), Ident(a.schema_))
            )
        return out

    def reverse(self) -> Change:
        # Only reached with a path back (a one-way step carries no reverse); the way forward
        # again is the update this change runs.
        return AlterExtension(self.after, self.before, path_back=True)

    def description(self) -> str:
        return f"Alter extension {self.after.name} ({self.detail()})"

    def detail(self) -> str:
        b, a = self.before, self.after
        parts = []
        if b.version != a.version:
            parts.append(f"version {b.version} → {a.version}")
        if b.schema_ != a.schema_:
            parts.append(f"schema {b.schema_} → {a.schema_}")
        return ", ".join(parts)

    def hazards(self) -> list[Hazard]:
        b, a = self.before, self.after
        out: list[Hazard] = []
        if self.updates and self.path_back:
            out.append(
                hazard(
                    "LP111",
                    f"Extension {a.name} is updated from {b.version} to {a.version}; the "
                    f"rollback runs the server's update path from {a.version} back to {b.version}",
                )
            )
        elif self.updates:
            why = (
                "no database was asked for a path back (pg_extension_update_paths)"
                if self.path_back is None
                else f"the server ships no update path from {a.version} back to {b.version}"
            )
            out.append(
                hazard(
                    "LP112",
                    f"Extension {a.name} is updated from {b.version} to {a.version} one way: "
                    f"{why}, so the rollback cannot undo it",
                )
            )
        if b.schema_ != a.schema_:
            out.append(
                hazard(
                    "LP409",
                    f"The objects of extension {a.name} move from schema {b.schema_} to "
                    f"{a.schema_}: code naming them there fails",
                )
            )
        return out

    def notes(self) -> list[str]:
        out = ["The extension's scripts change its own objects; no table is rewritten here"]
        if self.before.schema_ != self.after.schema_:
            out.append(
                f"Its objects move to schema {self.after.schema_}: Postgres refuses the move if "
                "the extension is not relocatable"
            )
        return out


def with_update_paths(changes: tuple[Change, ...], paths: UpdatePaths) -> tuple[Change, ...]:
    """The changes with every extension version update told whether the server has a path
    back (read by extpaths.py)."""
    return tuple(
        replace(c, path_back=paths.has(c.after.name, c.after.version, c.before.version))
        if isinstance(c, AlterExtension) and c.updates and c.before.version is not None
        else c
        for c in changes
    )


def _labels(labels: tuple[str, ...]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Literal(label) for label in labels)


@dataclass(frozen=True)
class CreateEnum(ObjectChange):
    after: Enum
    phase = Phase.CREATE_ENUM
    sign = "+"
    kind = "enum"

    @property
    def subject(self) -> Any:
        return self.after

    def statements(self) -> list[sql.Composable]:
        return [
            sql.SQL("CREATE TYPE {} AS ENUM ({})").format(
                obj(self.after.schema_, self.after.name), _labels(self.after.labels)
            )
        ]

    def reverse(self) -> Change:
        return DropEnum(self.after)

    def description(self) -> str:
        return f"Create enum {self.after.qname}"

    def notes(self) -> list[str]:
        return ["Creating a type is always safe"]


@dataclass(frozen=True)
class DropEnum(ObjectChange):
    before: Enum
    phase = Phase.DROP_ENUM
    sign = "-"
    kind = "enum"

    @property
    def subject(self) -> Any:
        return self.before

    def statements(self) -> list[sql.Composable]:
        return [sql.SQL("DROP TYPE {}").format(obj(self.before.schema_, self.before.name))]

    def reverse(self) -> Change:
        return CreateEnum(self.before)

    def description(self) -> str:
        return f"Drop enum {self.before.qname}"

    def hazards(self) -> list[Hazard]:
        return [hazard("LP108", f"Code that names type {self.before.qname} will fail")]

    def notes(self) -> list[str]:
        return ["No column uses the type by the time it is dropped"]


@dataclass(frozen=True)
class EnumColumn:
    """A column of an enum type (or an array of it) that a replacement converts through text.

    The replacement owns the column's default while it runs: it drops `default_before` and sets
    `default_after`, because a default naming a removed label cannot survive the swap.
    """

    table: Table
    column: str
    array: bool
    default_before: str | None
    default_after: str | None

    def swapped(self) -> EnumColumn:
        return EnumColumn(
            self.table, self.column, self.array, self.default_after, self.default_before
        )


@dataclass(frozen=True)
class AddEnumValues(ObjectChange):
    """New labels only, existing ones kept in order: `ALTER TYPE ... ADD VALUE`, no rewrite.

    Its inverse cannot remove labels in place (Postgres has no DROP VALUE), so it is a
    replacement of the type, which `columns` (the columns of this type) make possible.
    """

    before: Enum
    after: Enum
    columns: tuple[EnumColumn, ...]
    phase = Phase.ALTER_ENUM
    sign = "~"
    kind = "enum"

    @property
    def subject(self) -> Any:
        return self.after

    def statements(self) -> list[sql.Composable]:
        out: list[sql.Composable] = []
        labels = list(self.before.labels)
        name = obj(self.after.schema_, self.after.name)
        for i, label in enumerate(self.after.labels):
            if label in labels:
                continue
            # The position is always spelled out (AFTER the last label rather than nothing), so
            # the statement says where the label goes without knowing the type's current state.
            following = next((x for x in self.after.labels[i + 1 :] if x in labels), None)
            if following is not None:
                where = sql.SQL(" BEFORE {}").format(sql.Literal(following))
            elif labels:
                where = sql.SQL(" AFTER {}").format(sql.Literal(labels[-1]))
            else:
                where = sql.SQL("")
            out.append(
                sql.SQL("ALTER TYPE {} ADD VALUE {}{}").format(name, sql.Literal(label), where)
            )
            labels.insert(labels.index(following) if following is not None else len(labels), label)
        return out

    def reverse(self) -> Change:
        return ReplaceEnum(self.after, self.before, self.columns)

    def description(self) -> str:
        added = [x for x in self.after.labels if x not in self.before.labels]
        return f"Add value{'s' if len(added) > 1 else ''} {', '.join(added)} to enum {self.after.qname}"

    def detail(self) -> str:
        return f"labels {list(self.before.labels)} → {list(self.after.labels)}"

    def notes(self) -> list[str]:
        return ["Adding enum values changes no stored data"]


@dataclass(frozen=True)
class RenameEnumValues(ObjectChange):
    """Labels renamed in place (ALTER TYPE ... RENAME VALUE): stored values follow, since they
    are stored by the label's oid. Only when the target document says so (`Enum.renamed`).

    It runs before the other changes of enums, so labels added or removed in the same plan see
    the new names, and the rollback renames back last."""

    before: Enum
    after: Enum
    phase = Phase.RENAME_ENUM_VALUE
    sign = "~"
    kind = "enum"

    @property
    def subject(self) -> Any:
        return self.after

    def pairs(self) -> list[tuple[str, str]]:
        return [
            (b, a) for b, a in zip(self.before.labels, self.after.labels, strict=True) if b != a
        ]

    def statements(self) -> list[sql.Composable]:
        name = obj(self.after.schema_, self.after.name)
        return [
            sql.SQL("ALTER TYPE {} RENAME VALUE {} TO {}").format(
                name, sql.Literal(b), sql.Literal(a)
            )
            for b, a in self.pairs()
        ]

    def reverse(self) -> Change:
        return RenameEnumValues(self.after, self.before)

    def description(self) -> str:
        renames = ", ".join(f"{b} → {a}" for b, a in self.pairs())
        return f"Rename values of enum {self.after.qname}: {renames}"

    def detail(self) -> str:
        return "renamed " + ", ".join(f"{b} → {a}" for b, a in self.pairs())

    def hazards(self) -> list[Hazard]:
        return [
            hazard(
                "LP414",
                f"Clients that write or compare label {b!r} of {self.after.qname} must use {a!r}",
            )
            for b, a in self.pairs()
        ]

    def notes(self) -> list[str]:
        return ["Renaming an enum value changes no stored row: rows refer to the label's oid"]


@dataclass(frozen=True)
class ReplaceEnum(ObjectChange):
    """Labels removed or reordered: build the new type beside the old one, convert every column
    through text, drop the old type. Fails (and rolls back) if a removed label is in use."""

    before: Enum
    after: Enum
    columns: tuple[EnumColumn, ...]
    phase = Phase.ALTER_ENUM
    sign = "~"
    kind = "enum"

    @property
    def subject(self) -> Any:
        return self.after

    def statements(self) -> list[sql.Composable]:
        e = self.after
        name = obj(e.schema_, e.name)
        old_name = f"{e.name}__lockplane_old"[:63]
        out: list[sql.Composable] = [
            sql.SQL("ALTER TYPE {} RENAME TO {}").format(name, Ident(old_name)),
            sql.SQL("CREATE TYPE {} AS ENUM ({})").format(name, _labels(e.labels)),
        ]
        for c in self.columns:
            actions: list[sql.Composable] = []
            if c.default_before is not None:
                actions.append(sql.SQL("ALTER COLUMN {} DROP DEFAULT").format(col(c.column)))
            via = sql.SQL("text[]" if c.array else "text")
            new_type = sql.SQL("{}[]").format(name) if c.array else name
            actions.append(
                sql.SQL("ALTER COLUMN {0} TYPE {1} USING {0}::{2}::{1}").format(
                    col(c.column), new_type, via
                )
            )
            if c.default_after is not None:
                actions.append(
                    sql.SQL("ALTER COLUMN {} SET DEFAULT {}").format(
                        col(c.column), sql.SQL(c.default_after)
                    )
                )
            out.append(
                sql.SQL("ALTER TABLE {} {}").format(
                    table_name(c.table), sql.SQL(", ").join(actions)
                )
            )
        out.append(sql.SQL("DROP TYPE {}").format(obj(e.schema_, old_name)))
        return out

    def reverse(self) -> Change:
        return ReplaceEnum(self.after, self.before, tuple(c.swapped() for c in self.columns))

    def description(self) -> str:
        return f"Replace enum {self.after.qname} with labels {', '.join(self.after.labels)}"

    def detail(self) -> str:
        return f"labels {list(self.before.labels)} → {list(self.after.labels)}"

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE" if self.columns else None

    def tables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(table_name(c.table).as_string(None) for c in self.columns))

    def hazards(self) -> list[Hazard]:
        removed = [x for x in self.before.labels if x not in self.after.labels]
        out: list[Hazard] = []
        if removed:
            out.append(
                hazard(
                    "LP207",
                    f"Removing {', '.join(removed)} from {self.after.qname} fails if a row still uses it",
                )
            )
        if self.columns:
            tables = sorted({c.table.qname for c in self.columns})
            out.append(
                hazard(
                    "LP304",
                    f"Converting columns to the new type rewrites {', '.join(tables)}",
                )
            )
        if self.columns:
            out.append(
                hazard(
                    "LP405",
                    "Columns "
                    + ", ".join(f"{c.table.qname}.{c.column}" for c in self.columns)
                    + f" move to a new type {self.after.qname}",
                )
            )
        out += [
            hazard("LP406", f"The default of {c.table.qname}.{c.column} is dropped")
            for c in self.columns
            if c.default_before is not None and c.default_after is None
        ]
        kept_before = [x for x in self.before.labels if x in self.after.labels]
        kept_after = [x for x in self.after.labels if x in self.before.labels]
        if kept_before != kept_after:
            out.append(
                hazard(
                    "LP403",
                    f"Labels of {self.after.qname} change order: comparisons and ORDER BY on its "
                    "columns change meaning",
                )
            )
        return out


def _sequence_options(s: Sequence) -> sql.Composed:
    parts = [
        sql.SQL("AS {}").format(sql.SQL(s.type)),
        sql.SQL("INCREMENT BY {}").format(sql.Literal(s.increment)),
        sql.SQL("MINVALUE {}").format(sql.Literal(s.min_value))
        if s.min_value is not None
        else sql.SQL("NO MINVALUE"),
        sql.SQL("MAXVALUE {}").format(sql.Literal(s.max_value))
        if s.max_value is not None
        else sql.SQL("NO MAXVALUE"),
        sql.SQL("START WITH {}").format(sql.Literal(s.start)),
        sql.SQL("CACHE {}").format(sql.Literal(s.cache)),
        sql.SQL("CYCLE" if s.cycle else "NO CYCLE"),
    ]
    return sql.SQL(" ").join(parts)


@dataclass(frozen=True)
class CreateSequence(ObjectChange):
    after: Sequence
    phase = Phase.CREATE_SEQUENCE
    sign = "+"
    kind = "sequence"

    @property
    def subject(self) -> Any:
        return self.after

    def statements(self) -> list[sql.Composable]:
        return [
            sql.SQL("CREATE SEQUENCE {} {}").format(
                obj(self.after.schema_, self.after.name), _sequence_options(self.after)
            )
        ]

    def reverse(self) -> Change:
        return DropSequence(self.after)

    def description(self) -> str:
        return f"Create sequence {self.after.qname}"

    def notes(self) -> list[str]:
        return ["Creating a sequence is always safe"]


@dataclass(frozen=True)
class DropSequence(ObjectChange):
    before: Sequence
    phase = Phase.DROP_SEQUENCE
    sign = "-"
    kind = "sequence"

    @property
    def subject(self) -> Any:
        return self.before

    def statements(self) -> list[sql.Composable]:
        return [sql.SQL("DROP SEQUENCE {}").format(obj(self.before.schema_, self.before.name))]

    def reverse(self) -> Change:
        return CreateSequence(self.before)

    def description(self) -> str:
        return f"Drop sequence {self.before.qname}"

    def hazards(self) -> list[Hazard]:
        return [
            hazard("LP104", f"Drops sequence {self.before.qname} and its current value"),
            hazard("LP107", f"The rollback recreates {self.before.qname} at its start value"),
        ]


@dataclass(frozen=True)
class AlterSequence(ObjectChange):
    before: Sequence
    after: Sequence
    phase = Phase.ALTER_SEQUENCE
    sign = "~"
    kind = "sequence"

    @property
    def subject(self) -> Any:
        return self.after

    def statements(self) -> list[sql.Composable]:
        return [
            sql.SQL("ALTER SEQUENCE {} {}").format(
                obj(self.after.schema_, self.after.name), _sequence_options(self.after)
            )
        ]

    def reverse(self) -> Change:
        return AlterSequence(self.after, self.before)

    def description(self) -> str:
        return f"Alter sequence {self.after.qname}"

    def notes(self) -> list[str]:
        return ["Sequence options change future values only"]


@dataclass(frozen=True)
class SetSequenceOwner(Change):
    """OWNED BY, which makes `serial` round-trip. Giving up an owner runs early (before the
    owning column can be dropped, which would drop the sequence with it); taking one runs late,
    once the owning column exists."""

    sequence: Sequence
    before: SequenceOwner | None
    after: SequenceOwner | None
    # The table of `after` is created by the same plan; the table of `before` is dropped by it
    # (so the rollback creates it). Either way, that table is not there to lock beforehand.
    new_owner_table: bool = False
    old_owner_dropped: bool = False
    sign = "~"
    kind = "sequence"

    @property
    def phase(self) -> int:  # type: ignore[override]
        return Phase.DISOWN_SEQUENCE if self.after is None else Phase.OWN_SEQUENCE

    def key(self) -> tuple[str, ...]:
        return (self.sequence.schema_, self.sequence.name)

    @property
    def target(self) -> str:
        return self.sequence.qname

    def statements(self) -> list[sql.Composable]:
        owner: sql.Composable = sql.SQL("NONE")
        if self.after is not None:
            owner = sql.SQL("{}.{}").format(
                obj(self.after.schema_, self.after.table), col(self.after.column)
            )
        return [
            sql.SQL("ALTER SEQUENCE {} OWNED BY {}").format(
                obj(self.sequence.schema_, self.sequence.name), owner
            )
        ]

    def reverse(self) -> Change:
        return SetSequenceOwner(
            self.sequence,
            self.after,
            self.before,
            new_owner_table=self.old_owner_dropped,
            old_owner_dropped=self.new_owner_table,
        )

    def lock(self) -> LockMode | None:
        """OWNED BY a column reads its table under ACCESS SHARE; OWNED BY NONE locks nothing."""
        return None if self.after is None or self.new_owner_table else "ACCESS SHARE"

    def tables(self) -> tuple[str, ...]:
        if self.lock() is None or self.after is None:
            return ()
        return (obj(self.after.schema_, self.after.table).as_string(None),)

    def description(self) -> str:
        if self.after is None:
            return f"Detach sequence {self.sequence.qname} from its column"
        return f"Attach sequence {self.sequence.qname} to column {self.after.table}.{self.after.column}"

    def detail(self) -> str:
        def show(o: SequenceOwner | None) -> str:
            return "none" if o is None else f"{o.table}.{o.column}"

        return f"owned by {show(self.before)} → {show(self.after)}"

    def notes(self) -> list[str]:
        return ["Ownership only decides what drops the sequence"]


@dataclass(frozen=True)
class SetTableComment(Change):
    table: Table
    before: str | None
    after: str | None
    phase = Phase.COMMENT
    sign = "~"
    kind = "table"

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.table.name)

    @property
    def target(self) -> str:
        return self.table.qname

    def statements(self) -> list[sql.Composable]:
        return [comment_on("TABLE", table_name(self.table), self.after)]

    def reverse(self) -> Change:
        return SetTableComment(self.table, self.after, self.before)

    def description(self) -> str:
        return f"Set comment on table {self.table.qname}"

    def detail(self) -> str:
        return f"comment {self.before!r} → {self.after!r}"

    def lock(self) -> LockMode | None:
        return "SHARE UPDATE EXCLUSIVE"

    def notes(self) -> list[str]:
        return ["Comments are metadata only"]
