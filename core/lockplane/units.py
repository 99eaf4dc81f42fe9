"""Running a plan's steps on the real database: execution units, timeouts, retries, clean-up.

Consecutive transactional steps run as one transaction (a *group*), so a failure inside it
undoes the whole group; a non-transactional step (CREATE INDEX CONCURRENTLY and friends) runs
alone in autocommit, because Postgres refuses it inside a transaction block. A transactional step
whose lock on an existing table lets reads and writes through (SHARE UPDATE EXCLUSIVE or weaker:
VALIDATE CONSTRAINT) also runs in a transaction of its own: in a group it would scan the table
while the group's earlier ACCESS EXCLUSIVE locks are still held, which is exactly what the
online NOT VALID / VALIDATE split exists to avoid, and a retry of its neighbours would redo the
scan. Every unit runs with
a short `lock_timeout`, so it never sits long in a lock queue where every later query on the table
would queue behind it; when it times out (or deadlocks) it is rolled back and retried with
jittered exponential backoff until the apply's retry budget is spent. Before each try, sessions
that will not let go in time (idle in transaction, or older than the lock_timeout) are looked up
and waited out without queueing. A concurrent index build that fails leaves an INVALID index
behind: it is dropped (concurrently) before the build is retried or abandoned.

`statement_timeout` bounds each statement of a unit that holds locks stopping the application's
reads or writes (stronger than SHARE UPDATE EXCLUSIVE, or unknown); a unit whose locks let
traffic flow (a concurrent index build, VALIDATE CONSTRAINT) runs without one, since its run time
grows with the table, it blocks no query while it runs, and cancelling it would only throw the
work away (and, for an index build, leave an INVALID index). Its lock waits are still bounded by
lock_timeout, and a wait that times out is retried like any other.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from .backfill import (
    FIRST_PAGES,
    FIRST_ROWS,
    TARGET_SECONDS,
    Cursor,
    estimate,
    resize,
    run_batch,
)
from .blockers import Blocker, BlockerWatch, describe, find_blockers
from .errors import InputError, LockplaneError
from .journal import RunLog
from .plan import LOCK_ORDER, Step
from .progress import IndexWatch, OnProgress
from .progress import Progress as StepProgress
from .sqltext import split_statements

Progress = Callable[[int, int, str], None]
TRAFFIC_SAFE = LOCK_ORDER.index("SHARE UPDATE EXCLUSIVE")  # this lock or weaker: traffic flows
BACKOFF_FIRST = 0.2  # seconds before the first retry; doubles each time, jittered
BACKOFF_MAX = 5.0
RETRYABLE: dict[type[psycopg.Error], str] = {
    psycopg.errors.LockNotAvailable: "lock timeout",
    psycopg.errors.DeadlockDetected: "deadlock",
    psycopg.errors.SerializationFailure: "serialization failure",
}


@dataclass(frozen=True)
class Unit:
    """Steps that run together: several transactional ones, or one non-transactional one.

    `numbers` are the steps' positions in the plan (1-based), for messages and the ledger."""

    steps: tuple[Step, ...]
    numbers: tuple[int, ...]

    @property
    def transactional(self) -> bool:
        return self.steps[0].transactional

    def label(self, number: int | None = None) -> str:
        if number is not None and number in self.numbers:
            return f"step {number} ({self.steps[self.numbers.index(number)].description})"
        if len(self.steps) == 1:
            return f"step {self.numbers[0]} ({self.steps[0].description})"
        return f"steps {self.numbers[0]}-{self.numbers[-1]}"

    def locks(self) -> dict[str, str]:
        """Each existing table the unit locks -> the strongest mode any of its steps takes.
        A step that names tables but no lock mode is assumed to take ACCESS EXCLUSIVE."""
        wanted: dict[str, str] = {}
        for step in self.steps:
            mode = step.lock or "ACCESS EXCLUSIVE"
            for table in step.tables:
                if table not in wanted or LOCK_ORDER.index(mode) > LOCK_ORDER.index(wanted[table]):
                    wanted[table] = mode
        return wanted

    @property
    def stops_traffic(self) -> bool:
        """Does it hold a lock that blocks reads or writes? Unknown (None) counts as yes."""
        return any(s.lock is None or LOCK_ORDER.index(s.lock) > TRAFFIC_SAFE for s in self.steps)


