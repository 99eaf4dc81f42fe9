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
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from .blockers import Blocker, BlockerWatch, describe, find_blockers
from .errors import InputError
from .plan import LOCK_ORDER, Step
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
    """Outside a transaction, or a long step under a weak lock (VALIDATE CONSTRAINT) that the
    planner marked `own_transaction`: in a group it would scan while the group still held the
    strong locks of the steps before it."""
    return not step.transactional or step.own_transaction


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

    `exhausted`: it kept waiting for locks until the retry budget was spent."""

    def __init__(
        self,
        unit: Unit,
        step: int,
        reason: str,
        *,
        exhausted: bool = False,
        blockers: Sequence[Blocker] = (),
        leftovers: Sequence[str] = (),
        dropped: Sequence[str] = (),
    ) -> None:
        super().__init__(reason)
        self.unit = unit
        self.step = step
        self.reason = reason
        self.exhausted = exhausted
        self.blockers = tuple(blockers)
        self.leftovers = tuple(leftovers)  # INVALID indexes it left that could not be dropped
        self.dropped = tuple(dropped)  # INVALID indexes it left, dropped


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
    ) -> None:
        self.conn = conn
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
            return
        attempt = 0
        while True:
            attempt += 1
            blockers = find_blockers(
                self.conn,
                unit.locks(),
                exclude=self.exclude,
                older_than_ms=self.settings.lock_ms or 2**31,
                concurrent=not unit.transactional,
            )
            if blockers:
                self._wait(unit, unit.numbers[0], attempt, "blocked before running", blockers)
                continue
            before = None if unit.transactional else invalid_indexes(self.conn, self._scope(unit))
            current = [unit.numbers[0]]
            dropped_before = len(self.dropped)
            if self.watch is not None:
                self.watch.arm()
            started = time.monotonic()
            try:
                self._attempt(unit, current, progress, total)
                return
            except psycopg.Error as exc:
                if self.conn.closed:
                    raise UnitFailed(unit, current[0], reason_of(exc)) from None
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
            finally:
                if self.watch is not None:
                    self.watch.disarm()

    def _attempt(
        self, unit: Unit, current: list[int], progress: Progress | None, total: int
    ) -> None:
        statement_ms = self.settings.statement_ms if unit.stops_traffic else 0
        settings = [("lock_timeout", f"{self.settings.lock_ms}ms")]
        settings.append(("statement_timeout", f"{statement_ms}ms"))
        if unit.transactional:
            with self.conn.transaction():
                for name, value in settings:
                    self.conn.execute("SELECT set_config(%s, %s, true)", [name, value])
                for number, step in zip(unit.numbers, unit.steps, strict=True):
                    current[0] = number
                    if progress is not None:
                        progress(number, total, step.description)
                    self.conn.execute(step.sql.encode())
            return
        step = unit.steps[0]
        for name, value in settings:
            self.conn.execute("SELECT set_config(%s, %s, false)", [name, value])
        try:
            if progress is not None:
                progress(unit.numbers[0], total, step.description)
            self.conn.execute(step.sql.encode())
        finally:
            if not self.conn.closed:
                self.conn.execute("RESET lock_timeout")
                self.conn.execute("RESET statement_timeout")

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
    ) -> None:
        """Sleep before the next try, or raise UnitFailed when the budget is spent."""
        left = self.settings.retry_budget - self.spent
        if left <= 0:
            raise UnitFailed(unit, step, reason, exhausted=True, blockers=blockers)
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

    def _drop_new_invalid(self, unit: Unit, before: dict[int, InvalidIndex]) -> list[str]:
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
