"""The lock-aware executor against other sessions on a real database.

Each test runs the application's traffic (small reads and writes on the table, timed one by one)
in a thread while a plan is applied, plus a session that gets in the way: a lock held in an open
transaction, an idle-in-transaction reader, an old snapshot. What must hold: the step waits at
most lock_timeout in the lock queue at a time (so the traffic never waits much longer than that),
retries until the blocker is gone, and, when the budget runs out, stops with the database where
it started, naming who was in the way.

Blockers that must make a step *time out* (not just be seen by the check before it runs) take
their lock from the progress callback, which apply_plan calls right before the step's SQL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from lockplane import apply_plan, introspect_url, make_plan
from lockplane.blockers import Blocker, short_query, wanted_modes
from lockplane.errors import ApplyFailed, InputError
from lockplane.plan import Plan, Step
from lockplane.units import Retry, Unit, split_units

# A query that arrives just after the step joined the lock queue waits the whole lock_timeout,
# plus the time to cancel the step, wake the query and send its answer back: allow for that.
ROUND_TRIP = 0.25

TABLE = (
    "CREATE TABLE t (id integer PRIMARY KEY, v integer NOT NULL);"
    "INSERT INTO t SELECT g, g FROM generate_series(1, 1000) g;"
)


def setup(url: str, ddl: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(ddl.encode())


def rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query.encode()).fetchall()


def invalid_indexes(url: str) -> list[tuple[object, ...]]:
    return rows(
        url,
        "SELECT indexrelid::regclass::text FROM pg_index WHERE NOT (indisvalid AND indisready)",
    )


class Traffic:
    """The application: a session running small reads and writes on `t`, each one timed."""

    def __init__(self, url: str, *, insert_from: int = 0) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.samples: list[tuple[float, float]] = []  # (started, seconds it took)
        self.errors: list[str] = []
        self.next_id = insert_from
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            statements: list[tuple[str, list[int]]] = [
                ("SELECT v FROM t WHERE id = %s", [n % 1000 + 1]),
                ("UPDATE t SET v = v + 1 WHERE id = %s", [n % 1000 + 1]),
            ]
            if self.next_id:
                self.next_id += 1
                statements.append(("INSERT INTO t VALUES (%s, 0)", [self.next_id]))
            for query, params in statements:
                started = time.monotonic()
                try:
                    self.conn.execute(query.encode(), params)
                except psycopg.Error as exc:
                    self.errors.append(str(exc))
                self.samples.append((started, time.monotonic() - started))
            time.sleep(0.002)

    def longest(self, since: float = 0.0) -> float:
        return max((took for started, took in self.samples if started >= since), default=0.0)

    def count(self, since: float, until: float) -> int:
        return sum(1 for started, _ in self.samples if since <= started <= until)

    @contextmanager
    def running(self) -> Iterator[Traffic]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=10)
            self.conn.close()


class Holder:
    """Another session that takes something in an open transaction and lets go after `hold`
    seconds (or at `release()`)."""

    def __init__(
        self, url: str, statements: list[str], *, hold: float, isolation: str = ""
    ) -> None:
        self.url, self.statements, self.hold, self.isolation = url, statements, hold, isolation
        self.pid = 0
        self.released_at = 0.0
        self._ready = threading.Event()
        self._release = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Holder:
        self._thread.start()
        assert self._ready.wait(10), "the holder did not take its lock"
        return self

    def _run(self) -> None:
        with psycopg.connect(self.url) as conn:
            self.pid = conn.info.backend_pid
            if self.isolation:
                conn.execute(f"SET TRANSACTION ISOLATION LEVEL {self.isolation}".encode())
            for statement in self.statements:
                conn.execute(statement.encode())
            self._ready.set()
            self._release.wait(self.hold)
            conn.rollback()
            self.released_at = time.monotonic()

    def release(self) -> None:
        self._release.set()
        self._thread.join(timeout=10)


def on_first(step: int, start: Callable[[], object]) -> Callable[[int, int, str], None]:
    """A progress callback that calls `start` the first time step `step` is about to run."""
    started: list[int] = []

    def progress(n: int, total: int, description: str) -> None:
        if n == step and not started:
            started.append(n)
            start()

    return progress


def index_step(sql: str, name: str, table: str = "t") -> Step:
    return Step(
        description=f"Create index {name} concurrently",
        sql=sql,
        reverse_sql=f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
        transactional=False,
        lock="SHARE UPDATE EXCLUSIVE",
        tables=(table,),
        reverse_lock="SHARE UPDATE EXCLUSIVE",
    )


def add_column_step(table: str = "t") -> Step:
    return Step(
        description=f"Add column note to table {table}",
        sql=f"ALTER TABLE {table} ADD COLUMN note text",
        reverse_sql=f"ALTER TABLE {table} DROP COLUMN note",
        lock="ACCESS EXCLUSIVE",
        tables=(table,),
        reverse_lock="ACCESS EXCLUSIVE",
    )


# ------------------------------------------------------------------------ no database needed


def test_units_group_transactional_steps_and_isolate_the_others() -> None:
    a, b = add_column_step("a"), add_column_step("b")
    cic = index_step("CREATE INDEX CONCURRENTLY i ON c (v)", "i", "c")
    validate = Step(
        description="Validate constraint c_v_check",
        sql="ALTER TABLE c VALIDATE CONSTRAINT c_v_check",
        lock="SHARE UPDATE EXCLUSIVE",
        tables=("c",),
        own_transaction=True,
    )
    comment = Step(  # same weak lock, but short: it stays in its group
        description="Set comment on table c",
        sql="COMMENT ON TABLE c IS 'x'",
        lock="SHARE UPDATE EXCLUSIVE",
        tables=("c",),
    )
    units = split_units([a, b, cic, a, validate, b, a, comment])
    # The validation scan never runs while the ACCESS EXCLUSIVE of steps 4 or 6 is held.
    assert [(u.numbers, u.transactional) for u in units] == [
        ((1, 2), True),
        ((3,), False),
        ((4,), True),
        ((5,), True),
        ((6, 7, 8), True),
    ]
    assert units[0].locks() == {"a": "ACCESS EXCLUSIVE", "b": "ACCESS EXCLUSIVE"}
    assert units[0].stops_traffic and not units[1].stops_traffic
    assert units[0].label(2) == "step 2 (Add column note to table b)"


def test_conflicting_modes_follow_postgres_and_concurrent_builds_wait_for_writers() -> None:
    everything = [m for _, _, m in wanted_modes({"t": "ACCESS EXCLUSIVE"}, concurrent=False)]
    assert everything[0] == "ACCESS SHARE" and len(everything) == 8
    plain = {m for _, _, m in wanted_modes({"t": "SHARE UPDATE EXCLUSIVE"}, concurrent=False)}
    assert "ROW EXCLUSIVE" not in plain and "SHARE UPDATE EXCLUSIVE" in plain
    online = {m for _, _, m in wanted_modes({"t": "SHARE UPDATE EXCLUSIVE"}, concurrent=True)}
    assert "ROW EXCLUSIVE" in online and "ACCESS SHARE" not in online
    assert ("t", "ShareUpdateExclusiveLock", "SHARE UPDATE EXCLUSIVE") in wanted_modes(
        {"t": "SHARE UPDATE EXCLUSIVE"}, concurrent=False
    )


def test_blocker_text_is_one_short_line_without_passwords() -> None:
    query = "ALTER ROLE app PASSWORD 'hunter2';\n   SELECT " + "x, " * 50
    text = Blocker(42, "idle in transaction", 3.21, query, "holds ACCESS SHARE on t").text()
    assert "hunter2" not in text and "\n" not in text
    assert text.startswith("pid 42 (idle in transaction, transaction open 3.2s, holds ACCESS")
    assert len(short_query(query)) == 80


# ---------------------------------------------------------------------------- real databases


def test_a_held_lock_times_the_step_out_then_it_retries_and_succeeds_while_traffic_flows(
    fresh_db: Callable[[], str],
) -> None:
    db, shadow = fresh_db(), fresh_db()
    setup(db, TABLE)
    target = fresh_db()
    setup(target, TABLE + "ALTER TABLE t ADD COLUMN note text;")
    plan = make_plan(introspect_url(db), introspect_url(target))
    assert [(s.lock, s.tables) for s in plan.steps] == [("ACCESS EXCLUSIVE", ("t",))]
    holder = Holder(db, ["LOCK TABLE t IN ACCESS SHARE MODE"], hold=3.0)
    retries: list[Retry] = []
    with Traffic(db).running() as traffic:
        time.sleep(0.2)
        started = time.monotonic()
        result = apply_plan(
            plan,
            db,
            shadow_url=shadow,
            lock_timeout="1s",
            retry_budget=10.0,
            progress=on_first(1, holder.start),
            on_retry=retries.append,
        )
        holder.release()
        time.sleep(0.1)
    assert traffic.errors == []
    assert introspect_url(db).table("public", "t").column("note") is not None  # type: ignore[union-attr]
    assert result.retries == tuple(retries)
    timed_out = [r for r in retries if r.reason == "lock timeout"]
    assert timed_out, [r.text() for r in retries]
    assert holder.pid in [b.pid for b in timed_out[0].blockers]
    assert "LOCK TABLE t IN ACCESS SHARE MODE" in timed_out[0].text()
    assert holder.released_at <= time.monotonic()  # it succeeded only once the lock was gone
    # The traffic queued behind the step for at most one lock_timeout at a time; without it,
    # it would have waited for the holder's 3 s.
    assert traffic.count(started, time.monotonic()) > 100
    assert traffic.longest(started) < 1.0 + ROUND_TRIP
    assert rows(db, "SELECT outcome, steps->0->>'lock_waits' FROM lockplane.migrations") == [
        ("applied", str(len(retries)))
    ]


def test_a_blocker_that_never_lets_go_stops_the_apply_and_undoes_what_was_committed(
    fresh_db: Callable[[], str],
) -> None:
    db, shadow = fresh_db(), fresh_db()
    setup(db, TABLE + "CREATE TABLE u (id integer PRIMARY KEY, v integer);")
    before = introspect_url(db)
    plan = Plan(
        steps=(
            index_step("CREATE INDEX CONCURRENTLY u_v ON u (v)", "u_v", "u"),
            add_column_step("t"),
        )
    )
    holder = Holder(db, ["LOCK TABLE t IN ACCESS SHARE MODE"], hold=30.0)
    started = time.monotonic()
    try:
        with pytest.raises(ApplyFailed) as exc:
            apply_plan(
                plan,
                db,
                shadow_url=shadow,
                lock_timeout="300ms",
                retry_budget=2.0,
                progress=on_first(2, holder.start),
            )
    finally:
        holder.release()
    message = str(exc.value)
    assert time.monotonic() - started < 15
    assert "step 2 (Add column note to table t) could not get its locks within the retry " in (
        message
    )
    assert f"pid {holder.pid} (idle in transaction" in message
    assert "LOCK TABLE t IN ACCESS SHARE MODE" in message and "lock_timeout=300ms" in message
    assert "(step 1 (Create index u_v concurrently)) was undone" in message
    assert "back where it started" in message
    assert "\n" not in message
    assert introspect_url(db) == before  # the committed index is gone again
    assert rows(
        db,
        "SELECT outcome, steps->0->>'outcome', steps->1->>'outcome' FROM lockplane.migrations",
    ) == [("failed", "undone", "failed")]


def test_an_idle_in_transaction_session_is_reported_before_the_step_queues(
    fresh_db: Callable[[], str],
) -> None:
    db, shadow = fresh_db(), fresh_db()
    setup(db, TABLE)
    plan = Plan(steps=(add_column_step("t"),))
    holder = Holder(db, ["SELECT count(*) FROM t"], hold=2.0).start()  # idle in transaction
    retries: list[Retry] = []
    with Traffic(db).running() as traffic:
        started = time.monotonic()
        apply_plan(
            plan,
            db,
            shadow_url=shadow,
            lock_timeout="1s",
            retry_budget=10.0,
            on_retry=retries.append,
        )
        finished = time.monotonic()
    holder.release()
    assert retries and {r.reason for r in retries} == {"blocked before running"}
    first = retries[0].blockers
    assert [(b.pid, b.state, b.why) for b in first] == [
        (holder.pid, "idle in transaction", "holds ACCESS SHARE on t")
    ]
    assert "SELECT count(*) FROM t" in retries[0].text()
    # It never joined the lock queue while the session was there: the traffic did not wait.
    assert traffic.errors == [] and traffic.count(started, finished) > 100
    assert traffic.longest(started) < 0.5


def test_a_concurrent_index_build_under_constant_writes_does_not_block_them(
    fresh_db: Callable[[], str],
) -> None:
    db, shadow = fresh_db(), fresh_db()
    setup(
        db,
        "CREATE TABLE t (id integer PRIMARY KEY, v integer NOT NULL);"
        "INSERT INTO t SELECT g, g % 977 FROM generate_series(1, 300000) g;",
    )
    plan = Plan(steps=(index_step("CREATE INDEX CONCURRENTLY t_v ON t (v)", "t_v"),))
    window: list[float] = []
    with Traffic(db, insert_from=1_000_000).running() as traffic:
        time.sleep(0.2)
        result = apply_plan(
            plan,
            db,
            shadow_url=shadow,
            lock_timeout="1s",
            retry_budget=10.0,
            progress=lambda n, total, d: window.append(time.monotonic()),
        )
        window.append(time.monotonic())
    assert traffic.errors == [] and result.retries == ()
    assert traffic.count(window[0], window[-1]) > 20  # writes went on while it built
    assert traffic.longest(window[0]) < 1.0
    assert rows(
        db, "SELECT indisvalid, indisready FROM pg_index WHERE indexrelid = 't_v'::regclass"
    ) == [(True, True)]
    inserted = rows(db, "SELECT count(*) FROM t WHERE id > 1000000")[0][0]
    assert isinstance(inserted, int) and inserted > 0


def test_a_failed_unique_build_leaves_no_invalid_index_and_says_why(
    fresh_db: Callable[[], str],
) -> None:
    db, shadow = fresh_db(), fresh_db()
    setup(db, TABLE + "UPDATE t SET v = 7 WHERE id IN (3, 4);")
    before = introspect_url(db)
    plan = Plan(
        steps=(
            add_column_step("t"),
            index_step("CREATE UNIQUE INDEX CONCURRENTLY t_v_key ON t (v)", "t_v_key"),
        )
    )
    with pytest.raises(ApplyFailed) as exc:
        apply_plan(plan, db, shadow_url=shadow, preflight=False, retry_budget=5.0)
    message = str(exc.value)
    assert (
        'step 2 (Create index t_v_key concurrently) failed: could not create unique index "t_v_key"'
        in (message)
    )
    assert "Key (v)=(7) is duplicated" in message
    assert "the INVALID index it left, t_v_key, was dropped" in message
    assert "(step 1 (Add column note to table t)) was undone" in message
    assert invalid_indexes(db) == []
    assert introspect_url(db) == before


def test_a_build_that_times_out_on_an_old_snapshot_drops_its_invalid_index_and_retries(
    fresh_db: Callable[[], str],
) -> None:
    db, shadow = fresh_db(), fresh_db()
    setup(db, TABLE + "CREATE TABLE other (x integer);")
    plan = Plan(steps=(index_step("CREATE INDEX CONCURRENTLY t_v ON t (v)", "t_v"),))
    # A report in REPEATABLE READ on another table: no lock on t, but a snapshot the build's
    # last phase must wait out.
    holder = Holder(db, ["SELECT count(*) FROM other"], hold=2.5, isolation="REPEATABLE READ")
    retries: list[Retry] = []
    result = apply_plan(
        plan,
        db,
        shadow_url=shadow,
        lock_timeout="500ms",
        retry_budget=10.0,
        progress=on_first(1, holder.start),
        on_retry=retries.append,
    )
    holder.release()
    timed_out = [r for r in retries if r.reason == "lock timeout"]
    assert timed_out and timed_out[0].dropped == ("t_v",), [r.text() for r in retries]
    assert [(b.pid, b.why) for b in timed_out[0].blockers] == [
        (holder.pid, "the step waits for its transaction to end")
    ]
    assert result.retries == tuple(retries)
    assert invalid_indexes(db) == []
    assert rows(db, "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_v'::regclass") == [
        (True,)
    ]


def test_bad_timeouts_are_input_errors_before_anything_runs(fresh_db: Callable[[], str]) -> None:
    db, shadow = fresh_db(), fresh_db()
    setup(db, TABLE)
    plan = Plan(steps=(add_column_step("t"),))
    with pytest.raises(InputError, match="--lock-timeout: invalid value"):
        apply_plan(plan, db, shadow_url=shadow, lock_timeout="soon")
    with pytest.raises(InputError, match="--retry-budget"):
        apply_plan(plan, db, shadow_url=shadow, retry_budget=-1)
    assert introspect_url(db).table("public", "t").column("note") is None  # type: ignore[union-attr]
    assert Unit((add_column_step(),), (1,)).stops_traffic


@pytest.mark.parametrize("held", ["u", "t"])
def test_when_the_undo_is_blocked_too_the_error_says_what_is_still_applied(
    fresh_db: Callable[[], str], held: str
) -> None:
    """Step 1 changes `u`, step 2's unique build on `t` fails on duplicates. A reader on `u`,
    there since step 1 committed, blocks its undo (DROP COLUMN needs ACCESS EXCLUSIVE); a
    reader on `t` blocks dropping the INVALID index instead (DROP INDEX CONCURRENTLY waits for
    every transaction using the table): either way, the error says what is left."""
    db, shadow = fresh_db(), fresh_db()
    setup(db, TABLE + "UPDATE t SET v = 7 WHERE id IN (3, 4); CREATE TABLE u (id integer);")
    plan = Plan(
        steps=(
            add_column_step("u"),
            index_step("CREATE UNIQUE INDEX CONCURRENTLY t_v_key ON t (v)", "t_v_key"),
        )
    )
    holder = Holder(db, [f"SELECT count(*) FROM {held}"], hold=30.0)
    started = time.monotonic()
    try:
        with pytest.raises(ApplyFailed) as exc:
            apply_plan(
                plan,
                db,
                shadow_url=shadow,
                preflight=False,
                lock_timeout="200ms",
                retry_budget=1.0,
                progress=on_first(2, holder.start),
            )
    finally:
        holder.release()
    message = str(exc.value)
    assert time.monotonic() - started < 10
    assert "step 2 (Create index t_v_key concurrently) failed: could not create unique" in message
    outcomes = rows(
        db, "SELECT steps->0->>'outcome', steps->1->>'outcome' FROM lockplane.migrations"
    )
    note = introspect_url(db).table("public", "u").column("note")  # type: ignore[union-attr]
    if held == "u":
        assert "the INVALID index it left, t_v_key, was dropped" in message
        assert "undoing step 1 (Add column note to table u) failed: blocked by pid" in message
        assert f"blocked by pid {holder.pid} (idle in transaction" in message
        assert "STILL APPLIED: step 1 (Add column note to table u)" in message
        assert invalid_indexes(db) == [] and note is not None
        assert outcomes == [("still applied", "failed")]
    else:
        assert "except for the INVALID index t_v_key that could not be dropped" in message
        assert "(step 1 (Add column note to table u)) was undone" in message
        assert "only that INVALID index remains" in message
        assert invalid_indexes(db) == [("t_v_key",)] and note is None
        assert outcomes == [("undone", "failed")]


def test_the_cli_prints_each_wait_and_fails_naming_the_blocker(
    fresh_db: Callable[[], str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from lockplane.cli import main

    db, shadow = fresh_db(), fresh_db()
    setup(db, TABLE)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(Plan(steps=(add_column_step("t"),)).to_json())
    holder = Holder(db, ["SELECT count(*) FROM t"], hold=30.0).start()
    try:
        code = main(
            [
                "apply",
                "--plan",
                str(plan_file),
                "--database",
                db,
                "--shadow-database",
                shadow,
                "--yes",
                "--lock-timeout",
                "300ms",
                "--statement-timeout",
                "10s",
                "--retry-budget",
                "1",
            ]
        )
    finally:
        holder.release()
    _out, err = capsys.readouterr()
    assert code == 1
    assert "  step 1 (Add column note to table t) waited for a lock (blocked before running), " in (
        err
    )
    assert "retry 1 in " in err
    error = [line for line in err.splitlines() if line.startswith("lockplane: error:")]
    assert len(error) == 1 and f"pid {holder.pid} (idle in transaction" in error[0]
    assert (
        main(
            [
                "apply",
                "--plan",
                str(plan_file),
                "--database",
                db,
                "--shadow-database",
                shadow,
                "--yes",
                "--lock-timeout",
                "soon",
            ]
        )
        == 2
    )
    assert "--lock-timeout: invalid value" in capsys.readouterr().err


def slow_function(name: str) -> Step:
    """An index expression that takes 2 ms a row (declared IMMUTABLE so it may be indexed)."""
    return Step(
        description=f"Create function {name}",
        sql=f"CREATE FUNCTION {name}(x integer) RETURNS integer IMMUTABLE LANGUAGE plpgsql "
        "AS $$ BEGIN PERFORM pg_sleep(0.002); RETURN x; END $$",
        reverse_sql=f"DROP FUNCTION {name}(integer)",
    )


def test_statement_timeout_bounds_steps_that_block_writes_but_not_concurrent_builds(
    fresh_db: Callable[[], str],
) -> None:
    """Indexing 400 rows through the slow function takes about a second: too long for a plain
    CREATE INDEX (SHARE: writes wait) under a 200 ms statement_timeout, fine for a concurrent
    build, which blocks no one."""
    db, shadow = fresh_db(), fresh_db()
    setup(
        db,
        "CREATE TABLE s (id integer PRIMARY KEY, v integer);"
        "INSERT INTO s SELECT g, g FROM generate_series(1, 400) g;",
    )
    plain = Step(
        description="Create index s_slow_a",
        sql="CREATE INDEX s_slow_a ON s ((slow_a(v)))",
        reverse_sql="DROP INDEX s_slow_a",
        lock="SHARE",
        tables=("s",),
    )
    with pytest.raises(ApplyFailed) as exc:
        apply_plan(
            Plan(steps=(slow_function("slow_a"), plain)),
            db,
            shadow_url=shadow,
            statement_timeout="200ms",
        )
    message = str(exc.value)
    assert "step 2 (Create index s_slow_a) failed: canceling statement due to statement " in (
        message
    )
    assert "statement_timeout=200ms" in message and "the database is unchanged" in message
    assert rows(db, "SELECT to_regprocedure('slow_a(integer)') IS NULL") == [(True,)]

    online = index_step("CREATE INDEX CONCURRENTLY s_slow_b ON s ((slow_b(v)))", "s_slow_b", "s")
    marks: list[float] = []
    apply_plan(
        Plan(steps=(slow_function("slow_b"), online)),
        db,
        shadow_url=shadow,
        statement_timeout="200ms",
        progress=on_first(2, lambda: marks.append(time.monotonic())),
    )
    assert time.monotonic() - marks[0] > 0.6  # the build ran well past the statement_timeout
    assert rows(db, "SELECT indisvalid FROM pg_index WHERE indexrelid = 's_slow_b'::regclass") == [
        (True,)
    ]


def test_the_review_panel_applies_with_the_given_timeouts_and_shows_each_wait(
    fresh_db: Callable[[], str],
) -> None:
    from lockplane_nb.panel import ReviewPanel

    db, shadow = fresh_db(), fresh_db()
    setup(db, TABLE)
    holder = Holder(db, ["SELECT count(*) FROM t"], hold=30.0).start()
    panel = ReviewPanel(
        Plan(steps=(add_column_step("t"),)),
        database_url=db,
        shadow_url=shadow,
        apply_options={"lock_timeout": "300ms", "retry_budget": 0.5},
    )
    statuses: list[str] = []
    panel.status.observe(lambda change: statuses.append(change["new"]), names="value")
    try:
        panel.validate_button.click()
        assert panel.state == "validated", panel.status.value
        panel.apply_button.click()
    finally:
        holder.release()
    assert panel.state == "failed"
    assert f"pid {holder.pid} (idle in transaction" in panel.outcome.value
    assert "retry budget of 0.5s" in panel.outcome.value
    assert any("waited for a lock (blocked before running), retry 1" in s for s in statuses)


def test_a_deadlock_rolls_the_group_back_and_it_is_retried(fresh_db: Callable[[], str]) -> None:
    """Step 1 locks a; the other session then locks b and waits for a; step 2 waits for b.
    The other session's deadlock_timeout is long, so Postgres picks the step as the victim."""
    db, shadow = fresh_db(), fresh_db()
    setup(db, "CREATE TABLE a (id integer); CREATE TABLE b (id integer);")
    holding_b = threading.Event()
    pids: list[int] = []

    def other() -> None:
        with psycopg.connect(db) as conn:
            pids.append(conn.info.backend_pid)
            conn.execute("SET deadlock_timeout = '20s'")
            conn.execute("LOCK TABLE b IN ACCESS SHARE MODE")
            holding_b.set()
            conn.execute("LOCK TABLE a IN ACCESS SHARE MODE")  # waits for step 1's lock on a
            time.sleep(0.5)

    thread = threading.Thread(target=other, daemon=True)

    def start() -> None:
        thread.start()
        assert holding_b.wait(10)
        time.sleep(0.3)  # let it queue for a

    retries: list[Retry] = []
    result = apply_plan(
        Plan(steps=(add_column_step("a"), add_column_step("b"))),
        db,
        shadow_url=shadow,
        lock_timeout="5s",
        retry_budget=10.0,
        progress=on_first(2, start),
        on_retry=retries.append,
    )
    thread.join(timeout=10)
    assert retries[0].reason == "deadlock" and retries[0].step == 2, [r.text() for r in retries]
    assert pids[0] in [b.pid for b in retries[0].blockers]
    assert result.retries == tuple(retries)
    schema = introspect_url(db)
    assert all(schema.table("public", t).column("note") for t in "ab")  # type: ignore[union-attr]


