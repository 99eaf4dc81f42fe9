"""SQLAlchemy models as the desired schema, and plans exported as Alembic revisions.

The sample app (tests/data/sqlalchemy_app) is planned from an empty database, applied, evolved
and planned again; the plans are exported as Alembic revisions that `alembic upgrade head` and
`alembic downgrade -1` run, in a subprocess, against a real database.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from lockplane import Schema, diff, introspect_url, load_schema
from lockplane.alembic_export import revision_module
from lockplane.cli import main
from lockplane.plan import Backfill, Plan, Step

DATA = Path(__file__).parent / "data"
V1 = "sqlalchemy:sqlalchemy_app.models_v1:Base"
V2 = "sqlalchemy:sqlalchemy_app.models_v2:Base"


@pytest.fixture(autouse=True)
def _sample_app_importable(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Specs resolve from the current directory, as they would in a project's root."""
    monkeypatch.chdir(DATA)
    monkeypatch.syspath_prepend(str(DATA))
    yield


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def without_alembic(schema: Schema) -> Schema:
    """The schema without Alembic's own bookkeeping table."""
    return schema.model_copy(
        update={"tables": [t for t in schema.tables if t.name != "alembic_version"]}
    )


def assert_same(actual: Schema, expected: Schema) -> None:
    d = diff(actual, expected)
    assert d.is_empty, d.summary()


def plan_file(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    name: str,
    source: str,
    target: str,
    shadow: str,
) -> Path:
    out = tmp_path / f"{name}.json"
    code, _, err = run(
        capsys,
        "plan",
        "--from",
        source,
        "--to",
        target,
        "--shadow-database",
        shadow,
        "-o",
        str(out),
    )
    assert code == 0, err
    return out


def test_models_are_built_by_create_all_on_the_shadow(fresh_db: Callable[[], str]) -> None:
    schema = load_schema(V1, shadow=fresh_db())
    tables = {t.name: t for t in schema.tables}
    assert sorted(tables) == ["customers", "orders"]
    (enum,) = schema.enums
    assert (enum.name, enum.labels) == ("order_status", ("pending", "paid", "shipped"))
    customers = tables["customers"]
    assert customers.comment == "People who order"
    assert {c.name: c.comment for c in customers.columns}["email"] == "Login and contact address"
    assert [c.name for c in customers.check_constraints] == ["customers_name_not_blank"]
    (lower,) = customers.indexes
    assert lower.unique and "lower(" in (lower.columns[0].expression or "")  # type: ignore[union-attr]
    (fk,) = tables["orders"].foreign_keys
    assert (fk.referenced_table, fk.on_delete) == ("customers", "CASCADE")


def test_plan_apply_evolve_from_an_empty_database(
    capsys: pytest.CaptureFixture[str], fresh_db: Callable[[], str], tmp_path: Path
) -> None:
    db, shadow = fresh_db(), fresh_db()
    first = plan_file(capsys, tmp_path, "v1", db, V1, shadow)
    code, _, err = run(capsys, "apply", "--plan", str(first), "--database", db, "--yes",
                       "--shadow-database", shadow)  # fmt: skip
    assert code == 0, err
    assert_same(introspect_url(db), load_schema(V1, shadow=shadow))

    second = plan_file(capsys, tmp_path, "v2", db, V2, shadow)
    sqls = [s["sql"] for s in json.loads(second.read_text())["steps"]]
    assert "ALTER TYPE order_status ADD VALUE 'cancelled' AFTER 'shipped'" in sqls
    assert any("CONCURRENTLY" in s for s in sqls)
    code, _, err = run(capsys, "apply", "--plan", str(second), "--database", db, "--yes",
                       "--shadow-database", shadow)  # fmt: skip
    assert code == 0, err
    assert_same(introspect_url(db), load_schema(V2, shadow=shadow))

    code, out, err = run(capsys, "diff", V2, db, "--shadow-database", shadow)
    assert code == 0 and "No changes" in out + err, out + err


