"""The squawk check itself can fail: a violation no hazard explains is reported, one the step's
hazards name is not, and Lockplane's own bookkeeping is excused only where it says so."""

from __future__ import annotations

from lockplane.plan import Plan, Step
from lockplane.rules import hazard

from .squawk import script, unexplained

BUILD = "CREATE INDEX t_c_idx ON t (c)"


def test_unexplained_violation_is_reported() -> None:
    plan = Plan(steps=(Step(description="Create index", sql=BUILD, lock="SHARE", tables=("t",)),))
    (line,) = unexplained(plan, 15)
    assert line.startswith("squawk require-concurrent-index-creation at step 1")


def test_violation_named_by_a_hazard_is_explained() -> None:
    step = Step(
        description="Create index",
        sql=BUILD,
        lock="SHARE",
        tables=("t",),
        hazards=(hazard("LP305", "writes wait"),),
    )
    assert unexplained(Plan(steps=(step,)), 15) == []


def test_script_is_what_the_executor_runs() -> None:
    steps = (
        Step(description="a", sql="ALTER TABLE t ADD COLUMN x text", lock="ACCESS EXCLUSIVE"),
        Step(
            description="b",
            sql="CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (x)",
            transactional=False,
            lock="SHARE UPDATE EXCLUSIVE",
            tables=("t",),
        ),
    )
    text, owner = script(Plan(steps=steps))
    assert text.splitlines() == [
        "BEGIN;",
        "SET LOCAL lock_timeout = '2000ms';",
        "SET LOCAL statement_timeout = '60000ms';",
        "ALTER TABLE t ADD COLUMN x text;",
        "COMMIT;",
        "SET lock_timeout = '2000ms';",
        "SET statement_timeout = '0';",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (x);",
    ]
    assert owner == [0, 0, 0, 1, 0, 0, 0, 2]


def test_dropping_a_constraint_for_good_is_not_excused() -> None:
    drop = "ALTER TABLE t DROP CONSTRAINT t_c_check"
    alone = Plan(steps=(Step(description="Drop", sql=drop, lock="ACCESS EXCLUSIVE"),))
    assert [u.split(" at ")[0] for u in unexplained(alone, 15)] == ["squawk ban-drop-constraint"]
    readd = Step(
        description="Add", sql="ALTER TABLE t ADD CONSTRAINT t_c_check CHECK (c > 0) NOT VALID"
    )
    assert unexplained(Plan(steps=(alone.steps[0], readd)), 15) == []