def test_an_index_left_invalid_at_the_end_fails_the_apply_and_is_undone(
    fresh_db: Callable[[], str],
) -> None:
    """Every index on the plan's tables must be valid and ready at the end. No real build
    reports success and leaves one invalid, so a (superuser) catalog update plays that part."""
    db, shadow = fresh_db(), fresh_db()
    setup(db, TABLE)
    before = introspect_url(db)
    flag = "UPDATE pg_index SET indisvalid = {} WHERE indexrelid = 't_v'::regclass"
    plan = Plan(
        steps=(
            Step(
                description="Create index t_v",
                sql="CREATE INDEX t_v ON t (v)",
                reverse_sql="DROP INDEX t_v",
                lock="SHARE",
                tables=("t",),
            ),
            Step(
                description="Break index t_v",
                sql=flag.format("false"),
                reverse_sql=flag.format("true"),
                lock="SHARE",
                tables=("t",),
            ),
        )
    )
    with pytest.raises(ApplyFailed) as exc:
        apply_plan(plan, db, shadow_url=shadow)
    message = str(exc.value)
    assert message.startswith("the apply left INVALID index t_v on t")
    assert "back where it started" in message
    assert introspect_url(db) == before and invalid_indexes(db) == []


def test_an_index_that_was_invalid_before_the_apply_is_a_warning(
    fresh_db: Callable[[], str],
) -> None:
    db, shadow = fresh_db(), fresh_db()
    setup(
        db,
        TABLE + "CREATE INDEX t_w ON t (v);"
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 't_w'::regclass;",
    )
    result = apply_plan(Plan(steps=(add_column_step("t"),)), db, shadow_url=shadow)
    assert result.warnings == (
        "index t_w on t was already INVALID before this apply: rebuild it with REINDEX INDEX "
        "CONCURRENTLY, or drop it",
    )