DRIFT = """
ALTER TYPE order_status ADD VALUE 'refunded';
ALTER TABLE customers DROP CONSTRAINT customers_name_not_blank;
ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'paid';
DROP INDEX customers_email_lower_key;
CREATE UNIQUE INDEX customers_email_lower_key ON customers (lower(name));
COMMENT ON COLUMN customers.email IS 'old words';
"""


def autogenerate_sees(url: str, metadata: object) -> set[str]:
    """The kinds of change Alembic autogenerate reports between `metadata` and the database."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            found = compare_metadata(MigrationContext.configure(conn), metadata)  # type: ignore[arg-type]
    finally:
        engine.dispose()
    flat = [d for entry in found for d in (entry if isinstance(entry, list) else [entry])]
    return {d[0] for d in flat}


def test_diff_shows_drift_that_autogenerate_misses(
    capsys: pytest.CaptureFixture[str], fresh_db: Callable[[], str], tmp_path: Path
) -> None:
    """A database that drifted from the models: Lockplane sees every difference; Alembic
    autogenerate (asked the same question) does not see the enum value, the check constraint
    or the server default."""
    from sqlalchemy_app.models_v1 import Base

    db, shadow = fresh_db(), fresh_db()
    first = plan_file(capsys, tmp_path, "v1", db, V1, shadow)
    assert run(capsys, "apply", "--plan", str(first), "--database", db, "--yes",
               "--shadow-database", shadow)[0] == 0  # fmt: skip
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(DRIFT.encode())
    code, out, err = run(capsys, "diff", V1, db, "--json", "--shadow-database", shadow)
    assert code == 0, err
    changes = {(c["change"], c["kind"], c["object"]) for c in json.loads(out)["changes"]}
    assert {
        ("~", "enum", "order_status"),
        ("-", "check constraint", "customers_name_not_blank on customers"),
        ("~", "column", "orders.status"),
        ("+", "index", "customers_email_lower_key on customers"),
        ("~", "column", "customers.email"),
    } <= changes  # and the foreign keys that rest on the replaced unique index
    assert {kind for _, kind, _ in changes} == {
        "enum", "check constraint", "column", "index", "foreign key"
    }  # fmt: skip
    assert autogenerate_sees(db, Base.metadata) == {"modify_comment", "remove_index", "add_index"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("sqlalchemy:no_such_app.models:Base", "cannot import no_such_app.models"),
        ("sqlalchemy:sqlalchemy_app.models_v1:Nope", "has no attribute Nope"),
        ("sqlalchemy:sqlalchemy_app.models_v1:ORDER_STATUS", "neither a declarative base"),
        ("sqlalchemy:sqlalchemy_app.models_v1", "expected sqlalchemy:package.module:Base"),
    ],
)
def test_bad_model_specs_are_one_line_input_errors(
    capsys: pytest.CaptureFixture[str], fresh_db: Callable[[], str], spec: str, message: str
) -> None:
    db = fresh_db()
    code, out, err = run(capsys, "plan", "--from", db, "--to", spec, "--shadow-database", db)
    assert code == 2 and out == ""
    assert err.startswith(f"lockplane: error: {spec}: ") and message in err
    assert len(err.strip().splitlines()) == 1


BROKEN_MODELS = """
from sqlalchemy import CheckConstraint, Column, Integer, MetaData, Table

