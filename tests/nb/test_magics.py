"""`%lockplane` driven through a real in-process IPython shell against real PostgreSQL servers.

Cells run with `ip.run_cell`, exactly as a kernel runs them, so argument parsing, `%config`,
display formatters and the error display are the ones a notebook gets. Every test makes its
own databases (`fresh_db`), so tests are independent under xdist.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import psycopg
import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from lockplane import Plan, Schema, Step, apply_plan, parse_schema_text
from lockplane.diff import Diff
from lockplane.errors import ConnectionFailed, InputError
from lockplane_nb.errors import CellError
from lockplane_nb.magics import Connection, Lockplane, Validation, describe_url

USERS = "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);"
DESIRED_SQL = """
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, age integer);
CREATE INDEX users_email_idx ON users (email);
CREATE TABLE posts (id integer PRIMARY KEY, body text DEFAULT '$$ {not a template} $$');
"""
DESIRED_JSON = {
    "tables": [
        {
            "name": "users",
            "columns": [
                {"name": "id", "type": "bigint", "nullable": False, "is_primary_key": True},
                {"name": "email", "type": "text", "nullable": False},
                {"name": "nickname", "type": "varchar(20)"},
            ],
        }
    ]
}
UNREACHABLE = "postgresql://postgres:s3cret@127.0.0.1:1/nowhere"


def run_sql(url: str, text: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(text.encode())


def with_password(url: str, password: str) -> str:
    """The same URL with a password in it: the test servers trust local connections, so it is
    accepted and ignored, which is all a masking test needs."""
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    user = user.split(":", 1)[0] or "postgres"
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


def run(ip: Any, cell: str) -> tuple[Any, str]:
    """Run a cell; return its result and everything it printed (stdout + stderr)."""
    with capture_output() as captured:
        result = ip.run_cell(cell)
    return result, captured.stdout + captured.stderr


def formats(ip: Any, obj: Any) -> dict[str, str]:
    """What a kernel would send for `obj` (a terminal shell only activates text/plain)."""
    formatters = ip.display_formatter.formatters
    return {mime: formatters[mime](obj) for mime in ("text/plain", "text/html")}


def connect(ip: Any, db: str, shadow: str | None = None) -> None:
    line = f"%lockplane connect {db}" + (f" --shadow {shadow}" if shadow else "")
    result, out = run(ip, line)
    assert result.error_in_exec is None, out


@pytest.fixture
def dbs(fresh_db: Callable[[], str]) -> tuple[str, str]:
    """(database with a users table, empty shadow database)."""
    db = fresh_db()
    run_sql(db, USERS)
    return db, fresh_db()


# ----------------------------------------------------------------- no database needed


def test_load_ext_registers_the_magic_and_config(shell: Any) -> None:
    shell.run_line_magic("load_ext", "lockplane_nb")
    assert "lockplane" in shell.magics_manager.magics["line"]
    assert "lockplane" in shell.magics_manager.magics["cell"]
    assert any(isinstance(c, Lockplane) for c in shell.configurables)


def test_config_section_is_named_lockplane(ip: Any, magics: Lockplane) -> None:
    assert magics.short_errors is True and magics.display_limit == 50
    result, out = run(
        ip, "%config Lockplane.short_errors = False\n%config Lockplane.display_limit = 7"
    )
    assert result.error_in_exec is None, out
    assert magics.short_errors is False and magics.display_limit == 7
    result, out = run(ip, "%config Lockplane")
    assert "Lockplane.short_errors=<Bool>" in out and "Current: False" in out


def test_config_listing_masks_passwords(ip: Any) -> None:
    run(ip, '%config Lockplane.database_url = "postgresql://me:hunter2@db.example/app"')
    _, out = run(ip, "%config Lockplane")
    assert "hunter2" not in out and "me:***@db.example/app" in out


def test_help_and_usage_errors(ip: Any) -> None:
    result, out = run(ip, "%lockplane --help")
    assert result.error_in_exec is None and "introspect" in out and "rollback" in out
    result, out = run(ip, "%lockplane frobnicate")
    assert isinstance(result.error_in_exec, UsageError)
    assert "invalid choice: 'frobnicate'" in out and "Traceback" not in out
    result, out = run(ip, "%lockplane diff onlyone")
    assert isinstance(result.error_in_exec, UsageError) and "Traceback" not in out


def test_commands_need_a_database(ip: Any) -> None:
    result, out = run(ip, "%lockplane introspect")
    assert isinstance(result.error_in_exec, UsageError)
    assert "%lockplane connect" in out and "Traceback" not in out


def test_line_is_not_templated(ip: Any) -> None:
    ip.user_ns["a"] = "nope"
    result, out = run(ip, "%lockplane diff $a {a}")
    assert isinstance(result.error_in_exec, CellError)
    assert "lockplane: $a: file not found" in out  # the line reached the magic as written


def test_bad_json_cell_is_one_short_red_line(ip: Any) -> None:
    result, out = run(
        ip, '%%lockplane plan --from empty\n{"tables": [{"name": "t", "colums": []}]}'
    )
    assert isinstance(result.error_in_exec, UsageError)  # `empty` is not a variable or file
    ip.user_ns["empty"] = Schema()
    result, out = run(
        ip, '%%lockplane plan --from empty\n{"tables": [{"name": "t", "colums": []}]}'
    )
    assert isinstance(result.error_in_exec, CellError)
    assert isinstance(result.error_in_exec.cause, InputError)
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert lines[0].startswith("\x1b[0;31mlockplane: <cell>: tables[0]") and "colums" in lines[0]
    assert "Traceback" not in out


def test_unreachable_database_is_short_and_masked(ip: Any) -> None:
    result, out = run(ip, f"%lockplane connect {UNREACHABLE}")
    assert isinstance(result.error_in_exec, CellError)
    assert isinstance(result.error_in_exec.cause, ConnectionFailed)
    assert len(out.strip().splitlines()) == 1, out
    assert "cannot connect to postgresql://postgres:***@127.0.0.1:1/nowhere" in out
    assert "s3cret" not in out and "Traceback" not in out


def test_short_errors_false_shows_the_real_exception(ip: Any) -> None:
    run(ip, "%config Lockplane.short_errors = False")
    result, out = run(ip, f"%lockplane connect {UNREACHABLE}")
    assert isinstance(result.error_in_exec, ConnectionFailed)
    assert "Traceback" in out  # (the cell's own text, password included, is in it)


def test_variables_come_from_the_caller_too(ip: Any) -> None:
    """`needs_local_scope`: inside a function, the function's locals are visible."""
    ip.user_ns["outer"] = Schema()

    def inside() -> Any:
        local_schema = parse_schema_text(json.dumps(DESIRED_JSON))  # noqa: F841 (used by name)
        return ip.run_line_magic("lockplane", "diff outer local_schema")

    d = inside()
    assert isinstance(d, Diff) and [r["object"] for r in d.rows()] == ["users"]


