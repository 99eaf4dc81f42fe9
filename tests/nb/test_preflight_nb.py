"""The data preflight and the shadow sample in the notebook: a failing preflight shows its rows
as a DataFrame (step, check, rows, examples) in the review panel; `%lockplane preflight` returns
every check as a DataFrame, from the connected database or a replica; `--shadow-sample N` on
validate and apply makes the shadow try the plan on real rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import psycopg
from IPython.utils.capture import capture_output

from lockplane import Plan, introspect_url, make_plan
from lockplane.preflight import PreflightCheck, PreflightReport
from lockplane_nb import render
from lockplane_nb.magics import Lockplane, Validation, describe_url
from lockplane_nb.panel import ReviewPanel

USERS = "CREATE TABLE users (id int PRIMARY KEY, email text);"
NOT_NULL = "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);"

REPORT = PreflightReport(
    checks=[
        PreflightCheck(
            "with NULL in users.email",
            "step 2 (Set NOT NULL on column users.email)",
            False,
            count=2,
            examples=("id=1", "id=<3>"),
        ),
        PreflightCheck(
            "of rows sharing (email) in users, which users_email_key forbids",
            "step 3 (Add unique constraint users_email_key to table users)",
            True,
            count=0,
            unit="group",
        ),
        PreflightCheck(
            "of users.age whose value does not convert to integer",
            "step 4 (Alter column users.age)",
            None,
            detail="timed out after 1s",
        ),
    ],
    database="postgresql://app:***@replica/app",
    replica=True,
)


def setup(url: str, ddl: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(ddl.encode())


def rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query.encode()).fetchall()


def run(ip: Any, cell: str) -> tuple[Any, str]:
    with capture_output() as captured:
        result = ip.run_cell(cell)
    return result, captured.stdout + captured.stderr


def connect(ip: Any, db: str, shadow: str) -> None:
    result, out = run(ip, f"%lockplane connect {db} --shadow {shadow}")
    assert result.error_in_exec is None, out


def set_not_null(fresh_db: Callable[[], str], db: str) -> Plan:
    target = fresh_db()
    setup(target, NOT_NULL)
    return make_plan(introspect_url(db), introspect_url(target))


# ------------------------------------------------------------------ rendering, no database


def test_failing_checks_as_a_dataframe() -> None:
    frame = render.preflight_frame(REPORT)
    assert list(frame.columns) == ["step", "check", "rows", "examples"]
    assert frame.to_dict("records") == [
        {
            "step": "step 2 (Set NOT NULL on column users.email)",
            "check": "rows with NULL in users.email",
            "rows": 2,
            "examples": "id=1, id=<3>",
        }
    ]
    assert str(frame["rows"].dtype) == "Int64"


def test_every_check_as_a_dataframe() -> None:
    frame = render.preflight_frame(REPORT, failures_only=False)
    assert list(frame.columns) == ["step", "check", "result", "rows", "examples"]
    assert list(frame["result"]) == ["FAILED", "passed", "not checked (timed out after 1s)"]
    assert frame["check"][1].startswith("groups of rows sharing (email)")
    assert frame["rows"].isna().tolist() == [False, False, True]  # unknown, not zero
    empty = render.preflight_frame(PreflightReport(), failures_only=False)
    assert empty.empty and list(empty.columns) == list(frame.columns)


def test_preflight_html_puts_failures_first_and_names_the_replica() -> None:
    html = render.preflight_html(REPORT)
    assert html.startswith("<style>") and '<div class="lp-root lp-preflight">' in html
    assert "Data preflight: FAILED" in html
    assert "rows counted on the replica postgresql://app:***@replica/app" in html
    assert html.index("✗ FAILED") < html.index("– not checked") < html.index("✓ passed")
    assert '<tr class="lp-drop">' in html and "id=&lt;3&gt;" in html  # escaped
    skipped = render.preflight_html(PreflightReport(skipped="seed <format>"), style=False)
    assert "Data preflight: skipped" in skipped and "seed &lt;format&gt;" in skipped
    assert render.preflight_summary(REPORT, "replica/app") == (
        "Data preflight on replica/app (replica): 3 checks: 1 passed, 1 FAILED, 1 not checked"
    )


# -------------------------------------------------------------------- on real databases


def test_the_panel_shows_a_failing_preflight_as_a_dataframe(fresh_db: Callable[[], str]) -> None:
    db, shadow = fresh_db(), fresh_db()
    setup(db, USERS + "INSERT INTO users VALUES (1, NULL), (2, 'b'), (3, NULL);")
    plan = set_not_null(fresh_db, db)
    panel = ReviewPanel(plan, database_url=db, shadow_url=shadow)
    panel.validate_button.click()
    assert panel.state == "validated", panel.status.value
    assert panel.preflight_frame is None
    panel.apply_button.click()
    assert panel.state == "failed"
    frame = panel.preflight_frame
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["step", "check", "rows", "examples"]
    [record] = frame.to_dict("records")
    assert record["check"] == "rows with NULL in users.email" and record["rows"] == 2
    assert record["examples"] == "id=1, id=3" and "users.email" in record["step"]
    assert panel.preflight_report is not None and not panel.preflight_report.ok
    assert "Data preflight: FAILED" in panel.outcome.value
    assert '<table class="lp-grid">' in panel.outcome.value
    assert rows(db, "SELECT id, email FROM users ORDER BY id") == [(1, None), (2, "b"), (3, None)]


def test_the_panel_asks_the_replica_and_samples_the_shadow(fresh_db: Callable[[], str]) -> None:
    """The database is clean and the replica is not: the replica decides the preflight. With a
    sample, a duplicate in the database fails validation on the shadow, before any apply."""
    db, replica, shadow = fresh_db(), fresh_db(), fresh_db()
    setup(db, USERS + "INSERT INTO users VALUES (1, 'a');")
    setup(replica, USERS + "INSERT INTO users VALUES (5, NULL);")
    plan = set_not_null(fresh_db, db)
    panel = ReviewPanel(plan, database_url=db, shadow_url=shadow, preflight_url=replica)
    panel.validate_button.click()
    panel.apply_button.click()
    assert panel.state == "failed" and panel.preflight_frame is not None
    assert list(panel.preflight_frame["examples"]) == ["id=5"]
    assert "rows counted on the replica" in panel.outcome.value

    setup(db, "INSERT INTO users VALUES (2, NULL);")
    unsampled = ReviewPanel(set_not_null(fresh_db, db), database_url=db, shadow_url=shadow)
    unsampled.validate_button.click()
    assert unsampled.state == "validated"
    sampled = ReviewPanel(
        set_not_null(fresh_db, db), database_url=db, shadow_url=shadow, shadow_sample=10
    )
    sampled.validate_button.click()
    assert sampled.state == "failed" and sampled.apply_button.disabled
    assert "shadow run" in sampled.status.value


def test_preflight_magic_returns_every_check(
    ip: Any, magics: Lockplane, fresh_db: Callable[[], str]
) -> None:
    db, shadow = fresh_db(), fresh_db()
    setup(db, USERS + "INSERT INTO users VALUES (1, NULL), (2, 'b');")
    connect(ip, db, shadow)
    ip.user_ns["p"] = set_not_null(fresh_db, db)
    result, out = run(ip, "%lockplane preflight p -o checks")
    assert result.error_in_exec is None, out
    frame = result.result
    assert isinstance(frame, pd.DataFrame) and ip.user_ns["checks"] is frame
    assert list(frame["result"]) == ["FAILED"] and list(frame["examples"]) == ["id=1"]
    assert f"Data preflight on {describe_url(db)}: 1 check: 0 passed, 1 FAILED" in out
    assert rows(db, "SELECT count(*) FROM users") == [(2,)]  # read only

    replica = fresh_db()
    setup(replica, USERS + "INSERT INTO users VALUES (1, 'a');")
    result, out = run(ip, f"%lockplane preflight p --preflight-url {replica}")
    assert list(result.result["result"]) == ["passed"], out
    assert f"on {describe_url(replica)} (replica)" in out

    run(ip, f"%config Lockplane.preflight_url = '{replica}'")
    result, out = run(ip, "%lockplane preflight p")
    assert list(result.result["result"]) == ["passed"] and "(replica)" in out

    result, out = run(ip, "%lockplane preflight p --timeout 0")
    assert result.error_in_exec is not None and "--timeout 0" in out


def test_validate_and_apply_with_a_shadow_sample(
    ip: Any, magics: Lockplane, fresh_db: Callable[[], str]
) -> None:
    db, shadow = fresh_db(), fresh_db()
    setup(db, USERS + "INSERT INTO users VALUES (1, NULL), (2, 'b');")
    connect(ip, db, shadow)
    ip.user_ns["p"] = set_not_null(fresh_db, db)
    result, out = run(ip, "%lockplane validate p")
    assert isinstance(result.result, Validation) and result.result.ok, out

    result, out = run(ip, "%lockplane validate p --shadow-sample 5 -o v")
    v = result.result
    assert isinstance(v, Validation) and not v.ok, out
    checks = [(c.name, c.passed) for c in v.shadow.checks]
    assert checks[:3] == [
        ("Current schema built on the shadow", True),
        ("Sampled data copied", True),
        ("Plan applied on the shadow", False),
    ]
    assert "1 table, 2 rows (up to 5 per table), 0 orphans removed" in repr(v)

    result, out = run(ip, f"%lockplane apply p --shadow-sample 5 --preflight-url {db}")
    panel = result.result
    assert isinstance(panel, ReviewPanel), out
    assert panel.shadow_sample == 5 and panel.preflight_url == db

    result, out = run(ip, "%lockplane validate p --shadow-sample -1")
    assert result.error_in_exec is not None and "cannot be negative" in out


def test_config_listing_masks_the_preflight_url(ip: Any) -> None:
    run(ip, "%config Lockplane.preflight_url = 'postgresql://u:s3cret@replica/app'")
    _, out = run(ip, "%config Lockplane")
    assert "preflight_url" in out and "s3cret" not in out and "u:***@replica" in out
