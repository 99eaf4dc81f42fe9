"""Unique constraints, primary keys and SET NOT NULL on partitioned tables, online
(changes/partkeys.py): the plan's shape and rollback, the fallbacks to the plain form, and on a
real server that the parent's ADD CONSTRAINT attaches the leaves' indexes without building."""

from __future__ import annotations

from collections.abc import Callable

from lockplane import make_plan
from lockplane.db import connect
from lockplane.introspect import introspect
from lockplane.model import Column, Index, PrimaryKey, Schema, Table, UniqueConstraint

COLUMNS = (
    Column(name="id", type="bigint", nullable=False),
    Column(name="at", type="date", nullable=False),
    Column(name="host", type="text"),
)
EVENTS = Table(name="events", columns=COLUMNS, partition_by="RANGE (at)")
Y2024 = "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"
Y2025 = "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')"
PARTS = [
    Table(name="e24", partition_of="events", partition_bound=Y2024),
    Table(name="e25", partition_of="events", partition_bound=Y2025),
]
UNIQUE = UniqueConstraint(name="events_id_at_key", columns=("id", "at"))


def keyed(t: Table, **update: object) -> Table:
    return t.model_copy(update=update)


def test_unique_builds_each_leaf_attaches_it_then_the_parent() -> None:
    plan = make_plan(
        Schema(tables=[EVENTS, *PARTS]),
        Schema(tables=[keyed(EVENTS, unique_constraints=(UNIQUE,)), *PARTS]),
    )
    assert [s.sql for s in plan.steps] == [
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS e24_id_at_key ON e24 (id, at)",
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS e25_id_at_key ON e25 (id, at)",
        "ALTER TABLE e24 ADD CONSTRAINT e24_id_at_key UNIQUE USING INDEX e24_id_at_key",
        "ALTER TABLE e25 ADD CONSTRAINT e25_id_at_key UNIQUE USING INDEX e25_id_at_key",
        "ALTER TABLE events ADD CONSTRAINT events_id_at_key UNIQUE (id, at)",
    ]
    assert [s.reverse_sql for s in plan.steps] == [
        "DROP INDEX CONCURRENTLY IF EXISTS e24_id_at_key",
        "DROP INDEX CONCURRENTLY IF EXISTS e25_id_at_key",
        "ALTER TABLE e24 DROP CONSTRAINT IF EXISTS e24_id_at_key",
        "ALTER TABLE e25 DROP CONSTRAINT IF EXISTS e25_id_at_key",
        "ALTER TABLE events DROP CONSTRAINT events_id_at_key",
    ]
    parent = plan.steps[-1]
    assert parent.hazards == () and parent.lock == "ACCESS EXCLUSIVE"
    assert parent.tables == ("events", "e24", "e25")
    assert [s.lock for s in plan.steps[:2]] == ["SHARE UPDATE EXCLUSIVE"] * 2
    assert [h.rule for s in plan.steps for h in s.hazards] == ["LP203", "LP203"]


def test_primary_key_sets_not_null_leaf_by_leaf_first() -> None:
    pk = PrimaryKey(name="events_pk", columns=("id", "at", "host"))
    strict = tuple(c.model_copy(update={"nullable": False}) for c in COLUMNS)
    plan = make_plan(
        Schema(tables=[EVENTS, *PARTS]),
        Schema(tables=[keyed(EVENTS, columns=strict, primary_key=pk), *PARTS]),
    )
    sql = [s.sql for s in plan.steps]
    not_null = [s for s in sql if s.endswith("ALTER COLUMN host SET NOT NULL")]
    assert not_null == [
        "ALTER TABLE e24 ALTER COLUMN host SET NOT NULL",
        "ALTER TABLE e25 ALTER COLUMN host SET NOT NULL",
        "ALTER TABLE events ALTER COLUMN host SET NOT NULL",
    ]
    assert sum("VALIDATE CONSTRAINT e24_host_lp_not_null" in s for s in sql) == 1
    assert sql.index(not_null[-1]) < sql.index(
        "ALTER TABLE e24 ADD CONSTRAINT e24_pkey PRIMARY KEY USING INDEX e24_pkey"
    )
    assert sql[-1] == "ALTER TABLE events ADD CONSTRAINT events_pk PRIMARY KEY (id, at, host)"
    blocking = [h.rule for s in plan.steps for h in s.hazards if h.code == "BLOCKING_LOCK"]
    assert blocking == []
    parent_not_null = plan.steps[sql.index(not_null[-1])]
    assert parent_not_null.tables == ("events", "e24", "e25")
    assert parent_not_null.reverse_sql == "ALTER TABLE events ALTER COLUMN host DROP NOT NULL"


