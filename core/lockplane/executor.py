"""Apply a plan: lock, check for drift, preflight the data, prove on the shadow, then apply.

The data preflight (preflight.py) asks the real database, read-only, whether its rows would make
a step fail, since the shadow is empty and cannot know. Nothing touches the real database until the shadow has shown that the plan turns the current
schema into the target and that the rollback turns it back. The real apply is one transaction
with a short lock_timeout, so a failed step leaves the database exactly as it was, and a
migration never waits long in the lock queue behind a long-running transaction (where it would
block every query queued behind it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

import psycopg
from psycopg import sql

from . import ledger
from .db import connect, mask_url
from .diff import diff
from .errors import (
    ApplyFailed,
    DriftError,
    LockBusy,
    LockplaneError,
    PreflightFailed,
    UnsafePlan,
)
from .introspect import introspect
from .model import Schema
from .plan import Plan
from .preflight import DEFAULT_TIMEOUT, PreflightReport, preflight_plan
from .proof import ShadowReport, prove
from .shadow import Shadow

# "Lockplan" in ASCII: one advisory lock key per database (advisory locks are per database).
ADVISORY_KEY = 0x4C6F636B706C616E


@dataclass(frozen=True)
class ApplyResult:
    steps_applied: int
    duration_ms: int
    ledger_id: int | None
    shadow: ShadowReport
    verified: bool
    message: str
    preflight: PreflightReport | None = None  # None when the caller turned it off


def unsafe_steps(plan: Plan) -> list[str]:
    return [
        f"step {n} ({s.description}): "
        + "; ".join(h.message for h in s.hazards if h.severity == "error")
        for n, s in enumerate(plan.steps, 1)
        if s.blocking
    ]


@contextmanager
def advisory_lock(url: str, wait_seconds: float) -> Iterator[None]:
    """Hold Lockplane's advisory lock on the database for the duration of an apply."""
    conn = connect(url, autocommit=True)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_KEY]).fetchone()
            if row and row[0]:
                break
            if time.monotonic() >= deadline:
                raise LockBusy(
                    f"another Lockplane apply holds the lock on {mask_url(url)}; "
                    f"waited {wait_seconds:g}s. Try again when it has finished."
                )
            time.sleep(0.2)
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_KEY])
    finally:
        conn.close()


def check_drift(plan: Plan, live: Schema) -> None:
    if plan.source_fingerprint is None or live.fingerprint() == plan.source_fingerprint:
        return
    if plan.source is not None:
        changed = diff(plan.source, live)
        if changed.is_empty:  # spelled differently, same schema
            return
        what = "\nWhat changed since the plan was made:\n" + changed.summary()
    else:
        what = ""
    raise DriftError(
        "the database drifted since the plan was made: "
        f"plan source {plan.source_fingerprint[:12]}, database {live.fingerprint()[:12]}; "
        "make a new plan" + what
    )


def apply_plan(
    plan: Plan,
    database_url: str,
    *,
    shadow_url: str,
    allow_destructive: bool = False,
    lock_timeout: str = "5s",
    lock_wait_seconds: float = 5.0,
    progress: Callable[[int, int, str], None] | None = None,
    preflight: bool = True,
    preflight_timeout: float = DEFAULT_TIMEOUT,
) -> ApplyResult:
    """Apply `plan` to the database at `database_url`, proving it on `shadow_url` first.

    With `preflight`, the real rows are checked first (each query within `preflight_timeout`
    seconds) and PreflightFailed is raised, with the report, if some would make a step fail.
    """
    if plan.is_empty:
        return ApplyResult(0, 0, None, ShadowReport(), True, "No changes: nothing to apply.")
    blocked = unsafe_steps(plan)
    if blocked and not allow_destructive:
        raise UnsafePlan(
            "refusing to apply: "
            + " | ".join(blocked)
            + ". Pass --allow-destructive to apply anyway."
        )
    deferred = [s.description for s in plan.steps if not s.transactional]
    if deferred:
        raise LockplaneError(
            "this plan has steps that cannot run in a transaction ("
            + ", ".join(deferred)
            + "); Lockplane does not apply those yet"
        )
    shadow = Shadow(shadow_url, target_url=database_url)
    with advisory_lock(database_url, lock_wait_seconds):
        with connect(database_url, autocommit=True) as conn:
            live = introspect(conn)
        check_drift(plan, live)
        checked = None
        if preflight:
            checked = preflight_plan(plan, database_url, timeout=preflight_timeout)
            if not checked.ok:
                raise PreflightFailed(checked.failure_message(), checked)
        report = prove(plan, live, shadow)
        applied_at = datetime.now(timezone.utc)
        started = time.monotonic()
        ledger_id = _apply_for_real(plan, database_url, lock_timeout, applied_at, started, progress)
        duration_ms = int((time.monotonic() - started) * 1000)
        with connect(database_url, autocommit=True) as conn:
            after = introspect(conn)
        verified = report.reached is None or diff(after, report.reached).is_empty
    return ApplyResult(
        steps_applied=len(plan.steps),
        duration_ms=duration_ms,
        ledger_id=ledger_id,
        shadow=report,
        verified=verified,
        message=f"Applied {len(plan.steps)} step{'s' if len(plan.steps) != 1 else ''} in {duration_ms} ms",
        preflight=checked,
    )


def _apply_for_real(
    plan: Plan,
    url: str,
    lock_timeout: str,
    applied_at: datetime,
    started: float,
    progress: Callable[[int, int, str], None] | None,
) -> int:
    conn = connect(url, autocommit=True)
    try:
        number, step = 0, None
        try:
            with conn.transaction():
                conn.execute(
                    sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(lock_timeout))
                )
                for number, step in enumerate(plan.steps, 1):
                    if progress is not None:
                        progress(number, len(plan.steps), step.description)
                    conn.execute(step.sql.encode())
                return ledger.record(
                    conn,
                    plan,
                    started_at=applied_at,
                    duration_ms=int((time.monotonic() - started) * 1000),
                    outcome="applied",
                )
        except psycopg.Error as exc:
            reason = (exc.diag.message_primary or str(exc)).strip()
            if isinstance(exc, psycopg.errors.LockNotAvailable):
                reason += (
                    f" (waited lock_timeout={lock_timeout} for a lock; a long transaction holds it)"
                )
            where = f"step {number} ({step.description})" if step is not None else "setup"
            message = f"{where} failed: {reason}. The transaction was rolled back: the database is unchanged."
            with conn.transaction():
                ledger_id = ledger.record(
                    conn,
                    plan,
                    started_at=applied_at,
                    duration_ms=int((time.monotonic() - started) * 1000),
                    outcome="failed",
                    error=message,
                )
            raise ApplyFailed(message, ledger_id) from None
    finally:
        conn.close()
