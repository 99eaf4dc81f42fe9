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
from dataclasses import dataclass, replace
from datetime import datetime, timezone

import psycopg

from . import journal, ledger
from .backfill import TARGET_SECONDS
from .blockers import BlockerWatch, describe
from .db import connect, mask_url
from .diff import diff
from .errors import (
    ApplyFailed,
    DriftError,
    InputError,
    LockBusy,
    PreflightFailed,
    RunInterrupted,
    UnsafePlan,
)
from .introspect import introspect, opt_in
from .model import Schema
from .plan import Plan
from .preflight import DEFAULT_TIMEOUT, PreflightReport, preflight_plan
from .progress import OnProgress
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
    run_id: int | None = None  # the run's journal entry (`lockplane runs`)


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


def refuse_if_interrupted(conn: psycopg.Connection, url: str) -> None:
    """An interrupted run left the database between two schemas: nothing else may start
    until it is resumed or abandoned."""
    stuck = journal.interrupted(conn)
    if stuck:
        run = stuck[-1]
        raise RunInterrupted(
            f"run {run.id} on {mask_url(url)} was interrupted at step {run.current_step} of "
            f"{run.steps}: `lockplane apply --resume` finishes it, `lockplane runs abandon "
            f"{run.id}` undoes it; nothing else can be applied until then.",
            run.id,
        )


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
    on_progress: OnProgress | None = None,
    batch_seconds: float = TARGET_SECONDS,
    backfill_pause: float = 0.0,
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
    Backfill steps run in batches of about `batch_seconds`, `backfill_pause` seconds apart,
    reporting each batch (and each sample of a concurrent index build) to
    `on_progress(n, progress)`. The run is journalled (journal.py);
    one that is interrupted is continued by `resume_run` and undone by `abandon_run`, and
    no other plan is applied until it is.
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
            refuse_if_interrupted(conn, database_url)
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
        run = _apply_for_real(
            plan,
            database_url,
            settings,
            Hooks(progress, on_retry, on_progress, batch_seconds, backfill_pause),
            holder=advisory_pid,
        )
        duration_ms = run.duration_ms
        with connect(database_url, autocommit=True) as conn:
            after = introspect(conn)
        verified = report.reached is None or diff(after, report.reached).is_empty
    return ApplyResult(
        steps_applied=len(plan.steps),
        duration_ms=duration_ms,
        ledger_id=run.ledger_id,
        run_id=run.run_id,
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
    run_id: int
    duration_ms: int = 0


def plan_tables(plan: Plan) -> list[str]:
    """The tables a plan touches, as SQL names them: the existing ones its steps lock, and
    every table of its target (which covers the ones it creates)."""
    names = dict.fromkeys(t for s in plan.steps for t in s.tables)
    if plan.target is not None:
        names.update(
            dict.fromkeys(obj(t.schema_, t.name).as_string(None) for t in plan.target.tables)
        )
    return list(names)


@dataclass(frozen=True)
class Hooks:
    """What the caller hears while a run goes, and how hard backfills may push."""

    progress: Progress | None = None  # (n, total, description) as step n starts
    on_retry: Callable[[Retry], None] | None = None  # each wait, as it begins
    on_progress: OnProgress | None = None  # (n, progress): backfill batches, index builds
    batch_seconds: float = TARGET_SECONDS
    pause: float = 0.0  # seconds between backfill batches


def _apply_for_real(
    plan: Plan,
    url: str,
    settings: Settings,
    hooks: Hooks,
    *,
    holder: int,
    run_id: int | None = None,
) -> _Run:
    """Run the plan's steps that are not done yet, journalled as run `run_id` (a new run when
    None); `holder` is the session holding the advisory lock, and the run's owner. Timed from
    here: what the ledger records and what the caller reports."""
    applied_at = datetime.now(timezone.utc)
    started = time.monotonic()
    conn = connect(url, autocommit=True)
    try:
        if run_id is None:
            with conn.transaction():
                journal.ensure(conn)
                run_id = journal.start(conn, plan, holder)
        log = journal.RunLog(run_id)
        states = journal.steps(conn, run_id)
        watch = BlockerWatch(url, conn.info.backend_pid)
        try:
            runner = Runner(
                conn,
                settings,
                watch=watch,
                exclude=(holder,),
                on_retry=hooks.on_retry,
                reconnect=lambda: connect(url, autocommit=True),
                journal=log,
                on_progress=hooks.on_progress,
                batch_seconds=hooks.batch_seconds,
                pause=hooks.pause,
            )
            done = [n for n, st in states.items() if st.state == "done"]
            run = _run_units(plan, runner, applied_at, started, hooks.progress, log, done)
            return replace(run, duration_ms=int((time.monotonic() - started) * 1000))
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
    log: journal.RunLog,
    done_before: list[int],
) -> _Run:
    """Run every unit not done yet; on a failure undo what was committed (in this process or
    before the run was resumed), record it, raise ApplyFailed. A failure that leaves durable
    work worth keeping (the connection is gone for good, or a backfill that has made progress
    cannot get its locks) stops the run as interrupted instead: RunInterrupted."""
    tables = plan_tables(plan)
    invalid_before = invalid_indexes(runner.conn, tables) if tables else {}
    done: list[Unit] = [Unit((plan.steps[n - 1],), (n,)) for n in done_before]
    todo = [n for n in range(1, len(plan.steps) + 1) if n not in set(done_before)]
    failure: UnitFailed | None = None
    broken: list[InvalidIndex] = []
    try:
        for unit in split_units([plan.steps[n - 1] for n in todo], todo):
            runner.run(unit, progress, len(plan.steps))
            done.append(unit)
        if tables:
            after = invalid_indexes(runner.conn, tables)
            broken = [index for oid, index in after.items() if oid not in invalid_before]
    except UnitFailed as exc:
        failure = exc
    conn = runner.conn
    retries = tuple(runner.retries)
    if failure is None and not broken:
        outcomes = ["applied"] * len(plan.steps)
        with conn.transaction():
            ledger_id = _record(conn, plan, applied_at, started, "applied", None, outcomes, retries)
            journal.finish(conn, log.run_id, "done", ledger_id=ledger_id)
        still_invalid = invalid_indexes(conn, tables) if invalid_before else {}
        warnings = tuple(
            f"{index.text()} was already INVALID before this apply: rebuild it with REINDEX "
            "INDEX CONCURRENTLY, or drop it"
            for oid, index in invalid_before.items()
            if oid in still_invalid
        )
        return _Run(ledger_id, retries, warnings, log.run_id)
    if failure is not None and _keep(failure, runner, log):
        raise RunInterrupted(_interrupted_text(plan, failure, log.run_id), log.run_id)
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
    conn = runner.conn
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
            journal.finish(conn, log.run_id, "failed", error=message, ledger_id=ledger_id)
            if failure is not None:
                journal.mark(conn, log.run_id, [failure.step], "failed", error=failure.reason)
    except psycopg.Error as exc:  # the database is gone: still say what happened
        message += f" The ledger could not record this: {(exc.diag.message_primary or exc)!s}."
    raise ApplyFailed(message, ledger_id) from None