metadata = MetaData()
Table("t", metadata, Column("id", Integer), CheckConstraint("id >", name="t_bad"))
"""


def test_models_postgres_refuses_are_an_input_error(
    capsys: pytest.CaptureFixture[str],
    fresh_db: Callable[[], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A module in the current directory (as `python -m` finds it) whose DDL Postgres refuses;
    a module that fails to import."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken_models.py").write_text(BROKEN_MODELS)
    (tmp_path / "raising_models.py").write_text("raise RuntimeError('no config\\nsecond line')")
    db = fresh_db()
    spec = "sqlalchemy:broken_models:metadata"
    code, _, err = run(capsys, "diff", db, spec, "--shadow-database", db)
    assert code == 2
    assert err == f'lockplane: error: {spec}: create_all failed: syntax error at or near ")"\n'
    spec = "sqlalchemy:raising_models:Base"
    code, _, err = run(capsys, "diff", db, spec, "--shadow-database", db)
    assert code == 2
    assert err == (
        f"lockplane: error: {spec}: cannot import raising_models: RuntimeError: no config\n"
    )


def test_a_metadata_with_its_own_schema_is_built_with_it(fresh_db: Callable[[], str]) -> None:
    """create_all expects the schemas its tables name to exist; the shadow build creates them."""
    from sqlalchemy import Column, Integer, MetaData, Table

    from lockplane import Shadow
    from lockplane.sqla import load_models

    metadata = MetaData(schema="billing")
    Table("invoices", metadata, Column("id", Integer, primary_key=True))
    schema = load_models(metadata, "<test>", Shadow(fresh_db()))
    assert [(t.schema_, t.name) for t in schema.tables] == [("billing", "invoices")]


def test_sqlalchemy_is_imported_only_when_models_are_used() -> None:
    """Importing Lockplane (CLI included) imports neither SQLAlchemy nor Alembic; without
    SQLAlchemy, a models source is one line saying what to install."""
    probe = (
        "import sys, lockplane, lockplane.cli, lockplane.sources, lockplane.alembic_export\n"
        "assert not {'sqlalchemy', 'alembic'} & set(sys.modules), 'imported'\n"
        "sys.modules['sqlalchemy'] = None\n"
        "sys.exit(lockplane.cli.main(['diff', 'sqlalchemy:app.models:Base', 'x.sql']))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "lockplane: error: sqlalchemy:app.models:Base: SQLAlchemy is not installed: "
        'pip install "lockplane[sqlalchemy]"\n'
    )


ALEMBIC_INI = """[alembic]
script_location = {root}/migrations
sqlalchemy.url = {url}
"""

ENV_PY = """from alembic import context
from sqlalchemy import create_engine

