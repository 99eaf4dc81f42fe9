"""Views in the diff, without a database: what a hand-written document without columns means,
when CREATE OR REPLACE is enough, what a rebuild drops and in which order, what is refused."""

from __future__ import annotations

import pytest

from lockplane.changes.views import CreateView, DropView, ReplaceView
from lockplane.diff import diff
from lockplane.errors import PlanError
from lockplane.model import Schema, Unmanaged
from lockplane.planner import make_plan

TABLE = {"name": "t", "columns": [{"name": "a", "type": "integer"}, {"name": "b", "type": "text"}]}


def _schema(*views: dict, table: dict = TABLE, unmanaged: tuple = ()) -> Schema:
    return Schema.model_validate({"tables": [table], "views": list(views), "unmanaged": unmanaged})


def _view(name: str, definition: str, *columns: tuple[str, str], **extra: object) -> dict:
    return {
        "name": name,
        "definition": definition,
        "columns": [{"name": n, "type": t} for n, t in columns],
        **extra,
    }


def test_a_document_without_columns_matches_an_introspected_one() -> None:
    written = _schema(_view("v", " SELECT t.a\n   FROM t;"))
    live = _schema(_view("v", "SELECT t.a\n   FROM t", ("a", "integer")))
    assert written.views[0].definition == live.views[0].definition
    assert diff(live, written).is_empty


def test_appending_a_column_replaces_the_view_in_place() -> None:
    old = _schema(_view("v", "SELECT t.a FROM t", ("a", "integer")))
    new = _schema(_view("v", "SELECT t.a, t.b FROM t", ("a", "integer"), ("b", "text")))
    (change,) = diff(old, new).changes
    assert isinstance(change, ReplaceView)
    assert change.statements()[0].as_string(None).startswith("CREATE OR REPLACE VIEW v")
    assert "DROP VIEW v" in change.reverse().statements()[0].as_string(None)


def test_a_type_change_under_a_chain_rebuilds_it_in_dependency_order() -> None:
    views = (
        _view("v3", "SELECT v2.a FROM v2", ("a", "integer")),
        _view("v2", "SELECT v1.a FROM v1", ("a", "integer")),
        _view("v1", "SELECT t.a FROM t", ("a", "integer")),
        _view("other", "SELECT t.b FROM t", ("b", "text")),
    )
    retyped = {**TABLE, "columns": [{"name": "a", "type": "bigint"}, TABLE["columns"][1]]}
    plan = make_plan(_schema(*views), _schema(*views, table=retyped))
    assert [s.description for s in plan.steps] == [
        "Drop view v3 (rebuilt after view v2 changes)",
        "Drop view v2 (rebuilt after view v1 changes)",
        "Drop view v1 (rebuilt after column t.a changes)",
        "Change type of column t.a to bigint",
        "Create view v1 (rebuilt after column t.a changes)",
        "Create view v2 (rebuilt after view v1 changes)",
        "Create view v3 (rebuilt after view v2 changes)",
    ]


def test_a_view_with_readers_is_rebuilt_with_them_even_when_it_only_appends() -> None:
    reader = _view("r", "SELECT v.a FROM v", ("a", "integer"))
    old = _schema(_view("v", "SELECT t.a FROM t", ("a", "integer")), reader)
    new = _schema(_view("v", "SELECT t.a, t.b FROM t", ("a", "integer"), ("b", "text")), reader)
    kinds = sorted((type(c).__name__, c.target) for c in diff(old, new).changes)
    assert kinds == [("CreateView", "r"), ("CreateView", "v"), ("DropView", "r"), ("DropView", "v")]
    assert all(
        isinstance(c, (CreateView, DropView)) and not c.hazards() for c in diff(old, new).changes
    )


def test_a_view_with_an_unmanaged_trigger_is_never_dropped() -> None:
    trigger = Unmanaged(kind="trigger", schema="public", name="instead", on="v")
    old = _schema(_view("v", "SELECT t.a FROM t", ("a", "integer")), unmanaged=(trigger,))
    with pytest.raises(PlanError, match="view v is dropped by this plan, but it has trigger"):
        diff(old, _schema())


def test_a_name_is_never_both_a_table_and_a_view() -> None:
    with pytest.raises(ValueError, match="'t' is both a table and a view"):
        _schema(_view("t", "SELECT 1"))


def test_a_rebuilt_view_gets_back_its_column_comments_grants_and_owner() -> None:
    """Dropping a view takes its column comments, privileges and owner along: the create that
    rebuilds it (and the one the rollback of its drop runs) gives them back."""
    v = _view("v", "SELECT t.a FROM t", ("a", "integer"))
    v["columns"][0]["comment"] = "the a"
    v |= {"grants": [{"grantee": "lp_reader", "privileges": ["SELECT"]}], "owner": "lp_owner"}
    retyped = {**TABLE, "columns": [{"name": "a", "type": "bigint"}, TABLE["columns"][1]]}
    changes = diff(_schema(v), _schema(v, table=retyped)).changes
    (create,) = [c for c in changes if isinstance(c, CreateView)]
    (drop,) = [c for c in changes if isinstance(c, DropView)]
    expected = [
        "CREATE VIEW v AS SELECT t.a FROM t",
        "COMMENT ON COLUMN v.a IS 'the a'",
        "GRANT SELECT ON v TO lp_reader",
        "ALTER VIEW v OWNER TO lp_owner",
    ]
    assert [s.as_string(None) for s in create.statements()] == expected
    assert [s.as_string(None) for s in drop.reverse().statements()] == expected


def test_column_comments_and_storage_change_in_place() -> None:
    old = _view("m", "SELECT t.a FROM t", ("a", "integer"), materialized=True)
    new = {**old, "columns": [{"name": "a", "type": "integer", "comment": "x"}]}
    new |= {"storage_parameters": {"fillfactor": "70"}}
    changes = diff(_schema(old), _schema(new)).changes
    assert [s.as_string(None) for c in changes for s in c.statements()] == [
        "COMMENT ON COLUMN m.a IS 'x'",
        "ALTER MATERIALIZED VIEW m SET (fillfactor = '70')",
    ]
    assert [s.as_string(None) for c in changes for s in c.reverse().statements()] == [
        "COMMENT ON COLUMN m.a IS NULL",
        "ALTER MATERIALIZED VIEW m RESET (fillfactor)",
    ]


def test_a_view_whose_privileges_are_not_managed_is_never_rebuilt_without_them() -> None:
    v = _view("v", "SELECT t.a FROM t", ("a", "integer"))
    held = ({"kind": "privileges", "schema": "public", "name": "v", "on": "v"},)
    retyped = {**TABLE, "columns": [{"name": "a", "type": "bigint"}, TABLE["columns"][1]]}
    with pytest.raises(PlanError, match="would lose its privileges: plan with grants managed"):
        diff(_schema(v, unmanaged=held), _schema(v, table=retyped))
    assert not diff(_schema(v, unmanaged=held), _schema()).is_empty  # dropped: they go with it