def test_plan_with_from_and_to_files_offline(ip: Any, tmp_path: Path) -> None:
    """JSON sources need no database when no shadow is configured."""
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps({"tables": []}))
    new.write_text(json.dumps(DESIRED_JSON))
    result, out = run(ip, f"%lockplane plan --from {old} --to {new} -o p")
    assert result.error_in_exec is None, out
    plan = ip.user_ns["p"]
    assert isinstance(plan, Plan) and plan is result.result
    assert [s.description for s in plan.steps] == ["Create table users"]
    data = formats(ip, plan)
    assert "lp-plan" in data["text/html"] and data["text/plain"].startswith("Plan: 1 step")


def test_rollback_of_the_last_plan(ip: Any, magics: Lockplane, tmp_path: Path) -> None:
    ip.user_ns["old"] = Schema()
    new = tmp_path / "new.json"
    new.write_text(json.dumps(DESIRED_JSON))
    run(ip, f"%lockplane plan --from old --to {new}")
    forward = magics.last_plan
    result, out = run(ip, "%lockplane rollback -o back")
    assert result.error_in_exec is None, out
    back = ip.user_ns["back"]
    assert [s.sql for s in back.steps] == [s.reverse_sql for s in reversed(forward.steps)]
    assert "Rollback: Drop table users" in formats(ip, back)["text/html"]
    ip.user_ns["seed"] = Plan(steps=(Step(description="by hand", sql="SELECT 1"),))
    result, out = run(ip, "%lockplane rollback seed")
    assert isinstance(result.error_in_exec, CellError) and "carry no reverse step" in out


