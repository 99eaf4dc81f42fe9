"""Privileges (opt-in: only for objects whose target document lists grants) and owners (only when
the target names one) of tables, views, materialized views, sequences, functions and procedures.

GRANT and REVOKE on a relation take ACCESS SHARE from PostgreSQL 17 on and no lock before; each
step on a table or materialized view takes ACCESS SHARE itself first (it waits only for ACCESS
EXCLUSIVE holders), so the plan locks the same on every version: LOCK TABLE for a table, and an
empty SELECT for a materialized view, which LOCK TABLE refuses. A plain view holds no rows and
locking one would lock the tables under it, so its steps lock nothing; nor do those of sequences
and functions. A revoke breaks the clients of that role that use the privilege, at once and with
"permission denied"; that is the hazard. ALTER ... OWNER TO of a table or materialized view takes
ACCESS EXCLUSIVE briefly; the old owner loses its implicit privileges (and, for a table, its
exemption from row level security).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from psycopg import sql

from ..model import Function, Sequence, Table, View
from ..plan import Hazard, LockMode
from ..sqlnames import Ident, obj
from .base import Change, Phase, hazard
from .online import NothingToUndo

Level = Literal["none", "plain", "grantable"]
_RELATIONS = ("table", "view", "materialized view")
_LOCKABLE = ("table", "materialized view")


@dataclass(frozen=True)
class Securable:
    """What GRANT and ALTER ... OWNER TO name: the object's kind, name, and for a function or
    procedure its identity arguments."""

    kind: Literal["table", "view", "materialized view", "sequence", "function", "procedure"]
    schema_: str
    name: str
    qname: str
    arguments: str = ""

    @staticmethod
    def of(o: Table | View | Sequence | Function) -> Securable:
        if isinstance(o, Table):
            return Securable("table", o.schema_, o.name, o.qname)
        if isinstance(o, View):
            kind = "materialized view" if o.materialized else "view"
            return Securable(kind, o.schema_, o.name, o.qname)
        if isinstance(o, Sequence):
            return Securable("sequence", o.schema_, o.name, o.qname)
        return Securable(o.kind, o.schema_, o.name, o.qname, o.identity)

    def sql_name(self) -> sql.Composable:
        name = obj(self.schema_, self.name)
        if self.kind in ("function", "procedure"):
            return sql.SQL("{}({})").format(name, sql.SQL(self.arguments))
        return name

    def on(self) -> sql.Composable:
        """The object as GRANT names it: a relation (table, view) by its bare name."""
        if self.kind in _RELATIONS:
            return self.sql_name()
        return sql.SQL("{} {}").format(sql.SQL(self.kind.upper()), self.sql_name())

    @property
    def lockable(self) -> bool:
        return self.kind in _LOCKABLE

    def locked(self) -> tuple[str, ...]:
        return (obj(self.schema_, self.name).as_string(None),) if self.lockable else ()

    def lock_statements(self) -> list[sql.Composable]:
        """ACCESS SHARE on the relation, taken the same way on every server version."""
        name = obj(self.schema_, self.name)
        if self.kind == "table":
            return [sql.SQL("LOCK TABLE {} IN ACCESS SHARE MODE").format(name)]
        if self.kind == "materialized view":
            return [sql.SQL("SELECT FROM {} LIMIT 0").format(name)]
        return []


def _grantee(name: str) -> sql.Composable:
    return sql.SQL("PUBLIC") if name == "PUBLIC" else Ident(name)


def grant_statements(o: Table | View | Sequence | Function) -> list[sql.Composable]:
    """The GRANTs that give a new object `o`'s privileges (nothing when they are not managed)."""
    target = Securable.of(o)
    out: list[sql.Composable] = []
    for g in o.grants or ():
        privs = sql.SQL(", ").join(sql.SQL(p) for p in g.privileges)
        option = sql.SQL(" WITH GRANT OPTION" if g.with_grant_option else "")
        out.append(
            sql.SQL("GRANT {} ON {} TO {}{}").format(
                privs, target.on(), _grantee(g.grantee), option
            )
        )
    return out


def access_statements(o: View | Function) -> list[sql.Composable]:
    """What a view or function created (or created again) needs to carry the privileges and
    owner its document manages: a function starts with EXECUTE for PUBLIC, which is taken back
    first so that only the listed grants remain."""
    target = Securable.of(o)
    out: list[sql.Composable] = []
    if o.grants is not None and isinstance(o, Function):
        out.append(sql.SQL("REVOKE ALL ON {} FROM PUBLIC").format(target.on()))
    out += grant_statements(o)
    if o.owner is not None:
        out.append(owner_statement(target, o.owner))
    return out


def owner_statement(target: Securable, owner: str) -> sql.Composable:
    what = target.kind.upper()
    return sql.SQL("ALTER {} {} OWNER TO {}").format(sql.SQL(what), target.sql_name(), Ident(owner))


