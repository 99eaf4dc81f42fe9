"""Partitioned tables without a database: what documents are accepted, and how plans are made.

The acceptance cases (tests/acceptance/cases/partitions.yaml) prove the plans on a real server;
these pin the document rules and the choices the planner makes (order, online forms, refusals).
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from lockplane import make_plan
from lockplane.diff import diff
from lockplane.errors import PlanError
from lockplane.model import Column, Index, PrimaryKey, Schema, Table

COLUMNS = (Column(name="id", type="bigint", nullable=False), Column(name="at", type="date"))
EVENTS = Table(name="events", columns=COLUMNS, partition_by="RANGE (at)")


def part(name: str, bound: str, of: str = "events", **extra: Any) -> Table:
    return Table(name=name, partition_of=of, partition_bound=bound, **extra)


Y2024 = "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"
Y2025 = "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')"


EVENTS_DOC = EVENTS.model_dump(by_alias=True)


def doc(name: str, bound: str | None = "DEFAULT", of: str | None = "events", **extra: Any) -> Any:
    return {"name": name, "partition_of": of, "partition_bound": bound, **extra}


NO_KEY = {**EVENTS_DOC, "partition_by": None}
MID = {"partition_by": "LIST (x)"}


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ([EVENTS_DOC, doc("p", None)], "go together"),
        ([EVENTS_DOC, doc("p", of=None)], "go together"),
        ([EVENTS_DOC, doc("p", columns=EVENTS_DOC["columns"])], "leave them out"),
        ([doc("p")], "not a table of this schema"),
        ([NO_KEY, doc("p")], "no partition_by"),
        ([EVENTS_DOC, doc("p"), doc("q")], "more than one DEFAULT"),
        ([doc("a", Y2024, of="b", **MID), doc("b", Y2024, of="a", **MID)], "circle"),
    ],
    ids=["of-without-bound", "bound-without-of", "columns", "no-parent", "not-partitioned",
         "two-defaults", "cycle"],
)  # fmt: skip
def test_inconsistent_documents_are_refused(tables: list[Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Schema.model_validate({"tables": tables})


def test_a_partition_may_have_its_own_key() -> None:
    """Its key columns are its parent's: they are not listed, and that is not an error."""
    p = part("p", Y2024, primary_key=PrimaryKey(columns=("id", "at")))
    assert Schema(tables=[EVENTS, p]).table("public", "p").primary_key.name == "p_pkey"  # type: ignore[union-attr]


def test_partition_depth_and_columns() -> None:
    mid = part("e24", Y2024, partition_by="LIST (id)")
    leaf = part("e24a", "FOR VALUES IN ('1')", of="e24")
    schema = Schema(tables=[EVENTS, mid, leaf])
    assert [schema.partition_depth(t) for t in schema.tables] == [1, 2, 0]  # by name
    assert schema.effective_columns(schema.table("public", "e24a")) == COLUMNS  # type: ignore[arg-type]


def test_sub_partitions_come_after_their_parent_and_go_before_it() -> None:
    mid = part("e24", Y2024, partition_by="LIST (id)")
    leaf = part("a_leaf", "FOR VALUES IN ('1')", of="e24")
    full = Schema(tables=[EVENTS, mid, leaf])
    created = [s.sql for s in make_plan(Schema(), full).steps]
    assert created == [
        "CREATE TABLE events (id bigint NOT NULL, at date) PARTITION BY RANGE (at)",
        "CREATE TABLE e24 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01') "
        "PARTITION BY LIST (id)",
        "CREATE TABLE a_leaf PARTITION OF e24 FOR VALUES IN ('1')",
    ]
    dropped = [s.description for s in make_plan(full, Schema()).steps]
    assert dropped == [
        "Drop partition a_leaf of e24",
        "Drop partition e24 of events",
        "Drop table events",
    ]


def test_changing_the_partition_key_is_refused() -> None:
    old = Schema(tables=[EVENTS])
    new = Schema(tables=[EVENTS.model_copy(update={"partition_by": "HASH (id)"})])
    with pytest.raises(PlanError, match="events: changing its partitioning"):
        make_plan(old, new)


def test_attaching_a_table_with_other_columns_is_refused() -> None:
    plain = Table(name="p", columns=(Column(name="id", type="integer"),))
    with pytest.raises(PlanError, match="p cannot be attached to events"):
        make_plan(Schema(tables=[EVENTS, plain]), Schema(tables=[EVENTS, part("p", Y2024)]))


def test_an_index_on_a_partitioned_table_is_built_in_one_step_offline() -> None:
    """Offline, the plain build, hazard raised (online: tests/test_partindex.py)."""
    old = Schema(tables=[EVENTS, part("p", Y2024)])
    indexed = EVENTS.model_copy(update={"indexes": (Index(name="events_at", columns=("at",)),)})
    plan = make_plan(old, Schema(tables=[indexed, part("p", Y2024)]), online=False)
    (step,) = plan.steps
    assert step.sql == "CREATE INDEX events_at ON events (at)"
    assert step.tables == ("events", "p")  # the build locks the partitions too
    assert [h.rule for h in step.hazards] == ["LP305"]


