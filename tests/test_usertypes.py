"""Composite and range types, enum renames, extension updates and generated columns, planned from
documents alone (the acceptance cases in cases/types_more.yaml run them on a server)."""

from __future__ import annotations

from typing import Any

import pytest

from lockplane.changes.generated import DropExpression, RebuildColumn, uses_column
from lockplane.changes.objects import AlterExtension, RenameEnumValues
from lockplane.changes.usertypes import AlterCompositeType, RecreateRangeType
from lockplane.diff import diff
from lockplane.errors import PlanError
from lockplane.extpaths import UpdatePaths
from lockplane.model import CheckConstraint, Index, IndexKey, Schema, default_multirange_name
from lockplane.planner import make_plan

ADDRESS = {"name": "address", "attributes": [{"name": "street", "type": "text"}]}
PEOPLE = {"name": "people", "columns": [{"name": "id", "type": "bigint"}]}


def doc(**parts: Any) -> Schema:
    return Schema.model_validate(parts)


def with_column(table: dict[str, Any], name: str, type_: str) -> dict[str, Any]:
    return {**table, "columns": [*table["columns"], {"name": name, "type": type_}]}


def test_composite_attribute_retype_is_refused_while_a_column_uses_the_type() -> None:
    retyped = {**ADDRESS, "attributes": [{"name": "street", "type": "character varying(80)"}]}
    for type_ in ("address", "address[]"):
        table = with_column(PEOPLE, "home", type_)
        with pytest.raises(PlanError, match=r"composite type address: attribute street .* people"):
            diff(
                doc(composite_types=[ADDRESS], tables=[table]),
                doc(composite_types=[retyped], tables=[table]),
            )
    (change,) = diff(doc(composite_types=[ADDRESS]), doc(composite_types=[retyped])).changes
    assert isinstance(change, AlterCompositeType)


def test_composite_types_nest_inner_first_and_drop_outer_first() -> None:
    outer = {"name": "a_outer", "attributes": [{"name": "home", "type": "address[]"}]}
    both = doc(composite_types=[ADDRESS, outer])
    plan = make_plan(doc(), both)
    assert [s.sql.split(" AS ")[0] for s in plan.steps] == [
        "CREATE TYPE address",
        "CREATE TYPE a_outer",
    ]
    assert [s.sql for s in make_plan(both, doc()).steps] == [
        "DROP TYPE a_outer",
        "DROP TYPE address",
    ]


def test_a_composite_type_of_a_range_type_comes_after_it() -> None:
    span = {"name": "zspan", "subtype": "double precision"}
    pair = {"name": "apair", "attributes": [{"name": "s", "type": "zspan"}]}
    plan = make_plan(doc(), doc(range_types=[span], composite_types=[pair]))
    assert [s.sql.split(" AS ")[0] for s in plan.steps] == [
        "CREATE TYPE zspan",
        "CREATE TYPE apair",
    ]


def test_range_types_are_recreated_only_while_unused() -> None:
    span = {"name": "span", "subtype": "double precision"}
    diffed = {**span, "subtype_diff": "float8mi"}
    (change,) = diff(doc(range_types=[span]), doc(range_types=[diffed])).changes
    assert isinstance(change, RecreateRangeType)
    for type_ in ("span", "span[]", "span_multirange"):
        table = with_column(PEOPLE, "s", type_)
        with pytest.raises(
            PlanError, match=r"range type span: it cannot be altered, and people\.s"
        ):
            diff(doc(range_types=[span], tables=[table]), doc(range_types=[diffed], tables=[table]))


def test_multirange_name_defaults_like_postgres() -> None:
    assert default_multirange_name("float_range") == "float_multirange"
    assert default_multirange_name("span") == "span_multirange"
    assert doc(range_types=[{"name": "span", "subtype": "text", "multirange": "span_multirange"}])


MOOD = {"name": "mood", "labels": ["ok", "meh"]}