def _keep(failure: UnitFailed, runner: Runner, log: journal.RunLog) -> bool:
    """Should the run stop as interrupted rather than be undone? When the database cannot be
    reached (nothing can be undone anyway), or when a backfill that has committed batches runs
    out of lock budget: undoing would throw away work that a resume simply continues."""
    if failure.lost:
        return True
    step = failure.unit.steps[0]
    if not (failure.exhausted and step.backfill is not None):
        return False
    if log.state(runner.conn, failure.step).rows_done == 0:
        return False
    with runner.conn.transaction():
        journal.finish(runner.conn, log.run_id, "interrupted", error=failure.reason)
    return True


def _interrupted_text(plan: Plan, failure: UnitFailed, run_id: int) -> str:
    return (
        f"run {run_id} was interrupted at step {failure.step} of {len(plan.steps)} "
        f"({plan.steps[failure.step - 1].description}): {failure.reason}. Every step and batch "
        f"that committed is journalled: `lockplane apply --resume` continues from there, "
        f"`lockplane runs abandon {run_id}` undoes it instead."
    )


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


def _interrupted_run(conn: psycopg.Connection, url: str, run_id: int | None) -> journal.RunInfo:
    """The run to resume or abandon: `run_id`, or the one interrupted run."""
    if run_id is not None:
        found = journal.runs(conn, run_id)
        if not found:
            raise InputError("runs", f"there is no run {run_id} on {mask_url(url)}")
        if not found[0].unfinished:
            raise InputError(
                "runs", f"run {run_id} on {mask_url(url)} is {found[0].status}, not interrupted"
            )
        return found[0]
    stuck = journal.interrupted(conn)
    if not stuck:
        raise InputError("runs", f"no interrupted run on {mask_url(url)}: nothing to resume")
    return stuck[-1]