def runs_alone(step: Step) -> bool:
    """Outside a transaction, a backfill (a transaction per batch), or a long step under a
    weak lock (VALIDATE CONSTRAINT) that the planner marked `own_transaction`: in a group it
    would scan while the group still held the strong locks of the steps before it."""
    return not step.transactional or step.own_transaction or step.backfill is not None


def split_units(steps: Sequence[Step], numbers: Sequence[int] | None = None) -> list[Unit]:
    """The plan's steps, in order, as execution units; `numbers` are their plan positions."""
    numbers = list(numbers) if numbers is not None else list(range(1, len(steps) + 1))
    units: list[Unit] = []
    group: list[tuple[int, Step]] = []
    for number, step in zip(numbers, steps, strict=True):
        if not runs_alone(step):
            group.append((number, step))
            continue
        if group:
            units.append(Unit(tuple(s for _, s in group), tuple(n for n, _ in group)))
            group = []
        units.append(Unit((step,), (number,)))
    if group:
        units.append(Unit(tuple(s for _, s in group), tuple(n for n, _ in group)))
    return units


@dataclass(frozen=True)
class Settings:
    """The apply's timeouts, as given (for messages) and in milliseconds (0 = none)."""

    lock_timeout: str
    lock_ms: int
    statement_timeout: str
    statement_ms: int
    retry_budget: float

    @classmethod
    def resolve(
        cls,
        conn: psycopg.Connection,
        lock_timeout: str,
        statement_timeout: str,
        retry_budget: float,
    ) -> Settings:
        """Let Postgres read the durations ("2s", "500ms", "1min", "0"), so they mean exactly
        what they mean in postgresql.conf; a bad one is an input error before anything runs."""
        if retry_budget < 0:
            raise InputError("--retry-budget", f"{retry_budget:g}: must be 0 or more seconds")
        ms = []
        for name, value in (
            ("lock_timeout", lock_timeout),
            ("statement_timeout", statement_timeout),
        ):
            try:
                with conn.transaction():
                    conn.execute("SELECT set_config(%s, %s, true)", [name, str(value)])
                    row = conn.execute(
                        "SELECT setting::bigint FROM pg_settings WHERE name = %s", [name]
                    ).fetchone()
            except psycopg.Error as exc:
                reason = (exc.diag.message_primary or str(exc)).strip()
                raise InputError(f"--{name.replace('_', '-')}", reason) from None
            ms.append(int(row[0]) if row else 0)
        return cls(str(lock_timeout), ms[0], str(statement_timeout), ms[1], retry_budget)


@dataclass(frozen=True)
class Retry:
    """One wait of the apply: a unit gave up on its locks (or did not try) and will try again."""

    step: int  # the step that waited (in a group: the one running when the lock wait failed)
    description: str
    attempt: int  # 1 for the first retry
    reason: str  # "lock timeout", "deadlock", "serialization failure", "blocked before running"
    blockers: tuple[Blocker, ...]
    sleep: float  # seconds until the next try
    undo: bool = False  # waiting while undoing the committed steps
    dropped: tuple[str, ...] = ()  # INVALID indexes the failed try left, dropped before retrying

    def text(self) -> str:
        return (
            f"step {self.step} ({self.description}) waited for a lock ({self.reason}), "
            f"retry {self.attempt} in {self.sleep:.1f}s: {describe(self.blockers)}"
            + (
                f" (dropped the INVALID index it left: {', '.join(self.dropped)})"
                if self.dropped
                else ""
            )
        )


class UnitFailed(Exception):
    """A unit could not run; it was rolled back (or, non-transactional, changed nothing).

    `exhausted`: it kept waiting for locks until the retry budget was spent. `lost`: the
    connection to the database was lost and could not be opened again within the budget, so
    nothing more can be done from here (a resumed run takes over)."""

    def __init__(
        self,
        unit: Unit,
        step: int,
        reason: str,
        *,
        exhausted: bool = False,
        lost: bool = False,
        blockers: Sequence[Blocker] = (),
        leftovers: Sequence[str] = (),
        dropped: Sequence[str] = (),
    ) -> None:
        super().__init__(reason)
        self.unit = unit
        self.step = step
        self.reason = reason
        self.exhausted = exhausted
        self.lost = lost
        self.blockers = tuple(blockers)
        self.leftovers = tuple(leftovers)  # INVALID indexes it left that could not be dropped
        self.dropped = tuple(dropped)  # INVALID indexes it left, dropped


