"""Apply a plan: lock, check for drift, preflight the data, prove on the shadow, then apply.

The data preflight (preflight.py) asks the real database, read-only, whether its rows would make
a step fail, since the shadow is empty and cannot know. Nothing touches the real database until
the shadow has shown that the plan turns the current schema into the target and that the
rollback turns it back.

The real apply runs the plan's execution units (units.py: consecutive transactional steps as one
transaction, each non-transactional step alone), each with a short lock_timeout so that it never
waits long in the lock queue where it would block every query queued behind it; a unit that
cannot get its locks is retried until the retry budget is spent. Then the apply stops cleanly:
the failed unit is rolled back and the units already committed are undone with their generated
reverse steps (the same ones the shadow just proved), so the database is where it started. The
error names the sessions that were in the way (blockers.py), and the ledger records the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

import psycopg

from . import ledger
from .blockers import BlockerWatch, describe
from .db import connect, mask_url
from .diff import diff
from .errors import (
    ApplyFailed,
    DriftError,
    LockBusy,
    PreflightFailed,
    UnsafePlan,
)
from .introspect import introspect, opt_in
from .model import Schema
from .plan import Plan
from .preflight import DEFAULT_TIMEOUT, PreflightReport, preflight_plan
from .proof import ShadowReport, prove, rehearsed
from .shadow import Shadow
from .sqlnames import obj
from .units import (
    InvalidIndex,
    Progress,
    Retry,
    Runner,
    Settings,
    Unit,
    UnitFailed,
    invalid_indexes,
    split_units,
)

# "Lockplan" in ASCII: one advisory lock key per database (advisory locks are per database).
ADVISORY_KEY = 0x4C6F636B706C616E
LOCK_TIMEOUT = "2s"  # how long one try of a step may wait in a lock queue
# How long a step may hold locks that stop reads or writes (steps whose locks let traffic flow,
# such as CREATE INDEX CONCURRENTLY, run without one: see units.py). A minute of blocked traffic
# is already an incident; a bigger table needs a deliberate --statement-timeout.
STATEMENT_TIMEOUT = "1min"
RETRY_BUDGET = 30.0  # seconds an apply may spend waiting for locks, over all its retries


@dataclass(frozen=True)
class ApplyResult:
    steps_applied: int
    duration_ms: int
    ledger_id: int | None
    shadow: ShadowReport
    verified: bool
    message: str
    preflight: PreflightReport | None = None  # None when the caller turned it off
    retries: tuple[Retry, ...] = ()  # every wait for a lock, in order
    warnings: tuple[str, ...] = ()


def unsafe_steps(plan: Plan) -> list[str]:
    return [
        f"step {n} ({s.description}): "
        + "; ".join(h.message for h in s.hazards if h.severity == "error")
        for n, s in enumerate(plan.steps, 1)
        if s.blocking
    ]


@contextmanager
def advisory_lock(url: str, wait_seconds: float) -> Iterator[int]:
    """Hold Lockplane's advisory lock on the database for the duration of an apply; yields the
    pid of the session holding it (ours, so never reported as a blocker)."""
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
            yield conn.info.backend_pid
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
    lock_timeout: str = LOCK_TIMEOUT,
    statement_timeout: str = STATEMENT_TIMEOUT,
    retry_budget: float = RETRY_BUDGET,
    lock_wait_seconds: float = 5.0,
    progress: Callable[[int, int, str], None] | None = None,
    on_retry: Callable[[Retry], None] | None = None,
    preflight: bool = True,
    preflight_timeout: float = DEFAULT_TIMEOUT,
    preflight_url: str | None = None,
    shadow_sample: int = 0,
    proven: ShadowReport | None = None,
) -> ApplyResult:
    """Apply `plan` to the database at `database_url`, proving it on `shadow_url` first.

    With `preflight`, the real rows are checked first (each query within `preflight_timeout`
    seconds) and PreflightFailed is raised, with the report, if some would make a step fail;
    `preflight_url` runs those read-only checks on a replica instead of the target. With
    `shadow_sample` > 0 the shadow first gets up to that many rows per table of the target.
    `lock_timeout` and `statement_timeout` are Postgres durations ("2s", "500ms", "0" for
    none); `retry_budget` is in seconds. `progress(n, total, description)` is called as step n
    starts (again when its unit is retried); `on_retry` gets each wait for a lock as it begins.
    `proven` is the shadow report of the plan this one rolls back: that proof rehearsed this
    plan already, so the shadow is not used again (a report that did not is refused).
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
    shadow = Shadow(shadow_url, target_url=database_url)
    with advisory_lock(database_url, lock_wait_seconds) as advisory_pid:
        with connect(database_url, autocommit=True) as conn:
            settings = Settings.resolve(conn, lock_timeout, statement_timeout, retry_budget)
            # Read the privileges and owners the plan's source holds, so the proof starts there.
            wanted = opt_in(plan.source) if plan.source is not None else {}
            live = introspect(conn, **wanted)
        check_drift(plan, live)
        checked = None
        if preflight:
            checked = preflight_plan(
                plan, database_url, timeout=preflight_timeout, replica_url=preflight_url
            )
            if not checked.ok:
                raise PreflightFailed(checked.failure_message(), checked)
        if proven is None:
            report = prove(plan, live, shadow, sample_from=database_url, sample_rows=shadow_sample)
        else:
            report = rehearsed(proven, plan)
        applied_at = datetime.now(timezone.utc)
        started = time.monotonic()
        run = _apply_for_real(
            plan,
            database_url,
            settings,
            applied_at=applied_at,
            started=started,
            progress=progress,
            on_retry=on_retry,
            exclude=(advisory_pid,),
        )
        duration_ms = int((time.monotonic() - started) * 1000)
        with connect(database_url, autocommit=True) as conn:
            after = introspect(conn)
        verified = report.reached is None or diff(after, report.reached).is_empty
    return ApplyResult(
        steps_applied=len(plan.steps),
        duration_ms=duration_ms,
        ledger_id=run.ledger_id,
        shadow=report,
        verified=verified,
        message=f"Applied {len(plan.steps)} step{'s' if len(plan.steps) != 1 else ''} in {duration_ms} ms"
        + (
            f" after {len(run.retries)} wait{'s' if len(run.retries) != 1 else ''} for locks"
            if run.retries
            else ""
        ),
        preflight=checked,
        retries=run.retries,
        warnings=run.warnings,
    )


