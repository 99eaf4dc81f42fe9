"""Apply's guarantees on a real database: refusal on drift, on unsafe shadows, on concurrent
applies and on destructive plans; a failed step leaves the database exactly as it was."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from lockplane import apply_plan, introspect_url, make_plan
from lockplane.cli import main
from lockplane.errors import (
    ApplyFailed,
    DriftError,
    LockBusy,
    LockplaneError,
    ShadowRefused,
    UnsafePlan,
)
from lockplane.executor import ADVISORY_KEY
from lockplane.model import Schema

BASE = "CREATE TABLE users (id integer PRIMARY KEY, email text);"


def setup(url: str, ddl: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(ddl.encode())


def schema_of(fresh_db: Callable[[], str], ddl: str) -> Schema:
    url = fresh_db()
    setup(url, ddl)
    return introspect_url(url)


def rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query.encode()).fetchall()


def test_apply_records_the_run_in_the_ledger(fresh_db: Callable[[], str]) -> None:
    db, shadow = fresh_db(), fresh_db()
    setup(db, BASE)
    plan = make_plan(
        introspect_url(db), schema_of(fresh_db, BASE + "ALTER TABLE users ADD COLUMN age int;")
    )
    result = apply_plan(plan, db, shadow_url=shadow)
    assert result.steps_applied == 1 and result.verified and result.shadow.ok
    assert [c.passed for c in result.shadow.checks] == [True, True, True, True]
    ledger = rows(
        db, "SELECT outcome, source_fingerprint, target_fingerprint FROM lockplane.migrations"
    )
    assert ledger == [("applied", plan.source_fingerprint, plan.target_fingerprint)]
    assert introspect_url(db).table("public", "users").column("age") is not None  # type: ignore[union-attr]


def test_rollback_rehearsed_by_the_forward_proof(fresh_db: Callable[[], str]) -> None:
    """The forward proof rehearsed the rollback, so applying that rollback with the forward
    report skips a second proof; a report that did not rehearse the plan is refused."""
    db, shadow = fresh_db(), fresh_db()
    setup(db, BASE)
    plan = make_plan(
        introspect_url(db), schema_of(fresh_db, BASE + "ALTER TABLE users ADD COLUMN age int;")
    )
    forward = apply_plan(plan, db, shadow_url=shadow)
    other = make_plan(
        introspect_url(db), schema_of(fresh_db, BASE + "ALTER TABLE users ADD COLUMN nick text;")
    )
    with pytest.raises(LockplaneError, match="did not rehearse this plan"):
        apply_plan(other, db, shadow_url=shadow, proven=forward.shadow, allow_destructive=True)
    undo = apply_plan(
        plan.reverse(), db, shadow_url=shadow, proven=forward.shadow, allow_destructive=True
    )
    assert undo.verified and [c.name for c in undo.shadow.checks] == [
        "Rehearsed on the shadow as the rollback of the proven plan"
    ]
    assert introspect_url(db).table("public", "users").column("age") is None  # type: ignore[union-attr]


def test_drift_is_refused_and_explained(fresh_db: Callable[[], str]) -> None:
    db, shadow = fresh_db(), fresh_db()
    setup(db, BASE)
    plan = make_plan(
        introspect_url(db), schema_of(fresh_db, BASE + "ALTER TABLE users ADD COLUMN age int;")
    )
    setup(db, "ALTER TABLE users ADD COLUMN nickname text;")  # someone changed the database since
    with pytest.raises(DriftError) as exc:
        apply_plan(plan, db, shadow_url=shadow)
    assert "drifted" in str(exc.value) and "users.nickname" in str(exc.value)
    assert introspect_url(db).table("public", "users").column("age") is None  # type: ignore[union-attr]


def test_failed_step_rolls_back_everything_and_names_the_step(fresh_db: Callable[[], str]) -> None:
    """SET NOT NULL passes on the (empty) shadow and fails on real rows: nothing may change.
    The plain (--no-online) plan is one transaction; test_online.py covers the online form."""
    db, shadow = fresh_db(), fresh_db()
    setup(db, BASE + "INSERT INTO users VALUES (1, NULL), (2, 'b@example.com');")
    target = schema_of(
        fresh_db, "CREATE TABLE users (id integer PRIMARY KEY, email text NOT NULL, age int);"
    )
    before = introspect_url(db)
    plan = make_plan(before, target, online=False)
    assert [s.description for s in plan.steps] == [
        "Add column age to table users",
        "Set NOT NULL on column users.email",
    ]
    with pytest.raises(ApplyFailed) as exc:  # the data preflight would catch it first
        apply_plan(plan, db, shadow_url=shadow, preflight=False)
    message = str(exc.value)
    assert "step 2 (Set NOT NULL on column users.email) failed" in message
    assert "rolled back" in message
    assert introspect_url(db) == before
    assert rows(db, "SELECT id, email FROM users ORDER BY id") == [(1, None), (2, "b@example.com")]
    assert rows(db, "SELECT outcome FROM lockplane.migrations") == [("failed",)]


def test_destructive_plan_needs_explicit_permission(fresh_db: Callable[[], str]) -> None:
    db, shadow = fresh_db(), fresh_db()
    setup(db, BASE + "INSERT INTO users VALUES (1, 'a@example.com');")
    plan = make_plan(
        introspect_url(db), schema_of(fresh_db, "CREATE TABLE users (id integer PRIMARY KEY);")
    )
    with pytest.raises(UnsafePlan) as exc:
        apply_plan(plan, db, shadow_url=shadow)
    assert "DROP" not in str(exc.value) and "users.email" in str(exc.value)
    assert introspect_url(db).table("public", "users").column("email") is not None  # type: ignore[union-attr]
    apply_plan(plan, db, shadow_url=shadow, allow_destructive=True)
    assert introspect_url(db).table("public", "users").column("email") is None  # type: ignore[union-attr]


def test_shadow_pointing_at_the_target_is_refused(fresh_db: Callable[[], str]) -> None:
    db = fresh_db()
    setup(db, BASE)
    plan = make_plan(
        introspect_url(db), schema_of(fresh_db, BASE + "ALTER TABLE users ADD COLUMN age int;")
    )
    with pytest.raises(ShadowRefused) as exc:
        apply_plan(plan, db, shadow_url=db)
    assert "is the target database itself" in str(exc.value)


def test_shadow_holding_someones_data_is_never_reset(fresh_db: Callable[[], str]) -> None:
    db, not_a_shadow = fresh_db(), fresh_db()
    setup(db, BASE)
    setup(not_a_shadow, "CREATE TABLE precious (v text); INSERT INTO precious VALUES ('keep me');")
    plan = make_plan(
        introspect_url(db), schema_of(fresh_db, BASE + "ALTER TABLE users ADD COLUMN age int;")
    )
    with pytest.raises(ShadowRefused) as exc:
        apply_plan(plan, db, shadow_url=not_a_shadow)
    assert "did not create" in str(exc.value)
    assert rows(not_a_shadow, "SELECT v FROM precious") == [("keep me",)]


def test_a_database_with_a_ledger_is_not_a_shadow(fresh_db: Callable[[], str]) -> None:
    db, other = fresh_db(), fresh_db()
    setup(db, BASE)
    setup(other, "CREATE SCHEMA lockplane; CREATE TABLE lockplane.migrations (id int);")
    plan = make_plan(
        introspect_url(db), schema_of(fresh_db, BASE + "ALTER TABLE users ADD COLUMN age int;")
    )
    with pytest.raises(ShadowRefused, match="holds a Lockplane ledger"):
        apply_plan(plan, db, shadow_url=other)


def test_concurrent_apply_waits_then_fails_clearly(fresh_db: Callable[[], str]) -> None:
    db, shadow = fresh_db(), fresh_db()
    setup(db, BASE)
    plan = make_plan(
        introspect_url(db), schema_of(fresh_db, BASE + "ALTER TABLE users ADD COLUMN age int;")
    )
    with psycopg.connect(db, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_KEY])
        started = time.monotonic()
        with pytest.raises(LockBusy, match="another Lockplane apply holds the lock"):
            apply_plan(plan, db, shadow_url=shadow, lock_wait_seconds=1.0)
        assert 0.9 <= time.monotonic() - started < 10
    apply_plan(plan, db, shadow_url=shadow)  # released: goes through


def test_lock_timeout_stops_a_step_stuck_behind_a_long_transaction(
    fresh_db: Callable[[], str],
) -> None:
    db, shadow = fresh_db(), fresh_db()
    setup(db, BASE)
    plan = make_plan(
        introspect_url(db), schema_of(fresh_db, BASE + "ALTER TABLE users ADD COLUMN age int;")
    )
    release = threading.Event()

    def long_reader() -> None:
        with psycopg.connect(db) as conn:
            conn.execute("SELECT * FROM users")  # holds ACCESS SHARE until the transaction ends
            release.wait(30)

    reader = threading.Thread(target=long_reader)
    reader.start()
    try:
        time.sleep(0.3)
        started = time.monotonic()
        with pytest.raises(ApplyFailed, match="lock_timeout=500ms"):  # then retried for 2 s
            apply_plan(plan, db, shadow_url=shadow, lock_timeout="500ms", retry_budget=2.0)
        assert time.monotonic() - started < 20
    finally:
        release.set()
        reader.join()
    assert introspect_url(db).table("public", "users").column("age") is None  # type: ignore[union-attr]


def test_seed_format_plan_applies(
    fresh_db: Callable[[], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The seed README's executor example: a plan of description + sql only."""
    db, shadow = fresh_db(), fresh_db()
    plan = Path(__file__).parent / "data" / "seed" / "plans" / "executor_plan.json"
    code = main(
        ["apply", "--plan", str(plan), "--database", db, "--shadow-database", shadow, "--yes"]
    )
    _out, err = capsys.readouterr()
    assert code == 0, err
    assert "- Result equals the target: the plan carries no target schema" in err
    assert "- Rollback returns to the start: the plan carries no reverse steps" in err
    assert introspect_url(db).table("public", "posts") is not None


