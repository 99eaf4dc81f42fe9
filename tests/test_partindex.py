"""Indexes of partitioned tables: the online form (leaves concurrently, ON ONLY, ATTACH), its
rollback, the fallbacks to the plain form, and unique indexes that miss the partition key."""

from __future__ import annotations

import pytest

from lockplane import make_plan
from lockplane.errors import PlanError
from lockplane.model import Column, Index, Schema, Table

COLUMNS = (
    Column(name="id", type="bigint", nullable=False),
    Column(name="at", type="date", nullable=False),
    Column(name="host", type="text", nullable=False),
)
EVENTS = Table(name="events", columns=COLUMNS, partition_by="RANGE (at)")
Y2024 = "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"
Y2025 = "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')"


def part(name: str, bound: str, of: str = "events", **extra: object) -> Table:
    return Table(name=name, partition_of=of, partition_bound=bound, **extra)  # type: ignore[arg-type]


def indexed(t: Table, *indexes: Index) -> Table:
    return t.model_copy(update={"indexes": indexes})


def test_online_index_builds_each_partition_then_attaches() -> None:
    parts = [part("e24", Y2024), part("e25", Y2025)]
    index = Index(name="events_host", columns=("host",))
    plan = make_plan(
        Schema(tables=[EVENTS, *parts]), Schema(tables=[indexed(EVENTS, index), *parts])
    )
    assert [s.sql for s in plan.steps] == [
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS e24_host_idx ON e24 (host)",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS e25_host_idx ON e25 (host)",
        "CREATE INDEX IF NOT EXISTS events_host ON ONLY events (host)",
        "ALTER INDEX events_host ATTACH PARTITION e24_host_idx",
        "ALTER INDEX events_host ATTACH PARTITION e25_host_idx",
    ]
    assert not [h for s in plan.steps for h in s.hazards]
    assert [s.transactional for s in plan.steps] == [False, False, True, True, True]
    assert [s.reverse_sql for s in plan.steps] == [
        "DROP INDEX CONCURRENTLY IF EXISTS e24_host_idx",
        "DROP INDEX CONCURRENTLY IF EXISTS e25_host_idx",
        "DROP INDEX IF EXISTS events_host",
        "-- nothing to undo: dropping the parent index drops the attached one",
        "-- nothing to undo: dropping the parent index drops the attached one",
    ]


def test_sub_partition_index_is_made_valid_then_attached_in_one_step() -> None:
    mid = part("e24", Y2024, partition_by="LIST (host)")
    leaf = part("e24_a", "FOR VALUES IN ('a')", of="e24")
    index = Index(name="events_key", columns=("at", "host", "id"), unique=True)
    old = Schema(tables=[EVENTS, mid, leaf])
    plan = make_plan(old, Schema(tables=[indexed(EVENTS, index), mid, leaf]))
    assert [s.sql for s in plan.steps] == [
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS e24_a_at_host_id_idx "
        "ON e24_a (at, host, id)",
        "CREATE UNIQUE INDEX IF NOT EXISTS events_key ON ONLY events (at, host, id)",
        "CREATE UNIQUE INDEX IF NOT EXISTS e24_at_host_id_idx ON ONLY e24 (at, host, id);\n"
        "ALTER INDEX e24_at_host_id_idx ATTACH PARTITION e24_a_at_host_id_idx;\n"
        "ALTER INDEX events_key ATTACH PARTITION e24_at_host_id_idx",
    ]
    assert [s.lock for s in plan.steps] == ["SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE"]
    assert [h.rule for s in plan.steps for h in s.hazards] == ["LP203"]  # duplicates fail it


@pytest.mark.parametrize(
    "why",
    ["expression", "new partition", "name taken"],
)
def test_plain_form_when_the_online_one_is_not_possible(why: str) -> None:
    parts = [part("e24", Y2024)]
    index = Index(name="events_host", columns=("host",))
    new_parts = parts
    if why == "expression":
        index = Index.model_validate(
            {"name": "events_lh", "columns": [{"expression": "lower(host)"}]}
        )
    elif why == "new partition":
        new_parts = [*parts, part("e25", Y2025)]
    else:
        parts = new_parts = [indexed(parts[0], Index(name="e24_host_idx", columns=("id",)))]
    plan = make_plan(
        Schema(tables=[EVENTS, *parts]), Schema(tables=[indexed(EVENTS, index), *new_parts])
    )
    creates = [s for s in plan.steps if "INDEX" in s.sql]
    assert len(creates) == 1 and " ON events " in creates[0].sql
    assert [h.rule for h in creates[0].hazards] == ["LP305"]


@pytest.mark.parametrize("new_table", [False, True])
def test_unique_index_without_the_partition_key_is_refused(new_table: bool) -> None:
    parts = [part("e24", Y2024)]
    index = Index(name="events_id", columns=("id",), unique=True)
    old = Schema(tables=[] if new_table else [EVENTS, *parts])
    with pytest.raises(PlanError, match=r"events_id .* partition key of events"):
        make_plan(old, Schema(tables=[indexed(EVENTS, index), *parts]))
