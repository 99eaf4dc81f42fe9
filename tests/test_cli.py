"""The `lockplane` command as a user runs it: the seed README's examples, exit codes, messages.

Runs `main()` in-process (fast) against the real test server; one test runs the installed
console script to prove the entry point itself works.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from lockplane.cli import main

SEED = Path(__file__).parent / "data" / "seed"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


SEED_PLAN = (
    "plan",
    "--from",
    str(SEED / "example_before.json"),
    "--to",
    str(SEED / "example_after.json"),
)


def steps(text: str) -> list[tuple[str, str]]:
    return [(s["description"], s["sql"]) for s in json.loads(text)["steps"]]


def test_seed_example_plan_matches_the_seed_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *SEED_PLAN)
    assert code == 0, err
    assert steps(out) == [
        (
            "Create table posts",
            "CREATE TABLE posts (id integer NOT NULL, title text NOT NULL, CONSTRAINT posts_pkey PRIMARY KEY (id))",
        ),
        ("Add column age to table users", "ALTER TABLE users ADD COLUMN age integer"),
    ]


def test_seed_validation_report_for_a_safe_plan(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, *SEED_PLAN, "--validate")
    assert code == 0
    assert "=== Validation Results ===" in err
    assert "✓ Validation 1: PASS" in err
    assert "  - Table creation is always safe" in err
    assert "  - Reversible: DROP TABLE posts" in err
    assert "  - Column 'age' is nullable - safe to add" in err
    assert "  - Reversible: ALTER TABLE users DROP COLUMN age" in err
    assert "✓ All operations are reversible" in err
    assert "✓ All validations passed" in err


def test_seed_validation_report_for_not_null_without_default(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    before = {
        "tables": [
            {
                "name": "users",
                "columns": [
                    {"name": "id", "type": "integer", "nullable": False, "is_primary_key": True}
                ],
            }
        ]
    }
    after = json.loads(json.dumps(before))
    after["tables"][0]["columns"].append(
        {"name": "email", "type": "text", "nullable": False, "is_primary_key": False}
    )
    (tmp_path / "b.json").write_text(json.dumps(before))
    (tmp_path / "a.json").write_text(json.dumps(after))
    code, out, err = run(
        capsys,
        "plan",
        "--from",
        str(tmp_path / "b.json"),
        "--to",
        str(tmp_path / "a.json"),
        "--validate",
    )
    assert code == 1
    assert "✗ Validation 1: FAIL" in err
    assert (
        "Error [LP201 not-null-column-without-default]: Cannot add NOT NULL column 'email' without a DEFAULT value"
        in err
    )
    assert "  - Reversible: ALTER TABLE users DROP COLUMN email" in err
    assert "❌ Validation FAILED: Some operations are not safe" in err
    assert steps(out) == [
        ("Add column email to table users", "ALTER TABLE users ADD COLUMN email text NOT NULL")
    ]


def test_seed_rollback_example(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    after = json.loads((SEED / "example_after.json").read_text())
    after["tables"][0]["indexes"] = [
        {"name": "idx_users_email", "columns": ["email"], "unique": True}
    ]
    (tmp_path / "after.json").write_text(json.dumps(after))
    forward = tmp_path / "forward.json"
    code, _, err = run(
        capsys,
        "plan",
        "--from",
        str(SEED / "example_before.json"),
        "--to",
        str(tmp_path / "after.json"),
        "-o",
        str(forward),
    )
    assert code == 0, err
    code, out, err = run(
        capsys, "rollback", "--plan", str(forward), "--from", str(SEED / "example_before.json")
    )
    assert code == 0, err
    assert steps(out) == [
        (
            "Rollback: Drop index idx_users_email",
            "DROP INDEX CONCURRENTLY IF EXISTS idx_users_email",
        ),
        ("Rollback: Drop column age from table users", "ALTER TABLE users DROP COLUMN age"),
        ("Rollback: Drop table posts", "DROP TABLE posts"),
    ]


def test_rollback_of_a_seed_format_plan_is_derived_on_the_shadow(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fresh_db: Callable[[], str]
) -> None:
    """A plan with only description and sql: Lockplane runs it on a scratch copy and plans back."""
    code, out, err = run(
        capsys,
        "rollback",
        "--plan",
        str(SEED / "plans" / "executor_plan.json"),
        "--from",
        str(SEED / "example_before.json"),
        "--shadow-database",
        fresh_db(),
    )
    assert code == 0, err
    assert [d for d, _ in steps(out)] == [
        "Detach sequence posts_id_seq from its column",
        "Drop index idx_posts_title",
        "Drop table posts",
        "Drop sequence posts_id_seq",
    ]


def test_unknown_key_is_one_line_with_path_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "desired.json"
    bad.write_text(
        '{"tables": [{"name": "t", "columns": [{"name": "id", "nullabel": true, "type": "int"}]}]}'
    )
    code, out, err = run(capsys, "validate", "schema", str(bad))
    assert code == 2
    assert out == ""
    line = err.strip()
    assert "\n" not in line
    assert line.startswith(f"lockplane: error: {bad}: tables[0].columns[0]")
    assert "nullabel" in line


def test_missing_file_and_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "diff", "nope.json", "nope2.json")
    assert code == 2 and "nope.json" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exc:
        main(["plan", "--from", "x.json"])
    assert exc.value.code == 2


def test_unreachable_database_masks_the_password(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "introspect", "--database", "postgresql://alice:s3cret-pw@127.0.0.1:1/db"
    )
    assert code == 2
    assert "s3cret-pw" not in out + err
    assert "alice:***@127.0.0.1:1/db" in err


def test_sql_file_with_an_error_names_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fresh_db: Callable[[], str]
) -> None:
    ddl = tmp_path / "schema.sql"
    ddl.write_text("CREATE TABLE a (id int);\n\nCREATE TABLE b (id int REFERENCES missing (id));\n")
    code, _, err = run(capsys, "diff", str(ddl), str(ddl), "--shadow-database", fresh_db())
    assert code == 2
    assert f"{ddl}: line 3: " in err and 'relation "missing" does not exist' in err


def test_introspect_roundtrip_gives_an_empty_plan(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fresh_db: Callable[[], str]
) -> None:
    url = fresh_db()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """
            CREATE SCHEMA "Sales Data";
            CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
            CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                email text NOT NULL UNIQUE, m mood DEFAULT 'ok',
                                score numeric(10,2) CHECK (score >= 0));
            CREATE TABLE "Sales Data"."Order Items" (id serial PRIMARY KEY,
                "select" int REFERENCES users (id) ON DELETE CASCADE, note varchar(20));
            CREATE INDEX lower_email ON users (lower(email)) WHERE email <> '';
            COMMENT ON TABLE users IS 'people';
            """
        )
    out_file = tmp_path / "schema.json"
    assert run(capsys, "introspect", "--database", url, "--output", str(out_file))[0] == 0
    code, out, err = run(capsys, "plan", "--from", url, "--to", str(out_file))
    assert code == 0, err
    assert json.loads(out)["steps"] == []
    assert "No changes" in err


def test_introspect_grants_and_owners_are_opt_in_and_planned(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fresh_db: Callable[[], str]
) -> None:
    url = fresh_db()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE items (id bigint PRIMARY KEY); GRANT SELECT ON items TO PUBLIC")
    plain, full = tmp_path / "plain.json", tmp_path / "full.json"
    assert run(capsys, "introspect", "--database", url, "-o", str(plain))[0] == 0
    assert (
        run(capsys, "introspect", "--database", url, "--grants", "--owners", "-o", str(full))[0]
        == 0
    )
    assert "grants" not in json.loads(plain.read_text())["tables"][0]
    table = json.loads(full.read_text())["tables"][0]
    assert table["grants"] == [{"grantee": "PUBLIC", "privileges": ["SELECT"]}]
    assert table["owner"]
    table["grants"] = []
    full.write_text(json.dumps({"tables": [table]}))
    code, out, err = run(capsys, "plan", "--from", url, "--to", str(full))
    assert code == 0, err
    steps = [s["sql"] for s in json.loads(out)["steps"]]
    assert steps == ["LOCK TABLE items IN ACCESS SHARE MODE;\nREVOKE SELECT ON items FROM PUBLIC"]


def test_console_script_runs() -> None:
    exe = shutil.which("lockplane", path=str(Path(sys.executable).parent))
    assert exe is not None
    result = subprocess.run([exe, "version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("lockplane ")
    result = subprocess.run([exe, "apply", "--help"], capture_output=True, text=True, check=True)
    assert "--allow-destructive" in result.stdout


def test_init_docker_compose_writes_main_and_shadow(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _out, _ = run(capsys, "init", "docker-compose", "--dir", str(tmp_path))
    assert code == 0
    text = (tmp_path / "docker-compose.yml").read_text()
    assert "shadow:" in text and "5433:5432" in text
    code, _, err = run(capsys, "init", "docker-compose", "--dir", str(tmp_path))
    assert code == 2 and "shadow" in err


def test_hand_written_json_is_normalized_through_the_shadow(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fresh_db: Callable[[], str]
) -> None:
    """`'active'` vs `'active'::text`, `varchar(20)` vs `character varying(20)`: not changes."""
    db, shadow = fresh_db(), fresh_db()
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, status varchar(20) DEFAULT 'active')")
    desired = tmp_path / "desired.json"
    desired.write_text(
        json.dumps(
            {
                "tables": [
                    {
                        "name": "t",
                        "columns": [
                            {
                                "name": "id",
                                "type": "int",
                                "nullable": False,
                                "is_primary_key": True,
                            },
                            {"name": "status", "type": "varchar(20)", "default": "'active'"},
                        ],
                    }
                ]
            }
        )
    )
    code, out, err = run(
        capsys, "plan", "--from", db, "--to", str(desired), "--shadow-database", shadow
    )
    assert code == 0, err
    assert json.loads(out)["steps"] == []
    # Without a shadow the document is compared as written, and the default looks different.
    code, out, _ = run(capsys, "diff", db, str(desired))
    assert code == 0 and "~ column t.status: default 'active'::character varying → 'active'" in out


def test_json_that_postgres_rejects_fails_at_plan_time(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fresh_db: Callable[[], str]
) -> None:
    desired = tmp_path / "desired.json"
    desired.write_text(
        json.dumps(
            {
                "tables": [
                    {"name": "t", "columns": [{"name": "n", "type": "integer", "default": "'abc'"}]}
                ]
            }
        )
    )
    code, out, err = run(
        capsys,
        "plan",
        "--from",
        str(SEED / "example_before.json"),
        "--to",
        str(desired),
        "--shadow-database",
        fresh_db(),
    )
    assert code == 2 and out == ""
    assert f"{desired}: does not build on the shadow database" in err
    assert 'invalid input syntax for type integer: "abc"' in err


@pytest.mark.parametrize(
    ("option", "value", "why"),
    [
        ("--batch-seconds", "0", "must be more than 0"),
        ("--batch-seconds", "x", "is not a number of seconds"),
        ("--backfill-pause", "-1", "is negative"),
    ],
)
def test_backfill_options_are_checked_before_anything_runs(
    option: str, value: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["apply", "--plan", "missing.json", option, value])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"argument {option}: '{value}' {why}" in err
