"""Table privileges (opt-in: only for tables whose target document lists grants) and owners
(only when the target names one).

GRANT and REVOKE take ACCESS SHARE on the table from PostgreSQL 17 on and no lock before; each
step takes ACCESS SHARE itself first (it waits only for ACCESS EXCLUSIVE holders), so the plan
locks the same on every version. A revoke breaks the clients of that role that use the
privilege, at once and with "permission denied"; that is the hazard. ALTER TABLE ... OWNER TO
takes ACCESS EXCLUSIVE briefly; the old owner loses its implicit privileges and its exemption
from row level security.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from psycopg import sql

from ..model import Table
from ..plan import Hazard, LockMode
from ..sqlnames import Ident
from .base import Change, Phase, hazard
from .ddl import table_name
from .online import NothingToUndo

Level = Literal["none", "plain", "grantable"]


def _grantee(name: str) -> sql.Composable:
    return sql.SQL("PUBLIC") if name == "PUBLIC" else Ident(name)


@dataclass(frozen=True)
class ChangePrivileges(Change):
    """Moves `privileges` of `grantee` on `table` from one level to another: none, granted, or
    granted WITH GRANT OPTION. `incidental`: the table is created or dropped by the same plan."""

    table: Table
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
        return f"{', '.join(self.privileges)} on {self.table.qname} to {self.grantee}"

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.table.name, "grant", self.grantee, self.before, self.after)

    def statements(self) -> list[sql.Composable]:
        privs = sql.SQL(", ").join(sql.SQL(p) for p in self.privileges)
        t, g = table_name(self.table), _grantee(self.grantee)
        lock = sql.SQL("LOCK TABLE {} IN ACCESS SHARE MODE").format(t)
        if self.after == "none":
            return [lock, sql.SQL("REVOKE {} ON {} FROM {}").format(privs, t, g)]
        if self.after == "plain" and self.before == "grantable":
            stmt = sql.SQL("REVOKE GRANT OPTION FOR {} ON {} FROM {}").format(privs, t, g)
            return [lock, stmt]
        option = sql.SQL(" WITH GRANT OPTION" if self.after == "grantable" else "")
        return [lock, sql.SQL("GRANT {} ON {} TO {}{}").format(privs, t, g, option)]

    def reverse(self) -> Change:
        return ChangePrivileges(
            self.table, self.grantee, self.privileges, self.after, self.before, self.incidental
        )

    def description(self) -> str:
        privs = ", ".join(self.privileges)
        if self.after == "none":
            return f"Revoke {privs} on table {self.table.qname} from {self.grantee}"
        if self.after == "plain" and self.before == "grantable":
            return f"Revoke the grant option for {privs} on {self.table.qname} from {self.grantee}"
        how = " with grant option" if self.after == "grantable" else ""
        return f"Grant {privs} on table {self.table.qname} to {self.grantee}{how}"

    def lock(self) -> LockMode | None:
        """None only for a grant on a table this plan creates (a new table blocks nobody)."""
        return None if self.incidental and self.before == "none" else "ACCESS SHARE"

    def hazards(self) -> list[Hazard]:
        if self.incidental or self.after != "none":
            return []
        msg = (
            f"{self.grantee} loses {', '.join(self.privileges)} on {self.table.qname}: its "
            "clients get 'permission denied' at once"
        )
        return [hazard("LP412", msg)]

    def notes(self) -> list[str]:
        return ["ACCESS SHARE only: waits for, and blocks, nothing but ACCESS EXCLUSIVE"]


@dataclass(frozen=True)
class SetTableOwner(Change):
    """ALTER TABLE ... OWNER TO, only when the target names an owner. `before` None: the table is
    created by this plan (its owner is whoever runs it), so the rollback, which drops the table,
    has nothing to undo."""

    table: Table
    before: str | None
    after: str
    phase = Phase.GRANT
    sign = "~"
    kind = "table"

    @property
    def target(self) -> str:
        return self.table.qname

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.table.name, "owner")

    def statements(self) -> list[sql.Composable]:
        return [
            sql.SQL("ALTER TABLE {} OWNER TO {}").format(table_name(self.table), Ident(self.after))
        ]

    def reverse(self) -> Change:
        if self.before is None:
            return NothingToUndoOwner(self)
        return SetTableOwner(self.table, self.after, self.before)

    def description(self) -> str:
        return f"Change the owner of table {self.table.qname} to {self.after}"

    def detail(self) -> str:
        return f"owner {self.before} → {self.after}"

    def lock(self) -> LockMode | None:
        return None if self.before is None else "ACCESS EXCLUSIVE"

    def hazards(self) -> list[Hazard]:
        if self.before is None:
            return []
        msg = (
            f"{self.before} stops owning {self.table.qname}: it loses its implicit privileges "
            "and its exemption from row level security unless granted otherwise"
        )
        return [hazard("LP412", msg)]

    def notes(self) -> list[str]:
        return ["A catalog change only: ACCESS EXCLUSIVE is held briefly, no row is read"]


@dataclass(frozen=True)
class NothingToUndoOwner(NothingToUndo):
    """The rollback of giving a table created by the plan its owner: the rollback drops it."""

    done: SetTableOwner  # type: ignore[assignment]
    own_transaction = False

    def statements(self) -> list[sql.Composable]:
        return [sql.SQL("-- nothing to undo: the table is dropped by the rollback")]

    def notes(self) -> list[str]:
        return ["Runs nothing: the table whose owner was set is dropped by the rollback"]
