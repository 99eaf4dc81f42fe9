"""One property-based round trip, the databases it reuses, and the recorder of failing examples.

For a pair of DDL scripts (A, B): load A in one database and B in another, introspect both, plan
A -> B, apply the plan to A's database, and require that the independent reader
(`acceptance/catalog.py`) sees exactly what it sees in B's database; then apply the plan's
reverse and require A back. Databases are reset by dropping their schemas, not recreated: a
CREATE DATABASE per example would cost more than the example itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import yaml
from acceptance.catalog import run_sql, snapshot, snapshot_diff
from psycopg import sql

Planner = Callable[..., Any]
"""`make_plan`'s signature: (old schema, new schema) -> Plan; a test may inject a broken one."""

_USER_SCHEMAS = """
SELECT nspname FROM pg_namespace
WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'lockplane')
  AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp\\_%'
"""


def reset(url: str) -> None:
    """Empty a pooled database: every user schema (with its types) dropped, `public` recreated.

    The `lockplane` schema (the ledger apply writes, or a shadow's marker) is left alone: the
    independent reader ignores it, and keeping it saves recreating it every example.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        names = [r[0] for r in conn.execute(_USER_SCHEMAS).fetchall()]
        for name in names:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
        conn.execute("CREATE SCHEMA public")


@dataclass(frozen=True)
class Pool:
    """The databases one worker reuses for every example: old (A), new (B) and a shadow."""

    old: str
    new: str
    shadow: str


class RoundTripFailed(AssertionError):
    """The plan did not reach B, or its reverse did not get back to A; carries the case."""

    def __init__(self, message: str, case: dict[str, Any]) -> None:
        super().__init__(message)
        self.case = case


def run_steps(url: str, plan: Any) -> None:
    """Run the plan's steps in order, each in its own transaction (or alone, in autocommit,
    when it cannot run in one), exactly as written.

    This is the fast path: `apply_plan` adds a shadow proof, preflight, lock-aware retries and
    a ledger, which cost more than the example and test the executor, not the plan. A case
    this finds goes to the acceptance suite, which applies it the full way.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        for step in plan.steps:
            if step.transactional:
                with conn.transaction():
                    conn.execute(step.sql.encode())
            else:
                conn.execute(step.sql.encode())


def _describe(plan: Any) -> str:
    return "\n".join(f"  {i}. {s.sql}" for i, s in enumerate(plan.steps, 1)) or "  (empty plan)"


def run_example(pool: Pool, old_sql: str, new_sql: str, planner: Planner | None = None) -> Any:
    """Plan A -> B, apply it at A, compare with B; roll back, compare with A. Returns the plan.

    Raises RoundTripFailed (with the acceptance case the example becomes) on any difference,
    and also when apply or rollback raises: a plan Lockplane made must apply.
    """
    from lockplane import introspect_url, make_plan

    planner = planner or make_plan
    reset(pool.old)
    reset(pool.new)
    run_sql(pool.old, old_sql)
    run_sql(pool.new, new_sql)
    old_schema, new_schema = introspect_url(pool.old), introspect_url(pool.new)
    plan = planner(old_schema, new_schema)
    offline = planner(old_schema, new_schema, online=False)
    case: dict[str, Any] = {
        "old": old_sql,
        "new": new_sql,
        "hazards": sorted({h.code for h in plan.hazards()}),
    }
    offline_hazards = sorted({h.code for h in offline.hazards()})
    if offline_hazards != case["hazards"]:
        case["offline_hazards"] = offline_hazards

    def fail(what: str, shown: Any = plan) -> RoundTripFailed:
        return RoundTripFailed(
            f"{what}\nplan:\n{_describe(shown)}\nold:\n{old_sql}\nnew:\n{new_sql}", case
        )

    before = snapshot(pool.old)
    try:
        run_steps(pool.old, plan)
    except psycopg.Error as exc:  # any error from a plan Lockplane made is a failure to record
        raise fail(f"apply raised {type(exc).__name__}: {exc}") from exc
    missing = snapshot_diff(snapshot(pool.old), snapshot(pool.new))
    if missing:
        raise fail("after apply, A differs from B:\n" + "\n".join(missing))
    if not plan.reversible:
        raise fail("plan has steps without a reverse")
    rollback = plan.reverse()
    try:
        run_steps(pool.old, rollback)
    except psycopg.Error as exc:
        raise fail(f"rollback raised {type(exc).__name__}: {exc}", rollback) from exc
    undone = snapshot_diff(unordered(snapshot(pool.old)), unordered(before))
    if undone:
        raise fail("after rollback, A differs from its start:\n" + "\n".join(undone), rollback)
    return plan


def unordered(snap: dict[str, Any]) -> dict[str, Any]:
    """A snapshot without column positions: a rollback re-adds a dropped column at the end.

    Postgres cannot put a column back where it was, so a rollback is compared column by column,
    not by position; the forward apply is still compared with positions.
    """
    tables = {k: {**t, "column_order": None} for k, t in snap["tables"].items()}
    return {**snap, "tables": tables}


class Recorder:
    """Keeps the last failing example and, when the test is over, appends it to a case file.

    Hypothesis runs the shrunk example last, just before it reports the failure, so "the last
    example that failed" is the minimal one; writing every failure to a pending file and
    moving only the final one into the YAML keeps the shrinking steps out of the case file.
    """

    def __init__(self, cases_file: Path, pending_file: Path) -> None:
        self.cases_file = cases_file
        self.pending_file = pending_file
        self.pending_file.unlink(missing_ok=True)

    def failed(self, failure: RoundTripFailed) -> None:
        """Remember this failure, replacing the one before (a larger, not yet shrunk one)."""
        reason = " ".join(str(failure).splitlines()[:2])
        self.pending_file.write_text(json.dumps({**failure.case, "xfail": reason}))

    def commit(self) -> dict[str, Any] | None:
        """Move the last failure into the case file as a strict `xfail` case; return it.

        The reason is the failure's first line; once the engine is fixed the case XPASSes,
        which fails the acceptance run until someone removes the `xfail`.
        """
        if not self.pending_file.exists():
            return None
        case = json.loads(self.pending_file.read_text())
        self.pending_file.unlink()
        digest = hashlib.sha256((case["old"] + "\0" + case["new"]).encode()).hexdigest()[:12]
        entry = {"name": f"found {digest}", **case}
        existing = yaml.safe_load(self.cases_file.read_text()) if self.cases_file.exists() else None
        if any(c.get("name") == entry["name"] for c in existing or []):
            return entry
        header = "" if self.cases_file.exists() else _HEADER
        with self.cases_file.open("a") as out:
            out.write(header + "\n" + yaml.dump([entry], Dumper=_BlockDumper, sort_keys=False))
        return entry


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line SQL as `|` blocks, the way the hand-written case files do."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)

_HEADER = """\
# Minimal examples found by the property-based round trips (tests/property), appended when a
# run fails: each is a known engine bug until fixed (then drop its `xfail`, which is strict).
"""
