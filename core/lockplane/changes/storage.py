"""Storage parameters (reloptions: fillfactor, autovacuum_*, parallel_workers, ...) of tables and
materialized views, set with ALTER ... SET (...) and RESET (...).

Postgres takes SHARE UPDATE EXCLUSIVE for every parameter but user_catalog_table (ACCESS
EXCLUSIVE; `AlterTableGetRelOptionsLockLevel`): readers and writers go on, VACUUM and other DDL
wait. No row is rewritten: a new fillfactor applies to pages written from then on. A new table or
materialized view is created empty, so setting its parameters blocks nobody (`incidental`: the
table is created or dropped by the same plan; resetting them before a drop locks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from psycopg import sql

from ..plan import LockMode
from ..sqlnames import obj
from .base import Change, Phase

Options = tuple[tuple[str, str], ...]


def options(parameters: dict[str, str]) -> Options:
    """The model's mapping as a hashable value, for a frozen change."""
    return tuple(parameters.items())


@dataclass(frozen=True)
class SetStorageParameters(Change):
    relation: Literal["table", "materialized view"]
    schema_: str
    name: str
    qname: str
    before: Options
    after: Options
    incidental: bool = False
    phase = Phase.COMMENT
    sign = "~"

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.relation

    @property
    def target(self) -> str:
        return self.qname

    def key(self) -> tuple[str, ...]:
        return (self.schema_, self.name, "storage")

    def statements(self) -> list[sql.Composable]:
        what = sql.SQL(self.relation.upper())
        name = obj(self.schema_, self.name)
        out: list[sql.Composable] = []
        before, after = dict(self.before), dict(self.after)
        changed = {k: v for k, v in after.items() if before.get(k) != v}
        if changed:
            items = sql.SQL(", ").join(
                sql.SQL("{} = {}").format(sql.SQL(k), sql.Literal(v)) for k, v in changed.items()
            )
            out.append(sql.SQL("ALTER {} {} SET ({})").format(what, name, items))
        removed = [k for k in before if k not in after]
        if removed:
            items = sql.SQL(", ").join(sql.SQL(k) for k in removed)
            out.append(sql.SQL("ALTER {} {} RESET ({})").format(what, name, items))
        return out

    def reverse(self) -> Change:
        return SetStorageParameters(
            self.relation,
            self.schema_,
            self.name,
            self.qname,
            self.after,
            self.before,
            self.incidental,
        )

    def description(self) -> str:
        return f"Set storage parameters of {self.relation} {self.qname}"

    def detail(self) -> str:
        def text(pairs: Options) -> str:
            return ", ".join(f"{k}={v}" for k, v in pairs) or "defaults"

        return f"{text(self.before)} → {text(self.after)}"

    def lock(self) -> LockMode | None:
        if self.incidental and not self.before:  # on a relation this plan creates
            return None
        touched = {k for k, _ in set(self.before) ^ set(self.after)}
        return "ACCESS EXCLUSIVE" if "user_catalog_table" in touched else "SHARE UPDATE EXCLUSIVE"

    def tables(self) -> tuple[str, ...]:
        return () if self.lock() is None else (obj(self.schema_, self.name).as_string(None),)

    def notes(self) -> list[str]:
        return ["A catalog change only: no row is read or rewritten"]
