"""The data preflight on a replica (`--preflight-url`, $LOCKPLANE_PREFLIGHT_URL): the checks read
the replica's rows, not the target's, so a second database with the same schema and different
rows decides the outcome; the report names the replica with its password masked; a replica that
does not hold the plan's source schema is skipped, not trusted; a read-only replica (a hot
standby refuses writes) works."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from lockplane import apply_plan, introspect_url, make_plan
from lockplane.cli import main
from lockplane.errors import ApplyFailed, PreflightFailed
from lockplane.plan import Plan
from lockplane.preflight import preflight_plan

USERS = "CREATE TABLE users (id int PRIMARY KEY, email text);"
NOT_NULL = "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);"


def setup(url: str, ddl: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(ddl.encode())


def with_password(url: str, password: str) -> str:
    """The test servers trust local connections: a password is accepted and ignored."""
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    user = user.split(":", 1)[0] or "postgres"
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


def databases(fresh_db: Callable[[], str], primary_rows: str, replica_rows: str) -> list[str]:
    """(primary, replica, target schema, shadow): primary and replica hold the same schema."""
    primary, replica, target, shadow = fresh_db(), fresh_db(), fresh_db(), fresh_db()
    setup(primary, USERS + primary_rows)
    setup(replica, USERS + replica_rows)
    setup(target, NOT_NULL)
    return [primary, replica, target, shadow]


def set_not_null(primary: str, target: str) -> Plan:
    return make_plan(introspect_url(primary), introspect_url(target))


def test_the_replica_rows_decide_a_failure(fresh_db: Callable[[], str]) -> None:
    primary, replica, target, shadow = databases(
        fresh_db,
        "INSERT INTO users VALUES (1, 'a'), (2, 'b');",
        "INSERT INTO users VALUES (1, 'a'), (2, 'b'), (7, NULL);",
    )
    plan = set_not_null(primary, target)
    assert preflight_plan(plan, primary).ok  # the primary alone is clean
    secret = with_password(replica, "hunter2")
    report = preflight_plan(plan, primary, replica_url=secret)
    [failure] = report.failures
    assert (failure.count, failure.examples) == (1, ("id=7",))
    assert report.replica and "***" in report.database and "hunter2" not in report.database
    assert f"rows counted on the replica {report.database}" in report.text()
    assert "hunter2" not in report.text()

    before = introspect_url(primary)
    with pytest.raises(PreflightFailed) as exc:
        apply_plan(plan, primary, shadow_url=shadow, preflight_url=secret)
    message = str(exc.value)
    assert "1 row with NULL in users.email; e.g. id=7" in message
    assert "rows counted on the replica" in message and "hunter2" not in message
    assert introspect_url(primary) == before


def test_the_replica_rows_decide_a_pass(fresh_db: Callable[[], str]) -> None:
    """A clean replica lets the apply go on; the primary's own NULL then fails the real step,
    which rolls back: the preflight read the replica, as asked."""
    primary, replica, target, shadow = databases(
        fresh_db,
        "INSERT INTO users VALUES (1, NULL);",
        "INSERT INTO users VALUES (1, 'a');",
    )
    plan = set_not_null(primary, target)
    report = preflight_plan(plan, primary, replica_url=replica)
    assert report.ok and report.checks and all(c.passed for c in report.checks)
    with pytest.raises(ApplyFailed):
        apply_plan(plan, primary, shadow_url=shadow, preflight_url=replica)
    with pytest.raises(PreflightFailed):  # without the replica the primary is asked
        apply_plan(plan, primary, shadow_url=shadow)


def test_a_replica_with_another_schema_is_skipped(fresh_db: Callable[[], str]) -> None:
    primary, replica, target, _ = databases(fresh_db, "", "")
    setup(replica, "ALTER TABLE users ADD COLUMN nickname text;")  # lags or is another database
    report = preflight_plan(set_not_null(primary, target), primary, replica_url=replica)
    assert report.ok and report.checks == [] and report.skipped is not None
    assert "does not hold the schema the plan starts from" in report.skipped
    assert "users.nickname" in report.skipped


def test_a_read_only_replica_works(fresh_db: Callable[[], str]) -> None:
    """A hot standby refuses every write; the preflight only reads."""
    primary, replica, target, _ = databases(fresh_db, "", "INSERT INTO users VALUES (3, NULL);")
    name = urlsplit(replica).path.lstrip("/")
    setup(replica, f"ALTER DATABASE {name} SET default_transaction_read_only = on")
    report = preflight_plan(set_not_null(primary, target), primary, replica_url=replica)
    assert [c.examples for c in report.failures] == [("id=3",)]


def test_cli_preflight_url_and_its_environment_default(
    fresh_db: Callable[[], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    primary, replica, target, shadow = databases(
        fresh_db, "INSERT INTO users VALUES (1, 'a');", "INSERT INTO users VALUES (4, NULL);"
    )
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(set_not_null(primary, target).to_json())
    base = ["apply", "--plan", str(plan_file), "--database", primary, "--yes"]
    assert main([*base, "--shadow-database", shadow, "--preflight-url", replica]) == 1
    err = capsys.readouterr().err
    assert "data preflight failed" in err and "e.g. id=4" in err and "replica" in err

    monkeypatch.setenv("LOCKPLANE_PREFLIGHT_URL", replica)
    assert main([*base, "--shadow-database", shadow]) == 1
    assert "e.g. id=4" in capsys.readouterr().err