_BUILDS_INDEX = re.compile(r"\s*(CREATE\s+(UNIQUE\s+)?INDEX|REINDEX)\b", re.IGNORECASE)


class _Lost(Exception):
    """The connection went away during a unit: wait, reconnect, try again."""

    def __init__(self, step: int, reason: str) -> None:
        super().__init__(reason)
        self.step = step
        self.reason = reason


_INVALID = """
SELECT i.indexrelid::bigint, n.nspname, c.relname, i.indexrelid::regclass::text,
       i.indrelid::regclass::text
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE NOT (i.indisvalid AND i.indisready)
   AND n.nspname <> 'pg_catalog'
   AND (%(all)s OR i.indrelid IN (SELECT to_regclass(t) FROM unnest(%(tables)s::text[]) t))
 ORDER BY 4
"""


@dataclass(frozen=True)
class InvalidIndex:
    schema: str
    name: str
    index: str  # as SQL names it (regclass text), for messages
    table: str

    def text(self) -> str:
        return f"index {self.index} on {self.table}"


def invalid_indexes(
    conn: psycopg.Connection, tables: Iterable[str] | None
) -> dict[int, InvalidIndex]:
    """oid -> index, for every index that is not both valid and ready, on `tables` (SQL
    names), or in the whole database when `tables` is None."""
    names = list(tables) if tables is not None else []
    rows = conn.execute(_INVALID, {"all": tables is None, "tables": names}).fetchall()
    return {int(oid): InvalidIndex(*rest) for oid, *rest in rows}


def reason_of(exc: psycopg.Error) -> str:
    reason = (exc.diag.message_primary or str(exc)).strip()
    detail = (exc.diag.message_detail or "").strip()
    return f"{reason} ({detail.rstrip('.')})" if detail else reason