def test_enum_rename_hint_plans_rename_value_and_is_not_content() -> None:
    hinted = doc(enums=[{"name": "mood", "labels": ["ok", "fine"], "renamed": {"fine": "meh"}}])
    plain = doc(enums=[{"name": "mood", "labels": ["ok", "fine"]}])
    (change,) = diff(doc(enums=[MOOD]), hinted).changes
    assert isinstance(change, RenameEnumValues)
    assert make_plan(doc(enums=[MOOD]), hinted).steps[0].sql == (
        "ALTER TYPE mood RENAME VALUE 'meh' TO 'fine'"
    )
    assert hinted.fingerprint() == plain.fingerprint()
    assert "renamed" not in plain.to_json()
    saved = make_plan(doc(enums=[MOOD]), hinted).to_json()  # a saved plan keeps the hint
    assert '"renamed"' in saved
    assert diff(plain, hinted).is_empty  # once applied, the hint has nothing left to do
    with pytest.raises(PlanError, match="renamed says 'fine' was 'gone'"):
        diff(
            doc(enums=[MOOD]),
            doc(enums=[{**MOOD, "labels": ["ok", "fine"], "renamed": {"fine": "gone"}}]),
        )


@pytest.mark.parametrize(
    ("renamed", "message"),
    [({"nope": "meh"}, "'nope' is not a label"), ({"ok": "meh"}, None)],
)
def test_enum_rename_hint_must_name_labels(renamed: dict[str, str], message: str | None) -> None:
    with pytest.raises(ValueError, match=message or "'meh' is still a label"):
        doc(enums=[{"name": "mood", "labels": ["ok", "meh"], "renamed": renamed}])


def test_extension_update_and_move() -> None:
    old = doc(extensions=[{"name": "citext", "version": "1.5"}])
    new = doc(extensions=[{"name": "citext", "schema": "app", "version": "1.6"}])
    kinds = {type(c).__name__ for c in diff(old, new).changes}
    assert kinds == {"CreateSchema", AlterExtension.__name__}
    back = UpdatePaths(frozenset({("citext", "1.6", "1.5")}))  # told there is a way back
    step = make_plan(old, new, extension_paths=back).steps[-1]
    assert step.sql == (
        "ALTER EXTENSION citext UPDATE TO '1.6';\nALTER EXTENSION citext SET SCHEMA app"
    )
    assert step.reverse_sql == (
        "ALTER EXTENSION citext UPDATE TO '1.5';\nALTER EXTENSION citext SET SCHEMA public"
    )
    assert {h.rule for h in step.hazards} == {"LP111", "LP409"}


def _items(generated: str | None, **extra: Any) -> Schema:
    total: dict[str, Any] = {"name": "total", "type": "numeric"}
    if generated:
        total["generated"] = generated
    table = {
        "name": "items",
        "columns": [{"name": "price", "type": "numeric"}, total],
        "indexes": [{"name": "items_total", "columns": ["total"]}],
        **extra,
    }
    return doc(tables=[table])


def test_generated_expression_change_rebuilds_the_column_and_its_index() -> None:
    changes = diff(_items("price * 2"), _items("price * 3")).changes
    (change,) = changes
    assert isinstance(change, RebuildColumn)
    assert [d.name for d in change.dependents] == ["items_total"]
    assert {h.rule for h in change.hazards()} == {"LP310"}


def test_generated_to_plain_drops_the_expression_and_plain_to_generated_rebuilds() -> None:
    (change,) = diff(_items("price * 2"), _items(None)).changes
    assert isinstance(change, DropExpression)
    assert isinstance(change.reverse(), RebuildColumn)
    (change,) = diff(_items(None), _items("price * 2")).changes
    assert isinstance(change, RebuildColumn)
    assert {h.rule for h in change.hazards()} == {"LP310", "LP103", "LP107"}
    assert isinstance(change.reverse(), DropExpression)


def test_uses_column_reads_keys_expressions_and_predicates() -> None:
    assert uses_column(Index(name="i", columns=(IndexKey(expression="lower(total)"),)), "total")
    assert uses_column(Index(name="i", columns=("a",), where="total > 0"), "total")
    assert not uses_column(Index(name="i", columns=("a",), where="subtotal > 0"), "total")
    assert uses_column(CheckConstraint(name="c", expression='"total" > 0'), "total")
    assert not uses_column(CheckConstraint(name="c", expression="total_x > 0"), "total")
