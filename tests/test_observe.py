"""The instrumented shadow run on real servers: each step's locks (from pg_locks inside its own
transaction), rewrites (relfilenode changes) and duration are observed, and every static claim
the observation disproves is reported as a Lockplane bug without failing the proof."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from lockplane import Plan, Shadow, Step, introspect_url, make_plan, parse_schema_text, prove
from lockplane.errors import ShadowMismatch
from lockplane.observe import Observer, StepObservation
from lockplane.plan import Hazard
from lockplane.proof import ShadowReport

USERS = """{"tables": [{"name": "users", "columns": [
    {"name": "id", "type": "integer", "nullable": false, "is_primary_key": true},
    {"name": "name", "type": "character varying(10)"},
    {"name": "email", "type": "text"}]}]}"""
SETUP = "CREATE TABLE users (id integer PRIMARY KEY, name varchar(10), email text)"
REWRITE = Hazard(code="TABLE_REWRITE", severity="warning", message="rewrites users")


def proved(fresh_db: Callable[[], str], old: str, new: str) -> ShadowReport:
    """Plan OLD -> NEW with the real planner and prove it on an empty shadow database."""
    before = parse_schema_text(old)
    return prove(make_plan(before, parse_schema_text(new)), before, Shadow(fresh_db()))


def observe(fresh_db: Callable[[], str], setup: str, *steps: Step) -> list[StepObservation]:
    """Run hand-made steps under an observer on a fresh database holding `setup`."""
    with psycopg.connect(fresh_db(), autocommit=True) as conn:
        conn.execute(setup.encode())
        observer = Observer(conn)
        return [observer.run(n, step, "test run") for n, step in enumerate(steps, 1)]


def test_type_change_rewrites_under_access_exclusive(fresh_db: Callable[[], str]) -> None:
    report = proved(fresh_db, USERS, USERS.replace('"integer"', '"bigint"'))
    [step] = report.observations
    assert step.description == "Change type of column users.id to bigint"
    assert step.locks == {"users": "ACCESS EXCLUSIVE"}
    assert step.strongest_lock == "ACCESS EXCLUSIVE"
    assert step.rewritten == ("users",)
    assert step.locks_observed and step.duration_ms > 0
    assert step.summary().startswith("ACCESS EXCLUSIVE on users · rewrote users · ")
    [back] = report.rollback_observations  # bigint -> integer rewrites too
    assert back.rewritten == ("users",)
    assert report.ok and report.contradictions == []


def test_binary_compatible_change_is_not_a_rewrite(fresh_db: Callable[[], str]) -> None:
    report = proved(fresh_db, USERS, USERS.replace("varying(10)", "varying(20)"))
    [step] = report.observations
    assert step.description == "Change type of column users.name to character varying(20)"
    assert step.rewritten == ()
    assert step.locks == {"users": "ACCESS EXCLUSIVE"}
    assert "rewrote" not in step.summary()
    assert report.contradictions == []


def test_create_index_takes_share(fresh_db: Callable[[], str]) -> None:
    build = Step(
        description="Create index users_email_idx",
        sql="CREATE INDEX users_email_idx ON users (email)",
        lock="SHARE",
        tables=("users",),
    )
    drop = Step(
        description="Drop index users_email_idx",
        sql="DROP INDEX users_email_idx",
        lock="ACCESS EXCLUSIVE",
        tables=("users",),
    )
    built, dropped = observe(fresh_db, SETUP, build, drop)
    assert (built.locks, built.rewritten) == ({"users": "SHARE"}, ())
    assert dropped.locks == {"users": "ACCESS EXCLUSIVE"}
    assert built.contradictions == dropped.contradictions == []


def test_planned_index_and_foreign_key_match_their_claims(fresh_db: Callable[[], str]) -> None:
    """Whatever form the planner gives an index build and a foreign key (plain, CONCURRENTLY,
    NOT VALID then VALIDATE), the shadow agrees with every claim, forward and back."""
    old = USERS.replace(
        '{"tables": [',
        '{"tables": [{"name": "teams", "columns": [{"name": '
        '"id", "type": "integer", "nullable": false, "is_primary_key": true}]}, ',
    )
    new = old.replace(
        '"text"}]}',
        '"text"}, {"name": "team_id", "type": "integer"}], '
        '"indexes": [{"name": "users_email_idx", "columns": ["email"]}], '
        '"foreign_keys": [{"name": "users_team_fk", "columns": ["team_id"], '
        '"referenced_table": "teams", "referenced_columns": ["id"]}]}',
    )
    report = proved(fresh_db, old, new)
    assert report.contradictions == [], report.text()
    assert len(report.observations) >= 3 and len(report.rollback_observations) >= 3
    drop_fk = next(o for o in report.rollback_observations if "Drop foreign key" in o.description)
    assert drop_fk.locks == {"users": "ACCESS EXCLUSIVE", "teams": "ACCESS EXCLUSIVE"}


def test_wrong_static_lock_is_a_lockplane_bug(fresh_db: Callable[[], str]) -> None:
    """A hand-made step claiming SHARE for SQL that takes ACCESS EXCLUSIVE: the proof still
    passes (the plan is fine; the claim is wrong), and the report says so loudly."""
    wrong = Step(
        description="Add column by hand",
        sql="ALTER TABLE users ADD COLUMN age integer",
        lock="SHARE",
        tables=("users",),
    )
    report = prove(Plan(steps=(wrong,)), parse_schema_text(USERS), Shadow(fresh_db()))
    message = (
        "Lockplane bug: step 1 (Add column by hand) claims lock SHARE "
        "but the shadow observed ACCESS EXCLUSIVE on users"
    )
    assert report.contradictions == [message]
    assert report.ok
    text = report.text()
    assert text.startswith("!! 1 LOCKPLANE BUG: ")
    assert f"     !! {message}" in text
    assert "rules:    SHARE on users" in text


def test_every_kind_of_contradiction(fresh_db: Callable[[], str]) -> None:
    unclaimed_rewrite = Step(
        description="retype",
        sql="ALTER TABLE users ALTER COLUMN id TYPE bigint",
        lock="ACCESS EXCLUSIVE",
        tables=("users",),
    )
    claimed_rewrite = Step(
        description="comment",
        sql="COMMENT ON TABLE users IS 'people'",
        lock="SHARE UPDATE EXCLUSIVE",
        hazards=(REWRITE,),
    )
    claimed_lock = Step(description="nothing", sql="SELECT 1", lock="SHARE", tables=("users",))
    unclaimed_lock = Step(description="drop", sql="DROP TABLE users")
    first, second, third, fourth = observe(
        fresh_db, SETUP, unclaimed_rewrite, claimed_rewrite, claimed_lock, unclaimed_lock
    )
    assert first.contradictions == [
        "Lockplane bug: step 1 (retype) claims no table rewrite but the shadow observed a "
        "rewrite of users"
    ]
    assert second.contradictions == [
        "Lockplane bug: step 2 (comment) claims it locks no existing table but the shadow "
        "observed SHARE UPDATE EXCLUSIVE on users",
        "Lockplane bug: step 2 (comment) claims a table rewrite (TABLE_REWRITE) but the shadow "
        "observed no rewrite",
    ]
    assert third.contradictions == [
        "Lockplane bug: step 3 (nothing) claims lock SHARE but the shadow observed "
        "no lock on existing tables"
    ]
    assert fourth.contradictions == [
        "Lockplane bug: step 4 (drop) claims no lock on existing tables but the shadow observed "
        "ACCESS EXCLUSIVE on users",
        "Lockplane bug: step 4 (drop) claims it locks no existing table but the shadow observed "
        "ACCESS EXCLUSIVE on users",
    ]
    assert fourth.rewritten == ()  # dropped, not rewritten


def test_table_names_as_sql_spells_them(fresh_db: Callable[[], str]) -> None:
    """Observed names must compare equal to `Step.tables`: public unqualified, odd names quoted."""
    step = Step(
        description="lock both",
        sql='LOCK TABLE app."Odd Name" IN SHARE MODE; LOCK TABLE users IN EXCLUSIVE MODE',
        lock="EXCLUSIVE",
        tables=('app."Odd Name"', "users"),
    )
    setup = SETUP + '; CREATE SCHEMA app; CREATE TABLE app."Odd Name" (id int)'
    [seen] = observe(fresh_db, setup, step)
    assert seen.locks == {'app."Odd Name"': "SHARE", "users": "EXCLUSIVE"}
    assert seen.contradictions == []
    assert seen.summary().startswith('EXCLUSIVE on users; SHARE on app."Odd Name" · ')


def test_tables_created_during_the_run_do_not_count(fresh_db: Callable[[], str]) -> None:
    create = Step(description="create", sql="CREATE TABLE posts (id int)")
    alter = Step(description="alter", sql="ALTER TABLE posts ADD COLUMN body text")
    seen = observe(fresh_db, SETUP, create, alter)
    assert [(o.locks, o.contradictions) for o in seen] == [({}, []), ({}, [])]


def test_non_transactional_step_runs_in_autocommit(fresh_db: Callable[[], str]) -> None:
    """CREATE INDEX CONCURRENTLY fails inside a transaction block, so it running at all shows
    autocommit; its locks cannot be read back that way and are reported as not observed."""
    step = Step(
        description="Create index users_email_idx concurrently",
        sql="CREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n"
        "CREATE INDEX CONCURRENTLY users_name_idx ON users (name)",
        transactional=False,
        lock="SHARE UPDATE EXCLUSIVE",
        tables=("users",),
    )
    report = prove(Plan(steps=(step,)), parse_schema_text(USERS), Shadow(fresh_db()))
    [seen] = report.observations
    assert not seen.locks_observed and seen.locks == {} and seen.strongest_lock is None
    assert seen.rewritten == () and seen.contradictions == []
    assert seen.summary().startswith("locks not observed (ran outside a transaction) · ")
    assert "observed: locks not observed" in report.text()
    assert report.ok


def test_a_failed_step_keeps_the_observations_before_it(fresh_db: Callable[[], str]) -> None:
    good = Step(description="add", sql="ALTER TABLE users ADD COLUMN age int", lock=None)
    bad = Step(description="bad", sql="ALTER TABLE users ADD COLUMN age int")
    with pytest.raises(ShadowMismatch) as info:
        prove(Plan(steps=(good, bad)), parse_schema_text(USERS), Shadow(fresh_db()))
    assert "shadow run: step 2 (bad) failed: " in str(info.value)
    report = info.value.report
    assert isinstance(report, ShadowReport)
    [seen] = report.observations
    assert seen.description == "add" and seen.locks == {"users": "ACCESS EXCLUSIVE"}
    assert len(seen.contradictions) == 2  # claimed no lock and no table


# Static claims the shadow once contradicted (each pair is OLD, NEW as SQL), kept as regressions.
CLAIMS = {
    "retyping a foreign key's columns locks the table at its other end": (
        "CREATE TABLE p (id int PRIMARY KEY); CREATE TABLE c (pid int REFERENCES p)",
        "CREATE TABLE p (id bigint PRIMARY KEY); CREATE TABLE c (pid bigint REFERENCES p)",
    ),
    "dropping a foreign key locks the referenced table too": (
        "CREATE TABLE p (id int PRIMARY KEY); CREATE TABLE c (pid int REFERENCES p)",
        "CREATE TABLE p (id int PRIMARY KEY); CREATE TABLE c (pid int)",
    ),
    "the rollback of dropped tables recreates them, locking nothing that exists": (
        "CREATE TABLE p (id int PRIMARY KEY); CREATE TABLE c (pid int REFERENCES p);"
        "CREATE INDEX c_pid ON c (pid)",
        "",
    ),
    "the rollback of created tables drops them, locking each": (
        "",
        "CREATE TABLE p (id int PRIMARY KEY); CREATE TABLE c (pid int REFERENCES p);"
        "CREATE INDEX c_pid ON c (pid)",
    ),
    "attaching a sequence reads its column's table": (
        "CREATE TABLE t (n int); CREATE SEQUENCE s",
        "CREATE TABLE t (n int); CREATE SEQUENCE s OWNED BY t.n",
    ),
    "a serial column of a new table locks nothing that exists": ("", "CREATE TABLE t (id serial)"),
}


@pytest.mark.parametrize("old_sql, new_sql", CLAIMS.values(), ids=list(CLAIMS))
def test_planned_claims_agree_with_the_shadow(
    fresh_db: Callable[[], str], old_sql: str, new_sql: str
) -> None:
    old_url, new_url = fresh_db(), fresh_db()
    with psycopg.connect(old_url, autocommit=True) as conn:
        conn.execute(old_sql.encode())
    with psycopg.connect(new_url, autocommit=True) as conn:
        conn.execute(new_sql.encode())
    old = introspect_url(old_url)
    plan = make_plan(old, introspect_url(new_url))
    report = prove(plan, old, Shadow(fresh_db()))
    assert plan.reversible and report.rollback_observations
    assert any(o.locks for o in (*report.observations, *report.rollback_observations))
    assert report.contradictions == [], report.text()
