"""Database-free checks of the pieces the acceptance suite exercises end to end: each change
undoes itself, plans are ordered and deterministic, identifiers are quoted when they must be,
type changes are classified, and DDL files split at the right places."""

from __future__ import annotations

import pytest

from lockplane.castrules import classify, is_volatile
from lockplane.diff import diff
from lockplane.model import Schema
from lockplane.planner import make_plan, order
from lockplane.sqlnames import Ident, needs_quotes
from lockplane.sqltext import split_statements


def schema(*tables: dict, **extra: object) -> Schema:
    return Schema.model_validate({"tables": list(tables), **extra})


USERS = {
    "name": "users",
    "columns": [
        {"name": "id", "type": "integer", "nullable": False, "is_primary_key": True},
        {"name": "email", "type": "text"},
    ],
}
TEAMS = {
    "name": "teams",
    "columns": [
        {"name": "id", "type": "integer", "nullable": False, "is_primary_key": True},
        {"name": "owner", "type": "integer"},
    ],
    "foreign_keys": [
        {
            "name": "teams_owner_fk",
            "columns": ["owner"],
            "referenced_table": "users",
            "referenced_columns": ["id"],
        }
    ],
}
USERS_WITH_TEAM = {
    **USERS,
    "columns": [*USERS["columns"], {"name": "team", "type": "integer"}],
    "foreign_keys": [
        {
            "name": "users_team_fk",
            "columns": ["team"],
            "referenced_table": "teams",
            "referenced_columns": ["id"],
        }
    ],
    "indexes": [
        {
            "name": "users_email",
            "columns": ["email", {"expression": "lower(email)", "descending": True}],
        }
    ],
}


def test_every_change_reverses_to_itself() -> None:
    old = schema(USERS)
    new = schema(USERS_WITH_TEAM, TEAMS, enums=[{"name": "mood", "labels": ["a", "b"]}])
    changes = diff(old, new).changes
    assert changes
    for change in changes:  # same SQL both ways (a re-added object no longer sits on a new table)
        twice = change.reverse().reverse()
        assert [s.as_string(None) for s in twice.statements()] == [
            s.as_string(None) for s in change.statements()
        ], change.description()


def test_circular_foreign_keys_come_after_both_tables_and_go_before_them() -> None:
    full = schema(USERS_WITH_TEAM, TEAMS)
    forward = [s.description for s in make_plan(Schema(), full).steps]
    assert forward == [
        "Create table teams",
        "Create table users",
        "Create index users_email",
        "Add foreign key teams_owner_fk to table teams",
        "Add foreign key users_team_fk to table users",
    ]
    backward = [s.description for s in make_plan(full, Schema()).steps]
    assert backward[:2] == [
        "Drop foreign key teams_owner_fk from table teams",
        "Drop foreign key users_team_fk from table users",
    ]
    assert backward[-2:] == ["Drop table teams", "Drop table users"]


def test_plans_are_deterministic_and_the_reverse_plan_mirrors_the_forward_one() -> None:
    old, new = schema(USERS), schema(USERS_WITH_TEAM, TEAMS)
    a, b = make_plan(old, new), make_plan(old, new)
    assert a == b
    rollback = a.reverse()
    assert [s.sql for s in rollback.steps] == [s.reverse_sql for s in reversed(a.steps)]
    assert (
        rollback.source_fingerprint == new.fingerprint()
        and rollback.target_fingerprint == old.fingerprint()
    )


def test_identical_schemas_plan_nothing_and_share_a_fingerprint() -> None:
    a = schema(USERS_WITH_TEAM, TEAMS)
    b = Schema.model_validate_json(a.to_json())
    assert make_plan(a, b).is_empty
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != schema(USERS).fingerprint()


def test_order_puts_types_before_tables_and_drops_last() -> None:
    changes = diff(
        schema(USERS, enums=[{"name": "old_kind", "labels": ["x"]}]),
        schema(
            {**USERS, "columns": [*USERS["columns"], {"name": "m", "type": "mood"}]},
            enums=[{"name": "mood", "labels": ["a"]}],
        ),
    ).changes
    assert [type(c).__name__ for c in order(changes)] == ["CreateEnum", "AddColumn", "DropEnum"]


def test_serial_shorthand_implies_an_owned_sequence() -> None:
    s = schema(
        {
            "name": "t",
            "columns": [
                {"name": "id", "type": "integer", "default": "nextval('t_id_seq'::regclass)"}
            ],
        }
    )
    (seq,) = s.sequences
    assert (seq.name, seq.type, seq.owned_by.table, seq.owned_by.column) == (
        "t_id_seq",
        "integer",
        "t",
        "id",
    )  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("old", "new", "using", "rewrites", "may_fail"),
    [
        ("character varying(10)", "character varying(20)", False, False, False),
        ("character varying(20)", "character varying(10)", False, True, True),
        ("character varying(20)", "text", False, False, False),
        ("text", "citext", False, False, False),
        ("numeric(10,2)", "numeric(12,2)", False, False, False),
        ("numeric(10,2)", "numeric(8,2)", False, True, True),
        ("integer", "bigint", False, True, False),
        ("bigint", "integer", False, True, True),
        ("text", "integer", True, True, True),
        ("integer", "text", False, True, False),
        ("timestamp without time zone", "timestamp with time zone", False, True, False),
        ("text", "text", False, False, False),
    ],
)
def test_type_change_classification(
    old: str, new: str, using: bool, rewrites: bool, may_fail: bool
) -> None:
    c = classify(old, new)
    assert (c.needs_using, c.rewrites, c.may_fail) == (using, rewrites, may_fail)


def test_volatile_defaults() -> None:
    assert is_volatile("gen_random_uuid()") and is_volatile("nextval('s'::regclass)")
    assert not is_volatile("now()") and not is_volatile("'x'::text") and not is_volatile(None)


@pytest.mark.parametrize(
    ("name", "rendered"),
    [
        ("users", "users"),
        ("Users", '"Users"'),
        ("select", '"select"'),
        ("order items", '"order items"'),
        ('a"b', '"a""b"'),
        ("_x1$", "_x1$"),
        ("1abc", '"1abc"'),
    ],
)
def test_identifiers_are_quoted_only_when_needed(name: str, rendered: str) -> None:
    assert Ident(name).as_string(None) == rendered
    assert needs_quotes(name) == (rendered != name)


def test_split_statements_respects_quotes_comments_and_dollar_bodies() -> None:
    text = (
        "CREATE TABLE a (v text DEFAULT 'x;y');\n"
        "-- a comment; with a semicolon\n"
        "/* block; comment */ CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n"
        'CREATE TABLE "b;c" (id int)'
    )
    assert [line for line, _ in split_statements(text)] == [1, 2, 4]
    assert split_statements(text)[2][1] == 'CREATE TABLE "b;c" (id int)'
