"""Online forms (changes/online.py): what the planner generates, and what each form does on a
real database: the locks it holds while it works (reads and writes of other sessions continue,
where the plain form makes them wait), SET NOT NULL without a scan, idempotent CONCURRENTLY
steps, the data preflight naming the step that checks the rows, and a full online plan applied
and rolled back with rows in place."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from lockplane import apply_plan, diff, introspect_url, make_plan
from lockplane.changes.base import Change
from lockplane.changes.constraint import AddConstraint, CreateIndex, DropIndex
from lockplane.changes.online import (
    CreateIndexConcurrently,
    DropIndexConcurrently,
    online_forms,
    temp_name,
)
from lockplane.cli import main
from lockplane.errors import LockplaneError
from lockplane.model import PrimaryKey, Schema
from lockplane.plan import Plan, Step
from lockplane.planner import planned_changes
from lockplane.preflight import preflight_plan
from lockplane.units import split_units

OLD_SQL = """
CREATE TABLE teams (id bigint PRIMARY KEY);
CREATE TABLE users (id bigint PRIMARY KEY, email text, team bigint, n bigint);
CREATE INDEX users_n ON users (n);
"""
ROWS_SQL = """
INSERT INTO teams VALUES (1);
INSERT INTO users VALUES (1, 'a', 1, 1), (2, 'b', NULL, 2);
"""
NEW_SQL = """
CREATE TABLE teams (id bigint PRIMARY KEY);
CREATE TABLE users (
    id bigint PRIMARY KEY,
    email text NOT NULL CONSTRAINT users_email_key UNIQUE NULLS NOT DISTINCT,
    team bigint REFERENCES teams (id),
    n bigint CONSTRAINT n_positive CHECK (n > 0)
);
CREATE INDEX users_n ON users (n, email);
CREATE UNIQUE INDEX users_lower_email ON users (lower(email));
"""
BLOCKING = {"LP305", "LP306", "LP307", "LP308", "LP309"}


def run(url: str, text: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(text.encode())


def rules(plan: Plan) -> set[str]:
    return {h.rule or "" for s in plan.steps for h in s.hazards}


def table(columns: list[dict], **extra: object) -> dict:
    return {"name": "t", "columns": columns, **extra}


def schema(*tables: dict) -> Schema:
    return Schema.model_validate({"tables": list(tables)})


ID = {"name": "id", "type": "bigint", "nullable": False}
CODE = {"name": "code", "type": "integer"}
PK = {"name": "t_pkey", "columns": ["id"]}


@pytest.fixture(scope="module")
def schemas(fresh_db: Callable[[], str]) -> tuple[Schema, Schema]:
    """(old, new) of the sample, as Postgres spells them."""
    old, new = fresh_db(), fresh_db()
    run(old, OLD_SQL)
    run(new, NEW_SQL)
    return introspect_url(old), introspect_url(new)


# ------------------------------------------------------------------------- without a database


def test_temp_names_fit_in_63_bytes_and_are_stable() -> None:
    for base in ("users_n", "x" * 63, "é" * 40, "a" * 70):
        name = temp_name(base, "lp_new")
        assert len(name.encode()) <= 63 and name.encode().decode() == name
        assert name == temp_name(base, "lp_new") and "_lp_new_" in name
    assert temp_name("a" * 70, "t") != temp_name("a" * 71, "t")  # cut alike, hashed apart


def test_replacing_an_index_swaps_unless_a_column_it_uses_moves() -> None:
    indexed = {"name": "t_code", "columns": ["code"]}
    old = table([ID, CODE], primary_key=PK, indexes=[indexed])
    changed = {"name": "t_code", "columns": ["code", "id"]}

    def forms(new_code: dict, index: dict) -> list[str]:
        new = table([ID, new_code], primary_key=PK, indexes=[index])
        return [s.sql for s in make_plan(schema(old), schema(new)).steps]

    swap = forms(CODE, changed)
    assert swap[0].startswith("CREATE INDEX CONCURRENTLY IF NOT EXISTS t_code_lp_new_")
    assert swap[1:] == [
        "DROP INDEX CONCURRENTLY IF EXISTS t_code",
        f"ALTER INDEX {swap[0].split()[6]} RENAME TO t_code",
    ]
    retyped = forms({"name": "code", "type": "bigint"}, changed)
    assert retyped[0] == "DROP INDEX CONCURRENTLY IF EXISTS t_code"
    assert retyped[-1] == "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_code ON t (code, id)"
    # an expression or a predicate that mentions the retyped column counts too
    for index in (
        {"name": "t_code", "columns": [{"expression": "(CODE + 1)"}]},
        {"name": "t_code", "columns": ["id"], "where": "code > 0"},
    ):
        old_x = table([ID, CODE], primary_key=PK, indexes=[index])
        new_x = table([ID, {"name": "code", "type": "bigint"}], primary_key=PK, indexes=[changed])
        steps = make_plan(schema(old_x), schema(new_x)).steps
        assert steps[0].sql == "DROP INDEX CONCURRENTLY IF EXISTS t_code"


def test_objects_on_new_and_dropped_tables_stay_plain() -> None:
    t = table(
        [ID, CODE],
        primary_key=PK,
        unique_constraints=[{"name": "t_code_key", "columns": ["code"]}],
        check_constraints=[{"name": "t_code_check", "expression": "code > 0"}],
        indexes=[{"name": "t_code", "columns": ["code"]}],
    )
    for plan in (make_plan(Schema(), schema(t)), make_plan(schema(t), Schema())):
        assert all(s.transactional and not s.own_transaction for s in plan.steps)
        assert "CONCURRENTLY" not in "".join(s.sql for s in plan.steps)


def test_a_primary_key_over_a_nullable_column_stays_plain() -> None:
    """ADD PRIMARY KEY USING INDEX would set NOT NULL itself, scanning under ACCESS EXCLUSIVE."""
    t = Schema.model_validate({"tables": [table([ID, CODE])]}).tables[0]
    for pk, forms in (
        (PrimaryKey(name="t_pkey", columns=("code",)), 1),
        (PrimaryKey(name="t_pkey", columns=("id",)), 2),
    ):
        change = AddConstraint(t, pk)
        [(_, out)] = online_forms([change])
        assert len(out) == forms and (forms == 2 or out == [change])


def test_online_plan_forms_flags_and_hazards(schemas: tuple[Schema, Schema]) -> None:
    old, new = schemas
    plan, offline = make_plan(old, new), make_plan(old, new, online=False)
    alone = [s for s in plan.steps if not s.transactional]
    assert alone and all(s.sql.count(";") == 0 and "CONCURRENTLY" in s.sql for s in alone)
    assert all("CONCURRENTLY" in (s.reverse_sql or "") for s in alone)
    assert all("CONCURRENTLY" not in s.sql for s in plan.steps if s.transactional)
    validate = [s for s in plan.steps if "VALIDATE CONSTRAINT" in s.sql]
    assert len(validate) == 3 and all(s.own_transaction and s.transactional for s in validate)
    assert all(s.lock == "SHARE UPDATE EXCLUSIVE" for s in validate)
    assert all((s.reverse_sql or "").startswith("-- nothing to undo") for s in validate)
    # the executor runs each validation in a unit of its own, away from the ADD's lock
    units = split_units(plan.steps)
    assert all(any(u.steps == (s,) for u in units) for s in validate)
    assert plan.reversible and offline.reversible
    assert {"LP202", "LP203", "LP204", "LP205", "LP404"} <= rules(plan)
    assert not rules(plan) & BLOCKING
    assert BLOCKING - {"LP306"} <= rules(offline)  # the replaced index: LP306 on its plain drop
    assert "LP306" in rules(offline)
    assert all(s.transactional and not s.own_transaction for s in offline.steps)
    # Each rule sits on the step that earns it: the validations, the unique builds.
    by_rule = {h.rule: s for s in plan.steps for h in s.hazards}
    assert "VALIDATE" in by_rule["LP202"].sql and "VALIDATE" in by_rule["LP205"].sql
    assert "CREATE UNIQUE INDEX CONCURRENTLY" in by_rule["LP203"].sql


def test_the_rollback_of_the_rollback_is_the_plan(schemas: tuple[Schema, Schema]) -> None:
    """A rollback is a plan like any other: proving it runs its reverse, which must still
    validate, so nothing-to-undo steps stay in the rollback (as a comment) instead of vanishing."""
    plan = make_plan(*schemas)
    rollback = plan.reverse()
    assert len(rollback.steps) == len(plan.steps)
    again = rollback.reverse()
    keys = ("sql", "reverse_sql", "transactional", "own_transaction", "lock", "tables")
    assert [[getattr(s, k) for k in keys] for s in again.steps] == [
        [getattr(s, k) for k in keys] for s in plan.steps
    ]


def test_every_online_change_inverts_to_itself(schemas: tuple[Schema, Schema]) -> None:
    for change in planned_changes(diff(*schemas)):
        twice: Change = change.reverse().reverse()
        assert [s.as_string(None) for s in twice.statements()] == [
            s.as_string(None) for s in change.statements()
        ], change.description()
        assert twice.transactional == change.transactional == change.reverse().transactional


def test_offline_plans_are_the_plain_forms(schemas: tuple[Schema, Schema]) -> None:
    d = diff(*schemas)
    online = planned_changes(d)
    offline = planned_changes(d, online=False)
    assert not any(isinstance(c, (CreateIndexConcurrently, DropIndexConcurrently)) for c in offline)
    assert any(type(c) is CreateIndex for c in offline) and any(
        type(c) is DropIndex for c in offline
    )
    assert len(online) > len(offline)


def test_cli_plan_no_online(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHADOW_DATABASE_URL", raising=False)
    before = {"tables": [table([ID, CODE], primary_key=PK)]}
    after = {
        "tables": [
            table([ID, CODE], primary_key=PK, indexes=[{"name": "t_code", "columns": ["code"]}])
        ]
    }
    (tmp_path / "b.json").write_text(json.dumps(before))
    (tmp_path / "a.json").write_text(json.dumps(after))
    argv = ["plan", "--from", str(tmp_path / "b.json"), "--to", str(tmp_path / "a.json")]
    assert main(argv) == 0
    [step] = json.loads(capsys.readouterr().out)["steps"]
    assert step["sql"].startswith("CREATE INDEX CONCURRENTLY") and step["transactional"] is False
    assert main([*argv, "--no-online"]) == 0
    [step] = json.loads(capsys.readouterr().out)["steps"]
    assert step["sql"] == "CREATE INDEX t_code ON t (code)" and step["transactional"] is True


def test_magic_plan_no_online(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from IPython.testing.globalipapp import get_ipython, start_ipython

    from lockplane_nb.magics import register

    monkeypatch.delenv("SHADOW_DATABASE_URL", raising=False)
    ip = start_ipython() or get_ipython()  # None when this worker's shell is already up
    register(ip)
    ip.user_ns["old"] = schema(table([ID, CODE], primary_key=PK))
    new = tmp_path / "new.json"
    index = {"name": "t_code", "columns": ["code"]}
    new.write_text(json.dumps({"tables": [table([ID, CODE], primary_key=PK, indexes=[index])]}))
    for flag, sql in (
        ("", "CREATE INDEX CONCURRENTLY IF NOT EXISTS"),
        ("--no-online", "CREATE INDEX t_code"),
    ):
        result = ip.run_cell(f"%lockplane plan --from old --to {new} {flag} -o lp_online_p")
        assert result.error_in_exec is None
        [step] = ip.user_ns.pop("lp_online_p").steps
        assert step.sql.startswith(sql)
    ip.user_ns.pop("old")


# ---------------------------------------------------------------------------- on a database


def test_online_plan_applies_and_rolls_back_with_rows(
    fresh_db: Callable[[], str], schemas: tuple[Schema, Schema]
) -> None:
    db, shadow = fresh_db(), fresh_db()
    run(db, OLD_SQL + ROWS_SQL)
    old, new = schemas
    plan = make_plan(introspect_url(db), new)
    result = apply_plan(plan, db, shadow_url=shadow)
    assert result.verified and not result.shadow.contradictions, result.shadow.text()
    assert diff(introspect_url(db), new).is_empty
    undo = apply_plan(plan.reverse(), db, shadow_url=shadow)
    assert not undo.shadow.contradictions, undo.shadow.text()
    assert diff(introspect_url(db), old).is_empty
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (2,)
        invalid = conn.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone()
        assert invalid == (0,)


def _steps(plan: Plan, marker: str) -> list[Step]:
    return [s for s in plan.steps if marker in s.sql]


def _writes_wait(url: str, holder_sql: str, write_sql: str) -> bool:
    """Hold `holder_sql` in an open transaction; does `write_sql` from another session have to
    wait for it (lock_timeout 300ms)?"""
    with psycopg.connect(url) as holder, psycopg.connect(url, autocommit=True) as writer:
        holder.execute(holder_sql.encode())
        writer.execute("SET lock_timeout = '300ms'")
        try:
            with writer.transaction(force_rollback=True):
                writer.execute(write_sql.encode())
        except psycopg.errors.LockNotAvailable:
            return True
        finally:
            holder.rollback()
    return False


@pytest.mark.parametrize(
    ("change", "write"),
    [
        (
            "ALTER TABLE users ADD CONSTRAINT n_positive CHECK (n > 0)",
            "INSERT INTO users VALUES (9, 'z', NULL, 9)",
        ),
        (
            "ALTER TABLE users ADD CONSTRAINT users_team_fk FOREIGN KEY (team) REFERENCES teams (id)",
            "INSERT INTO teams VALUES (9)",
        ),
        (
            "ALTER TABLE users ALTER COLUMN email SET NOT NULL",
            "UPDATE users SET n = n + 1",
        ),
    ],
    ids=["check", "foreign-key", "not-null"],
)
def test_validation_lets_writes_through_where_the_plain_form_blocks_them(
    fresh_db: Callable[[], str], change: str, write: str
) -> None:
    """The plain step holds its lock for the whole scan: writes wait. The online form's scan
    (VALIDATE) runs in a transaction of its own under SHARE UPDATE EXCLUSIVE: writes go on."""
    db, target = fresh_db(), fresh_db()
    run(db, OLD_SQL + ROWS_SQL)
    run(target, OLD_SQL + change)
    old, new = introspect_url(db), introspect_url(target)
    [plain] = make_plan(old, new, online=False).steps
    assert _writes_wait(db, plain.sql, write)
    online = make_plan(old, new)
    [validate] = _steps(online, "VALIDATE CONSTRAINT")
    before = online.steps[: online.steps.index(validate)]
    with psycopg.connect(db, autocommit=True) as conn:
        for step in before:
            conn.execute(step.sql.encode())
    assert not _writes_wait(db, validate.sql, write)


def test_set_not_null_after_the_validated_check_skips_the_scan(fresh_db: Callable[[], str]) -> None:
    db, target = fresh_db(), fresh_db()
    run(db, OLD_SQL + ROWS_SQL)
    run(target, OLD_SQL + "ALTER TABLE users ALTER COLUMN email SET NOT NULL;")
    old, new = introspect_url(db), introspect_url(target)
    proofs: list[str] = []

    def notices(plan: Plan) -> list[str]:
        with psycopg.connect(db, autocommit=True) as conn:
            conn.add_notice_handler(lambda d: proofs.append(d.message_primary or ""))
            conn.execute("SET client_min_messages = debug1")
            for step in plan.steps:
                proofs.clear()
                conn.execute(step.sql.encode())
                if "SET NOT NULL" in step.sql:
                    return list(proofs)  # what follows (dropping the helper check) is beside it
        raise AssertionError("no SET NOT NULL step")

    scanless = 'existing constraints on column "users.email" are sufficient to prove'
    assert not any(scanless in m for m in notices(make_plan(old, new, online=False)))
    run(db, "ALTER TABLE users ALTER COLUMN email DROP NOT NULL")
    assert any(scanless in m for m in notices(make_plan(old, new)))


def test_concurrent_steps_can_run_twice(fresh_db: Callable[[], str]) -> None:
    """IF [NOT] EXISTS: a CONCURRENTLY step retried after Postgres finished it is a no-op, and the
    rollback of a constraint's index build tolerates DROP CONSTRAINT having taken the index."""
    db, target = fresh_db(), fresh_db()
    run(db, OLD_SQL + ROWS_SQL)
    run(
        target,
        OLD_SQL
        + "CREATE INDEX users_email ON users (email); DROP INDEX users_n;"
        + "ALTER TABLE users ADD CONSTRAINT users_team_key UNIQUE (team);",
    )
    plan = make_plan(introspect_url(db), introspect_url(target))
    with psycopg.connect(db, autocommit=True) as conn:
        for step in plan.steps:
            for _ in range(1 if step.transactional else 2):
                conn.execute(step.sql.encode())
        for step in plan.reverse().steps:
            for _ in range(1 if step.transactional else 2):
                conn.execute(step.sql.encode())
    assert diff(introspect_url(db), plan.source).is_empty  # type: ignore[arg-type]


