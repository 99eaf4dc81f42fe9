"""The execution journal: every apply is a run, and every step of it has a state in the database.

A run lives in `lockplane.runs` (the whole plan, so that another process can resume it from
the database URL alone) and `lockplane.run_steps` (pending -> running -> done / failed / undone,
attempts, a checkpoint such as a backfill's last key, rows done). The state of a transactional
step is written in the same transaction as the step itself, and a backfill's checkpoint in the
same transaction as its batch, so what the journal says happened is exactly what committed: a
resumed run never does a step twice and never skips one.

A run is interrupted when its apply stopped with durable work half done (state `interrupted`),
or when it reads `running` but its holder (the session holding Lockplane's advisory lock for it)
is gone: its process was killed or lost its connection. `worker_pid` is the session that last ran
one of its steps (the one to look at, or terminate, while a step runs). Only such a run can be
resumed or abandoned; while it stands, no new plan may be applied on that database.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from .ledger import os_user
from .plan import Plan

_CREATE = """
CREATE SCHEMA IF NOT EXISTS lockplane;
CREATE TABLE IF NOT EXISTS lockplane.runs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    state text NOT NULL CHECK (state IN ('running', 'interrupted', 'done', 'failed', 'abandoned')),
    holder_pid integer,
    holder_started timestamptz,
    worker_pid integer,
    os_user text NOT NULL,
    db_user text NOT NULL DEFAULT current_user,
    plan_fingerprint text NOT NULL,
    plan jsonb NOT NULL,
    error text,
    ledger_id bigint
);
CREATE TABLE IF NOT EXISTS lockplane.run_steps (
    run_id bigint NOT NULL REFERENCES lockplane.runs ON DELETE CASCADE,
    step integer NOT NULL,
    description text NOT NULL,
    state text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'running', 'done', 'failed', 'undone')),
    attempts integer NOT NULL DEFAULT 0,
    started_at timestamptz,
    finished_at timestamptz,
    checkpoint jsonb,
    rows_done bigint NOT NULL DEFAULT 0,
    rows_total bigint,
    rows_since timestamptz,
    rows_at_since bigint NOT NULL DEFAULT 0,
    updated_at timestamptz,
    error text,
    PRIMARY KEY (run_id, step)
)
"""

# A holder is alive while a backend with its pid and start time exists (pids are reused).
_ALIVE = """
EXISTS (SELECT FROM pg_stat_activity a
         WHERE a.pid = r.holder_pid AND a.backend_start = r.holder_started)
"""

_RUNS = f"""
SELECT r.id, r.started_at, r.updated_at, r.finished_at, r.state, {_ALIVE} AS alive,
       r.os_user, r.db_user, r.plan_fingerprint, r.error, r.ledger_id,
       count(s.step) AS steps,
       count(s.step) FILTER (WHERE s.state = 'done') AS steps_done,
       min(s.step) FILTER (WHERE s.state NOT IN ('done', 'undone')) AS current_step,
       coalesce(sum(s.rows_done), 0) AS rows_done,
       sum(s.rows_total) AS rows_total,
       min(s.checkpoint -> 'progress' ->> 'phase') FILTER (WHERE s.state = 'running') AS phase,
       sum((s.rows_done - s.rows_at_since)
           / nullif(extract(epoch FROM s.updated_at - s.rows_since), 0))
         FILTER (WHERE s.state = 'running') AS rate
  FROM lockplane.runs r
  LEFT JOIN lockplane.run_steps s ON s.run_id = r.id
 WHERE %(id)s::bigint IS NULL OR r.id = %(id)s::bigint
 GROUP BY r.id
 ORDER BY r.id