def test_apply_from_the_cli_end_to_end(
    fresh_db: Callable[[], str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """introspect → plan from a .sql file → apply → history, as the README tour runs it."""
    db, shadow = fresh_db(), fresh_db()
    setup(db, BASE + "INSERT INTO users VALUES (1, 'a@example.com');")
    desired = tmp_path / "desired.sql"
    desired.write_text(
        "CREATE TABLE users (id integer PRIMARY KEY, email text, created_at timestamptz DEFAULT now());\n"
        "CREATE INDEX users_email ON users (email);\n"
    )
    plan_file = tmp_path / "plan.json"
    plan = [
        "plan",
        "--from",
        db,
        "--to",
        str(desired),
        "--shadow-database",
        shadow,
        "-o",
        str(plan_file),
    ]
    assert main(plan) == 0
    assert [s["description"] for s in json.loads(plan_file.read_text())["steps"]] == [
        "Add column created_at to table users",
        "Create index users_email",
    ]
    apply = [
        "apply",
        "--plan",
        str(plan_file),
        "--database",
        db,
        "--shadow-database",
        shadow,
        "--yes",
    ]
    assert main(apply) == 0
    assert main(plan) == 0
    assert json.loads(plan_file.read_text())["steps"] == []
    capsys.readouterr()
    assert main(["history", "--database", db]) == 0
    assert "applied" in capsys.readouterr().out
    assert rows(db, "SELECT count(*) FROM users") == [(1,)]


def test_a_plan_never_drops_what_lockplane_does_not_manage(fresh_db: Callable[[], str]) -> None:
    from lockplane.errors import PlanError

    db = fresh_db()
    setup(
        db,
        BASE
        + """
        CREATE RULE users_keep AS ON DELETE TO users DO INSTEAD NOTHING;
        CREATE SCHEMA reporting;
        CREATE COLLATION reporting.c_copy FROM "C";
        """,
    )
    live = introspect_url(db)
    assert {(u.kind, u.name) for u in live.unmanaged} >= {
        ("rule", "users_keep"),
        ("collation", "c_copy"),
    }
    with pytest.raises(PlanError, match="has rule 'users_keep', which Lockplane does not manage"):
        make_plan(live, Schema(schemas=["reporting"]))
    with pytest.raises(
        PlanError, match="schema reporting is dropped by this plan, but it holds collation"
    ):
        make_plan(live, live.model_copy(update={"schemas": ()}))
    # The rule and the collation are not part of any plan that leaves their homes alone.
    assert make_plan(live, live.model_copy(update={"unmanaged": ()})).is_empty


def test_a_shadow_role_without_createdb_uses_the_shadow_database_itself(
    pg_url: str, fresh_db: Callable[[], str], tmp_path: Path
) -> None:
    """`.sql` inputs go to a scratch database; a role that may not create one resets the shadow."""
    import secrets

    from psycopg import sql

    from lockplane.db import with_database
    from lockplane.sources import load_schema

    role = f"lp_nocreatedb_{secrets.token_hex(4)}"
    shadow_name = f"lp_test_{secrets.token_hex(6)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOCREATEDB").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(shadow_name), sql.Identifier(role)
            )
        )
    try:
        admin = with_database(pg_url, shadow_name)
        parts = urlsplit(admin)
        shadow = urlunsplit(parts._replace(netloc=f"{role}@{parts.netloc.rpartition('@')[2]}"))
        ddl = tmp_path / "desired.sql"
        ddl.write_text("CREATE TABLE t (id int PRIMARY KEY, note text);")
        loaded = load_schema(str(ddl), shadow=shadow)
        assert [t.name for t in loaded.tables] == ["t"]
        assert rows(admin, "SELECT to_regclass('lockplane.shadow_marker') IS NOT NULL") == [(True,)]
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(shadow_name)
                )
            )
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_non_transactional_steps_run_outside_a_transaction(
    fresh_db: Callable[[], str],
) -> None:
    """CREATE INDEX CONCURRENTLY fails inside a transaction block: it runs alone, in autocommit
    (tests/test_lockaware.py covers the retries and the clean-up around it)."""
    from lockplane.plan import Plan, Step

    db, shadow = fresh_db(), fresh_db()
    setup(db, BASE)
    plan = Plan(
        steps=(
            Step(
                description="Build index online",
                sql="CREATE INDEX CONCURRENTLY i ON users (email)",
                transactional=False,
            ),
        )
    )
    apply_plan(plan, db, shadow_url=shadow)
    assert [i.name for i in introspect_url(db).table("public", "users").indexes] == ["i"]  # type: ignore[union-attr]
