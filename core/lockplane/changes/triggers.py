"""Triggers: create, drop, replace (CREATE OR REPLACE TRIGGER) and enable/disable.

CREATE TRIGGER, CREATE OR REPLACE TRIGGER and ALTER TABLE ... ENABLE/DISABLE TRIGGER hold SHARE
ROW EXCLUSIVE on the table (reads go on, writes wait); DROP TRIGGER holds ACCESS EXCLUSIVE for
the moment it takes. A constraint trigger cannot be replaced in place, so a change to one is a
drop and a create. A trigger rebuilt because its function is (`incidental`) raises no hazard:
it is back by the end of the plan.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from psycopg import sql

from ..model import Table, Trigger
from ..plan import Hazard, LockMode
from ..sqlnames import Ident, col
from .base import Change, Phase, hazard
from .ddl import comment_on, table_name

_STATE = {
    "enabled": "ENABLE",
    "disabled": "DISABLE",
    "replica": "ENABLE REPLICA",
    "always": "ENABLE ALWAYS",
}


def _on(table: Table, t: Trigger) -> sql.Composable:
    return sql.SQL("{} ON {}").format(Ident(t.name), table_name(table))


def _create_sql(table: Table, t: Trigger, *, replace: bool = False) -> sql.Composable:
    events: list[sql.Composable] = []
    for e in t.events:
        if e == "UPDATE" and t.update_columns:
            columns = sql.SQL(", ").join(col(c) for c in t.update_columns)
            events.append(sql.SQL("UPDATE OF {}").format(columns))
        else:
            events.append(sql.SQL(e))
    verb = "CREATE OR REPLACE" if replace else "CREATE"
    parts: list[sql.Composable] = [
        sql.SQL("{} {}TRIGGER {} {} {} ON {}").format(
            sql.SQL(verb),
            sql.SQL("CONSTRAINT " if t.constraint else ""),
            Ident(t.name),
            sql.SQL(t.timing),
            sql.SQL(" OR ").join(events),
            table_name(table),
        )
    ]
    if t.deferrable:
        parts.append(sql.SQL("DEFERRABLE"))
    if t.initially_deferred:
        parts.append(sql.SQL("INITIALLY DEFERRED"))
    parts.append(sql.SQL("FOR EACH {}").format(sql.SQL(t.for_each.upper())))
    if t.when is not None:
        parts.append(sql.SQL("WHEN ({})").format(sql.SQL(t.when)))
    parts.append(
        sql.SQL("EXECUTE FUNCTION {}({})").format(
            sql.SQL(t.function), sql.SQL(", ").join(sql.Literal(a) for a in t.arguments)
        )
    )
    return sql.SQL(" ").join(parts)


def _state_sql(table: Table, t: Trigger) -> sql.Composable:
    return sql.SQL("ALTER TABLE {} {} TRIGGER {}").format(
        table_name(table), sql.SQL(_STATE[t.enabled]), Ident(t.name)
    )


class _TriggerChange(Change):
    table: Table
    kind = "trigger"

    @property
    @abstractmethod
    def trigger(self) -> Trigger:
        """The trigger acted on: `after` for creates and replacements, `before` for drops."""

    def key(self) -> tuple[str, ...]:
        return (self.table.schema_, self.table.name, self.trigger.name)

    @property
    def target(self) -> str:
        return f"{self.trigger.name} on {self.table.qname}"


@dataclass(frozen=True)
class CreateTrigger(_TriggerChange):
    """`new_table`: the table is created by this plan (nothing to lock)."""

    table: Table
    after: Trigger
    new_table: bool = False
    incidental: bool = False
    phase = Phase.CREATE_TRIGGER
    sign = "+"

    @property
    def trigger(self) -> Trigger:
        return self.after

    def statements(self) -> list[sql.Composable]:
        out = [_create_sql(self.table, self.after)]
        if self.after.enabled != "enabled":
            out.append(_state_sql(self.table, self.after))
        if self.after.comment is not None:
            out.append(comment_on("TRIGGER", _on(self.table, self.after), self.after.comment))
        return out

    def reverse(self) -> Change:
        return DropTrigger(self.table, self.after, self.new_table, self.incidental)

    def description(self) -> str:
        return f"Create trigger {self.target}"

    def lock(self) -> LockMode | None:
        return None if self.new_table else "SHARE ROW EXCLUSIVE"

    def notes(self) -> list[str]:
        if self.new_table:
            return ["The table is new: nothing else uses it yet"]
        return ["SHARE ROW EXCLUSIVE for a moment: reads go on, writes wait; no rows are read"]


@dataclass(frozen=True)
class DropTrigger(_TriggerChange):
    """`table_dropped`: the table goes later in the plan (the drop keeps the rollback whole)."""

    table: Table
    before: Trigger
    table_dropped: bool = False
    incidental: bool = False
    phase = Phase.DROP_TRIGGER
    sign = "-"

    @property
    def trigger(self) -> Trigger:
        return self.before

    def statements(self) -> list[sql.Composable]:
        return [sql.SQL("DROP TRIGGER {}").format(_on(self.table, self.before))]

    def reverse(self) -> Change:
        return CreateTrigger(self.table, self.before, self.table_dropped, self.incidental)

    def description(self) -> str:
        return f"Drop trigger {self.target}"

    def lock(self) -> LockMode | None:
        return "ACCESS EXCLUSIVE"

    def hazards(self) -> list[Hazard]:
        if self.table_dropped or self.incidental:
            return []
        msg = f"Writes to {self.table.qname} stop running trigger {self.before.name}"
        return [hazard("LP413", msg)]

    def notes(self) -> list[str]:
        if self.incidental:
            return ["Dropped for its function to be replaced; created again later in the plan"]
        return ["ACCESS EXCLUSIVE only for the moment of the drop; no rows are read"]


@dataclass(frozen=True)
class ReplaceTrigger(_TriggerChange):
    """CREATE OR REPLACE TRIGGER for a changed definition, ALTER TABLE ... ENABLE/DISABLE
    TRIGGER for a changed state, COMMENT for a changed comment (never a constraint trigger's
    definition: the diff drops and creates those)."""

    table: Table
    before: Trigger
    after: Trigger
    phase = Phase.CREATE_TRIGGER
    sign = "~"

    @property
    def trigger(self) -> Trigger:
        return self.after

    @property
    def redefined(self) -> bool:
        rest = {"enabled": self.after.enabled, "comment": self.after.comment}
        return self.before.model_copy(update=rest) != self.after

    def statements(self) -> list[sql.Composable]:
        b, a = self.before, self.after
        out: list[sql.Composable] = []
        if self.redefined:
            out.append(_create_sql(self.table, a, replace=True))
        if b.enabled != a.enabled or (self.redefined and a.enabled != "enabled"):
            out.append(_state_sql(self.table, a))
        if b.comment != a.comment:
            out.append(comment_on("TRIGGER", _on(self.table, a), a.comment))
        return out

    def reverse(self) -> Change:
        return ReplaceTrigger(self.table, self.after, self.before)

    def description(self) -> str:
        if self.redefined:
            return f"Replace trigger {self.target}"
        if self.before.enabled != self.after.enabled:
            return f"{_STATE[self.after.enabled].capitalize()} trigger {self.target}"
        return f"Set comment on trigger {self.target}"

    def detail(self) -> str:
        b, a = self.before, self.after
        return ", ".join(k for k in Trigger.model_fields if getattr(b, k) != getattr(a, k))

    def lock(self) -> LockMode | None:
        if self.redefined or self.before.enabled != self.after.enabled:
            return "SHARE ROW EXCLUSIVE"
        return "ACCESS SHARE"  # COMMENT ON TRIGGER

    def hazards(self) -> list[Hazard]:
        if self.after.enabled == "disabled" and self.before.enabled != "disabled":
            msg = f"Writes to {self.table.qname} stop running trigger {self.after.name}"
            return [hazard("LP413", msg)]
        return []

    def notes(self) -> list[str]:
        return ["SHARE ROW EXCLUSIVE for a moment: reads go on, writes wait; no rows are read"]