class Runner:
    """Runs units on one autocommit connection, waiting and retrying within one budget."""

    def __init__(
        self,
        conn: psycopg.Connection,
        settings: Settings,
        *,
        watch: BlockerWatch | None,
        exclude: Iterable[int] = (),
        on_retry: Callable[[Retry], None] | None = None,
        reconnect: Callable[[], psycopg.Connection] | None = None,
        journal: RunLog | None = None,
        on_progress: OnProgress | None = None,
        batch_seconds: float = TARGET_SECONDS,
        pause: float = 0.0,
    ) -> None:
        self.conn = conn
        self.reconnect = reconnect  # opens a new session after the connection is lost
        self.journal = journal
        self.on_progress = on_progress
        self.batch_seconds = batch_seconds  # a backfill batch should commit in about this long
        self.pause = pause  # seconds to sleep between backfill batches (throttle)
        self.settings = settings
        self.watch = watch
        self.exclude = {conn.info.backend_pid, *exclude, *([watch.pid] if watch else [])}
        self.on_retry = on_retry
        self.retries: list[Retry] = []
        self.spent = 0.0  # seconds of the retry budget used so far
        self.undoing = False
        self.dropped: list[InvalidIndex] = []  # INVALID leftovers of failed builds, dropped

    def fresh_budget(self, *, undoing: bool) -> None:
        """The undo gets a budget of its own: giving up on it leaves a half-applied plan."""
        self.spent = 0.0
        self.undoing = undoing

    # ---------------------------------------------------------------------------- one unit

    def run(self, unit: Unit, progress: Progress | None = None, total: int = 0) -> None:
        """Run the unit to completion, or raise UnitFailed with it rolled back."""
        if not any(split_statements(step.sql) for step in unit.steps):
            # Only comments (a reverse with nothing to undo): nothing to lock or wait for.
            for number, step in zip(unit.numbers, unit.steps, strict=True):
                if progress is not None:
                    progress(number, total, step.description)
            self._end(unit)
            return
        if unit.steps[0].backfill is not None:
            self._backfill(unit, progress, total)
            return
        attempt = 0
        while True:
            attempt += 1
            try:
                if self._try(unit, attempt, progress, total):
                    return
            except _Lost as lost:
                self._reconnect(unit, lost.step, attempt, lost.reason)
                if self.journal is not None and self.journal.reached(
                    self.conn, unit.numbers, self._final
                ):
                    return  # the commit went through before the connection went

    def _try(self, unit: Unit, attempt: int, progress: Progress | None, total: int) -> bool:
        """One attempt: True when the unit ran, False when it waited and should try again."""
        current = [unit.numbers[0]]
        try:
            blockers = find_blockers(
                self.conn,
                unit.locks(),
                exclude=self.exclude,
                older_than_ms=self.settings.lock_ms or 2**31,
                concurrent=not unit.transactional,
            )
            if blockers:
                self._wait(unit, unit.numbers[0], attempt, "blocked before running", blockers)
                return False
            before, stamp = (None, None) if unit.transactional else self._invalid_before(unit)
        except psycopg.Error as exc:
            raise self._lost_or(exc, unit, current[0]) from None
        dropped_before = len(self.dropped)
        if self.watch is not None:
            self.watch.arm()
        started = time.monotonic()
        try:
            self._attempt(unit, current, progress, total, stamp)
            return True
        except psycopg.Error as exc:
            if self.conn.closed:
                raise self._lost_or(exc, unit, current[0]) from None
            waited = time.monotonic() - started
            seen = self.watch.disarm() if self.watch is not None else []
            leftovers = [] if before is None else self._drop_new_invalid(unit, before)
            dropped = tuple(i.index for i in self.dropped[dropped_before:])
            kind = next((k for t, k in RETRYABLE.items() if isinstance(exc, t)), None)
            if kind is None or leftovers:
                raise UnitFailed(
                    unit,
                    current[0],
                    self._explain(exc),
                    leftovers=leftovers,
                    dropped=dropped,
                ) from None
            if not seen:  # too quick for the watcher: whoever held the locks all along
                seen = find_blockers(
                    self.conn,
                    unit.locks(),
                    exclude=self.exclude,
                    older_than_ms=int(waited * 1000),
                    concurrent=not unit.transactional,
                )
            self.spent += waited
            self._wait(unit, current[0], attempt, kind, seen, dropped)
            return False
        finally:
            if self.watch is not None:
                self.watch.disarm()

    # ------------------------------------------------------------------ the run journal

    @property
    def _final(self) -> str:
        return "undone" if self.undoing else "done"

    def _begin(self, unit: Unit, checkpoint: dict[str, Any] | None = None) -> None:
        """Record that the unit is starting (not while undoing: a step being undone is still
        applied until its reverse commits, and a resumed run must see it so)."""
        if self.journal is not None and not self.undoing:
            self.journal.begin(self.conn, unit.numbers, checkpoint)

    def _end(self, unit: Unit) -> None:
        if self.journal is not None:
            self.journal.end(self.conn, unit.numbers, self._final)

    def _invalid_before(self, unit: Unit) -> tuple[dict[int, InvalidIndex], dict[str, Any] | None]:
        """The INVALID indexes before a concurrent step, and the checkpoint that records them
        (None when the journal has it already). If an earlier attempt of the step died with
        its process or connection, the journal holds the set from before that attempt: what
        has appeared since is that attempt's leftover, dropped now."""
        now = invalid_indexes(self.conn, self._scope(unit))
        if self.journal is None or self.undoing:
            return now, None
        earlier = self.journal.state(self.conn, unit.numbers[0]).checkpoint
        if earlier is None or "invalid_before" not in earlier:
            return now, {"invalid_before": sorted(now)}
        self.clear_leftovers(unit, earlier)
        return invalid_indexes(self.conn, self._scope(unit)), None

    def clear_leftovers(self, unit: Unit, checkpoint: dict[str, Any] | None) -> None:
        """Drop the INVALID index a concurrent step left when its run died half-way
        (`checkpoint` is that step's journal entry, holding the INVALID set from before)."""
        if checkpoint is None or "invalid_before" not in checkpoint:
            return
        left = self._drop_new_invalid(unit, {int(oid) for oid in checkpoint["invalid_before"]})
        if left:
            raise UnitFailed(unit, unit.numbers[0], f"could not drop {', '.join(left)}")

    # ------------------------------------------------------------------ lost connections

    def _lost_or(self, exc: psycopg.Error, unit: Unit, step: int) -> Exception:
        """A lost connection is waited out and reconnected (_Lost); anything else fails."""
        if self.conn.closed and self.reconnect is not None:
            return _Lost(step, reason_of(exc))
        return UnitFailed(unit, step, reason_of(exc), lost=self.conn.closed)

    def _reconnect(self, unit: Unit, step: int, attempt: int, reason: str) -> None:
        """Wait (within the retry budget) and open a new session, until one opens."""
        assert self.reconnect is not None
        while True:
            self._wait(unit, step, attempt, f"connection lost: {reason}", (), lost=True)
            try:
                self.conn = self.reconnect()
            except LockplaneError as exc:
                reason, attempt = str(exc), attempt + 1
                continue
            pid = self.conn.info.backend_pid
            self.exclude.add(pid)
            if self.watch is not None:
                self.watch.follow(pid)
            return

    # ------------------------------------------------------------------------ backfills

    def _backfill(self, unit: Unit, progress: Progress | None, total: int) -> None:
        """Run a backfill batch by batch from its journalled cursor, each batch committed with
        the cursor after it. A lost connection or a lock wait costs one batch, retried; the
        budget is for waiting without progress, so every committed batch renews it."""
        number, step = unit.numbers[0], unit.steps[0]
        spec = step.backfill
        assert spec is not None
        if progress is not None:
            progress(number, total, step.description)
        attempt = 0
        meter: StepProgress | None = None
        while True:
            try:
                state = self.journal.state(self.conn, number) if self.journal else None
                cursor = Cursor.from_json(state.checkpoint if state else None)
                if state is None or state.checkpoint is None:
                    cursor.batch_rows = FIRST_ROWS if spec.key else FIRST_PAGES
                if meter is None:
                    done = state.rows_done if state else 0
                    meter = StepProgress(done, estimate(self.conn, spec), rows_at_start=done)
                    self._begin(unit)
                while not cursor.finished:
                    attempt += 1
                    with self.conn.transaction():
                        for name, ms in (
                            ("lock_timeout", self.settings.lock_ms),
                            ("statement_timeout", self.settings.statement_ms),
                        ):
                            self.conn.execute("SELECT set_config(%s, %s, true)", [name, f"{ms}ms"])
                        batch, cursor = run_batch(self.conn, spec, cursor)
                        meter.rows_done += batch.rows
                        meter.rows_total = max(meter.rows_total or 0, meter.rows_done)
                        if self.journal is not None:
                            self.journal.advance(
                                self.conn, number, cursor.to_json(), batch.rows, meter.rows_total
                            )
                            if cursor.finished:
                                self.journal.end(self.conn, [number], "done")
                    resize(cursor, batch, heap=not spec.key, target=self.batch_seconds)
                    self.spent, attempt = 0.0, 0
                    if self.on_progress is not None:
                        self.on_progress(number, meter)
                    if self.pause and not cursor.finished:
                        time.sleep(self.pause)
                return
            except psycopg.Error as exc:
                if meter is not None:  # the failed batch's rows were rolled back
                    meter = None
                if self.conn.closed:
                    if self.reconnect is None:
                        raise UnitFailed(unit, number, reason_of(exc), lost=True) from None
                    self._reconnect(unit, number, max(attempt, 1), reason_of(exc))
                    continue
                kind = next((k for t, k in RETRYABLE.items() if isinstance(exc, t)), None)
                if kind is None:
                    raise UnitFailed(unit, number, self._explain(exc)) from None
                self._wait(unit, number, max(attempt, 1), kind, ())

    def _attempt(
        self,
        unit: Unit,
        current: list[int],
        progress: Progress | None,
        total: int,
        stamp: dict[str, Any] | None,
    ) -> None:
        statement_ms = self.settings.statement_ms if unit.stops_traffic else 0
        settings = [("lock_timeout", f"{self.settings.lock_ms}ms")]
        settings.append(("statement_timeout", f"{statement_ms}ms"))
        self._begin(unit, stamp)
        if unit.transactional:
            with self.conn.transaction():
                for name, value in settings:
                    self.conn.execute("SELECT set_config(%s, %s, true)", [name, value])
                for number, step in zip(unit.numbers, unit.steps, strict=True):
                    current[0] = number
                    if progress is not None:
                        progress(number, total, step.description)
                    self.conn.execute(step.sql.encode())
                self._end(unit)  # in the unit's transaction: recorded only if it commits
            return
        step = unit.steps[0]
        for name, value in settings:
            self.conn.execute("SELECT set_config(%s, %s, false)", [name, value])
        watch = self._watch_index(unit)
        try:
            if progress is not None:
                progress(unit.numbers[0], total, step.description)
            self.conn.execute(step.sql.encode())
        finally:
            if watch is not None:
                watch.close()
            if not self.conn.closed:
                self.conn.execute("RESET lock_timeout")
                self.conn.execute("RESET statement_timeout")
        # Concurrent steps are idempotent (IF [NOT] EXISTS): if the process dies before this
        # line, the resumed run repeats the step harmlessly.
        self._end(unit)

    def _watch_index(self, unit: Unit) -> IndexWatch | None:
        """A sampler of the build's progress, for a concurrent index build (when there is a
        way to open a second session and someone to tell)."""
        if self.reconnect is None or not _BUILDS_INDEX.match(unit.steps[0].sql):
            return None
        if self.on_progress is None and self.journal is None:
            return None
        number, journal = unit.numbers[0], self.journal
        record = None
        if journal is not None:

            def record(conn: psycopg.Connection, checkpoint: dict[str, Any]) -> None:
                journal.note(conn, number, checkpoint)

        return IndexWatch(
            self.reconnect(), self.conn.info.backend_pid, number, self.on_progress, record
        )

    def _explain(self, exc: psycopg.Error) -> str:
        reason = reason_of(exc)
        if isinstance(exc, psycopg.errors.QueryCanceled) and "statement timeout" in reason:
            reason += (
                f" (statement_timeout={self.settings.statement_timeout}: it held locks that "
                "block reads or writes for longer than that; raise --statement-timeout, or 0 "
                "for none, if the table is that big)"
            )
        return reason

    def _wait(
        self,
        unit: Unit,
        step: int,
        attempt: int,
        reason: str,
        blockers: Sequence[Blocker],
        dropped: tuple[str, ...] = (),
        *,
        lost: bool = False,
    ) -> None:
        """Sleep before the next try, or raise UnitFailed when the budget is spent."""
        left = self.settings.retry_budget - self.spent
        if left <= 0:
            raise UnitFailed(unit, step, reason, exhausted=True, blockers=blockers, lost=lost)
        backoff = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (attempt - 1))
        sleep = min(left, random.uniform(0.5, 1.0) * backoff)
        index = unit.numbers.index(step)
        retry = Retry(
            step,
            unit.steps[index].description,
            attempt,
            reason,
            tuple(blockers),
            sleep,
            self.undoing,
            dropped,
        )
        self.retries.append(retry)
        if self.on_retry is not None:
            self.on_retry(retry)
        time.sleep(sleep)
        self.spent += sleep

    # ------------------------------------------------------------- INVALID index clean-up

    @staticmethod
    def _scope(unit: Unit) -> list[str] | None:
        return list(unit.steps[0].tables) or None

    def _drop_new_invalid(self, unit: Unit, before: Container[int]) -> list[str]:
        """Drop the INVALID indexes the failed step left; the ones that would not go."""
        left: list[str] = []
        for oid, index in invalid_indexes(self.conn, self._scope(unit)).items():
            if oid in before:
                continue
            if self._drop_index(index):
                self.dropped.append(index)
            else:
                left.append(index.index)
        return left

    def _drop_index(self, index: InvalidIndex) -> bool:
        """DROP INDEX CONCURRENTLY, itself under lock_timeout and retried within the budget: it
        waits for every transaction that uses the table, and must not stall traffic either."""
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                self.conn.execute(
                    "SELECT set_config('lock_timeout', %s, false)", [f"{self.settings.lock_ms}ms"]
                )
                self.conn.execute(
                    sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(
                        sql.Identifier(index.schema, index.name)
                    )
                )
                return True
            except psycopg.Error as exc:
                self.spent += time.monotonic() - started
                left = self.settings.retry_budget - self.spent
                if self.conn.closed or not isinstance(exc, tuple(RETRYABLE)) or left <= 0:
                    return False
                backoff = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (attempt - 1))
                sleep = min(left, random.uniform(0.5, 1.0) * backoff)
                time.sleep(sleep)
                self.spent += sleep
            finally:
                if not self.conn.closed:
                    self.conn.execute("RESET lock_timeout")
