"""Row level security, policies, opt-in grants and reported owners: the model and the diff, without
a server (the acceptance cases in cases/rls.yaml run them on one)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from lockplane.changes.grants import ChangePrivileges, SetOwner
from lockplane.changes.policies import AlterPolicy, CreatePolicy, DropPolicy, SetRowSecurity
from lockplane.diff import _mentions, diff
from lockplane.errors import PlanError
from lockplane.model import Column, Grant, Policy, Schema, Table


def table(**kw: Any) -> Table:
    cols = (Column(name="id", type="bigint", nullable=False), Column(name="level", type="integer"))
    return Table(name="docs", columns=kw.pop("columns", cols), **kw)


def changes(old: Table | None, new: Table | None) -> list[Any]:
    return list(
        diff(Schema(tables=[old] if old else []), Schema(tables=[new] if new else [])).changes
    )


def rules(items: list[Any]) -> set[str]:
    """The access rules raised (column design advice such as LP505 is not the point here)."""
    found = {h.rule for c in items for h in c.hazards()}
    return {r for r in found if r in ("LP410", "LP411", "LP412", "LP510")}


def test_policy_is_canonical() -> None:
    p = Policy(name="p", roles=("lp_writer", "PUBLIC", "lp_reader"))
    assert p.roles == ("lp_reader", "lp_writer", "public")
    assert Grant(grantee="public", privileges=("UPDATE", "SELECT")).privileges == (
        "SELECT",
        "UPDATE",
    )


@pytest.mark.parametrize(
    ("command", "field"), [("SELECT", "with_check"), ("DELETE", "with_check"), ("INSERT", "using")]
)
def test_policy_refuses_a_clause_its_command_lacks(command: str, field: str) -> None:
    with pytest.raises(ValidationError, match="policy 'p'"):
        Policy(name="p", command=command, **{field: "true"})  # type: ignore[arg-type]


def test_grantee_or_policy_listed_twice_is_an_error() -> None:
    with pytest.raises(ValidationError, match="grantee 'a' appears twice"):
        table(grants=(Grant(grantee="a", privileges=("SELECT",)),) * 2)
    with pytest.raises(ValidationError, match="policy 'p' appears twice"):
        table(policies=(Policy(name="p"), Policy(name="p", command="SELECT")))


def test_enabling_rls_without_policies_hides_rows_on_an_existing_table_only() -> None:
    enabled = table(row_level_security=True)
    assert rules(changes(table(), enabled)) == {"LP410"}
    assert rules(changes(None, enabled)) == set()
    covered = table(row_level_security=True, policies=(Policy(name="p", using="level > 0"),))
    assert "LP410" not in rules(changes(table(), covered))


def test_using_change_is_an_alter_and_command_change_a_drop_and_create() -> None:
    old = table(policies=(Policy(name="p", using="level > 0", with_check="level > 0"),))
    new = table(policies=(Policy(name="p", using="level > 1", with_check="level > 0"),))
    found = changes(old, new)
    assert [type(c) for c in found] == [AlterPolicy]
    assert found[0].statements()[0].as_string(None) == "ALTER POLICY p ON docs USING (level > 1)"
    cmd = table(policies=(Policy(name="p", command="SELECT", using="level > 0"),))
    assert {type(c) for c in changes(old, cmd)} == {DropPolicy, CreatePolicy}
    # An expression cannot be removed with ALTER POLICY.
    bare = table(policies=(Policy(name="p", using="level > 0"),))
    assert {type(c) for c in changes(old, bare)} == {DropPolicy, CreatePolicy}


def test_type_change_of_a_column_a_policy_uses_rebuilds_it_quietly() -> None:
    p = Policy(name="p", using="level > 0")
    old = table(policies=(p,))
    wider = (Column(name="id", type="bigint", nullable=False), Column(name="level", type="bigint"))
    found = changes(old, table(columns=wider, policies=(p,)))
    rebuilt = [c for c in found if isinstance(c, (DropPolicy, CreatePolicy))]
    assert len(rebuilt) == 2 and all(c.rebuilt for c in rebuilt)
    assert "LP411" not in rules(found)


def test_mentions_matches_whole_names_only() -> None:
    p = Policy(name="p", using="(levels > 1) AND (x.level_2 = 3)")
    assert not _mentions(p, {"level"})
    assert _mentions(Policy(name="p", using="level > 1"), {"level"})
    assert _mentions(Policy(name="p", using='"Level" > 1'), {"Level"})


def test_grants_are_compared_only_when_both_sides_have_them() -> None:
    g = (Grant(grantee="lp_reader", privileges=("SELECT",)),)
    assert changes(table(grants=()), table()) == []  # the target does not manage them
    assert changes(table(), table(grants=g)) == []  # the source did not read them
    found = changes(table(grants=()), table(grants=g))
    assert [type(c) for c in found] == [ChangePrivileges]
    revoke = changes(table(grants=g), table(grants=()))
    assert rules(revoke) == {"LP412"}
    assert revoke[0].reverse().statements()[-1].as_string(None) == (
        "GRANT SELECT ON docs TO lp_reader"
    )


def test_owner_changes_only_when_the_target_names_one_and_the_source_knows_it() -> None:
    assert changes(table(owner="postgres"), table()) == []
    assert changes(table(), table(owner="lp_owner")) == []
    found = changes(table(owner="postgres"), table(owner="lp_owner"))
    assert [type(c) for c in found] == [SetOwner]
    assert found[0].lock() == "ACCESS EXCLUSIVE"


def test_disabling_rls_and_dropping_a_policy_are_warnings() -> None:
    p = Policy(name="p", using="level > 0")
    old = table(row_level_security=True, policies=(p,))
    assert rules(changes(old, table(policies=(p,)))) == {"LP411"}
    assert rules(changes(old, table(row_level_security=True))) == {"LP410", "LP411"}
    dropped = changes(old, None)
    assert not {"LP410", "LP411"} & rules(dropped)
    assert any(isinstance(c, SetRowSecurity) and c.incidental for c in dropped)


def test_always_true_policy_for_everyone_is_design_advice() -> None:
    p = Policy(name="p", command="SELECT", using="true")
    assert "LP510" in rules(changes(table(), table(policies=(p,))))
    scoped = Policy(name="p", command="SELECT", using="true", roles=("lp_reader",))
    assert "LP510" not in rules(changes(table(), table(policies=(scoped,))))


def test_grants_and_owners_of_views_sequences_and_functions_change_in_place() -> None:
    """Only the privileges and the owner change: no view or function is replaced for them;
    sequences and functions lock no table, a plain view none either (locking one would lock
    the tables it reads)."""
    g = (Grant(grantee="lp_reader", privileges=("SELECT",)),)
    e = (Grant(grantee="lp_reader", privileges=("EXECUTE",)),)
    f = {"name": "one", "returns": "integer", "body": "SELECT 1"}
    old = Schema.model_validate(
        {
            "views": [{"name": "v", "definition": "SELECT 1 AS x", "grants": []}],
            "sequences": [{"name": "s", "grants": [], "owner": "postgres"}],
            "functions": [{**f, "grants": [{"grantee": "PUBLIC", "privileges": ["EXECUTE"]}]}],
        }
    )
    new = Schema.model_validate(
        {
            "views": [{"name": "v", "definition": "SELECT 1 AS x", "grants": g}],
            "sequences": [{"name": "s", "grants": [], "owner": "lp_owner"}],
            "functions": [{**f, "grants": e}],
        }
    )
    found = list(diff(old, new).changes)
    assert [c.description() for c in found] == [
        "Grant SELECT on view v to lp_reader",
        "Change the owner of sequence s to lp_owner",
        "Revoke EXECUTE on function one() from PUBLIC",
        "Grant EXECUTE on function one() to lp_reader",
    ]
    assert [c.lock() for c in found] == [None, None, None, None]
    assert found[2].statements()[0].as_string(None) == (
        "REVOKE EXECUTE ON FUNCTION one() FROM PUBLIC"
    )
    assert rules(found) == {"LP412"}


def test_a_function_whose_privileges_are_not_managed_is_never_recreated_without_them() -> None:
    """Dropped and created again it would come back with EXECUTE for PUBLIC."""
    f = {"name": "f", "returns": "integer", "body": "SELECT 1"}
    held = [{"kind": "privileges", "schema": "public", "name": "f()"}]
    old = Schema.model_validate({"functions": [f], "unmanaged": held})
    new = Schema.model_validate({"functions": [{**f, "returns": "bigint"}]})
    with pytest.raises(PlanError, match="would reset its privileges to the default"):
        diff(old, new)
    assert not diff(old, new.model_copy(update={"functions": ()})).is_empty  # dropped: fine
