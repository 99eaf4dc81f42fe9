"""The review panel driven headlessly on real databases: clicks are `button.click()`, and every
assertion reads widget traits, exactly what a notebook cell under nbval can do."""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from lockplane import ApplyResult, Plan, Step, introspect_url, make_plan
from lockplane.safety import SafetyReport
from lockplane_nb.panel import ReviewPanel

BASE = "CREATE TABLE users (id integer PRIMARY KEY, email text);"


def setup(url: str, ddl: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(ddl.encode())


def rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query.encode()).fetchall()


def plan_to(fresh_db: Callable[[], str], db: str, target_ddl: str) -> Plan:
    """The plan from `db` as it is now to the schema `target_ddl` builds in another database."""
    target = fresh_db()
    setup(target, target_ddl)
    return make_plan(introspect_url(db), introspect_url(target))


def has_column(url: str, table: str, column: str) -> bool:
    return introspect_url(url).table("public", table).column(column) is not None  # type: ignore[union-attr]


def test_validate_then_apply(fresh_db: Callable[[], str]) -> None:
    db, shadow = fresh_db(), fresh_db()
    setup(db, BASE + "INSERT INTO users VALUES (1, 'a@example.com');")
    plan = plan_to(
        fresh_db, db, BASE + "ALTER TABLE users ADD COLUMN age int; CREATE INDEX ON users (email);"
    )
    applied: list[ApplyResult] = []
    panel = ReviewPanel(plan, database_url=db, shadow_url=shadow, on_applied=applied.append)
    assert repr(panel) == "ReviewPanel(2 steps, status='reviewing')"
    assert panel.tabs.titles == ("Diff", "Plan", "Safety", "Shadow run", "Rollback")
    assert panel.state == "reviewing" and 'data-lp-state="reviewing"' in panel.status.value
    assert panel.apply_button.disabled and not panel.validate_button.disabled
    assert panel.confirm not in panel.children and panel.confirm.layout.display == "none"
    assert (panel.progress.value, panel.progress.max) == (0, 2)
    assert "age" in panel.diff_tab.value
    assert all(s.description in panel.plan_tab.value for s in plan.steps)
    assert all(s.description in panel.rollback_tab.value for s in plan.reverse().steps)
    html_parts = [c.value for c in (*panel.children, *panel.tabs.children) if hasattr(c, "value")]
    assert sum("<style>" in str(v) for v in html_parts) == 1  # the CSS once, not in every tab

    panel.apply_button.click()  # Apply before validation: ignored even when clicked from code
    assert panel.state == "reviewing" and not has_column(db, "users", "age")

    panel.validate_button.click()
    assert panel.state == "validated", panel.status.value
    assert "lp-status-validated" in panel.status.value
    assert not panel.apply_button.disabled
    assert panel.shadow_report is not None and panel.shadow_report.ok
    for check in panel.shadow_report.checks:
        assert check.name in panel.shadow_tab.value
    assert "Observed on the shadow" not in SafetyReport(plan).text()
    assert "Observed on the shadow: ACCESS EXCLUSIVE on users" in panel.safety_tab.value
    assert not has_column(db, "users", "age")  # validation never touches the database

    panel.apply_button.click()
    assert panel.state == "applied", panel.status.value
    assert repr(panel) == "ReviewPanel(2 steps, status='applied')"
    assert panel.progress.value == panel.progress.max == 2
    assert panel.result is not None and panel.result.ledger_id is not None
    assert f"ledger entry #{panel.result.ledger_id}" in panel.outcome.value
    assert panel.result.message in panel.outcome.value
    assert panel.apply_button.disabled and panel.validate_button.disabled
    assert has_column(db, "users", "age")
    assert applied == [panel.result]
    assert rows(db, "SELECT id, outcome FROM lockplane.migrations") == [
        (panel.result.ledger_id, "applied")
    ]


def test_destructive_plan_needs_the_confirmation(fresh_db: Callable[[], str]) -> None:
    db, shadow = fresh_db(), fresh_db()
    setup(db, BASE + "INSERT INTO users VALUES (1, 'a@example.com');")
    plan = plan_to(fresh_db, db, "CREATE TABLE users (id integer PRIMARY KEY);")
    panel = ReviewPanel(plan, database_url=db, shadow_url=shadow)
    assert panel.confirm in panel.children and panel.confirm.layout.display != "none"
    assert panel.confirm.description.startswith("I understand this drops column users.email")
    assert not panel.confirm.value

    panel.validate_button.click()
    assert panel.state == "validated", panel.status.value
    assert panel.apply_button.disabled  # green shadow run, but nothing ticked yet
    panel.apply_button.click()
    assert panel.state == "validated" and has_column(db, "users", "email")

    panel.confirm.value = True
    assert not panel.apply_button.disabled
    panel.confirm.value = False
    assert panel.apply_button.disabled
    panel.confirm.value = True

    panel.apply_button.click()
    assert panel.state == "applied", panel.status.value
    assert not has_column(db, "users", "email")
    assert panel.confirm.disabled