@pytest.mark.parametrize("default", [False, True])
def test_detach_is_concurrent_unless_there_is_a_default_partition(default: bool) -> None:
    rest = [part("rest", "DEFAULT")] if default else []
    old = Schema(tables=[EVENTS, part("p", Y2024), *rest])
    new = Schema(tables=[EVENTS, Table(name="p", columns=COLUMNS), *rest])
    sql = [s.sql for s in make_plan(old, new).steps]
    if default:
        assert sql == ["ALTER TABLE events DETACH PARTITION p"]
    else:
        assert sql == [
            "ALTER TABLE events DETACH PARTITION p CONCURRENTLY",
            "ALTER TABLE p DROP CONSTRAINT IF EXISTS p_at_check",
        ]


def test_a_changed_bound_is_a_detach_and_an_attach() -> None:
    old = Schema(tables=[EVENTS, part("p", Y2024)])
    new = Schema(tables=[EVENTS, part("p", Y2025)])
    plan = make_plan(old, new, online=False)
    assert [s.sql for s in plan.steps] == [
        "ALTER TABLE events DETACH PARTITION p",
        f"ALTER TABLE events ATTACH PARTITION p {Y2025}",
    ]
    assert {h.rule for s in plan.steps for h in s.hazards} == {"LP204", "LP320", "LP420"}


@pytest.mark.parametrize(
    ("key", "bound", "expected"),
    [
        ("RANGE (at)", Y2024, "at IS NOT NULL AND at >= '2024-01-01' AND at < '2025-01-01'"),
        ("RANGE (at)", "FOR VALUES FROM (MINVALUE) TO ('2025-01-01')",
         "at IS NOT NULL AND at < '2025-01-01'"),
        ("LIST (at)", "FOR VALUES IN ('2024-01-01', '2024-01-02')",
         "at IS NOT NULL AND at = ANY (ARRAY['2024-01-01', '2024-01-02'])"),
        ("LIST (at)", "FOR VALUES IN (NULL, '2024-01-02')", None),
        ("HASH (at)", "FOR VALUES WITH (modulus 2, remainder 0)", None),
        ("RANGE (at, id)", "FOR VALUES FROM ('2024-01-01', 1) TO ('2025-01-01', 1)", None),
        ("RANGE (at)", "DEFAULT", None),
    ],
    ids=["range", "minvalue", "list", "list-null", "hash", "two-columns", "default"],
)  # fmt: skip
def test_bound_check(key: str, bound: str, expected: str | None) -> None:
    """The CHECK that lets ATTACH skip its scan, where one can be written from the bound."""
    from lockplane.changes.partitions import bound_check

    parent = EVENTS.model_copy(update={"partition_by": key})
    assert bound_check(part("p", bound), parent) == expected


def test_attach_online_adds_validates_attaches_and_drops_a_check() -> None:
    plain = Table(name="p", columns=COLUMNS)
    plan = make_plan(Schema(tables=[EVENTS, plain]), Schema(tables=[EVENTS, part("p", Y2024)]))
    assert [s.sql.split(" CHECK ")[0] for s in plan.steps] == [
        "ALTER TABLE p ADD CONSTRAINT p_bound_lp_attach_95a4f127",
        "ALTER TABLE p VALIDATE CONSTRAINT p_bound_lp_attach_95a4f127",
        f"ALTER TABLE events ATTACH PARTITION p {Y2024}",
        "ALTER TABLE p DROP CONSTRAINT p_bound_lp_attach_95a4f127",
    ]
    assert [[h.rule for h in s.hazards] for s in plan.steps] == [[], ["LP204"], [], []]


def test_a_partitions_own_column_default_is_never_overwritten() -> None:
    """It is unmanaged (listed): a default set on the parent's column would recurse onto it, so
    the plan refuses; a change elsewhere plans as usual."""
    parent = {
        "name": "events",
        "partition_by": "LIST (kind)",
        "columns": [{"name": "kind", "type": "text", "default": "'a'::text"}],
    }
    part = {"name": "events_a", "partition_of": "events", "partition_bound": "FOR VALUES IN ('a')"}
    listed = [{"kind": "partition column default", "schema": "public", "name": "kind",
               "on": "events_a"}]  # fmt: skip
    old = Schema.model_validate({"tables": [parent, part], "unmanaged": listed})
    column = {"name": "kind", "type": "text", "default": "'b'::text"}
    new = Schema.model_validate({"tables": [{**parent, "columns": [column]}, part]})
    with pytest.raises(PlanError, match="default of partition events_a's own column"):
        diff(old, new)
    comment = [{**listed[0], "kind": "partition column comment"}]
    old = Schema.model_validate({"tables": [parent, part], "unmanaged": comment})
    assert not diff(old, new).is_empty  # a default change leaves column comments alone
