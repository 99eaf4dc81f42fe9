"""The plan document: ordered SQL steps, each with its lock, hazards and generated reverse.

A plan is data that can be reviewed, stored, validated by JSON Schema and applied later. The seed's
shape (steps with `description` and `sql` only) still loads; such a plan simply carries no reverse
steps, no fingerprints and no target to prove against.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import Field

from .errors import NotReversible
from .model import PLAN_URL, Model, Schema

# The hazard's category; `rule` (an LP code, see rules.py) says which rule raised it.
HazardCode = Literal[
    "DATA_LOSS",
    "DATA_DEPENDENT",
    "TABLE_REWRITE",
    "BLOCKING_LOCK",
    "IRREVERSIBLE",
    "BREAKING_CHANGE",
    "SCHEMA_DESIGN",
]
# error: apply refuses without --allow-destructive; warning: review it; info: design advice that
# does not change a step's verdict.
Severity = Literal["error", "warning", "info"]
LockMode = Literal[
    "ACCESS SHARE",
    "ROW SHARE",
    "ROW EXCLUSIVE",
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
]
# Postgres's own lock strength order, used to report a plan's strongest lock.
LOCK_ORDER: tuple[str, ...] = LockMode.__args__  # type: ignore[attr-defined]

# What ordinary traffic waits for while a table lock is held (the Postgres conflict table,
# read for the queries an application runs: SELECT takes ACCESS SHARE, INSERT/UPDATE/DELETE
# take ROW EXCLUSIVE).
LOCK_BLOCKS: dict[str, str] = {
    "ACCESS SHARE": "nothing but ACCESS EXCLUSIVE (DDL)",
    "ROW SHARE": "nothing but EXCLUSIVE locks (DDL)",
    "ROW EXCLUSIVE": "nothing but SHARE locks and stronger (DDL, index builds)",
    "SHARE UPDATE EXCLUSIVE": "other DDL and VACUUM only; reads and writes continue",
    "SHARE": "writes (reads continue)",
    "SHARE ROW EXCLUSIVE": "writes (reads continue)",
    "EXCLUSIVE": "writes (reads continue)",
    "ACCESS EXCLUSIVE": "reads and writes",
}


class Hazard(Model):
    code: HazardCode
    severity: Severity
    message: str
    rule: str | None = Field(
        None,
        pattern="^LP[0-9]{3}$",
        description="The rule that raised it (see `lockplane rules`); null in older plans.",
    )


class Backfill(Model):
    """Set `column` of every existing row of `table` to `expression`, in batches.

    Each batch is its own short transaction over the next `key` range (the primary key, in
    order), or over the next range of heap pages when the table has no primary key; the
    executor records the cursor in the run journal with every batch, so an interrupted backfill
    resumes where it stopped and no row is set twice. Only rows whose column is still NULL are
    set: rows written meanwhile carry their value already (from the column default or the
    trigger the plan installs for the backfill), and a row moved by its update to a page not
    yet visited is not set again."""

    schema_: str = Field("public", alias="schema")
    table: str = Field(min_length=1)
    column: str = Field(min_length=1)
    expression: str = Field(min_length=1, description="SQL evaluated for each row.")
    key: tuple[str, ...] = Field(
        (), description="Primary key columns, in order; empty: batches over heap pages."
    )


class Step(Model):
    description: str = Field(min_length=1)
    sql: str = Field(min_length=1)
    reverse_sql: str | None = Field(
        None,
        description="SQL that undoes this step (only a comment when there is nothing to undo, "
        "as after VALIDATE CONSTRAINT); null when the plan was not generated here, or when "
        "the step is one-way.",
    )
    one_way: bool = Field(
        False,
        description="Nothing can undo this step (an extension update the server has no path "
        "back from): it carries no reverse, and the rollback of its plan is refused.",
    )
    transactional: bool = Field(
        True,
        description="false: Postgres refuses the statement in a transaction block (CONCURRENTLY), "
        "so the step runs alone, in autocommit; it is then a single statement.",
    )
    own_transaction: bool = Field(
        False,
        description="Runs in a transaction of its own (a long step under a weak lock, such as "
        "VALIDATE CONSTRAINT): the strong locks of earlier steps are released before it scans.",
    )
    lock: LockMode | None = Field(None, description="Strongest table lock the step takes.")
    tables: tuple[str, ...] = Field(
        (),
        description="Tables that exist before the plan and that the step locks, as SQL names "
        "them; "
        "the executor checks them for blocking sessions before it runs the step.",
    )
    hazards: tuple[Hazard, ...] = ()
    notes: tuple[str, ...] = Field(
        (), description="Why the step is safe, for the validation report."
    )
    reverse_description: str | None = None
    reverse_lock: LockMode | None = None
    reverse_tables: tuple[str, ...] | None = Field(
        None,
        description="Tables that exist before the rollback and that the reverse step locks; "
        "null in older plans, whose rollback reuses `tables`.",
    )
    reverse_hazards: tuple[Hazard, ...] = Field(
        (), description="Hazards of the reverse step, carried so a rollback is judged like a plan."
    )
    backfill: Backfill | None = Field(
        None,
        description="The executor runs the step in batches (`sql` is the same work as one "
        "statement: what the shadow proof runs and what a reviewer reads).",
    )

    @property
    def blocking(self) -> bool:
        return any(h.severity == "error" for h in self.hazards)


class Plan(Model):
    """An ordered migration from one schema to another.

    `source` and `target` are embedded so that apply can say exactly what drifted and what the
    shadow run failed to reach; plans in the seed's format leave them out.
    """

    json_schema_url: str | None = Field(None, alias="$schema")
    source_fingerprint: str | None = Field(None, pattern="^[0-9a-f]{64}$")
    target_fingerprint: str | None = Field(None, pattern="^[0-9a-f]{64}$")
    steps: tuple[Step, ...] = ()
    source: Schema | None = None
    target: Schema | None = None

    @property
    def is_empty(self) -> bool:
        return not self.steps

    @property
    def reversible(self) -> bool:
        return all(s.reverse_sql is not None for s in self.steps)

    def one_way_steps(self) -> list[str]:
        """`step 2 (Alter extension hstore (version 1.4 → 1.5))` for each step nothing undoes."""
        return [f"step {n} ({s.description})" for n, s in enumerate(self.steps, 1) if s.one_way]

    def hazards(self) -> list[Hazard]:
        return [h for s in self.steps for h in s.hazards]

    def reverse(self) -> Plan:
        """The rollback: every step's generated reverse, last step first.

        Refuses (NotReversible) a plan with a one-way step: leaving it out would give a rollback
        that claims to return to the start and does not."""
        one_way = self.one_way_steps()
        if one_way:
            raise NotReversible(
                f"cannot roll back: {', '.join(one_way)} "
                f"{'is' if len(one_way) == 1 else 'are'} one-way (nothing undoes an extension "
                "update the server has no path back from)"
            )
        steps = tuple(
            Step(
                description=f"Rollback: {s.reverse_description or s.description}",
                sql=s.reverse_sql,
                reverse_sql=s.sql,
                transactional=s.transactional,
                own_transaction=s.own_transaction,
                lock=s.reverse_lock,
                tables=s.tables if s.reverse_tables is None else s.reverse_tables,
                reverse_tables=s.tables,
                hazards=s.reverse_hazards,
                reverse_hazards=s.hazards,
                reverse_lock=s.lock,
                reverse_description=s.description,
            )
            for s in reversed(self.steps)
            if s.reverse_sql is not None
        )
        return Plan(
            source_fingerprint=self.target_fingerprint,
            target_fingerprint=self.source_fingerprint,
            steps=steps,
            source=self.target,
            target=self.source,
        )

    def fingerprint(self) -> str:
        """sha256 of the plan document: names exactly these steps, for journals and
        confirmations."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def to_json(self) -> str:
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        data["$schema"] = PLAN_URL
        for key in ("source", "target"):  # embedded schemas last, written compactly
            if key in data:
                schema = getattr(self, key)
                data[key] = json.loads(schema.to_json())
                data[key].pop("$schema", None)
                data[key] = data.pop(key)
        ordered = {"$schema": PLAN_URL, **{k: v for k, v in data.items() if k != "$schema"}}
        return json.dumps(ordered, indent=2, ensure_ascii=False) + "\n"
