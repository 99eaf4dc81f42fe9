"""The ledger: what ran against a database, kept in that database (`lockplane.migrations`).

It lives next to the data it describes so that it survives whatever happens to the machine that
ran the plan, and so that `history` needs nothing but the database URL. Introspection skips the
`lockplane` schema, so the ledger is never part of a plan.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from .plan import Plan

SCHEMA = "lockplane"
TABLE = "migrations"

_CREATE = """
CREATE SCHEMA IF NOT EXISTS lockplane;
CREATE TABLE IF NOT EXISTS lockplane.migrations (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    duration_ms integer NOT NULL,
    os_user text NOT NULL,
    db_user text NOT NULL DEFAULT current_user,
    source_fingerprint text,
    target_fingerprint text,
    outcome text NOT NULL CHECK (outcome IN ('applied', 'failed')),
    error text,
    steps jsonb NOT NULL
)
"""


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    started_at: datetime
    duration_ms: int
    os_user: str
    db_user: str
    source_fingerprint: str | None
    target_fingerprint: str | None
    outcome: str
    error: str | None
    steps: int


def record(
    conn: psycopg.Connection,
    plan: Plan,
    *,
    started_at: datetime,
    duration_ms: int,
    outcome: str,
    error: str | None = None,
    step_outcomes: Sequence[str] | None = None,
    step_waits: Sequence[int] | None = None,
) -> int:
    """Write one entry in the connection's current transaction; returns its id.

    `step_outcomes` says what became of each step ("applied", "failed", "rolled back",
    "undone", "still applied", "not run") and `step_waits` how many times each waited for a
    lock; both go into the step's entry in `steps`, since a run that stopped half-way is only
    understood step by step (and the jsonb column needs no migration for it)."""
    conn.execute(_CREATE.encode())
    steps: list[dict[str, Any]] = []
    for n, s in enumerate(plan.steps):
        entry: dict[str, Any] = {
            "description": s.description,
            "sql": s.sql,
            "reverse_sql": s.reverse_sql,
        }
        if not s.transactional:
            entry["transactional"] = False
        if step_outcomes is not None:
            entry["outcome"] = step_outcomes[n]
        if step_waits is not None and step_waits[n]:
            entry["lock_waits"] = step_waits[n]
        steps.append(entry)
    row = conn.execute(
        "INSERT INTO lockplane.migrations (started_at, duration_ms, os_user, source_fingerprint, "
        "target_fingerprint, outcome, error, steps) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
        "RETURNING id",
        [
            started_at,
            duration_ms,
            os_user(),
            plan.source_fingerprint,
            plan.target_fingerprint,
            outcome,
            error,
            json.dumps(steps),
        ],
    ).fetchone()
    return int(row[0]) if row else 0


def history(conn: psycopg.Connection) -> list[LedgerEntry]:
    exists = conn.execute("SELECT to_regclass('lockplane.migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return []
    query = sql.SQL(
        "SELECT id, started_at, duration_ms, os_user, db_user, source_fingerprint, "
        "target_fingerprint, outcome, error, jsonb_array_length(steps) FROM {} ORDER BY id"
    ).format(sql.Identifier(SCHEMA, TABLE))
    return [LedgerEntry(*row) for row in conn.execute(query)]


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