@dataclass(frozen=True)
class ChangePrivileges(Change):
    """Moves `privileges` of `grantee` on `target` from one level to another: none, granted, or
    granted WITH GRANT OPTION. `incidental`: the object is created or dropped by the same plan."""

    target_: Securable
    grantee: str
    privileges: tuple[str, ...]
    before: Level
    after: Level
    incidental: bool = False
    phase = Phase.GRANT
    kind = "grant"

    @property
    def sign(self) -> str:  # type: ignore[override]
        return "+" if self.before == "none" else "-" if self.after == "none" else "~"

    @property
    def target(self) -> str:
        return f"{', '.join(self.privileges)} on {self.target_.qname} to {self.grantee}"

    def key(self) -> tuple[str, ...]:
        t = self.target_
        return (t.schema_, t.name, t.arguments, "grant", self.grantee, self.before, self.after)

    def statements(self) -> list[sql.Composable]:
        privs = sql.SQL(", ").join(sql.SQL(p) for p in self.privileges)
        t, g = self.target_.on(), _grantee(self.grantee)
        lock = self.target_.lock_statements()
        if self.after == "none":
            return [*lock, sql.SQL("REVOKE {} ON {} FROM {}").format(privs, t, g)]
        if self.after == "plain" and self.before == "grantable":
            stmt = sql.SQL("REVOKE GRANT OPTION FOR {} ON {} FROM {}").format(privs, t, g)
            return [*lock, stmt]
        option = sql.SQL(" WITH GRANT OPTION" if self.after == "grantable" else "")
        return [*lock, sql.SQL("GRANT {} ON {} TO {}{}").format(privs, t, g, option)]

    def reverse(self) -> Change:
        return ChangePrivileges(
            self.target_, self.grantee, self.privileges, self.after, self.before, self.incidental
        )

    def description(self) -> str:
        privs = ", ".join(self.privileges)
        on = f"{self.target_.kind} {self.target_.qname}"
        if self.after == "none":
            return f"Revoke {privs} on {on} from {self.grantee}"
        if self.after == "plain" and self.before == "grantable":
            return f"Revoke the grant option for {privs} on {on} from {self.grantee}"
        how = " with grant option" if self.after == "grantable" else ""
        return f"Grant {privs} on {on} to {self.grantee}{how}"

    def lock(self) -> LockMode | None:
        """None for a view, sequence or function, and for a grant on an object this plan creates
        (a new object blocks nobody)."""
        if not self.target_.lockable or (self.incidental and self.before == "none"):
            return None
        return "ACCESS SHARE"

    def tables(self) -> tuple[str, ...]:
        return self.target_.locked() if self.lock() is not None else ()

    def hazards(self) -> list[Hazard]:
        if self.incidental or self.after != "none":
            return []
        msg = (
            f"{self.grantee} loses {', '.join(self.privileges)} on {self.target_.qname}: its "
            "clients get 'permission denied' at once"
        )
        return [hazard("LP412", msg)]

    def notes(self) -> list[str]:
        if not self.target_.lockable:
            return ["A catalog change only: no table is locked"]
        return ["ACCESS SHARE only: waits for, and blocks, nothing but ACCESS EXCLUSIVE"]


@dataclass(frozen=True)
class SetOwner(Change):
    """ALTER ... OWNER TO, only when the target names an owner. `before` None: the object is
    created by this plan (its owner is whoever runs it), so the rollback, which drops it, has
    nothing to undo."""

    target_: Securable
    before: str | None
    after: str
    phase = Phase.GRANT
    sign = "~"

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.target_.kind

    @property
    def target(self) -> str:
        return self.target_.qname

    def key(self) -> tuple[str, ...]:
        return (self.target_.schema_, self.target_.name, self.target_.arguments, "owner")

    def statements(self) -> list[sql.Composable]:
        return [owner_statement(self.target_, self.after)]

    def reverse(self) -> Change:
        if self.before is None:
            return NothingToUndoOwner(self)
        return SetOwner(self.target_, self.after, self.before)

    def description(self) -> str:
        return f"Change the owner of {self.target_.kind} {self.target_.qname} to {self.after}"

    def detail(self) -> str:
        return f"owner {self.before} → {self.after}"

    def lock(self) -> LockMode | None:
        if self.before is None or not self.target_.lockable:
            return None
        return "ACCESS EXCLUSIVE"

    def tables(self) -> tuple[str, ...]:
        return self.target_.locked() if self.lock() is not None else ()

    def hazards(self) -> list[Hazard]:
        if self.before is None:
            return []
        rls = " and its exemption from row level security" if self.kind == "table" else ""
        msg = (
            f"{self.before} stops owning {self.target_.qname}: it loses its implicit privileges"
            f"{rls} unless granted otherwise"
        )
        return [hazard("LP412", msg)]

    def notes(self) -> list[str]:
        if self.lock() is None:
            return ["A catalog change only: no table is locked"]
        return ["A catalog change only: ACCESS EXCLUSIVE is held briefly, no row is read"]


@dataclass(frozen=True)
class NothingToUndoOwner(NothingToUndo):
    """The rollback of giving an object created by the plan its owner: the rollback drops it."""

    done: SetOwner  # type: ignore[assignment]
    own_transaction = False

    def statements(self) -> list[sql.Composable]:
        return [sql.SQL("-- nothing to undo: the object is dropped by the rollback")]

    def notes(self) -> list[str]:
        return ["Runs nothing: the object whose owner was set is dropped by the rollback"]


def securable_key(o: Any) -> tuple[str, ...]:
    """How objects of one kind are told apart across two documents."""
    return o.key if isinstance(o, Function) else (o.schema_, o.name)
