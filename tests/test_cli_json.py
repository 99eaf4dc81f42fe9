"""`--json` on every command: stdout is exactly one JSON document, valid against its published
schema under schema-json/, errors included, with the documented exit codes and no password.

Runs `main()` in-process against real test servers, like tests/test_cli.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
import pytest
from jsonschema import Draft202012Validator

from lockplane import __version__
from lockplane.cli import main
from lockplane.rules import RULES

SEED = Path(__file__).parent / "data" / "seed"
PUBLISHED = Path(__file__).resolve().parents[1] / "schema-json"
SECRET = "s3cret-pw"
UNREACHABLE = f"postgresql://alice:{SECRET}@127.0.0.1:1/db"

USERS = {
    "tables": [
        {
            "name": "users",
            "columns": [
                {"name": "id", "type": "integer", "nullable": False, "is_primary_key": True}
            ],
        }
    ]
}


@cache
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((PUBLISHED / name).read_text(encoding="utf-8")))


def run_json(
    capsys: pytest.CaptureFixture[str], schema: str, *argv: str, flag: str = "--json"
) -> tuple[int, Any]:
    """Run a command with --json: stdout must parse as one document that `schema` accepts,
    stderr must stay silent, and no password may appear anywhere."""
    flags = ["--format", "json"] if flag == "--format" else [flag]
    code = main([*argv, *flags])
    out, err = capsys.readouterr()
    assert err == ""
    assert SECRET not in out
    doc = json.loads(out)  # the whole of stdout: one document, nothing before or after it
    errors = sorted(validator(schema).iter_errors(doc), key=str)
    assert not errors, f"{schema}: {errors[0]}"
    if "error" in doc:
        assert doc["error"]["exit_code"] == code
    return code, doc


def write(tmp_path: Path, name: str, doc: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def test_version_rules_and_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_json(capsys, "version.json", "version") == (0, {"version": __version__})
    code, rules = run_json(capsys, "rules.json", "rules", flag="--format")
    assert code == 0 and [r["code"] for r in rules] == [r.code for r in RULES]
    code, rules = run_json(capsys, "rules.json", "rules", "LP305")
    assert code == 0 and [r["code"] for r in rules] == ["LP305"]
    code, doc = run_json(capsys, "error.json", "rules", "LP999")
    assert code == 2 and doc["error"]["code"] == "input_error" and doc["error"]["path"] == "rules"
    with pytest.raises(SystemExit) as exc:
        run_json(capsys, "error.json", "plan", "--from", "x.json")
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert err == ""
    usage = json.loads(out)["error"]
    assert usage["code"] == "usage_error" and "--to" in usage["message"]
    assert not list(validator("error.json").iter_errors(json.loads(out)))


def test_text_usage_errors_stay_one_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["plan", "--from", "x.json"])
    out, err = capsys.readouterr()
    assert exc.value.code == 2 and out == ""
    assert err.startswith("lockplane: error: the following arguments are required: --to")


def test_validate_diff_plan_and_written_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    before, after = str(SEED / "example_before.json"), str(SEED / "example_after.json")
    code, doc = run_json(capsys, "validate.json", "validate", "schema", before)
    assert code == 0 and doc["kind"] == "schema" and doc["tables"] == 1
    code, diff = run_json(capsys, "diff.json", "diff", before, after)
    assert code == 0 and {(c["change"], c["kind"]) for c in diff["changes"]} >= {("+", "table")}
    code, plan = run_json(capsys, "plan.json", "plan", "--from", before, "--to", after)
    assert code == 0 and [s["description"] for s in plan["steps"]] == [
        "Create table posts",
        "Add column age to table users",
    ]
    out = tmp_path / "plan.json"
    code, doc = run_json(
        capsys, "written.json", "plan", "--from", before, "--to", after, "-o", str(out)
    )
    assert code == 0 and doc == {"written": str(out)}
    assert json.loads(out.read_text())["steps"] == plan["steps"]
    code, doc = run_json(capsys, "validate.json", "validate", "plan", str(out))
    assert code == 0 and doc["steps"] == 2
    code, back = run_json(capsys, "plan.json", "rollback", "--plan", str(out), "--from", before)
    assert (
        code == 0 and [s["description"] for s in back["steps"]][-1] == "Rollback: Drop table posts"
    )


def test_plan_validate_carries_the_safety_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    before = write(tmp_path, "b.json", USERS)
    after_doc = json.loads(json.dumps(USERS))
    after_doc["tables"][0]["columns"].append({"name": "email", "type": "text", "nullable": False})
    after = write(tmp_path, "a.json", after_doc)
    code, doc = run_json(
        capsys, "plan-validation.json", "plan", "--from", before, "--to", after, "--validate"
    )
    assert code == 1  # unsafe: exit code unchanged by --json
    safety = doc["safety"]
    assert safety["safe"] is False and safety["shadow"] is None
    step = safety["steps"][0]
    assert step["status"] == "FAIL"
    assert step["hazards"][0]["rule"] == "LP201 not-null-column-without-default"
    assert doc["plan"]["steps"][0]["sql"] == "ALTER TABLE users ADD COLUMN email text NOT NULL"
    code, doc = run_json(
        capsys, "plan-validation.json", "plan", "--from", before, "--to", before, "--validate"
    )
    assert code == 0 and doc["safety"]["safe"] is True and doc["plan"]["steps"] == []


def test_bad_file_and_unreachable_database_are_json_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = write(tmp_path, "bad.json", {"tables": [{"name": "t", "columns": [{"nme": "id"}]}]})
    code, doc = run_json(capsys, "error.json", "validate", "schema", bad)
    assert code == 2 and doc["error"]["code"] == "input_error" and doc["error"]["path"] == bad
    code, doc = run_json(capsys, "error.json", "diff", "nope.json", bad)
    assert code == 2 and doc["error"]["path"] == "nope.json"
    for argv in (
        ["introspect", "--database", UNREACHABLE],
        ["history", "--database", UNREACHABLE],
        ["runs", "--database", UNREACHABLE],
        ["plan", "--from", UNREACHABLE, "--to", str(SEED / "example_after.json")],
    ):
        code, doc = run_json(capsys, "error.json", *argv)
        assert code == 2 and doc["error"]["code"] == "connection_failed", argv
        assert "alice:***@127.0.0.1:1/db" in doc["error"]["message"]


def test_init_and_embedded_status(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, doc = run_json(capsys, "init.json", "init", "docker-compose", "--dir", str(tmp_path))
    assert code == 0 and "shadow" in doc["message"]
    code, doc = run_json(capsys, "error.json", "init", "docker-compose", "--dir", str(tmp_path))
    assert code == 2 and doc["error"]["code"] == "input_error"
    empty = tmp_path / "pg"
    code, doc = run_json(capsys, "embedded.json", "embedded", "status", "--dir", str(empty))
    assert code == 1 and doc["running"] is False and doc["action"] == "status"
    code, doc = run_json(capsys, "embedded.json", "embedded", "stop", "--dir", str(empty))
    assert code == 0 and doc["stopped"] is False


def test_apply_history_runs_and_introspect_on_a_real_database(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fresh_db: Callable[[], str]
) -> None:
    db, shadow = fresh_db(), fresh_db()
    plan = tmp_path / "plan.json"
    after = str(SEED / "example_after.json")
    code, _ = run_json(capsys, "written.json", "plan", "--from", db, "--to", after, "-o", str(plan))
    assert code == 0
    code, doc = run_json(
        capsys,
        "error.json",
        "apply",
        "--plan",
        str(plan),
        "--database",
        db,
        "--shadow-database",
        shadow,
    )
    assert code == 2 and "--yes" in doc["error"]["message"]  # JSON mode never prompts
    code, doc = run_json(
        capsys,
        "plan-validation.json",
        "plan",
        "--from",
        db,
        "--to",
        after,
        "--validate",
        "--shadow-database",
        shadow,
    )
    assert code == 0 and doc["safety"]["proved"] and doc["safety"]["shadow"]["ok"]
    observed = doc["safety"]["shadow"]["observations"]
    assert [o["number"] for o in observed] == [1, 2]
    assert all(step["observed"] for step in doc["safety"]["steps"])
    code, doc = run_json(
        capsys,
        "apply.json",
        "apply",
        "--plan",
        str(plan),
        "--database",
        db,
        "--shadow-database",
        shadow,
        "--yes",
    )
    assert code == 0, doc
    assert doc["status"] == "applied" and doc["steps_applied"] == 2 and doc["verified"]
    assert doc["ledger_id"] is not None and doc["run_id"] is not None
    assert doc["shadow"]["ok"] and doc["preflight"] is not None
    code, history = run_json(capsys, "history.json", "history", "--database", db)
    assert code == 0 and [e["id"] for e in history["entries"]] == [doc["ledger_id"]]
    assert history["entries"][0]["outcome"] == "applied"
    code, runs = run_json(capsys, "runs.json", "runs", "--database", db)
    assert code == 0 and [(r["id"], r["status"]) for r in runs["runs"]] == [(doc["run_id"], "done")]
    code, schema = run_json(capsys, "schema.json", "introspect", "--database", db)
    assert code == 0 and {t["name"] for t in schema["tables"]} == {"users", "posts"}
    code, doc = run_json(capsys, "error.json", "runs", "abandon", "--database", db)
    assert code == 2 and doc["error"]["path"] == "runs abandon"
    code, doc = run_json(capsys, "error.json", "apply", "--resume", "--database", db)
    assert code != 0 and doc["error"]["code"]

    same = tmp_path / "same.json"
    code, _ = run_json(capsys, "written.json", "plan", "--from", db, "--to", db, "-o", str(same))
    code, doc = run_json(capsys, "apply.json", "apply", "--plan", str(same), "--database", db)
    assert code == 0 and doc["status"] == "no_changes" and doc["steps_applied"] == 0

    desired = json.loads(json.dumps(schema))
    users = next(t for t in desired["tables"] if t["name"] == "users")
    users["columns"] = [c for c in users["columns"] if c["name"] != "age"]
    unsafe = tmp_path / "unsafe.json"
    code, _ = run_json(
        capsys,
        "written.json",
        "plan",
        "--from",
        db,
        "--to",
        write(tmp_path, "desired.json", desired),
        "-o",
        str(unsafe),
    )
    code, doc = run_json(
        capsys,
        "error.json",
        "apply",
        "--plan",
        str(unsafe),
        "--database",
        db,
        "--shadow-database",
        shadow,
        "--yes",
    )
    assert code == 1 and doc["error"]["code"] == "unsafe_plan"


def test_database_url_password_never_in_apply_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plan = tmp_path / "plan.json"
    code, _ = run_json(
        capsys,
        "written.json",
        "plan",
        "--from",
        str(SEED / "example_before.json"),
        "--to",
        str(SEED / "example_after.json"),
        "-o",
        str(plan),
    )
    code, doc = run_json(
        capsys, "error.json", "apply", "--plan", str(plan), "--database", UNREACHABLE, "--yes"
    )
    assert code == 2 and doc["error"]["code"] == "connection_failed"


def test_a_failed_preflight_is_an_error_carrying_the_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fresh_db: Callable[[], str]
) -> None:
    db, target, shadow = fresh_db(), fresh_db(), fresh_db()
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id int PRIMARY KEY, email text)")
        conn.execute("INSERT INTO users VALUES (1, 'a'), (2, NULL)")
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL)")
    plan = tmp_path / "plan.json"
    code, _ = run_json(
        capsys, "written.json", "plan", "--from", db, "--to", target, "-o", str(plan)
    )
    assert code == 0
    code, doc = run_json(
        capsys,
        "error.json",
        "apply",
        "--plan",
        str(plan),
        "--database",
        db,
        "--shadow-database",
        shadow,
        "--yes",
    )
    assert code == 1 and doc["error"]["code"] == "preflight_failed"
    failed = [c for c in doc["error"]["preflight"]["checks"] if c["passed"] is False]
    assert [(c["count"], c["examples"]) for c in failed] == [(1, ["id=2"])]
    assert doc["error"]["preflight"]["ok"] is False


def test_a_real_process_prints_only_the_document() -> None:
    """Usage errors leave through SystemExit: in a real process too, stdout is the document."""
    argv = [sys.executable, "-m", "lockplane.cli", "plan", "--format=json", "--from", "x.json"]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert (result.returncode, result.stderr) == (2, "")
    assert json.loads(result.stdout)["error"]["code"] == "usage_error"
    argv = [
        sys.executable,
        "-m",
        "lockplane.cli",
        "introspect",
        "--database",
        UNREACHABLE,
        "--json",
    ]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert (result.returncode, result.stderr) == (2, "") and SECRET not in result.stdout
    assert json.loads(result.stdout)["error"]["code"] == "connection_failed"


def test_embedded_start_status_stop_in_real_processes(tmp_path: Path) -> None:
    """Starting a server runs initdb and pg_ctl: none of their chatter may reach stdout."""
    from lockplane import embedded

    directory = tmp_path / "pg"

    def cli(action: str) -> tuple[int, Any]:
        argv = [sys.executable, "-m", "lockplane.cli", "embedded", action, "--dir", str(directory)]
        done = subprocess.run([*argv, "--json"], capture_output=True, text=True, timeout=120)
        doc = json.loads(done.stdout)
        assert not list(validator("embedded.json").iter_errors(doc)), doc
        return done.returncode, doc

    try:
        code, started = cli("start")
        assert code == 0 and started["running"] and started["pid"]
        with psycopg.connect(started["database_url"]) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        code, status = cli("status")
        assert code == 0 and (status["pid"], status["shadow_url"]) == (
            started["pid"],
            started["shadow_url"],
        )
        assert cli("stop") == (
            0,
            {
                **status,
                "action": "stop",
                "running": False,
                "stopped": True,
                "pid": None,
                "database_url": None,
                "shadow_url": None,
            },
        )
        code, status = cli("status")
        assert code == 1 and status["running"] is False
    finally:
        embedded.stop(directory)


def test_apply_that_waited_for_a_lock_reports_its_retries(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fresh_db: Callable[[], str]
) -> None:
    """The waits that text mode prints as they happen are in the document instead."""
    from test_lockaware import TABLE, Holder, add_column_step, setup

    from lockplane.plan import Plan

    db, shadow = fresh_db(), fresh_db()
    setup(db, TABLE)
    plan = tmp_path / "plan.json"
    plan.write_text(Plan(steps=(add_column_step("t"),)).to_json())
    holder = Holder(db, ["SELECT count(*) FROM t"], hold=1.0).start()
    try:
        code, doc = run_json(
            capsys,
            "apply.json",
            "apply",
            "--plan",
            str(plan),
            "--database",
            db,
            "--shadow-database",
            shadow,
            "--yes",
            "--lock-timeout",
            "200ms",
            "--retry-budget",
            "20",
        )
    finally:
        holder.release()
    assert code == 0 and doc["status"] == "applied" and doc["steps_applied"] == 1
    assert doc["retries"] and doc["retries"][0]["step"] == 1
    assert f"pid {holder.pid}" in doc["retries"][0]["text"]