@dataclass(frozen=True)
class _Run:
    ledger_id: int | None
    retries: tuple[Retry, ...]
    warnings: tuple[str, ...]


def plan_tables(plan: Plan) -> list[str]:
    """The tables a plan touches, as SQL names them: the existing ones its steps lock, and
    every table of its target (which covers the ones it creates)."""
    names = dict.fromkeys(t for s in plan.steps for t in s.tables)
    if plan.target is not None:
        names.update(
            dict.fromkeys(obj(t.schema_, t.name).as_string(None) for t in plan.target.tables)
        )
    return list(names)


def _apply_for_real(
    plan: Plan,
    url: str,
    settings: Settings,
    *,
    applied_at: datetime,
    started: float,
    progress: Progress | None,
    on_retry: Callable[[Retry], None] | None,
    exclude: tuple[int, ...],
) -> _Run:
    conn = connect(url, autocommit=True)
    try:
        watch = BlockerWatch(url, conn.info.backend_pid)
        try:
            runner = Runner(conn, settings, watch=watch, exclude=exclude, on_retry=on_retry)
            return _run_units(plan, runner, applied_at, started, progress)
        finally:
            watch.close()
    finally:
        conn.close()


def _run_units(
    plan: Plan,
    runner: Runner,
    applied_at: datetime,
    started: float,
    progress: Progress | None,
) -> _Run:
    """Run every unit; on a failure undo what was committed, record it, raise ApplyFailed."""
    conn = runner.conn
    tables = plan_tables(plan)
    invalid_before = invalid_indexes(conn, tables) if tables else {}
    done: list[Unit] = []
    failure: UnitFailed | None = None
    broken: list[InvalidIndex] = []
    try:
        for unit in split_units(plan.steps):
            runner.run(unit, progress, len(plan.steps))
            done.append(unit)
        if tables:
            after = invalid_indexes(conn, tables)
            broken = [index for oid, index in after.items() if oid not in invalid_before]
    except UnitFailed as exc:
        failure = exc
    retries = tuple(runner.retries)
    if failure is None and not broken:
        outcomes = ["applied"] * len(plan.steps)
        with conn.transaction():
            ledger_id = _record(conn, plan, applied_at, started, "applied", None, outcomes, retries)
        still_invalid = invalid_indexes(conn, tables) if invalid_before else {}
        warnings = tuple(
            f"{index.text()} was already INVALID before this apply: rebuild it with REINDEX "
            "INDEX CONCURRENTLY, or drop it"
            for oid, index in invalid_before.items()
            if oid in still_invalid
        )
        return _Run(ledger_id, retries, warnings)
    forward_retries = len(runner.retries)
    if failure is not None:
        message = _failure_text(failure, runner.settings, runner)
    else:
        message = (
            "the apply left "
            + ", ".join(f"INVALID {i.text()}" for i in broken)
            + " (a concurrent build that reported success but did not finish)"
        )
    still, undo_error = _undo(runner, plan, done)
    undone = [n for u in done for n in u.numbers if n not in still]
    leftover = failure is not None and failure.leftovers
    if not done:
        message += "; nothing else changed." if leftover else ": the database is unchanged."
    elif undo_error is None:
        message += (
            f"; what was already committed ({_steps(plan, undone)}) was undone with the "
            "generated reverse steps: "
            + (
                "only that INVALID index remains."
                if leftover
                else "the database is back where it started."
            )
        )
    else:
        message += (
            f"; {undo_error}. STILL APPLIED: {_steps(plan, still)} (their reverse SQL is in "
            "the plan: `lockplane rollback`)."
        )
    if runner.retries[forward_retries:]:
        message += f" (the undo waited {len(runner.retries) - forward_retries} times for locks)"
    outcomes = _outcomes(plan, done, failure, still)
    ledger_id = None
    try:
        with conn.transaction():
            ledger_id = _record(
                conn, plan, applied_at, started, "failed", message, outcomes, tuple(runner.retries)
            )
    except psycopg.Error as exc:  # the database is gone: still say what happened
        message += f" The ledger could not record this: {(exc.diag.message_primary or exc)!s}."
    raise ApplyFailed(message, ledger_id) from None