def test_plain_form_when_a_leaf_name_is_taken_or_the_partitions_change() -> None:
    taken = keyed(PARTS[0], indexes=(Index(name="e24_id_at_key", columns=("id",)),))
    plan = make_plan(
        Schema(tables=[EVENTS, taken, PARTS[1]]),
        Schema(tables=[keyed(EVENTS, unique_constraints=(UNIQUE,)), taken, PARTS[1]]),
    )
    assert [s.sql for s in plan.steps] == [
        "ALTER TABLE events ADD CONSTRAINT events_id_at_key UNIQUE (id, at)"
    ]
    assert {h.rule for h in plan.steps[0].hazards} == {"LP203", "LP307"}
    plan = make_plan(
        Schema(tables=[EVENTS, PARTS[0]]),
        Schema(tables=[keyed(EVENTS, unique_constraints=(UNIQUE,)), *PARTS]),
    )
    assert "ALTER TABLE events ADD CONSTRAINT events_id_at_key UNIQUE (id, at)" in [
        s.sql for s in plan.steps
    ]
    assert not any("USING INDEX" in s.sql for s in plan.steps)


_INDEXES = """
SELECT c.relname, c.relkind, c.relfilenode, p.relname
FROM pg_class c
LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
LEFT JOIN pg_class p ON p.oid = i.inhparent
WHERE c.relkind IN ('i', 'I') AND c.relnamespace = 'public'::regnamespace
ORDER BY 1
"""

OLD = """
CREATE TABLE m (id bigint, at date NOT NULL, v int NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE m1 PARTITION OF m FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE m2 PARTITION OF m FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')
  PARTITION BY LIST (v);
CREATE TABLE m2a PARTITION OF m2 FOR VALUES IN (1);
CREATE TABLE m2b PARTITION OF m2 FOR VALUES IN (2);
INSERT INTO m VALUES (1, '2024-02-02', 1), (2, '2025-02-02', 1), (3, '2025-02-02', 2);
"""


def test_the_parent_attaches_the_leaves_indexes_without_building(
    fresh_db: Callable[[], str],
) -> None:
    """Step by step on a real server: the leaves' indexes keep their relfilenode (no build) and
    become the parent's; the sub-partitioned level's is made in the catalog only."""
    db = fresh_db()
    with connect(db, autocommit=True) as conn:
        conn.execute(OLD.encode())
        old = introspect(conn)
        m = old.table("public", "m")
        assert m is not None
        strict = tuple(c.model_copy(update={"nullable": False}) for c in m.columns)
        pk = PrimaryKey(name="m_pk", columns=("id", "at", "v"))
        tables = [t for t in old.tables if t.name != "m"]
        new = Schema(tables=[m.model_copy(update={"columns": strict, "primary_key": pk}), *tables])
        plan = make_plan(old, new)
        *leaf_steps, parent = plan.steps
        for step in leaf_steps:
            conn.execute(step.sql.encode())
        before = {r[0]: r[2] for r in conn.execute(_INDEXES).fetchall()}
        assert set(before) == {"m1_pkey", "m2a_pkey", "m2b_pkey"}
        conn.execute(parent.sql.encode())
        after = {r[0]: (r[1], r[2], r[3]) for r in conn.execute(_INDEXES).fetchall()}
        assert after == {
            "m_pk": ("I", 0, None),
            "m1_pkey": ("i", before["m1_pkey"], "m_pk"),
            "m2_pkey": ("I", 0, "m_pk"),
            "m2a_pkey": ("i", before["m2a_pkey"], "m2_pkey"),
            "m2b_pkey": ("i", before["m2b_pkey"], "m2_pkey"),
        }
        # The rollback: the parent's drop takes every attached one; the leaves' steps are no-ops.
        for step in plan.reverse().steps:
            conn.execute(step.sql.encode())
        assert conn.execute(_INDEXES).fetchall() == []
        back = introspect(conn)
    assert back.table("public", "m") == m