config = context.config
engine = create_engine(config.get_main_option("sqlalchemy.url"))
with engine.connect() as connection:
    context.configure(connection=connection, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()
"""

SCRIPT_MAKO = '''"""${message}"""
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}


def upgrade():
    ${upgrades if upgrades else "pass"}


def downgrade():
    ${downgrades if downgrades else "pass"}
'''


def alembic_project(root: Path, url: str) -> Path:
    """A minimal Alembic project, written here as a user would have it."""
    (root / "migrations" / "versions").mkdir(parents=True)
    (root / "migrations" / "env.py").write_text(ENV_PY)
    (root / "migrations" / "script.py.mako").write_text(SCRIPT_MAKO)
    ini = root / "alembic.ini"
    ini.write_text(
        ALEMBIC_INI.format(root=root, url=url.replace("postgresql://", "postgresql+psycopg://"))
    )
    return ini


def alembic(ini: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_exported_revisions_upgrade_and_downgrade_a_real_database(
    capsys: pytest.CaptureFixture[str], fresh_db: Callable[[], str], tmp_path: Path
) -> None:
    db, shadow, empty = fresh_db(), fresh_db(), fresh_db()
    first = plan_file(capsys, tmp_path, "v1", empty, V1, shadow)
    second = plan_file(capsys, tmp_path, "v2", V1, V2, shadow)
    ini = alembic_project(tmp_path / "project", db)
    versions = tmp_path / "project" / "migrations" / "versions"
    code, _, err = run(capsys, "export", "alembic", "--plan", str(first), "--revision", "shop1",
                       "--message", "shop v1", "-o", str(versions / "shop1.py"))  # fmt: skip
    assert code == 0, err
    code, out, err = run(capsys, "export", "alembic", "--plan", str(second),
                         "--revision", "shop2", "--down-revision", "shop1")  # fmt: skip
    assert code == 0, err
    assert "autocommit_block()" in out  # the CONCURRENTLY index build and the VALIDATE
    (versions / "shop2.py").write_text(out)

    v1, v2 = load_schema(V1, shadow=shadow), load_schema(V2, shadow=shadow)
    alembic(ini, "upgrade", "head")
    assert_same(without_alembic(introspect_url(db)), v2)
    alembic(ini, "downgrade", "-1")
    assert_same(without_alembic(introspect_url(db)), v1)
    alembic(ini, "downgrade", "-1")
    assert_same(without_alembic(introspect_url(db)), Schema())
    alembic(ini, "upgrade", "shop1")
    assert_same(without_alembic(introspect_url(db)), v1)


def _module(text: str) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(compile(text, "revision.py", "exec"), namespace)
    return namespace


def test_a_one_way_plan_exports_a_downgrade_that_says_why() -> None:
    one_way = Step(description="Update extension hstore", sql="ALTER EXTENSION hstore UPDATE",
                   one_way=True)  # fmt: skip
    module = _module(revision_module(Plan(steps=(one_way,))))
    with pytest.raises(RuntimeError, match=r"step 1 \(Update extension hstore\) is one-way"):
        module["downgrade"]()  # type: ignore[operator]

    unknown = Step(description="Create table t", sql="CREATE TABLE t ()")
    module = _module(revision_module(Plan(steps=(unknown,))))
    with pytest.raises(RuntimeError, match=r"step 1 \(Create table t\) has no reverse SQL"):
        module["downgrade"]()  # type: ignore[operator]


def _created(module: str) -> datetime:
    line = next(x for x in module.splitlines() if x.startswith("Create Date: "))
    return datetime.strptime(line.removeprefix("Create Date: "), "%Y-%m-%d %H:%M:%S%z")


def test_revision_ids_default_to_the_plan_fingerprint_and_are_checked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plan = Plan(steps=(Step(description="Create table t", sql="CREATE TABLE t ()",
                            reverse_sql="DROP TABLE t"),))  # fmt: skip
    text = revision_module(plan, message='say "hi"\n""" done')
    module = _module(text)
    assert module["revision"] == plan.fingerprint()[:12] and module["down_revision"] is None
    assert text.splitlines()[0] == "\"\"\"say 'hi' ''' done"
    path = tmp_path / "plan.json"
    path.write_text(plan.to_json())
    code, out, err = run(capsys, "export", "alembic", "--plan", str(path), "--json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert (doc["revision"], doc["down_revision"]) == (plan.fingerprint()[:12], None)
    assert doc["module"] == revision_module(plan, now=_created(doc["module"]))
    target = tmp_path / "rev.py"
    code, out, err = run(
        capsys, "export", "alembic", "--plan", str(path), "--json", "-o", str(target)
    )
    assert (code, json.loads(out)) == (0, {"written": str(target)})
    assert (
        "def downgrade() -> None:\n    # 1. Rollback: Create table t\n    _run('DROP TABLE t')"
        in target.read_text()
    )
    code, out, err = run(capsys, "export", "alembic", "--plan", str(path), "--revision", "a b")
    assert code == 2 and out == ""
    assert (
        err.strip()
        == "lockplane: error: --revision: 'a b': a revision id is letters, digits and underscores"
    )


def test_a_backfill_is_exported_alone_and_says_it_is_one_update() -> None:
    step = Step(
        description="Backfill column w of table t",
        sql="UPDATE t SET w = (v * 2) WHERE w IS NULL",
        reverse_sql="-- nothing to undo",
        backfill=Backfill(table="t", column="w", expression="v * 2", key=("id",)),
    )
    text = revision_module(Plan(steps=(step,)))
    upgrade = text[text.index("def upgrade") : text.index("def downgrade")]
    assert "with op.get_context().autocommit_block():  # one UPDATE here" in upgrade
    assert "UPDATE t SET w = (v * 2) WHERE w IS NULL" in upgrade