def test_step_failing_on_real_data_leaves_the_database_unchanged(
    fresh_db: Callable[[], str],
) -> None:
    """SET NOT NULL passes on the empty shadow; the data preflight finds the real NULL row."""
    db, shadow = fresh_db(), fresh_db()
    setup(db, BASE + "INSERT INTO users VALUES (1, NULL), (2, 'b@example.com');")
    plan = plan_to(
        fresh_db, db, "CREATE TABLE users (id integer PRIMARY KEY, email text NOT NULL, age int);"
    )
    before = introspect_url(db)
    panel = ReviewPanel(plan, database_url=db, shadow_url=shadow)
    panel.validate_button.click()
    assert panel.state == "validated", panel.status.value

    panel.apply_button.click()
    assert panel.state == "failed"
    assert 'data-lp-state="failed"' in panel.status.value
    assert "(Validate helper check users_email_lp_not_null_" in panel.status.value
    assert "no NULL in users.email): 1 row with NULL" in panel.status.value
    assert "e.g. id=1" in panel.outcome.value and "unchanged" in panel.outcome.value
    assert panel.result is None
    assert panel.progress.value < panel.progress.max and panel.progress.bar_style == "danger"
    assert panel.apply_button.disabled and not panel.validate_button.disabled
    assert introspect_url(db) == before
    assert rows(db, "SELECT id, email FROM users ORDER BY id") == [(1, None), (2, "b@example.com")]

    panel.validate_button.click()  # the reviewer may validate again (it still passes the shadow)
    assert panel.state == "validated" and not panel.apply_button.disabled


def test_shadow_equal_to_the_database_fails_validation(fresh_db: Callable[[], str]) -> None:
    db = fresh_db()
    setup(db, BASE)
    plan = plan_to(fresh_db, db, BASE + "ALTER TABLE users ADD COLUMN age int;")
    panel = ReviewPanel(plan, database_url=db, shadow_url=db)
    panel.validate_button.click()
    assert panel.state == "failed"
    assert "is the target database itself" in panel.status.value
    assert "is the target database itself" in panel.shadow_tab.value
    assert panel.apply_button.disabled and panel.shadow_report is None
    assert not has_column(db, "users", "age")


def test_drift_since_the_plan_fails_validation(fresh_db: Callable[[], str]) -> None:
    db, shadow = fresh_db(), fresh_db()
    setup(db, BASE)
    plan = plan_to(fresh_db, db, BASE + "ALTER TABLE users ADD COLUMN age int;")
    setup(db, "ALTER TABLE users ADD COLUMN nickname text;")
    panel = ReviewPanel(plan, database_url=db, shadow_url=shadow)
    panel.validate_button.click()
    assert panel.state == "failed" and "drifted" in panel.status.value
    assert "users.nickname" in panel.outcome.value
    assert panel.apply_button.disabled


def test_plan_without_schemas_has_no_diff_but_applies(fresh_db: Callable[[], str]) -> None:
    """A seed-format plan (steps only): nothing to diff, nothing to prove against, still applies."""
    db, shadow = fresh_db(), fresh_db()
    plan = Plan(steps=(Step(description="Create table posts", sql="CREATE TABLE posts (id int)"),))
    panel = ReviewPanel(plan, database_url=db, shadow_url=shadow)
    assert repr(panel) == "ReviewPanel(1 step, status='reviewing')"
    assert "no diff to show" in panel.diff_tab.value
    panel.validate_button.click()
    assert panel.state == "validated", panel.status.value
    panel.apply_button.click()
    assert panel.state == "applied" and panel.progress.value == 1
    assert introspect_url(db).table("public", "posts") is not None


def test_an_interrupted_run_is_resumed_from_the_panel(fresh_db: Callable[[], str]) -> None:
    """A backfill that runs out of lock budget on a row someone holds stops as interrupted:
    the panel says so and shows Resume, which finishes the run once the row is free."""
    import threading
    import time

    from test_lockaware import Holder

    from lockplane.model import Column

    db, shadow = fresh_db(), fresh_db()
    setup(
        db,
        "CREATE TABLE big (id bigint PRIMARY KEY, v integer NOT NULL);"
        "INSERT INTO big SELECT g, g FROM generate_series(1, 200000) g; ANALYZE big;",
    )
    now = introspect_url(db)
    (big,) = now.tables
    wanted = big.model_copy(
        update={"columns": (*big.columns, Column(name="w", type="bigint", backfill="v + 1"))}
    )
    plan = make_plan(now, now.model_copy(update={"tables": (wanted,)}))
    holders: list[Holder] = []

    def hold_a_row_once_the_column_exists() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not has_column(db, "big", "w"):
            time.sleep(0.005)
        holders.append(Holder(db, ["SELECT * FROM big WHERE id = 190000 FOR UPDATE"], hold=60))
        holders[0].start()

    watcher = threading.Thread(target=hold_a_row_once_the_column_exists, daemon=True)
    panel = ReviewPanel(
        plan,
        database_url=db,
        shadow_url=shadow,
        apply_options={"lock_timeout": "100ms", "retry_budget": 1.0, "batch_seconds": 0.01},
    )
    panel.validate_button.click()
    assert panel.state == "validated", panel.status.value
    assert panel.resume_button.layout.display == "none"
    watcher.start()
    try:
        panel.apply_button.click()
        assert panel.state == "interrupted", panel.status.value
        assert panel.run_id is not None and "--resume" in panel.outcome.value
        assert panel.resume_button.layout.display == "flex" and not panel.resume_button.disabled
        assert panel.step_bar.layout.display == "flex"
        assert 0 < panel.step_bar.bar.value < panel.step_bar.bar.max
        assert "rows/s" in panel.step_bar.label.value
    finally:
        watcher.join(timeout=60)
        for h in holders:
            h.release()
    panel.resume_button.click()
    assert panel.state == "applied", panel.status.value
    assert panel.resume_button.layout.display == "none"
    assert rows(db, "SELECT count(*) FROM big WHERE w IS DISTINCT FROM v + 1") == [(0,)]