# --------------------------------------------------------------------- with databases


def test_connect_shows_host_and_database_never_the_password(
    ip: Any, fresh_db: Callable[[], str]
) -> None:
    db = with_password(fresh_db(), "s3cret")
    result, out = run(ip, f"%lockplane connect {db}")
    assert result.error_in_exec is None, out
    connection = result.result
    assert isinstance(connection, Connection)
    shown = repr(connection) + formats(ip, connection)["text/html"] + out
    assert "s3cret" not in shown and "postgres:" not in shown
    assert urlsplit(db).path.lstrip("/") in shown and "Connected to" in shown
    _, listing = run(ip, "%config Lockplane")
    assert "s3cret" not in listing


def test_connect_without_url_uses_the_embedded_server(
    ip: Any, magics: Lockplane, fresh_db: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No URL and no DATABASE_URL: `lockplane.embedded.default_urls()` decides (stubbed here
    with two scratch databases, so the test does not boot a server of its own)."""
    import lockplane.embedded

    db, shadow = fresh_db(), fresh_db()
    monkeypatch.setattr(lockplane.embedded, "default_urls", lambda: (db, shadow))
    result, out = run(ip, "%lockplane connect")
    assert result.error_in_exec is None, out
    assert magics._database() == db and magics._shadow() == shadow
    assert repr(result.result) == f"Connected to {describe_url(db)}; shadow {describe_url(shadow)}"


def test_introspect_returns_and_renders_the_schema(ip: Any, dbs: tuple[str, str]) -> None:
    connect(ip, dbs[0])
    result, out = run(ip, "%lockplane introspect -o s")
    assert result.error_in_exec is None, out
    schema = result.result
    assert isinstance(schema, Schema) and ip.user_ns["s"] is schema
    assert [t.name for t in schema.tables] == ["users"]
    data = formats(ip, schema)
    assert data["text/plain"].startswith("Schema: 1 table")
    assert (
        '<div class="lp-root lp-schema">' in data["text/html"] and "users_pkey" in data["text/html"]
    )
    run(ip, "%config Lockplane.display_limit = 0")
    assert "1 more tables not shown (display_limit=0)" in formats(ip, schema)["text/html"]


def test_plan_from_a_sql_cell(ip: Any, magics: Lockplane, dbs: tuple[str, str]) -> None:
    connect(ip, *dbs)
    result, out = run(ip, "%%lockplane plan -o p\n" + DESIRED_SQL)
    assert result.error_in_exec is None, out
    plan = result.result
    assert isinstance(plan, Plan) and ip.user_ns["p"] is plan and magics.last_plan is plan
    assert [s.description for s in plan.steps] == [
        "Create table posts",
        "Add column age to table users",
        "Create index users_email_idx",
    ]
    assert "{not a template}" in plan.steps[0].sql  # the cell body is never templated
    html = formats(ip, plan)["text/html"]
    assert html.count('class="lp-step ') == 3 and "lp-sev-warning" in html


def test_plan_from_a_json_cell_is_normalized_on_the_shadow(ip: Any, dbs: tuple[str, str]) -> None:
    connect(ip, *dbs)
    result, out = run(ip, "%%lockplane plan\n" + json.dumps(DESIRED_JSON, indent=2))
    assert result.error_in_exec is None, out
    (step,) = result.result.steps
    assert step.sql == "ALTER TABLE users ADD COLUMN nickname character varying(20)"


def test_bad_sql_cell_names_the_line(ip: Any, dbs: tuple[str, str]) -> None:
    connect(ip, *dbs)
    result, out = run(ip, "%%lockplane plan\nCREATE TABLE ok (id int);\nCREATE TABLE (oops);")
    assert isinstance(result.error_in_exec, CellError)
    assert len(out.strip().splitlines()) == 1, out
    assert "lockplane: <cell>: line 2: syntax error" in out and "Traceback" not in out


def test_diff_between_a_variable_a_url_and_a_file(
    ip: Any, dbs: tuple[str, str], tmp_path: Path
) -> None:
    db, shadow = dbs
    connect(ip, db, shadow)
    desired = tmp_path / "desired.sql"
    desired.write_text(DESIRED_SQL)
    run(ip, "%lockplane introspect -o live")
    result, out = run(ip, f"%lockplane diff live {desired} -o d")
    assert result.error_in_exec is None, out
    d = result.result
    assert isinstance(d, Diff) and ip.user_ns["d"] is d
    assert [(r["change"], r["object"]) for r in d.rows()] == [
        ("+", "users.age"),
        ("+", "users_email_idx on users"),
        ("+", "posts"),
    ]
    html = formats(ip, d)["text/html"]
    assert html.count('<tr class="lp-add">') == 3
    assert formats(ip, d)["text/plain"].endswith("3 changes")
    result, _ = run(ip, f"%lockplane diff {db} live")
    assert result.result.is_empty


def test_validate_proves_the_last_plan_on_the_shadow(ip: Any, dbs: tuple[str, str]) -> None:
    connect(ip, *dbs)
    run(ip, "%%lockplane plan\n" + DESIRED_SQL)
    result, out = run(ip, "%lockplane validate -o v")
    assert result.error_in_exec is None, out
    v = result.result
    assert isinstance(v, Validation) and ip.user_ns["v"] is v and v.ok
    assert [c.passed for c in v.shadow.checks] == [True, True, True, True]
    html = formats(ip, v)["text/html"]
    assert "Safety: passed" in html and "Shadow proof: passed" in html
    assert html.count('<span class="lp-mark lp-ok">✓</span>') >= 4
    assert "Shadow run" not in repr(v) and "✓ Result equals the target" in repr(v)


def test_validate_shows_a_failed_shadow_run(ip: Any, dbs: tuple[str, str]) -> None:
    connect(ip, *dbs)
    ip.user_ns["bad"] = Plan(steps=(Step(description="Break", sql="ALTER TABLE nope ADD x int"),))
    result, out = run(ip, "%lockplane validate bad")
    assert result.error_in_exec is None, out
    assert not result.result.ok
    html = formats(ip, result.result)["text/html"]
    assert "Shadow proof: FAILED" in html and '<span class="lp-mark lp-fail">✗</span>' in html
    assert "relation &quot;nope&quot; does not exist" in html or 'relation "nope"' in html
    checks = [(c.name, c.passed) for c in result.result.shadow.checks]
    assert checks == [
        ("Current schema built on the shadow", True),  # the engine's partial report
        ("Plan applied on the shadow", False),
    ]


def test_history_after_an_apply(ip: Any, dbs: tuple[str, str]) -> None:
    db, shadow = dbs
    connect(ip, db, shadow)
    result, _ = run(ip, "%lockplane history")
    assert isinstance(result.result, pd.DataFrame) and result.result.empty
    run(ip, "%%lockplane plan -o p\n" + DESIRED_SQL)
    applied = apply_plan(ip.user_ns["p"], db, shadow_url=shadow)
    result, out = run(ip, "%lockplane history -o h")
    assert result.error_in_exec is None, out
    frame = result.result
    assert list(frame["id"]) == [applied.ledger_id]
    assert list(frame["outcome"]) == ["applied"] and list(frame["steps"]) == [3]


def test_runs_and_resume(ip: Any, dbs: tuple[str, str]) -> None:
    """`%lockplane runs` lists the journal; `resume` with nothing interrupted is one line."""
    db, shadow = dbs
    connect(ip, db, shadow)
    result, _ = run(ip, "%lockplane runs")
    assert isinstance(result.result, pd.DataFrame) and result.result.empty
    run(ip, "%%lockplane plan -o p\n" + DESIRED_SQL)
    applied = apply_plan(ip.user_ns["p"], db, shadow_url=shadow)
    result, out = run(ip, "%lockplane runs -o r")
    assert result.error_in_exec is None, out
    frame = ip.user_ns["r"]
    assert list(frame["id"]) == [applied.run_id] and list(frame["status"]) == ["done"]
    assert list(frame["steps_done"]) == list(frame["steps"]) == [3]
    result, out = run(ip, "%lockplane resume")
    assert result.error_in_exec is not None
    assert "no interrupted run" in out and "Traceback" not in out
    result, out = run(ip, f"%lockplane runs abandon {applied.run_id}")
    assert result.error_in_exec is not None and "is done, not interrupted" in out


def test_a_database_error_mid_command_is_one_line(
    ip: Any, dbs: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that goes away in the middle of a command (here: the introspection session is
    terminated by another one) is a short error too, not a psycopg traceback."""
    import psycopg

    db, shadow = dbs
    connect(ip, db, shadow)
    from lockplane import introspect as real

    def killed(conn: Any, **options: Any) -> Any:
        with psycopg.connect(db, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [conn.info.backend_pid])
        return real(conn, **options)

    import sys

    monkeypatch.setattr(sys.modules["lockplane.introspect"], "introspect", killed)
    result, out = run(ip, "%lockplane introspect")
    assert result.error_in_exec is not None
    assert "database error:" in out and "Traceback" not in out


def test_apply_opens_the_review_panel(ip: Any, magics: Lockplane, dbs: tuple[str, str]) -> None:
    db, shadow = dbs
    connect(ip, db, shadow)
    run(ip, "%%lockplane plan -o p\n" + DESIRED_SQL)
    result, out = run(ip, "%lockplane apply")
    assert result.error_in_exec is None, out
    panel = result.result
    assert type(panel).__name__ == "ReviewPanel" and panel.plan is ip.user_ns["p"]
    assert panel.database_url == db and panel.shadow_url == shadow
    panel.validate_button.click()
    assert panel.state == "validated", panel.outcome.value
    panel.apply_button.click()
    assert panel.state == "applied", panel.outcome.value
    assert magics.last_applied is ip.user_ns["p"]
    result, _ = run(ip, "%lockplane rollback")
    assert result.result.steps[0].description == "Rollback: Drop index users_email_idx"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://me:pw@db.example:6543/app", "db.example:6543/app"),
        ("postgresql://postgres:@/lockplane?host=/srv/pg%20sock", "lockplane on /srv/pg sock"),
        ("postgresql:///app?host=/tmp/s&port=5433", "app on /tmp/s"),
        ("postgres://u@localhost/app?password=pw", "localhost/app"),
    ],
)
def test_describe_url_shows_where_never_who(url: str, shown: str) -> None:
    assert describe_url(url) == shown


def test_cell_error_renders_one_red_line() -> None:
    error = CellError(ConnectionFailed("cannot connect to x: \tIs the server running?"))
    assert error._render_traceback_() == [
        "\x1b[0;31mlockplane: cannot connect to x: Is the server running?\x1b[0m"
    ]
    two = CellError(InputError("f.json", [("a", "bad"), ("b", "worse")]))._render_traceback_()
    assert len(two) == 2 and two[1] == "  f.json: b: worse"


def test_rollback_derived_on_the_shadow_when_steps_carry_none(
    ip: Any, dbs: tuple[str, str]
) -> None:
    connect(ip, *dbs)
    run(ip, "%%lockplane plan -o p\n" + DESIRED_SQL)
    plan = ip.user_ns["p"]
    bare = [s.model_copy(update={"reverse_sql": None}) for s in plan.steps]
    ip.user_ns["bare"] = plan.model_copy(update={"steps": tuple(bare)})
    result, out = run(ip, "%lockplane rollback bare")
    assert result.error_in_exec is None, out
    assert {s.sql for s in result.result.steps} == {s.reverse_sql for s in plan.steps}