def test_preflight_names_the_step_that_reads_the_rows(fresh_db: Callable[[], str]) -> None:
    db, target = fresh_db(), fresh_db()
    run(db, OLD_SQL + ROWS_SQL + "INSERT INTO users VALUES (3, NULL, 7, -1), (4, 'a', 1, 4);")
    run(target, NEW_SQL)
    old, new = introspect_url(db), introspect_url(target)
    for online, expected in (
        (
            True,
            {
                "Validate helper check users_email_lp_not_null_",
                "Build unique index users_email_key for unique constraint users_email_key",
                "Validate check constraint n_positive on table users",
                "Validate foreign key users_team_fkey on table users",
                "Create index users_lower_email",
            },
        ),
        (
            False,
            {
                "Set NOT NULL on column users.email",
                "Add unique constraint users_email_key to table users",
                "Add check constraint n_positive to table users",
                "Add foreign key users_team_fkey to table users",
                "Create index users_lower_email",
            },
        ),
    ):
        plan = make_plan(old, new, online=online)
        report = preflight_plan(plan, db)
        failed = {c.step for c in report.failures}
        names = {s.description for s in plan.steps}
        assert all(f.startswith("step ") for f in failed), failed
        steps = {f.split(" (", 1)[1][:-1] for f in failed}
        assert steps <= names
        assert {next(e for e in expected if s.startswith(e)) for s in steps} == expected, steps


def test_a_failed_validation_stops_the_apply_and_undoes_what_ran(
    fresh_db: Callable[[], str],
) -> None:
    """Without the preflight, the rows make the VALIDATE step fail on the real database: the
    apply stops there, and the steps committed before it are undone."""
    db, target, shadow = fresh_db(), fresh_db(), fresh_db()
    run(db, OLD_SQL + ROWS_SQL + "INSERT INTO users VALUES (3, 'c', NULL, -1);")
    run(target, OLD_SQL + "ALTER TABLE users ADD CONSTRAINT n_positive CHECK (n > 0);")
    before = introspect_url(db)
    plan = make_plan(before, introspect_url(target))
    with pytest.raises(LockplaneError) as failure:
        apply_plan(plan, db, shadow_url=shadow, preflight=False)
    assert "Validate check constraint n_positive" in str(failure.value)
    assert "violated by some row" in str(failure.value)
    assert diff(introspect_url(db), before).is_empty
