"""Functions and triggers without a database: identity arguments, document validation, and the
diff's choices (in place or drop and create, early or late, which triggers are rebuilt)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lockplane.changes.base import Phase
from lockplane.changes.functions import CreateFunction, DropFunction, ReplaceFunction
from lockplane.changes.triggers import CreateTrigger, DropTrigger, ReplaceTrigger
from lockplane.diff import diff
from lockplane.model import Column, Function, Schema, Table, Trigger, identity_arguments
from lockplane.planner import make_plan


def fn(name: str = "f", **kw: object) -> Function:
    return Function.model_validate({"name": name, "returns": "integer", "body": "SELECT 1", **kw})


@pytest.mark.parametrize(
    ("printed", "identity"),
    [
        ("", ""),
        ("x integer DEFAULT 3", "x integer"),
        ("a text DEFAULT 'x, DEFAULT y'::text, b numeric(10,2)", "a text, b numeric(10,2)"),
        ('"a DEFAULT b" integer', '"a DEFAULT b" integer'),
        ("VARIADIC d integer[] DEFAULT '{}'::integer[]", "VARIADIC d integer[]"),
    ],
)
def test_identity_arguments(printed: str, identity: str) -> None:
    assert identity_arguments(printed) == identity


def test_a_function_needs_a_result_and_a_procedure_has_none() -> None:
    with pytest.raises(ValidationError, match="function 'f' needs 'returns'"):
        Function(name="f", body="")
    with pytest.raises(ValidationError, match="procedure 'p' has no 'returns'"):
        Function(name="p", kind="procedure", returns="integer", body="")


def test_overloads_are_kept_apart_and_a_duplicate_is_refused() -> None:
    one, two = fn(arguments="a integer"), fn(arguments="a integer, b integer DEFAULT 0")
    assert Schema(functions=[two, one]).functions == (one, two)
    with pytest.raises(ValidationError, match=r"function 'f\(a integer\)' appears twice"):
        Schema(functions=[one, fn(arguments="a integer", body="SELECT 2")])


def test_body_change_is_in_place_and_signature_change_drops_and_creates() -> None:
    old = Schema(functions=[fn(arguments="a integer")])
    (body,) = diff(old, Schema(functions=[fn(arguments="a integer", body="SELECT 2")])).changes
    assert isinstance(body, ReplaceFunction) and body.in_place
    (sig,) = diff(old, Schema(functions=[fn(arguments="a bigint")])).changes
    assert isinstance(sig, ReplaceFunction) and not sig.in_place
    assert (
        "DROP FUNCTION f(a integer)"
        in make_plan(old, Schema(functions=[fn(arguments="a bigint")])).steps[0].sql
    )
    (no_default,) = diff(
        Schema(functions=[fn(arguments="a integer DEFAULT 1")]),
        Schema(functions=[fn(arguments="a integer")]),
    ).changes
    assert isinstance(no_default, ReplaceFunction) and not no_default.in_place


def test_a_function_naming_a_new_table_is_created_late_and_dropped_early() -> None:
    items = Table(name="items", columns=[Column(name="id", type="bigint")])
    setof = fn("cheap", returns="SETOF items")
    new = Schema(tables=[items], functions=[setof, fn("other")])
    changes = {c.target: c for c in diff(Schema(), new).changes}
    assert changes["cheap()"].phase == Phase.CREATE_FUNCTION_LATE
    assert changes["other()"].phase == Phase.CREATE_FUNCTION
    drops = {c.target: c for c in diff(new, Schema()).changes}
    assert isinstance(drops["cheap()"], DropFunction) and drops["cheap()"].phase < Phase.DROP_TABLE
    assert isinstance(drops["other()"], DropFunction)
    assert drops["other()"].phase == Phase.DROP_FUNCTION


def test_sql_standard_body_locks_the_existing_tables_it_reads() -> None:
    items = Table(name="items", columns=[Column(name="id", type="bigint")])
    f = fn("n", body="RETURN (SELECT count(*) FROM items)", sql_body=True)
    (create,) = diff(Schema(tables=[items]), Schema(tables=[items], functions=[f])).changes
    assert isinstance(create, CreateFunction)
    assert (create.lock(), create.tables()) == ("ACCESS SHARE", ("items",))


def test_triggers_using_a_rebuilt_function_are_dropped_and_created_around_it() -> None:
    trig = Trigger(name="t", timing="BEFORE", events=("INSERT",), when="is_big(new.id)",
                   for_each="row", function="stamp")  # fmt: skip
    items = Table(name="items", columns=[Column(name="id", type="bigint")], triggers=[trig])
    old = Schema(tables=[items], functions=[fn("is_big", arguments="x bigint", returns="boolean")])
    new = old.model_copy(update={"functions": (fn("is_big", arguments="x bigint"),)})
    kinds = sorted(type(c).__name__ for c in diff(old, new).changes)
    assert kinds == ["CreateTrigger", "DropTrigger", "ReplaceFunction"]
    assert all(not c.hazards() for c in diff(old, new).changes if c.kind == "trigger")


def test_trigger_changes() -> None:
    trig = Trigger(name="t", timing="AFTER", events=("UPDATE", "INSERT"), function="audit")
    assert trig.events == ("INSERT", "UPDATE")
    assert Trigger.model_validate(trig.model_dump() | {"function": "public.audit"}) == trig
    with pytest.raises(ValidationError, match="update_columns needs the UPDATE event"):
        Trigger(name="t", timing="AFTER", events=("INSERT",), update_columns=("a",), function="f")
    base = Table(name="items", columns=[Column(name="a", type="bigint")])
    old = Schema(tables=[base.model_copy(update={"triggers": (trig,)})])

    def changes(t: Trigger) -> list[object]:
        return list(diff(old, Schema(tables=[base.model_copy(update={"triggers": (t,)})])).changes)

    (off,) = changes(trig.model_copy(update={"enabled": "disabled"}))
    assert isinstance(off, ReplaceTrigger) and not off.redefined
    assert [h.rule for h in off.hazards()] == ["LP413"]
    assert [s.as_string(None) for s in off.statements()] == ["ALTER TABLE items DISABLE TRIGGER t"]
    (redo,) = changes(trig.model_copy(update={"update_columns": ("a",)}))
    assert (
        redo.statements()[0]
        .as_string(None)
        .startswith("CREATE OR REPLACE TRIGGER t AFTER INSERT OR UPDATE OF a ON items")
    )
    ctrig = trig.model_copy(update={"constraint": True})
    old = Schema(tables=[base.model_copy(update={"triggers": (ctrig,)})])
    kinds = {type(c) for c in changes(ctrig.model_copy(update={"deferrable": True}))}
    assert kinds == {DropTrigger, CreateTrigger}