"""


@dataclass(frozen=True)
class RunInfo:
    """One run as `lockplane runs` lists it. `status` is the state a user acts on: a run whose
    holder is gone while it was running reads `interrupted`."""

    id: int
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    state: str
    alive: bool
    os_user: str
    db_user: str
    plan_fingerprint: str
    error: str | None
    ledger_id: int | None
    steps: int
    steps_done: int
    current_step: int | None
    rows_done: int
    rows_total: int | None
    phase: str | None  # of the step running now, when it reports one (an index build)
    rate: float | None  # rows/s of the backfill running now, since it (re)started

    @property
    def eta(self) -> float | None:
        """Seconds left for the rows still to do, at the current rate."""
        if not self.rate or not self.rows_total:
            return None
        return max(0.0, (self.rows_total - self.rows_done) / self.rate)

    @property
    def status(self) -> str:
        if self.state == "running" and not self.alive:
            return "interrupted"
        return self.state

    @property
    def unfinished(self) -> bool:
        return self.status == "interrupted"


@dataclass(frozen=True)
class StepState:
    step: int
    state: str
    attempts: int
    checkpoint: dict[str, Any] | None
    rows_done: int


def ensure(conn: psycopg.Connection) -> None:
    """Create the journal tables if this database has none (in the caller's transaction)."""
    conn.execute(_CREATE.encode())


def exists(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT to_regclass('lockplane.run_steps') IS NOT NULL").fetchone()
    return bool(row and row[0])


def runs(conn: psycopg.Connection, run_id: int | None = None) -> list[RunInfo]:
    if not exists(conn):
        return []
    return [RunInfo(*row) for row in conn.execute(_RUNS, {"id": run_id}).fetchall()]


def interrupted(conn: psycopg.Connection) -> list[RunInfo]:
    return [r for r in runs(conn) if r.unfinished]


def start(conn: psycopg.Connection, plan: Plan, holder_pid: int) -> int:
    """Record a new run holding the advisory lock through session `holder_pid`; its id."""
    ensure(conn)
    row = conn.execute(
        "INSERT INTO lockplane.runs (state, holder_pid, holder_started, os_user, "
        "plan_fingerprint, plan) SELECT 'running', %s, a.backend_start, %s, %s, %s "
        "FROM pg_stat_activity a WHERE a.pid = %s RETURNING id",
        [holder_pid, os_user(), plan.fingerprint(), plan.to_json(), holder_pid],
    ).fetchone()
    if row is None:
        raise RuntimeError(f"the advisory lock holder {holder_pid} is not a live session")
    run_id = int(row[0])
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO lockplane.run_steps (run_id, step, description) VALUES (%s, %s, %s)",
            [(run_id, n, s.description) for n, s in enumerate(plan.steps, 1)],
        )
    return run_id


def take_over(conn: psycopg.Connection, run_id: int, holder_pid: int) -> None:
    """The resuming session becomes the run's holder (the old one is gone)."""
    conn.execute(
        "UPDATE lockplane.runs r SET holder_pid = a.pid, holder_started = a.backend_start, "
        "updated_at = clock_timestamp() FROM pg_stat_activity a "
        "WHERE r.id = %s AND a.pid = %s",
        [run_id, holder_pid],
    )


def plan_of(conn: psycopg.Connection, run_id: int) -> Plan:
    row = conn.execute("SELECT plan FROM lockplane.runs WHERE id = %s", [run_id]).fetchone()
    if row is None:
        raise KeyError(run_id)
    return Plan.model_validate(row[0])


def steps(conn: psycopg.Connection, run_id: int) -> dict[int, StepState]:
    rows = conn.execute(
        "SELECT step, state, attempts, checkpoint, rows_done FROM lockplane.run_steps "
        "WHERE run_id = %s ORDER BY step",
        [run_id],
    ).fetchall()
    return {int(r[0]): StepState(*r) for r in rows}


def mark(
    conn: psycopg.Connection,
    run_id: int,
    numbers: Iterable[int],
    state: str,
    *,
    error: str | None = None,
    checkpoint: dict[str, Any] | None = None,
) -> None:
    """Set the state of steps `numbers`; `running` also counts an attempt and keeps the
    first start time, a final state stamps the finish."""
    conn.execute(
        "UPDATE lockplane.run_steps SET state = %(state)s, "
        "attempts = attempts + (%(state)s = 'running')::int, "
        "started_at = CASE WHEN %(state)s = 'running' THEN coalesce(started_at, "
        "clock_timestamp()) ELSE started_at END, "
        "finished_at = CASE WHEN %(state)s = 'running' THEN NULL ELSE clock_timestamp() END, "
        "rows_since = CASE WHEN %(state)s = 'running' THEN clock_timestamp() ELSE rows_since END, "
        "rows_at_since = CASE WHEN %(state)s = 'running' THEN rows_done ELSE rows_at_since END, "
        "error = %(error)s, checkpoint = coalesce(%(checkpoint)s::jsonb, checkpoint) "
        "WHERE run_id = %(run)s AND step = ANY(%(steps)s)",
        {
            "state": state,
            "error": error,
            "checkpoint": json.dumps(checkpoint) if checkpoint is not None else None,
            "run": run_id,
            "steps": list(numbers),
        },
    )
    conn.execute(
        "UPDATE lockplane.runs SET updated_at = clock_timestamp(), worker_pid = pg_backend_pid() "
        "WHERE id = %s",
        [run_id],
    )


def checkpoint(
    conn: psycopg.Connection,
    run_id: int,
    step: int,
    cursor: dict[str, Any],
    rows: int,
    rows_total: int | None,
) -> None:
    """A batch of a long step committed: record where it got to, in the batch's transaction."""
    conn.execute(
        "UPDATE lockplane.run_steps SET checkpoint = %s::jsonb, rows_done = rows_done + %s, "
        "rows_total = %s, updated_at = clock_timestamp() WHERE run_id = %s AND step = %s",
        [json.dumps(cursor), rows, rows_total, run_id, step],
    )


def finish(
    conn: psycopg.Connection,
    run_id: int,
    state: str,
    *,
    error: str | None = None,
    ledger_id: int | None = None,
) -> None:
    """Set the run's state; a final one (done, failed, abandoned) stamps its finish."""
    conn.execute(
        "UPDATE lockplane.runs SET state = %(state)s, error = %(error)s, ledger_id = %(ledger)s, "
        "finished_at = CASE WHEN %(state)s IN ('running', 'interrupted') THEN NULL "
        "ELSE clock_timestamp() END, updated_at = clock_timestamp() WHERE id = %(run)s",
        {"state": state, "error": error, "ledger": ledger_id, "run": run_id},
    )


@dataclass(frozen=True)
class RunLog:
    """One run's journal, as the runner writes it: each call runs in the caller's transaction
    (or autocommit), which is what ties a step's recorded state to its own commit."""

    run_id: int

    def begin(
        self,
        conn: psycopg.Connection,
        numbers: Iterable[int],
        checkpoint: dict[str, Any] | None = None,
    ) -> None:
        mark(conn, self.run_id, numbers, "running", checkpoint=checkpoint)

    def end(self, conn: psycopg.Connection, numbers: Iterable[int], state: str) -> None:
        mark(conn, self.run_id, numbers, state)

    def state(self, conn: psycopg.Connection, number: int) -> StepState:
        return steps(conn, self.run_id)[number]

    def reached(self, conn: psycopg.Connection, numbers: Iterable[int], state: str) -> bool:
        """Did these steps commit into `state`? Asked after a lost connection, when the
        commit may or may not have happened."""
        known = steps(conn, self.run_id)
        return all(known[n].state == state for n in numbers)

    def note(self, conn: psycopg.Connection, number: int, progress: dict[str, Any]) -> None:
        """How far a step that runs as one statement has got (an index build's phase), kept
        beside what its checkpoint already holds."""
        conn.execute(
            "UPDATE lockplane.run_steps SET checkpoint = coalesce(checkpoint, '{}'::jsonb) "
            "|| jsonb_build_object('progress', %s::jsonb) WHERE run_id = %s AND step = %s",
            [json.dumps(progress), self.run_id, number],
        )

    def advance(
        self,
        conn: psycopg.Connection,
        number: int,
        cursor: dict[str, Any],
        rows: int,
        rows_total: int | None,
    ) -> None:
        checkpoint(conn, self.run_id, number, cursor, rows, rows_total)