def _failure_text(failure: UnitFailed, settings: Settings, runner: Runner) -> str:
    where = failure.unit.label(failure.step)
    if failure.exhausted:
        tries = 1 + sum(1 for r in runner.retries if r.step in failure.unit.numbers and not r.undo)
        text = (
            f"{where} could not get its locks within the retry budget of "
            f"{settings.retry_budget:g}s (last: {failure.reason}; lock_timeout="
            f"{settings.lock_timeout}, {tries} tries): {describe(failure.blockers)}. "
        )
    else:
        text = f"{where} failed: {failure.reason}. "
    if failure.unit.transactional:
        text += "The transaction was rolled back"
    else:
        text += "It ran outside a transaction and changed nothing"
        if failure.dropped:
            text += f" (the INVALID index it left, {', '.join(failure.dropped)}, was dropped)"
        if failure.leftovers:
            text += (
                f", except for the INVALID index {', '.join(failure.leftovers)} that could not be "
                "dropped (DROP INDEX CONCURRENTLY waits for every transaction using the table; "
                "drop it once they are gone)"
            )
    return text


def _undo(runner: Runner, plan: Plan, done: list[Unit]) -> tuple[list[int], str | None]:
    """Run the reverse of every committed step, last first: (steps still applied, why not)."""
    applied = [(n, s) for unit in done for n, s in zip(unit.numbers, unit.steps, strict=True)]
    if not applied:
        return [], None
    missing = [n for n, s in applied if not Plan(steps=(s,)).reversible]
    if missing:
        return (
            [n for n, _ in applied],
            f"nothing was undone: step(s) {_numbers(missing)} carry no reverse step "
            "(one-way, or not generated here)",
        )
    steps, numbers = [], []
    for n, s in reversed(applied):
        for reverse in Plan(steps=(s,)).reverse().steps:  # none when there is nothing to undo
            steps.append(reverse)
            numbers.append(n)
    still = [n for n, _ in applied]
    runner.fresh_budget(undoing=True)
    for unit in split_units(steps, numbers):
        try:
            runner.run(unit)
        except UnitFailed as exc:
            why = describe(exc.blockers) if exc.exhausted else exc.reason
            return still, f"undoing {_steps(plan, [exc.step])} failed: {why}"
        still = [n for n in still if n not in unit.numbers]
    return [], None


def _outcomes(
    plan: Plan, done: list[Unit], failure: UnitFailed | None, still: list[int]
) -> list[str]:
    """What became of each step, for the ledger."""
    outcome = ["not run"] * len(plan.steps)
    for unit in done:
        for n in unit.numbers:
            outcome[n - 1] = "still applied" if n in still else "undone"
    if failure is not None:
        for n in failure.unit.numbers:
            outcome[n - 1] = "rolled back"
        outcome[failure.step - 1] = "failed"
    return outcome


def _record(
    conn: psycopg.Connection,
    plan: Plan,
    applied_at: datetime,
    started: float,
    outcome: str,
    error: str | None,
    outcomes: list[str],
    retries: tuple[Retry, ...],
) -> int:
    waits = [0] * len(plan.steps)
    for retry in retries:
        if not retry.undo:
            waits[retry.step - 1] += 1
    return ledger.record(
        conn,
        plan,
        started_at=applied_at,
        duration_ms=int((time.monotonic() - started) * 1000),
        outcome=outcome,
        error=error,
        step_outcomes=outcomes,
        step_waits=waits,
    )


def _numbers(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers)


def _steps(plan: Plan, numbers: list[int]) -> str:
    return ", ".join(f"step {n} ({plan.steps[n - 1].description})" for n in numbers)
