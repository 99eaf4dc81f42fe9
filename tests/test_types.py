"""canonical_type: hand-written spellings become exactly what format_type() prints.

The expected strings were checked against PostgreSQL 15's format_type(atttypid, atttypmod).
"""

import pytest

from lockplane.types import canonical_type

CASES = [
    ("int", "integer"),
    ("int4", "integer"),
    ("INTEGER", "integer"),
    ("int8", "bigint"),
    ("int2", "smallint"),
    ("bool", "boolean"),
    ("varchar(255)", "character varying(255)"),
    ("VARCHAR( 255 )", "character varying(255)"),
    ("varchar", "character varying"),
    ("char varying(3)", "character varying(3)"),
    ("char(3)", "character(3)"),
    ("character(3)", "character(3)"),
    ("char", "character(1)"),
    ("float8", "double precision"),
    ("double", "double precision"),
    ("float", "double precision"),
    ("float(10)", "real"),
    ("float(30)", "double precision"),
    ("float4", "real"),
    ("real", "real"),
    ("timestamptz", "timestamp with time zone"),
    ("timestamp", "timestamp without time zone"),
    ("timestamp(3)", "timestamp(3) without time zone"),
    ("TIMESTAMP(3) WITH TIME ZONE", "timestamp(3) with time zone"),
    ("time", "time without time zone"),
    ("timetz", "time with time zone"),
    ("timetz(6)", "time(6) with time zone"),
    ("decimal(10, 2)", "numeric(10,2)"),
    ("decimal", "numeric"),
    ("numeric(10)", "numeric(10,0)"),
    ("bit", "bit(1)"),
    ("varbit", "bit varying"),
    ("int[]", "integer[]"),
    ("varchar(10)[]", "character varying(10)[]"),
    ("int ARRAY", "integer[]"),
    ("int[3][3]", "integer[]"),
    ("timestamptz[]", "timestamp with time zone[]"),
    ("TEXT", "text"),
    ("JSONB", "jsonb"),
]

UNCHANGED = [
    "text",
    "jsonb",
    "uuid",
    "my_enum",
    "my_enum[]",
    "MyEnum",
    "app.status",
    '"Mixed Case"',
    "interval day to second",
    "bpchar",
]


@pytest.mark.parametrize(("written", "canonical"), CASES)
def test_alias_becomes_format_type_spelling(written: str, canonical: str) -> None:
    assert canonical_type(written) == canonical


@pytest.mark.parametrize("canonical", sorted({c for _, c in CASES}))
def test_canonical_spelling_is_a_fixed_point(canonical: str) -> None:
    assert canonical_type(canonical) == canonical


@pytest.mark.parametrize("written", UNCHANGED)
def test_unknown_and_user_types_pass_unchanged(written: str) -> None:
    assert canonical_type(written) == written


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("serial", "integer"),
        ("SERIAL4", "integer"),
        ("bigserial", "bigint"),
        ("smallserial", "smallint"),
    ],
)
def test_serial_is_refused_with_the_replacement(written: str, expected: str) -> None:
    with pytest.raises(ValueError, match=f'"type": "{expected}" with "identity"'):
        canonical_type(written)


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("", "must not be empty"),
        ("int(11)", "integer takes no length"),
        ("float(60)", "between 1 and 53"),
        ("varchar(1,2)", "single length"),
    ],
)
def test_spellings_postgres_rejects_are_errors(written: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        canonical_type(written)
