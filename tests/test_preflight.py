"""The data preflight on real databases: each kind of check finds the rows a step would fail on
(count and example keys), clean data passes, a failing preflight stops apply before anything
runs, and a check that cannot finish in time is reported as not checked instead of failing."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from lockplane import PreflightReport, apply_plan, diff, introspect_url, make_plan, preflight
from lockplane.errors import PreflightFailed
from lockplane.preflight import PreflightCheck, preflight_plan


def setup(url: str, ddl: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(ddl.encode())


def run(fresh_db: Callable[[], str], old: str, new: str, timeout: float = 10.0) -> PreflightReport:
    """Build OLD (schema and rows) and NEW, and preflight the diff between them on OLD."""
    db, target = fresh_db(), fresh_db()
    setup(db, old)
    setup(target, new)
    with psycopg.connect(db, autocommit=True) as conn:
        return preflight(conn, diff(introspect_url(db), introspect_url(target)), timeout=timeout)


def only_failure(report: PreflightReport) -> PreflightCheck:
    assert len(report.failures) == 1, report.text()
    return report.failures[0]


def test_null_rows_before_set_not_null(fresh_db: Callable[[], str]) -> None:
    report = run(
        fresh_db,
        "CREATE TABLE users (id int PRIMARY KEY, email text);"
        "INSERT INTO users VALUES (1, NULL), (2, 'b'), (3, NULL);",
        "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);",
    )
    c = only_failure(report)
    assert (c.count, c.examples) == (2, ("id=1", "id=3"))
    assert c.step == "Set NOT NULL on column users.email"
    assert "IS NULL" in c.sql and not report.ok


def test_rows_before_a_not_null_column_without_default(fresh_db: Callable[[], str]) -> None:
    report = run(
        fresh_db,
        "CREATE TABLE users (id int PRIMARY KEY); INSERT INTO users VALUES (1), (2), (3);",
        "CREATE TABLE users (id int PRIMARY KEY, tenant int NOT NULL);",
    )
    c = only_failure(report)
    assert (c.count, c.examples) == (3, ("id=1", "id=2", "id=3"))


def test_duplicate_groups_before_a_unique_constraint(fresh_db: Callable[[], str]) -> None:
    """NULLs are distinct in a unique constraint: two NULL emails are not a duplicate."""
    report = run(
        fresh_db,
        "CREATE TABLE users (id int PRIMARY KEY, email text);"
        "INSERT INTO users VALUES (1, 'a'), (2, 'a'), (3, 'b'), (4, 'b'), (5, 'c'),"
        " (6, NULL), (7, NULL);",
        "CREATE TABLE users (id int PRIMARY KEY, email text CONSTRAINT users_email_key UNIQUE);",
    )
    c = only_failure(report)
    assert c.count == 2 and c.unit == "group"
    assert c.examples == ("id=1", "id=2", "id=3", "id=4")
    assert "2 groups of rows sharing (email)" in c.text()


def test_duplicates_before_a_partial_expression_unique_index(fresh_db: Callable[[], str]) -> None:
    report = run(
        fresh_db,
        "CREATE TABLE users (id int PRIMARY KEY, email text, active bool);"
        "INSERT INTO users VALUES (1, 'A', true), (2, 'a', true), (3, 'a', false), (4, 'b', true);",
        "CREATE TABLE users (id int PRIMARY KEY, email text, active bool);"
        "CREATE UNIQUE INDEX users_email_active ON users (lower(email)) WHERE active;",
    )
    c = only_failure(report)
    assert (c.count, c.examples) == (1, ("id=1", "id=2"))


def test_nulls_and_duplicates_before_a_primary_key(fresh_db: Callable[[], str]) -> None:
    """Without a primary key the examples are ctids."""
    report = run(
        fresh_db,
        "CREATE TABLE t (a int, b int); INSERT INTO t VALUES (1, 1), (1, 1), (2, NULL);",
        "CREATE TABLE t (a int, b int, PRIMARY KEY (a, b));",
    )
    by_step = {c.step: c for c in report.failures}
    nulls = by_step["Set NOT NULL on column t.b"]
    assert (nulls.count, nulls.examples) == (1, ("ctid=(0,3)",))
    duplicates = [c for c in report.failures if c.unit == "group"]
    assert [(c.count, c.examples) for c in duplicates] == [(1, ("ctid=(0,1)", "ctid=(0,2)"))]


def test_violating_rows_before_a_check_null_passes(fresh_db: Callable[[], str]) -> None:
    report = run(
        fresh_db,
        "CREATE TABLE products (id int PRIMARY KEY, price int);"
        "INSERT INTO products VALUES (1, 5), (2, -1), (3, NULL), (4, -7);",
        "CREATE TABLE products (id int PRIMARY KEY, price int CONSTRAINT price_positive "
        "CHECK (price > 0));",
    )
    c = only_failure(report)
    assert (c.count, c.examples) == (2, ("id=2", "id=4"))


def test_orphans_before_a_foreign_key(fresh_db: Callable[[], str]) -> None:
    """A NULL key is no orphan (MATCH SIMPLE); MATCH FULL also refuses a partly NULL key."""
    parents = "CREATE TABLE parents (a int, b int, PRIMARY KEY (a, b)); INSERT INTO parents VALUES (1, 1);"
    report = run(
        fresh_db,
        parents + "CREATE TABLE kids (id int PRIMARY KEY, a int, b int);"
        "INSERT INTO kids VALUES (1, 1, 1), (2, 1, 2), (3, NULL, NULL), (4, 1, NULL), (5, 9, 9);",
        parents + "CREATE TABLE kids (id int PRIMARY KEY, a int, b int,"
        " CONSTRAINT kids_fk FOREIGN KEY (a, b) REFERENCES parents MATCH FULL);",
    )
    c = only_failure(report)
    assert (c.count, c.examples) == (3, ("id=2", "id=4", "id=5"))

    simple = run(
        fresh_db,
        parents + "CREATE TABLE kids (id int PRIMARY KEY, a int, b int);"
        "INSERT INTO kids VALUES (1, 1, 1), (2, 1, 2), (3, NULL, NULL), (4, 1, NULL), (5, 9, 9);",
        parents + "CREATE TABLE kids (id int PRIMARY KEY, a int, b int,"
        " CONSTRAINT kids_fk FOREIGN KEY (a, b) REFERENCES parents);",
    )
    c = only_failure(simple)
    assert (c.count, c.examples) == (2, ("id=2", "id=5"))


def test_values_that_fail_a_cast_to_integer(fresh_db: Callable[[], str]) -> None:
    """pg_input_is_valid on PostgreSQL 16+, a pattern and a range check on 15: same answer."""
    report = run(
        fresh_db,
        "CREATE TABLE imports (id int PRIMARY KEY, qty text);"
        "INSERT INTO imports VALUES (1, '42'), (2, 'x'), (3, ' 7 '), (4, '99999999999'), (5, NULL);",
        "CREATE TABLE imports (id int PRIMARY KEY, qty integer);",
    )
    c = only_failure(report)
    assert (c.count, c.examples) == (2, ("id=2", "id=4"))


def test_other_casts_are_tried_and_fail_with_the_servers_reason(
    fresh_db: Callable[[], str],
) -> None:
    """numeric → integer has no exact rule here: a trial cast says that some value fails."""
    report = run(
        fresh_db,
        "CREATE TABLE m (id int PRIMARY KEY, v numeric); INSERT INTO m VALUES (1, 1.5), (2, 1e12);",
        "CREATE TABLE m (id int PRIMARY KEY, v integer);",
    )
    c = only_failure(report)
    assert c.count is None and "out of range" in c.detail
    assert "at least one row of m.v" in c.text()


def test_values_too_long_for_a_shorter_varchar(fresh_db: Callable[[], str]) -> None:
    """Trailing spaces beyond the limit are truncated by Postgres, not refused."""
    report = run(
        fresh_db,
        "CREATE TABLE users (id int PRIMARY KEY, code varchar(20));"
        "INSERT INTO users VALUES (1, 'short'), (2, 'much too long'), (3, 'abc        ');",
        "CREATE TABLE users (id int PRIMARY KEY, code varchar(5));",
    )
    c = only_failure(report)
    assert (c.count, c.examples) == (1, ("id=2",))


def test_enum_labels_in_use_before_removal(fresh_db: Callable[[], str]) -> None:
    old_enum = "CREATE TYPE mood AS ENUM ('ok', 'meh', 'bad');"
    new_enum = "CREATE TYPE mood AS ENUM ('ok', 'bad');"
    tables = "CREATE TABLE a (id int PRIMARY KEY, m mood); CREATE TABLE b (id int PRIMARY KEY, ms mood[]);"
    report = run(
        fresh_db,
        old_enum + tables + "INSERT INTO a VALUES (1, 'ok'), (2, 'meh'), (3, NULL);"
        "INSERT INTO b VALUES (1, '{ok,bad}'), (2, '{bad,meh}'), (3, '{meh}');",
        new_enum + tables,
    )
    assert [(c.what, c.count, c.examples) for c in report.failures] == [
        ("of a.m using removed label meh", 1, ("id=2",)),
        ("of b.ms using removed label meh", 2, ("id=2", "id=3")),
    ]


def test_clean_data_passes_every_check(fresh_db: Callable[[], str]) -> None:
    report = run(
        fresh_db,
        "CREATE TYPE mood AS ENUM ('ok', 'meh'); CREATE TABLE p (id int PRIMARY KEY);"
        "CREATE TABLE t (id int, email text, qty text, code varchar(20), m mood, p int);"
        "INSERT INTO p VALUES (1);"
        "INSERT INTO t VALUES (1, 'a', '1', 'x', 'ok', 1), (2, 'b', '2', 'y', 'ok', NULL);",
        "CREATE TYPE mood AS ENUM ('ok'); CREATE TABLE p (id int PRIMARY KEY);"
        "CREATE TABLE t (id int PRIMARY KEY, email text NOT NULL UNIQUE, qty integer,"
        " code varchar(5) CHECK (code <> ''), m mood, p int REFERENCES p);",
    )
    assert report.checks and report.ok, report.text()
    assert all(c.passed and c.count == 0 for c in report.checks), report.text()
    assert len(report.checks) >= 8


def test_new_tables_are_not_checked(fresh_db: Callable[[], str]) -> None:
    report = run(
        fresh_db,
        "CREATE TABLE a (id int PRIMARY KEY);",
        "CREATE TABLE a (id int PRIMARY KEY);"
        "CREATE TABLE b (id int PRIMARY KEY, a int NOT NULL REFERENCES a, x int CHECK (x > 0));"
        "CREATE UNIQUE INDEX b_x ON b (x);",
    )
    assert report.checks == [] and report.ok


def test_apply_is_refused_and_the_database_is_unchanged(fresh_db: Callable[[], str]) -> None:
    db, target, shadow = fresh_db(), fresh_db(), fresh_db()
    setup(
        db,
        "CREATE TABLE users (id int PRIMARY KEY, email text); "
        "INSERT INTO users VALUES (1, 'a'), (2, NULL);",
    )
    setup(target, "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, age int);")
    before = introspect_url(db)
    plan = make_plan(before, introspect_url(target))
    with pytest.raises(PreflightFailed) as exc:
        apply_plan(plan, db, shadow_url=shadow)
    message = str(exc.value)
    # online plan: the validate step of the helper check is the one that reads the rows
    assert "step 3 (Validate helper check users_email_lp_not_null_" in message
    assert "no NULL in users.email): 1 row with NULL" in message
    assert "e.g. id=2" in message and "unchanged" in message
    assert isinstance(exc.value.report, PreflightReport) and not exc.value.report.ok
    assert introspect_url(db) == before
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT id, email FROM users ORDER BY id").fetchall() == [
            (1, "a"),
            (2, None),
        ]
        assert conn.execute("SELECT to_regclass('lockplane.migrations')").fetchone() == (None,)


def test_apply_reports_a_passing_preflight(fresh_db: Callable[[], str]) -> None:
    db, target, shadow = fresh_db(), fresh_db(), fresh_db()
    setup(
        db,
        "CREATE TABLE users (id int PRIMARY KEY, email text); INSERT INTO users VALUES (1, 'a');",
    )
    setup(target, "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);")
    result = apply_plan(
        make_plan(introspect_url(db), introspect_url(target)), db, shadow_url=shadow
    )
    assert result.preflight is not None and result.preflight.ok
    assert [c.passed for c in result.preflight.checks] == [True]
    assert result.preflight.checks[0].step.startswith(
        "step 2 (Validate helper check users_email_lp_not_null_"
    )


def test_seed_format_plans_skip_the_preflight(fresh_db: Callable[[], str]) -> None:
    db, target = fresh_db(), fresh_db()
    setup(
        db,
        "CREATE TABLE users (id int PRIMARY KEY, email text); INSERT INTO users VALUES (1, NULL);",
    )
    setup(target, "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);")
    plan = make_plan(introspect_url(db), introspect_url(target))
    report = preflight_plan(plan.model_copy(update={"source": None, "target": None}), db)
    assert report.skipped and report.ok and "skipped" in report.text()


def test_a_check_that_times_out_is_not_checked(fresh_db: Callable[[], str]) -> None:
    """Another session's ACCESS EXCLUSIVE lock makes the check wait past its timeout."""
    db, target = fresh_db(), fresh_db()
    setup(
        db,
        "CREATE TABLE users (id int PRIMARY KEY, email text); INSERT INTO users VALUES (1, NULL);",
    )
    setup(target, "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);")
    changes = diff(introspect_url(db), introspect_url(target))
    with psycopg.connect(db) as holder:
        holder.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        with psycopg.connect(db, autocommit=True) as conn:
            report = preflight(conn, changes, timeout=1.0)
        holder.rollback()
    [c] = report.checks
    assert c.passed is None and c.detail == "timed out after 1s"
    assert report.ok and "not checked (timed out after 1s)" in report.text()


