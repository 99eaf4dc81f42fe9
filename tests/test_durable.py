"""Durable runs on a real database, with real faults: a killed backend, a SIGKILLed process,
rows locked by someone else, writers hammering the table.

Every backfilled table carries a `touched` column counted up by a trigger on each UPDATE, so
"every row backfilled exactly once" is a query: no row with touched <> 1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from test_lockaware import ROUND_TRIP, Holder

from lockplane import apply_plan, introspect_url, make_plan
from lockplane.cli import main
from lockplane.diff import diff
from lockplane.errors import InputError, RunInterrupted
from lockplane.executor import abandon_run, resume_run
from lockplane.journal import RunInfo, runs
from lockplane.model import Column, Index, Schema
from lockplane.output import AbandonDocument, ApplyDocument
from lockplane.plan import Plan
from lockplane.progress import Progress
from lockplane.shadow import Shadow

COUNTED = """
CREATE TABLE big (id bigint PRIMARY KEY, v integer NOT NULL, touched integer NOT NULL DEFAULT 0);
CREATE FUNCTION count_touch() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN NEW.touched := OLD.touched + 1; RETURN NEW; END $$;
CREATE TRIGGER big_touch BEFORE UPDATE ON big FOR EACH ROW EXECUTE FUNCTION count_touch();
INSERT INTO big (id, v) SELECT g, g % 1000 FROM generate_series(1, {rows}) g;
ANALYZE big;
"""


def run_sql(url: str, ddl: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(ddl.encode())


def one(url: str, query: str) -> object:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query.encode()).fetchone()
        return row[0] if row else None


def with_column(schema: Schema, table: str, column: Column) -> Schema:
    tables = tuple(
        t.model_copy(update={"columns": (*t.columns, column)}) if t.name == table else t
        for t in schema.tables
    )
    return schema.model_copy(update={"tables": tables})


def backfill_plan(url: str, expression: str = "v * 2") -> Plan:
    """Add `w bigint NOT NULL`, set from `expression` for the rows `big` already has."""
    now = introspect_url(url)
    wanted = with_column(
        now, "big", Column(name="w", type="bigint", nullable=False, backfill=expression)
    )
    return make_plan(now, wanted)


def runs_of(url: str) -> list[RunInfo]:
    with psycopg.connect(url) as conn:
        return runs(conn)


def assert_backfilled_once(url: str, plan: Plan) -> None:
    assert one(url, "SELECT count(*) FROM big WHERE touched <> 1") == 0
    assert one(url, "SELECT count(*) FROM big WHERE w IS DISTINCT FROM v * 2") == 0
    assert plan.target is not None
    assert diff(introspect_url(url), plan.target).is_empty


class Killer:
    """Terminates the session running the run's steps (the journal's `worker_pid`) while it
    runs a backfill batch, once the backfill is `at` done."""

    def __init__(self, url: str, at: float) -> None:
        self.url, self.at = url, at
        self.killed: list[int] = []
        self._armed = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def progress(self, n: int, p: Progress) -> None:
        if p.rows_total and p.rows_done >= self.at * p.rows_total:
            self._armed.set()

    def _run(self) -> None:
        if not self._armed.wait(300):
            return
        with psycopg.connect(self.url, autocommit=True) as conn:
            deadline = time.monotonic() + 60
            while not self.killed and time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT a.pid FROM lockplane.runs r JOIN pg_stat_activity a "
                    "ON a.pid = r.worker_pid WHERE r.state = 'running' AND a.state = 'active' "
                    "AND a.query LIKE 'WITH done AS (UPDATE%%'"
                ).fetchone()
                if row and conn.execute("SELECT pg_terminate_backend(%s)", [row[0]]).fetchone():
                    self.killed.append(int(row[0]))
                time.sleep(0.002)


def test_a_killed_backend_costs_one_batch_and_no_row_twice(
    fresh_db: Callable[[], str],
) -> None:
    """The issue's first fault: pg_terminate_backend in the middle of a 1,000,000-row
    backfill. The runner reconnects, reads its cursor back from the journal, and goes on."""
    db, shadow = fresh_db(), fresh_db()
    run_sql(db, COUNTED.format(rows=1_000_000))
    plan = backfill_plan(db)
    assert [s.backfill is not None for s in plan.steps].count(True) == 1
    killer = Killer(db, at=0.3)
    result = apply_plan(plan, db, shadow_url=shadow, on_progress=killer.progress)
    assert killer.killed, "the backfill ended before it could be killed"
    assert any(r.reason.startswith("connection lost") for r in result.retries)
    assert_backfilled_once(db, plan)
    with psycopg.connect(db) as conn:
        (run,) = runs(conn)
        attempts = conn.execute(
            "SELECT attempts FROM lockplane.run_steps WHERE run_id = %s AND step = %s",
            [run.id, next(n for n, s in enumerate(plan.steps, 1) if s.backfill)],
        ).fetchone()
    assert run.status == "done" and run.rows_done == 1_000_000
    assert attempts is not None and attempts[0] >= 2


def test_no_budget_left_interrupts_the_run_and_resume_finishes_it(
    fresh_db: Callable[[], str],
) -> None:
    """With no retry budget a lost connection stops the run: it reads interrupted, nothing
    else may be applied, and `resume_run` finishes it from the journal alone."""
    db, shadow = fresh_db(), fresh_db()
    run_sql(db, COUNTED.format(rows=200_000))
    plan = backfill_plan(db)
    killer = Killer(db, at=0.2)
    with pytest.raises(RunInterrupted, match="--resume") as stopped:
        apply_plan(
            plan,
            db,
            shadow_url=shadow,
            retry_budget=0,
            batch_seconds=0.02,
            on_progress=killer.progress,
        )
    with psycopg.connect(db) as conn:
        (run,) = runs(conn)
    assert run.id == stopped.value.run_id and run.status == "interrupted"
    assert 0 < run.rows_done < 200_000
    with pytest.raises(RunInterrupted, match=f"run {run.id} .* interrupted"):
        apply_plan(plan, db, shadow_url=shadow)
    result = resume_run(db)
    assert result.verified and result.run_id == run.id
    assert_backfilled_once(db, plan)
    with psycopg.connect(db) as conn:
        assert [r.status for r in runs(conn)] == ["done"]
    with pytest.raises(InputError, match="no interrupted run"):
        resume_run(db)


def test_a_backfill_that_cannot_get_its_rows_stops_resumable_and_abandon_undoes_it(
    fresh_db: Callable[[], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A batch that waits past the budget for rows someone holds keeps what it did (the run
    is interrupted, not undone); abandoning it then drops what the run added."""
    db, shadow = fresh_db(), fresh_db()
    run_sql(db, COUNTED.format(rows=20_000))
    plan = backfill_plan(db)
    holder: list[Holder] = []

    def hold_the_middle(n: int, p: Progress) -> None:
        if not holder:
            holder.append(
                Holder(db, ["SELECT * FROM big WHERE id = 15000 FOR UPDATE"], hold=60).start()
            )

    try:
        with pytest.raises(RunInterrupted):
            apply_plan(
                plan,
                db,
                shadow_url=shadow,
                lock_timeout="100ms",
                retry_budget=1.0,
                batch_seconds=0.01,
                on_progress=hold_the_middle,
            )
    finally:
        for h in holder:
            h.release()
    assert one(db, "SELECT count(*) FROM big WHERE w IS NOT NULL") not in (0, 20_000)
    (stuck,) = [r for r in runs_of(db) if r.status == "interrupted"]
    assert main(["runs", "abandon", str(stuck.id), "--database", db, "--json"]) == 0
    document = AbandonDocument.model_validate_json(capsys.readouterr().out)
    assert document.abandoned == stuck.id and "Add column w" in document.message
    assert one(db, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'w'") == 0
    with psycopg.connect(db) as conn:
        assert [r.status for r in runs(conn)] == ["abandoned"]
    with pytest.raises(InputError, match="no interrupted run"):
        abandon_run(db)


def test_a_table_without_a_key_is_backfilled_by_pages_once(fresh_db: Callable[[], str]) -> None:
    db, shadow = fresh_db(), fresh_db()
    run_sql(
        db,
        COUNTED.format(rows=30_000)
        .replace("id bigint PRIMARY KEY", "id bigint")
        .replace("ANALYZE big;", "ANALYZE big; DELETE FROM big WHERE id % 7 = 0;"),
    )
    plan = backfill_plan(db)
    (step,) = [s for s in plan.steps if s.backfill]
    assert step.backfill is not None and step.backfill.key == ()
    apply_plan(plan, db, shadow_url=shadow, batch_seconds=0.005)
    assert_backfilled_once(db, plan)


def test_a_composite_key_is_walked_in_order(fresh_db: Callable[[], str]) -> None:
    db, shadow = fresh_db(), fresh_db()
    run_sql(
        db,
        COUNTED.format(rows=20_000)
        .replace("id bigint PRIMARY KEY,", "id bigint, k text,")
        .replace(
            "touched integer NOT NULL DEFAULT 0)",
            "touched integer NOT NULL DEFAULT 0, PRIMARY KEY (k, id))",
        )
        .replace(
            "INSERT INTO big (id, v) SELECT g, g % 1000",
            "INSERT INTO big (id, k, v) SELECT g, chr(97 + g % 5) || ' x', g % 1000",
        ),
    )
    plan = backfill_plan(db)
    (step,) = [s for s in plan.steps if s.backfill]
    assert step.backfill is not None and step.backfill.key == ("k", "id")
    apply_plan(plan, db, shadow_url=shadow, batch_seconds=0.005)
    assert_backfilled_once(db, plan)


def test_writers_never_wait_longer_than_the_lock_timeout(fresh_db: Callable[[], str]) -> None:
    """Writers hammer the table through the whole run (column add, backfill, NOT NULL via a
    validated check, index build): none fails, none waits longer than lock_timeout, and every
    row they wrote is there."""
    db, shadow = fresh_db(), fresh_db()
    run_sql(db, COUNTED.format(rows=300_000))
    now = introspect_url(db)
    wanted = with_column(
        now, "big", Column(name="token", type="uuid", nullable=False, default="gen_random_uuid()")
    )
    big = wanted.table("public", "big")
    assert big is not None
    indexed = big.model_copy(
        update={"indexes": (*big.indexes, Index(name="big_v_idx", columns=("v",)))}
    )
    wanted = wanted.model_copy(update={"tables": (indexed,)})
    plan = make_plan(now, wanted)
    writes: list[float] = []
    errors: list[str] = []
    stop = threading.Event()
    inserted: list[int] = []

    def write() -> None:
        with psycopg.connect(db, autocommit=True) as conn:
            n = 0
            while not stop.is_set():
                n += 1
                for query, params in (
                    ("UPDATE big SET v = v + 1 WHERE id = %s", [(n * 7919) % 300_000 + 1]),
                    ("INSERT INTO big (id, v) VALUES (%s, 1)", [1_000_000 + n]),
                ):
                    started = time.monotonic()
                    try:
                        conn.execute(query.encode(), params)
                    except psycopg.Error as exc:
                        errors.append(str(exc))
                    writes.append(time.monotonic() - started)
                inserted.append(1_000_000 + n)
                time.sleep(0.001)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        apply_plan(plan, db, shadow_url=shadow, lock_timeout="1s")
    finally:
        stop.set()
        writer.join(timeout=30)
    assert not errors
    assert len(writes) > 100
    assert max(writes) < 1.0 + ROUND_TRIP
    assert one(db, "SELECT count(*) FROM big WHERE id > 1000000") == len(inserted)
    assert one(db, "SELECT count(*) FROM big WHERE token IS NULL") == 0
    assert diff(introspect_url(db), wanted).is_empty


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from lockplane.cli import main; sys.exit(main())",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_sigkilled_apply_is_resumed_by_a_new_process(
    fresh_db: Callable[[], str], tmp_path: Path
) -> None:
    db, shadow = fresh_db(), fresh_db()
    run_sql(db, COUNTED.format(rows=300_000))
    plan = backfill_plan(db)
    path = tmp_path / "plan.json"
    path.write_text(plan.to_json())
    common = ["--database", db, "--shadow-database", shadow]
    apply = _cli("apply", "--plan", str(path), "--yes", "--batch-seconds", "0.02", *common)
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and apply.poll() is None:
        with psycopg.connect(db, autocommit=True) as conn:
            found = runs(conn)
        done = found[0].rows_done if found else 0
        if done > 30_000:
            os.kill(apply.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    apply.wait(30)
    assert apply.returncode == -signal.SIGKILL, apply.communicate()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the server notices the dead client's sockets
        with psycopg.connect(db, autocommit=True) as conn:
            (run,) = runs(conn)
        if run.status == "interrupted":
            break
        time.sleep(0.1)
    assert run.status == "interrupted" and run.rows_done < 300_000
    again = _cli("apply", "--plan", str(path), "--yes", *common)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 1 and "--resume" in err and len(err.strip().splitlines()) == 1
    listing = _cli("runs", "--database", db)
    out, err = listing.communicate(timeout=60)
    assert f"{run.id:>4}" in out and "interrupted" in out
    resume = _cli("apply", "--resume", "--database", db, "--json")
    out, err = resume.communicate(timeout=300)
    assert resume.returncode == 0, err
    document = ApplyDocument.model_validate_json(out)  # the whole of stdout, one document
    assert document.status == "resumed" and document.run_id == run.id and document.verified
    assert document.message.startswith(f"Resumed run {run.id}")
    assert_backfilled_once(db, plan)


def test_backfill_hints_in_sql(pg_url: str, fresh_db: Callable[[], str]) -> None:
    shadow = Shadow(fresh_db())
    ddl = (
        'CREATE TABLE people (id int PRIMARY KEY, first text, last text, "Full" text NOT NULL);\n'
        "  -- lockplane:backfill public.people.\"Full\" = first || ' ' || last\n"
    )
    schema = shadow.load_sql(ddl, "want.sql")
    people = schema.table("public", "people")
    assert people is not None
    full = next(c for c in people.columns if c.name == "Full")
    assert full.backfill == "first || ' ' || last"
    assert schema.fingerprint() == shadow.load_sql(ddl.splitlines()[0], "want.sql").fingerprint()
    with pytest.raises(InputError, match=r"^want.sql: line 2: lockplane:backfill names people.x"):
        shadow.load_sql(ddl.splitlines()[0] + "\n-- lockplane:backfill people.x = 1", "want.sql")
    with pytest.raises(InputError, match=r"^want.sql: line 1: lockplane:backfill needs"):
        shadow.load_sql("-- lockplane:backfill people.first\n" + ddl, "want.sql")


def test_an_index_build_reports_its_phases(
    fresh_db: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A concurrent index build is sampled from pg_stat_progress_create_index: each sample
    reaches the caller and the step's journal entry."""
    monkeypatch.setattr("lockplane.progress.SAMPLE_SECONDS", 0.01)
    db, shadow = fresh_db(), fresh_db()
    run_sql(db, COUNTED.format(rows=300_000))
    now = introspect_url(db)
    (big,) = now.tables
    indexed = big.model_copy(update={"indexes": (Index(name="big_v_idx", columns=("v", "id")),)})
    plan = make_plan(now, now.model_copy(update={"tables": (indexed,)}))
    (number,) = [n for n, s in enumerate(plan.steps, 1) if "CONCURRENTLY" in s.sql]
    samples: list[tuple[int, Progress]] = []
    apply_plan(plan, db, shadow_url=shadow, on_progress=lambda n, p: samples.append((n, p)))
    assert samples and {n for n, _ in samples} == {number}
    assert any(p.phase and p.phase.startswith("building index") for _, p in samples)
    with psycopg.connect(db) as conn:
        row = conn.execute(
            "SELECT checkpoint -> 'progress' ->> 'phase' FROM lockplane.run_steps WHERE step = %s",
            [number],
        ).fetchone()
    assert row is not None and row[0]