def resume_run(
    database_url: str,
    *,
    run_id: int | None = None,
    lock_timeout: str = LOCK_TIMEOUT,
    statement_timeout: str = STATEMENT_TIMEOUT,
    retry_budget: float = RETRY_BUDGET,
    lock_wait_seconds: float = 5.0,
    progress: Callable[[int, int, str], None] | None = None,
    on_retry: Callable[[Retry], None] | None = None,
    on_progress: OnProgress | None = None,
    batch_seconds: float = TARGET_SECONDS,
    backfill_pause: float = 0.0,
) -> ApplyResult:
    """Continue an interrupted run (`run_id`, or the only one) from the database alone: the
    plan is in the journal, done steps are skipped, a backfill restarts at its checkpoint, and
    a concurrent step that died half-way has its INVALID index dropped and runs again. The
    shadow proof is not repeated (the run passed it before its first step ran); the result
    is checked against the plan's target instead."""
    with advisory_lock(database_url, lock_wait_seconds) as holder:
        with connect(database_url, autocommit=True) as conn:
            run = _interrupted_run(conn, database_url, run_id)
            plan = journal.plan_of(conn, run.id)
            with conn.transaction():
                journal.take_over(conn, run.id, holder)
                journal.finish(conn, run.id, "running")
            settings = Settings.resolve(conn, lock_timeout, statement_timeout, retry_budget)
        done = _apply_for_real(
            plan,
            database_url,
            settings,
            Hooks(progress, on_retry, on_progress, batch_seconds, backfill_pause),
            holder=holder,
            run_id=run.id,
        )
        duration_ms = done.duration_ms
        with connect(database_url, autocommit=True) as conn:
            after = introspect(conn, **(opt_in(plan.target) if plan.target else {}))
    verified = plan.target is None or diff(after, plan.target).is_empty
    left = run.steps - run.steps_done
    return ApplyResult(
        steps_applied=left,
        duration_ms=duration_ms,
        ledger_id=done.ledger_id,
        shadow=ShadowReport(),
        verified=verified,
        message=f"Resumed run {run.id}: applied the {left} remaining "
        f"step{'s' if left != 1 else ''} of {run.steps} in {duration_ms} ms",
        retries=done.retries,
        warnings=done.warnings,
        run_id=run.id,
    )


def abandon_run(
    database_url: str,
    run_id: int | None = None,
    *,
    lock_timeout: str = LOCK_TIMEOUT,
    retry_budget: float = RETRY_BUDGET,
    lock_wait_seconds: float = 5.0,
) -> str:
    """Undo what an interrupted run committed, with the generated reverse steps, last first,
    and close it as abandoned; what it says it did. A concurrent step that died half-way
    has its INVALID index dropped; a backfill half done needs nothing (its column goes with
    the reverse of the step that added it)."""
    with advisory_lock(database_url, lock_wait_seconds) as holder:
        conn = connect(database_url, autocommit=True)
        try:
            run = _interrupted_run(conn, database_url, run_id)
            plan = journal.plan_of(conn, run.id)
            with conn.transaction():
                journal.take_over(conn, run.id, holder)
            states = journal.steps(conn, run.id)
            settings = Settings.resolve(conn, lock_timeout, STATEMENT_TIMEOUT, retry_budget)
            log = journal.RunLog(run.id)
            runner = Runner(
                conn,
                settings,
                watch=None,
                exclude=(holder,),
                reconnect=lambda: connect(database_url, autocommit=True),
                journal=log,
            )
            for n, st in states.items():
                if st.state == "running" and not plan.steps[n - 1].transactional:
                    runner.clear_leftovers(Unit((plan.steps[n - 1],), (n,)), st.checkpoint)
            done = [
                Unit((plan.steps[n - 1],), (n,)) for n, st in states.items() if st.state == "done"
            ]
            still, error = _undo(runner, plan, done)
            if error is not None:
                raise ApplyFailed(
                    f"abandoning run {run.id}: {error}. STILL APPLIED: {_steps(plan, still)}; "
                    "the run stays interrupted."
                )
            with runner.conn.transaction():
                journal.finish(runner.conn, run.id, "abandoned")
            undone = [u.numbers[0] for u in done]
        finally:
            conn.close()
    if not undone:
        return f"Abandoned run {run.id}: none of its steps had committed; nothing to undo."
    return f"Abandoned run {run.id}: undid {_steps(plan, undone)}."
