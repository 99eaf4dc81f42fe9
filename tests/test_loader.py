"""Loading schema and plan documents: the seed's examples load unchanged, and every problem in a
bad file comes back as one exact line naming the file, the path inside it and what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockplane.errors import InputError
from lockplane.loader import (
    load_plan_file,
    load_schema_file,
    parse_plan_text,
    parse_schema_text,
)
from lockplane.model import Schema
from lockplane.plan import Plan

SEED = Path(__file__).parent / "data" / "seed"
SEED_SCHEMAS = sorted(SEED.glob("*.json"))
SEED_PLANS = sorted((SEED / "plans").glob("*.json"))


def problems(text: str, parse=parse_schema_text) -> list[str]:
    """The lines of the InputError that parsing `text` as desired.json raises."""
    with pytest.raises(InputError) as info:
        parse(text, "desired.json")
    assert info.value.exit_code == 2
    return str(info.value).splitlines()


def schema_with_columns(*columns: dict, **table: object) -> str:
    return json.dumps({"tables": [{"name": "users", "columns": list(columns), **table}]})


# --- the seed's examples -------------------------------------------------------------------


def test_seed_examples_are_present() -> None:
    assert len(SEED_SCHEMAS) == 4
    assert len(SEED_PLANS) == 4


@pytest.mark.parametrize("path", SEED_SCHEMAS, ids=lambda p: p.name)
def test_seed_schema_examples_load(path: Path) -> None:
    schema = load_schema_file(path)
    assert isinstance(schema, Schema)
    assert schema.tables
    users = schema.table("public", "users")
    assert users is not None
    assert users.primary_key is not None and users.primary_key.columns == ("id",)
    assert users.column("id").type == "integer"


@pytest.mark.parametrize("path", SEED_PLANS, ids=lambda p: p.name)
def test_seed_plan_examples_load(path: Path) -> None:
    plan = load_plan_file(path)
    assert isinstance(plan, Plan)
    assert len(plan.steps) >= 2
    assert all(step.sql and step.description for step in plan.steps)


def test_seed_index_and_defaults_survive() -> None:
    schema = load_schema_file(SEED / "schema_definition.json")
    posts = schema.table("public", "posts")
    assert [i.name for i in posts.indexes] == ["idx_posts_user_id"]
    assert posts.column("id").default == "nextval('posts_id_seq'::regclass)"
    assert posts.column("created_at").type == "timestamp without time zone"


def test_file_and_text_loading_agree() -> None:
    path = SEED / "example_after.json"
    assert load_schema_file(str(path)) == parse_schema_text(path.read_text(), "x")


# --- exact messages --------------------------------------------------------------------------


def test_missing_type() -> None:
    text = json.dumps(
        {"tables": [{"name": "a", "columns": []}, {"name": "b", "columns": [{"name": "id"}]}]}
    )
    assert problems(text) == ["desired.json: tables[1].columns[0].type: required property missing"]


def test_wrong_type_of_nullable() -> None:
    text = schema_with_columns({"name": "id", "type": "integer", "nullable": "yes"})
    assert problems(text) == [
        'desired.json: tables[0].columns[0].nullable: expected boolean, got "yes"'
    ]


def test_unknown_key_suggests_the_near_miss() -> None:
    text = schema_with_columns({"name": "id", "type": "integer", "nulable": False})
    assert problems(text) == [
        "desired.json: tables[0].columns[0].nulable: unknown property; did you mean 'nullable'?"
    ]


def test_unknown_key_without_near_miss_lists_the_allowed_keys() -> None:
    text = json.dumps({"tables": [], "triggers": []})
    [line] = problems(text)
    assert line.startswith("desired.json: triggers: unknown property; expected one of: $schema,")


def test_duplicate_column() -> None:
    text = schema_with_columns({"name": "id", "type": "integer"}, {"name": "id", "type": "text"})
    assert problems(text) == ["desired.json: tables[0]: column 'id' appears twice"]


def test_primary_key_disagreement() -> None:
    text = schema_with_columns(
        {"name": "id", "type": "integer", "is_primary_key": True},
        {"name": "email", "type": "text"},
        primary_key={"columns": ["email"]},
    )
    assert problems(text) == [
        "desired.json: tables[0]: is_primary_key columns ['id'] disagree with primary_key ['email']"
    ]


def test_duplicate_table_is_reported_at_the_document() -> None:
    text = json.dumps({"tables": [{"name": "a"}, {"name": "a"}]})
    assert problems(text) == ["desired.json: table 'a' appears twice"]


def test_bad_json_syntax_gives_line_and_column() -> None:
    text = '{\n  "tables": [\n    {"name": "a",}\n  ]\n}\n'
    assert problems(text) == [
        "desired.json: invalid JSON at line 3:18: Expecting property name enclosed in double quotes"
    ]


def test_empty_file() -> None:
    assert problems("  \n") == ["desired.json: file is empty; expected a JSON object"]


def test_nan_is_not_json() -> None:
    assert problems('{"tables": NaN}') == ["desired.json: invalid JSON: NaN is not a JSON value"]


def test_top_level_must_be_an_object() -> None:
    assert problems("[]") == ["desired.json: expected object, got an array"]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "desired.json"
    with pytest.raises(InputError) as info:
        load_schema_file(path)
    assert str(info.value) == f"{path}: file not found"
    assert info.value.exit_code == 2


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory, not a file"):
        load_plan_file(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"tables": [{"name": "caf\xe9"}]}')
    with pytest.raises(InputError, match="not UTF-8 text"):
        load_schema_file(path)


def test_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b'\xef\xbb\xbf{"tables": []}')
    assert load_schema_file(path) == Schema()


def test_key_written_twice() -> None:
    text = '{"tables": [{"name": "a", "columns": [{"name": "id", "type": "int", "type": "text"}]}]}'
    assert problems(text) == [
        "desired.json: tables[0].columns[0].type: "
        "key appears more than once; only the last value would be used"
    ]


def test_messages_for_unions_name_the_real_problem() -> None:
    text = schema_with_columns(
        {"name": "id", "type": "integer", "default": 5, "identity": "sometimes"},
        indexes=[{"name": "i", "columns": ["id", {"column": "id", "descending": "x"}, ""]}],
        foreign_keys=[
            {
                "name": "fk",
                "columns": ["id"],
                "referenced_table": "b",
                "referenced_columns": ["id"],
                "on_delete": "cascade",
            }
        ],
    )
    assert problems(text) == [
        "desired.json: tables[0].columns[0].default: expected string or null, got 5",
        'desired.json: tables[0].columns[0].identity: must be one of "always", "by default"; '
        'got "sometimes"',
        'desired.json: tables[0].foreign_keys[0].on_delete: got "cascade"; did you mean "CASCADE"?',
        'desired.json: tables[0].indexes[0].columns[1].descending: expected boolean, got "x"',
        "desired.json: tables[0].indexes[0].columns[2]: must not be empty",
    ]


def test_index_key_model_validator() -> None:
    index = {"name": "i", "columns": [{"descending": True}]}
    text = schema_with_columns({"name": "id", "type": "integer"}, indexes=[index])
    assert problems(text) == [
        "desired.json: tables[0].indexes[0].columns[0]: "
        "an index key has exactly one of 'column' or 'expression'"
    ]


def test_name_longer_than_postgres_allows() -> None:
    text = json.dumps({"tables": [{"name": "t" * 64}]})
    assert problems(text) == [
        "desired.json: tables[0].name: is 64 characters long; at most 63 allowed"
    ]


def test_multiple_errors_are_all_reported_in_document_order() -> None:
    text = json.dumps(
        {
            "tables": [
                {"name": "a", "columns": [{"name": "id", "type": "integer", "nullable": 1}]},
                {"name": "b", "colums": []},
                {"columns": [{"type": "text"}]},
            ]
            + [{"name": f"t{i}"} for i in range(7)]
            + [{"name": "late", "columns": [{"name": "x"}]}]
        }
    )
    assert problems(text) == [
        "desired.json: tables[0].columns[0].nullable: expected boolean, got 1",
        "desired.json: tables[1].colums: unknown property; did you mean 'columns'?",
        "desired.json: tables[2].columns[0].name: required property missing",
        "desired.json: tables[2].name: required property missing",
        "desired.json: tables[10].columns[0].type: required property missing",
    ]


def test_model_errors_in_several_tables_are_all_reported() -> None:
    dup = [{"name": "id", "type": "integer"}, {"name": "id", "type": "integer"}]
    text = json.dumps({"tables": [{"name": "a", "columns": dup}, {"name": "b", "columns": dup}]})
    assert problems(text) == [
        "desired.json: tables[0]: column 'id' appears twice",
        "desired.json: tables[1]: column 'id' appears twice",
    ]


# --- type canonicalization ---------------------------------------------------------------------


def test_column_types_are_canonicalized() -> None:
    text = schema_with_columns(
        {"name": "id", "type": "int8"},
        {"name": "email", "type": "VARCHAR(255)"},
        {"name": "at", "type": "timestamptz"},
        {"name": "tags", "type": "varchar(10)[]"},
        {"name": "mood", "type": "mood_enum"},
    )
    users = parse_schema_text(text, "desired.json").tables[0]
    assert [c.type for c in users.columns] == [
        "bigint",
        "character varying(255)",
        "timestamp with time zone",
        "character varying(10)[]",
        "mood_enum",
    ]


def test_serial_is_refused_alongside_other_model_errors() -> None:
    text = schema_with_columns(
        {"name": "id", "type": "serial"}, {"name": "x", "type": "int"}, {"name": "x", "type": "int"}
    )
    assert problems(text) == [
        "desired.json: tables[0]: column 'x' appears twice",
        "desired.json: tables[0].columns[0].type: 'serial' is not a type but a shorthand for a "
        'sequence; use "type": "integer" with "identity": "by default" '
        "(or a default of nextval('<sequence>'::regclass))",
    ]


def test_embedded_plan_schemas_are_validated_and_canonicalized() -> None:
    target = {"tables": [{"name": "a", "columns": [{"name": "id", "type": "int4"}]}]}
    plan = parse_plan_text(json.dumps({"steps": [], "target": target}), "plan.json")
    assert plan.target.tables[0].columns[0].type == "integer"
    bad = {
        "steps": [{"description": "x", "sql": "SELECT 1", "lock": "BIG"}],
        "source": {"tables": [{"name": "a", "columns": [{"name": "id"}]}]},
        "source_fingerprint": "abc",
    }
    lines = problems(json.dumps(bad), parse_plan_text)
    assert lines == [
        "desired.json: source.tables[0].columns[0].type: required property missing",
        'desired.json: source_fingerprint: must match the pattern ^[0-9a-f]{64}$; got "abc"',
        'desired.json: steps[0].lock: must be one of "ACCESS SHARE", "ROW SHARE", '
        '"ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE", '
        '"EXCLUSIVE", "ACCESS EXCLUSIVE"; got "BIG"',
    ]


def test_plan_given_as_schema_is_named_as_such() -> None:
    text = (SEED / "plans" / "executor_plan.json").read_text()
    assert problems(text) == [
        "desired.json: $schema: this is a plan document "
        "(https://raw.githubusercontent.com/zakandrewking/lockplane/main/schema-json/plan.json); "
        "expected a schema document"
    ]


def test_introspected_output_round_trips() -> None:
    schema = load_schema_file(SEED / "schema_definition.json")
    again = parse_schema_text(schema.to_json(), "introspected.json")
    assert again.managed_dict() == schema.managed_dict()
