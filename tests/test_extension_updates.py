"""Extension version updates: the server's update paths decide whether one can be undone.

No contrib extension ships a downgrade script, so on both servers hstore 1.4 → 1.5 is one-way:
the plan says so (LP112), the shadow proof proves the update and reports the rollback as not
rehearsable, apply needs --allow-destructive, and `lockplane rollback` refuses, naming the step.
An update with a path back (given to the planner, as no server here has one) keeps its reverse.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from test_cli import run

from lockplane import apply_plan, make_plan
from lockplane.db import connect
from lockplane.errors import NotReversible, UnsafePlan
from lockplane.extpaths import UpdatePaths, update_paths_for
from lockplane.introspect import introspect
from lockplane.model import Extension, Schema
from lockplane.proof import prove
from lockplane.rollback import rollback_plan
from lockplane.safety import SafetyReport
from lockplane.shadow import Shadow

OLD = "CREATE EXTENSION hstore VERSION '1.4'; CREATE TABLE t (id int PRIMARY KEY, h hstore);"
NEW = OLD.replace("'1.4'", "'1.5'")
STEP = "step 1 (Alter extension hstore (version 1.4 → 1.5))"


def _hstore(version: str) -> Schema:
    return Schema(extensions=(Extension(name="hstore", version=version),))


def _schema(url: str, ddl: str) -> Schema:
    with connect(url, autocommit=True) as conn:
        conn.execute(ddl.encode())
        return introspect(conn)


def test_the_server_has_the_upgrade_path_and_no_way_back(fresh_db: Callable[[], str]) -> None:
    paths = update_paths_for(fresh_db(), _hstore("1.4"), _hstore("1.5"))
    assert paths is not None
    assert paths.has("hstore", "1.4", "1.5")
    assert not paths.has("hstore", "1.5", "1.4")


def test_no_update_asks_nothing() -> None:
    """Only extensions whose version changes are looked up; none, no database is needed."""
    assert update_paths_for("postgresql://unreachable.invalid/x", _hstore("1.4"), Schema()) is None


def test_an_update_without_a_path_back_is_one_way(fresh_db: Callable[[], str]) -> None:
    db, shadow = fresh_db(), fresh_db()
    before = _schema(db, OLD)
    after = before.model_copy(update={"extensions": _hstore("1.5").extensions})
    plan = make_plan(before, after, extension_paths=update_paths_for(shadow, before, after))
    (step,) = plan.steps
    assert step.one_way and step.reverse_sql is None
    assert [h.rule for h in step.hazards] == ["LP112"]
    assert "ships no update path from 1.5 back to 1.4" in step.hazards[0].message
    assert not plan.reversible and plan.one_way_steps() == [STEP]
    report = SafetyReport(plan)
    assert not report.safe
    assert "Reversible: no, one-way" in report.text()

    proof = prove(plan, before, Shadow(shadow))
    assert proof.ok and proof.rollback is None and not proof.rollback_observations
    (check,) = [c for c in proof.checks if c.name == "Rollback returns to the start"]
    assert check.passed is None and check.detail == f"not rehearsable: {STEP} is one-way"

    with pytest.raises(UnsafePlan, match="--allow-destructive"):
        apply_plan(plan, db, shadow_url=shadow)
    result = apply_plan(plan, db, shadow_url=shadow, allow_destructive=True)
    assert result.verified and not result.shadow.contradictions
    with connect(db, autocommit=True) as conn:
        assert introspect(conn).extensions == after.extensions

    with pytest.raises(NotReversible) as info:
        rollback_plan(plan, before, shadow_url=shadow)
    assert str(info.value).startswith(f"cannot roll back: {STEP} is one-way")
    assert "\n" not in str(info.value)


def test_unknown_paths_are_treated_as_one_way() -> None:
    plan = make_plan(_hstore("1.4"), _hstore("1.5"))
    (step,) = plan.steps
    assert step.one_way and [h.rule for h in step.hazards] == ["LP112"]
    assert "no database was asked" in step.hazards[0].message


def test_the_notebook_rollback_tab_names_the_one_way_step() -> None:
    from lockplane_nb.render import rollback_html

    html = rollback_html(make_plan(_hstore("1.4"), _hstore("1.5")))
    assert "No rollback: step 1 (Alter extension hstore (version 1.4 → 1.5))" in html


def test_an_update_with_a_path_back_keeps_its_reverse() -> None:
    paths = UpdatePaths(frozenset({("hstore", "1.4", "1.5"), ("hstore", "1.5", "1.4")}))
    plan = make_plan(_hstore("1.4"), _hstore("1.5"), extension_paths=paths)
    (step,) = plan.steps
    assert not step.one_way and plan.reversible
    assert step.reverse_sql == "ALTER EXTENSION hstore UPDATE TO '1.4'"
    assert [h.rule for h in step.hazards] == ["LP111"]
    assert [s.sql for s in plan.reverse().steps] == [step.reverse_sql]


def test_a_move_alone_stays_reversible() -> None:
    """SET SCHEMA is undone by moving back; only the version update can be one-way."""
    before = _hstore("1.4")
    moved = Extension(name="hstore", schema="ext", version="1.4")
    plan = make_plan(before, Schema(schemas=("ext",), extensions=(moved,)))
    assert plan.reversible and not plan.one_way_steps()


def test_cli_plan_reads_paths_on_the_shadow_and_rollback_refuses(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fresh_db: Callable[[], str]
) -> None:
    old, new, out = tmp_path / "old.sql", tmp_path / "new.sql", tmp_path / "plan.json"
    old.write_text(OLD)
    new.write_text(NEW)
    shadow = fresh_db()
    code, _, err = run(
        capsys, "plan", "--from", str(old), "--to", str(new), "--shadow-database", shadow,
        "--validate", "-o", str(out),
    )  # fmt: skip
    assert code == 1, err  # the one-way step is an error until --allow-destructive
    assert "ships no update path from 1.5 back to 1.4" in err
    assert f"not rehearsable: {STEP} is one-way" in err
    assert json.loads(out.read_text())["steps"][0]["one_way"] is True
    code, stdout, err = run(
        capsys, "rollback", "--plan", str(out), "--from", str(old), "--shadow-database", shadow
    )
    assert code == 1 and not stdout
    assert err.count("\n") == 1 and STEP in err, err
