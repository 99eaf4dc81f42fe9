"""Row-level security: the ENABLE / FORCE flags of a table and its policies.

Policies filter rows only while RLS is enabled, and then a role that no permissive policy admits
for a command sees (or changes) no rows at all: turning RLS on, dropping a policy or rewriting its
USING clause changes what running clients get back without any error. Those are the hazards here.
Every statement takes ACCESS EXCLUSIVE on the table, briefly (catalog only, no scan).

`incidental`: the table is created (for creates and ENABLE) or dropped (for drops and DISABLE) by
the same plan, so there is nobody to surprise; `rebuilt`: a policy dropped and recreated unchanged
around an ALTER COLUMN TYPE of a column it uses (Postgres refuses that change while it exists).
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from ..model import Policy, Table
from ..plan import Hazard, LockMode
from ..sqlnames import Ident
from .base import Change, Phase, hazard
from .ddl import table_name

COMMANDS = ("SELECT", "INSERT", "UPDATE", "DELETE")


def role_list(roles: tuple[str, ...]) -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL("PUBLIC") if r == "public" else Ident(r) for r in roles)


def uncovered(table: Table) -> list[str]:
    """The commands no permissive policy of `table` admits any role to: with RLS on, every
    role subject to it sees or changes no rows through them."""
    covered = {
        c
        for p in table.policies
        if p.permissive
        for c in (COMMANDS if p.command == "ALL" else (p.command,))
    }
    return [c for c in COMMANDS if c not in covered]


def _who(p: Policy) -> str:
    return "every role" if p.roles == ("public",) else ", ".join(p.roles)


@dataclass(frozen=True)
class SetRowSecurity(Change):
    """ALTER TABLE ... ENABLE/DISABLE ROW LEVEL SECURITY, or FORCE/NO FORCE (`force`): forced,
    the table's owner is subject to the policies too. `table` is the table as the plan leaves it
    (its policies say which commands stay open)."""

    table: Table
    force: bool
    on: bool
    incidental: bool = False
    phase = Phase.ENABLE_RLS

    @property
    def sign(self) -> str:  # type: ignore[override]
        return "~"

    @property
    def kind(self) -> str:
        return "table"

    @property
    def target(self) -> str:
        return self.table.qname

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.table.name, "force" if self.force else "enable")

    def _clause(self) -> str:
        if self.force:
            return "FORCE" if self.on else "NO FORCE"
        return "ENABLE" if self.on else "DISABLE"

    def statements(self) -> list[sql.Composable]:
        return [
            sql.SQL("ALTER TABLE {} {} ROW LEVEL SECURITY").format(
                table_name(self.table), sql.SQL(self._clause())
            )
        ]

    def reverse(self) -> Change:
        return SetRowSecurity(self.table, self.force, not self.on, self.incidental)

    def description(self) -> str:
        return f"{self._clause().title()} row level security on table {self.table.qname}"

    def detail(self) -> str:
        return f"{self._clause().lower()} row level security"

    def lock(self) -> LockMode | None:
        return None if self.incidental and self.on else "ACCESS EXCLUSIVE"

    def hazards(self) -> list[Hazard]:
        if self.incidental:
            return []
        q = self.table.qname
        if self.on:
            closed = uncovered(self.table)
            if not closed:
                return []
            who = "its owner too (FORCE)" if self.force else "every role but its owner"
            return [
                hazard(
                    "LP410",
                    f"With row level security on {q}, no permissive policy allows "
                    f"{', '.join(closed)}: {who} gets no rows for it",
                )
            ]
        if self.force:
            msg = f"The owner of {q} bypasses its row level security policies again"
        else:
            msg = (
                f"Row level security is disabled on {q}: every role with privileges on it reads "
                "and writes all rows, whatever the policies say"
            )
        return [hazard("LP411", msg)]

    def notes(self) -> list[str]:
        return ["A catalog change only: ACCESS EXCLUSIVE is held briefly, no row is read"]


def _policy_sql(table: Table, p: Policy) -> sql.Composable:
    parts: list[sql.Composable] = [
        sql.SQL("CREATE POLICY {} ON {}").format(Ident(p.name), table_name(table))
    ]
    if not p.permissive:
        parts.append(sql.SQL("AS RESTRICTIVE"))
    if p.command != "ALL":
        parts.append(sql.SQL("FOR {}").format(sql.SQL(p.command)))
    if p.roles != ("public",):
        parts.append(sql.SQL("TO {}").format(role_list(p.roles)))
    if p.using is not None:
        parts.append(sql.SQL("USING ({})").format(sql.SQL(p.using)))
    if p.with_check is not None:
        parts.append(sql.SQL("WITH CHECK ({})").format(sql.SQL(p.with_check)))
    return sql.SQL(" ").join(parts)


def design_advice(table: Table, p: Policy) -> list[Hazard]:
    """A permissive policy that is always true for every role admits everyone (with Supabase,
    the anon key too): usually a placeholder that outlived its purpose."""
    if not p.permissive or p.roles != ("public",):
        return []
    if "true" not in (p.using, p.with_check):
        return []
    return [
        hazard(
            "LP510",
            f"Policy {p.name} on {table.qname} lets every role ({p.command}) through "
            "unconditionally; row level security filters nothing for it",
        )
    ]


@dataclass(frozen=True)
class CreatePolicy(Change):
    table: Table
    policy: Policy
    incidental: bool = False
    rebuilt: bool = False
    phase = Phase.CREATE_POLICY
    sign = "+"
    kind = "policy"

    @property
    def target(self) -> str:
        return f"{self.policy.name} on {self.table.qname}"

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.table.name, "b-create", self.policy.name)

    def statements(self) -> list[sql.Composable]:
        return [_policy_sql(self.table, self.policy)]

    def reverse(self) -> Change:
        return DropPolicy(self.table, self.policy, self.incidental, self.rebuilt)

    def description(self) -> str:
        how = " (again, after the column type change)" if self.rebuilt else ""
        return f"Create policy {self.policy.name} on table {self.table.qname}{how}"

    def lock(self) -> LockMode | None:
        return None if self.incidental else "ACCESS EXCLUSIVE"

    def hazards(self) -> list[Hazard]:
        if self.rebuilt:
            return []
        out = design_advice(self.table, self.policy)
        p = self.policy
        if not self.incidental and not p.permissive and self.table.row_level_security:
            msg = (
                f"Restrictive policy {p.name} on {self.table.qname} narrows what {_who(p)} "
                f"can {p.command} from now on"
            )
            out.append(hazard("LP411", msg))
        return out

    def notes(self) -> list[str]:
        return ["A catalog change only: ACCESS EXCLUSIVE is held briefly, no row is read"]


@dataclass(frozen=True)
class DropPolicy(Change):
    """`closes`: the commands that no permissive policy admits anyone to once the plan's policy
    drops are done, while row level security stays on (they were open before)."""

    table: Table
    policy: Policy
    incidental: bool = False
    rebuilt: bool = False
    closes: tuple[str, ...] = ()
    phase = Phase.DROP_POLICY
    sign = "-"
    kind = "policy"

    @property
    def target(self) -> str:
        return f"{self.policy.name} on {self.table.qname}"

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.table.name, "a-drop", self.policy.name)

    def statements(self) -> list[sql.Composable]:
        return [
            sql.SQL("DROP POLICY {} ON {}").format(Ident(self.policy.name), table_name(self.table))
        ]

    def reverse(self) -> Change:
        return CreatePolicy(self.table, self.policy, self.incidental, self.rebuilt)

    def description(self) -> str:
        how = " (recreated after the column type change)" if self.rebuilt else ""
        return f"Drop policy {self.policy.name} on table {self.table.qname}{how}"

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE"

    def hazards(self) -> list[Hazard]:
        if self.incidental or self.rebuilt:
            return []
        p, q = self.policy, self.table.qname
        if p.permissive:
            effect = f"{_who(p)} loses the rows it admitted for {p.command}"
        else:
            effect = f"{_who(p)} gets rows for {p.command} that it filtered out"
        out = [hazard("LP411", f"Policy {p.name} on {q} is dropped: {effect}")]
        if self.closes:
            msg = (
                f"No permissive policy on {q} allows {', '.join(self.closes)} any more while row "
                "level security stays on: every role but the owner gets no rows for it"
            )
            out.append(hazard("LP410", msg))
        return out

    def notes(self) -> list[str]:
        if self.rebuilt:
            return ["Recreated unchanged in the same transaction: no client sees it missing"]
        return ["A catalog change only: ACCESS EXCLUSIVE is held briefly, no row is read"]


@dataclass(frozen=True)
class AlterPolicy(Change):
    """ALTER POLICY for roles, USING and WITH CHECK (the command and permissive/restrictive
    cannot be altered, and an expression cannot be removed: those are a drop and a create)."""

    table: Table
    before: Policy
    after: Policy
    phase = Phase.CREATE_POLICY
    sign = "~"
    kind = "policy"

    @staticmethod
    def applies(before: Policy, after: Policy) -> bool:
        return (
            (before.command, before.permissive) == (after.command, after.permissive)
            and not (before.using is not None and after.using is None)
            and not (before.with_check is not None and after.with_check is None)
        )

    @property
    def target(self) -> str:
        return f"{self.after.name} on {self.table.qname}"

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.table.name, "b-create", self.after.name)

    def statements(self) -> list[sql.Composable]:
        b, a = self.before, self.after
        parts: list[sql.Composable] = [
            sql.SQL("ALTER POLICY {} ON {}").format(Ident(a.name), table_name(self.table))
        ]
        if a.roles != b.roles:
            parts.append(sql.SQL("TO {}").format(role_list(a.roles)))
        if a.using != b.using and a.using is not None:
            parts.append(sql.SQL("USING ({})").format(sql.SQL(a.using)))
        if a.with_check != b.with_check and a.with_check is not None:
            parts.append(sql.SQL("WITH CHECK ({})").format(sql.SQL(a.with_check)))
        return [sql.SQL(" ").join(parts)]

    def reverse(self) -> Change:
        return AlterPolicy(self.table, self.after, self.before)

    def description(self) -> str:
        return f"Alter policy {self.after.name} on table {self.table.qname}"

    def detail(self) -> str:
        b, a = self.before, self.after
        out = [
            f"{what} {x} → {y}"
            for what, x, y in (
                ("roles", ", ".join(b.roles), ", ".join(a.roles)),
                ("using", b.using, a.using),
                ("with check", b.with_check, a.with_check),
            )
            if x != y
        ]
        return "; ".join(out)

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE"

    def hazards(self) -> list[Hazard]:
        msg = (
            f"Policy {self.after.name} on {self.table.qname} changes ({self.detail()}): "
            "which rows each role sees or writes changes"
        )
        return [hazard("LP411", msg), *design_advice(self.table, self.after)]

    def notes(self) -> list[str]:
        return ["A catalog change only: ACCESS EXCLUSIVE is held briefly, no row is read"]
