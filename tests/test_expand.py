"""Expand/contract type changes on a real database: the copy column, its sync trigger, the
backfill and the switch-over, applied under constant writes, then rolled back exactly."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psycopg
import pytest
from test_durable import one, run_sql

from lockplane import apply_plan, introspect_url, make_plan
from lockplane.diff import diff
from lockplane.errors import PlanError
from lockplane.model import Schema

BEFORE = """
CREATE TABLE scores (
    id bigint PRIMARY KEY,
    points integer NOT NULL DEFAULT 0,
    label text
);
COMMENT ON COLUMN scores.points IS 'running total';
CREATE INDEX scores_points_idx ON scores (points, id);
INSERT INTO scores SELECT g, g % 5000, 'x' FROM generate_series(1, 100000) g;
ANALYZE scores;
"""


def retyped(schema: Schema, column: str, type_: str, default: str | None) -> Schema:
    (table,) = schema.tables
    columns = tuple(
        c.model_copy(update={"type": type_, "default": default}) if c.name == column else c
        for c in table.columns
    )
    return schema.model_copy(update={"tables": (table.model_copy(update={"columns": columns}),)})


def test_a_column_is_retyped_without_a_rewrite_under_writes_and_rolled_back(
    fresh_db: Callable[[], str],
) -> None:
    db, shadow = fresh_db(), fresh_db()
    run_sql(db, BEFORE)
    start = introspect_url(db)
    wanted = retyped(start, "points", "bigint", "0")
    plan = make_plan(start, wanted, expand_contract=True)
    assert not any("TYPE bigint" in s.sql for s in plan.steps)
    assert [s.backfill is not None for s in plan.steps].count(True) == 1
    assert plan.steps[-1].description.startswith("Switch column scores.points over to bigint")
    assert not any(h.rule == "LP301" for h in plan.hazards())
    writes: list[float] = []
    errors: list[str] = []
    stop = threading.Event()

    def write() -> None:
        with psycopg.connect(db, autocommit=True) as conn:
            n = 0
            while not stop.is_set():
                n += 1
                started = time.monotonic()
                try:
                    conn.execute(
                        "UPDATE scores SET points = points + 1 WHERE id = %s", [n % 100000 + 1]
                    )
                    conn.execute("INSERT INTO scores (id) VALUES (%s)", [200000 + n])
                except psycopg.Error as exc:
                    errors.append(str(exc))
                writes.append(time.monotonic() - started)
                time.sleep(0.001)

    before_sum = one(db, "SELECT sum(points) FROM scores")
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        result = apply_plan(plan, db, shadow_url=shadow, lock_timeout="1s")
    finally:
        stop.set()
        writer.join(timeout=30)
    assert result.verified and not errors and max(writes) < 1.25
    assert not result.shadow.contradictions  # every lock and rewrite claim held on the shadow
    assert diff(introspect_url(db), wanted).is_empty
    updates = len(writes)
    # every write landed in the new column: old sum + one per update; inserts default to 0
    assert one(db, "SELECT sum(points) FROM scores") == int(before_sum) + updates  # type: ignore[call-overload]
    assert (
        one(
            db,
            "SELECT col_description('scores'::regclass, attnum) FROM pg_attribute "
            "WHERE attrelid = 'scores'::regclass AND attname = 'points'",
        )
        == "running total"
    )
    assert make_plan(introspect_url(db), wanted, expand_contract=True).is_empty

    apply_plan(plan.reverse(), db, shadow_url=shadow, proven=result.shadow)
    assert diff(introspect_url(db), start).is_empty
    assert one(db, "SELECT sum(points) FROM scores") == int(before_sum) + updates  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ("ALTER TABLE scores ADD UNIQUE (points, id);", "unique constraint .* uses it"),
        ("CREATE VIEW top AS SELECT id FROM scores WHERE points > 10;", "view top may use it"),
        ("CREATE INDEX scores_half ON scores (id) WHERE points > 0;", "index scores_half"),
    ],
)
def test_a_column_others_depend_on_is_refused_with_the_reason(
    fresh_db: Callable[[], str], extra: str, why: str
) -> None:
    db = fresh_db()
    run_sql(db, BEFORE + extra)
    start = introspect_url(db)
    wanted = retyped(start, "points", "bigint", "0")
    with pytest.raises(PlanError, match=f"--expand-contract: column scores.points .*{why}"):
        make_plan(start, wanted, expand_contract=True)
    assert make_plan(start, wanted).steps  # without the option: the plain ALTER TYPE