def test_a_rebuilt_view_owned_by_someone_else_is_refused_unless_owners_are_read(
    fresh_db: Callable[[], str],
) -> None:
    """A view dropped and created again would belong to the role that applies: with owners not
    managed, an owner that is another role fails the preflight (ownership changes only when
    asked); with owners read on both sides the plan gives it back, and the check passes."""
    db, target = fresh_db(), fresh_db()
    with psycopg.connect(db, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'lp_view_owner'").fetchone():
            conn.execute("CREATE ROLE lp_view_owner")
    setup(
        db,
        "CREATE TABLE t (id int PRIMARY KEY, v int);"
        "CREATE VIEW big_v AS SELECT id, v FROM t WHERE v > 1;"
        "ALTER VIEW big_v OWNER TO lp_view_owner;",
    )
    setup(
        target,
        "CREATE TABLE t (id int PRIMARY KEY, v bigint);"
        "CREATE VIEW big_v AS SELECT id, v FROM t WHERE v > 1;",
    )
    plan = make_plan(introspect_url(db), introspect_url(target))
    report = preflight_plan(plan, db)
    failure = only_failure(report)
    assert "(view big_v) owned by lp_view_owner, not by postgres" in failure.text()
    assert failure.step.startswith("step ") and "big_v" in failure.step
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("ALTER VIEW big_v OWNER TO lp_view_owner")
    owned = make_plan(introspect_url(db, owners=True), introspect_url(target, owners=True))
    assert preflight_plan(owned, db).ok


def test_a_recreated_function_owned_by_someone_else_is_refused(
    fresh_db: Callable[[], str],
) -> None:
    db, target = fresh_db(), fresh_db()
    with psycopg.connect(db, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'lp_view_owner'").fetchone():
            conn.execute("CREATE ROLE lp_view_owner")
    body = "LANGUAGE sql AS $$ SELECT n + 1 $$;"
    setup(db, f"CREATE FUNCTION bump(n integer) RETURNS integer {body}")
    setup(db, "ALTER FUNCTION bump(integer) OWNER TO lp_view_owner;")
    setup(target, f"CREATE FUNCTION bump(n integer) RETURNS bigint {body}")
    failure = only_failure(
        preflight_plan(make_plan(introspect_url(db), introspect_url(target)), db)
    )
    assert "(function bump(n integer)) owned by lp_view_owner" in failure.text()
