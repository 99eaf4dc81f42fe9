"""Spell hand-written column types the way Postgres's `format_type()` prints them.

A schema file says `int` or `varchar(255)`; introspection says `integer` and
`character varying(255)`. The diff compares strings, so without this step every hand-written
alias would show up as a type change on every plan. Only built-in spellings are rewritten:
anything unknown (enums, domains, schema-qualified or quoted names) passes through unchanged,
because only the author knows how it is spelled.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Alias (lower case, single spaces) -> the name format_type() prints. Families that take a
# modifier with special rules (numeric, character, time, float, bit) are handled in _FAMILIES.
_PLAIN: dict[str, str] = {
    "int": "integer",
    "int4": "integer",
    "integer": "integer",
    "int8": "bigint",
    "bigint": "bigint",
    "int2": "smallint",
    "smallint": "smallint",
    "bool": "boolean",
    "boolean": "boolean",
    "float8": "double precision",
    "double": "double precision",
    "double precision": "double precision",
    "float4": "real",
    "real": "real",
}

# Built-in names that are already canonical apart from letter case; they keep any modifier.
_LOWERCASE_ONLY = frozenset(
    (
        "text",
        "json",
        "jsonb",
        "uuid",
        "bytea",
        "date",
        "interval",
        "inet",
        "cidr",
        "macaddr",
        "macaddr8",
        "money",
        "xml",
        "tsvector",
        "tsquery",
        "oid",
        "regclass",
        "name",
        "point",
        "line",
        "lseg",
        "box",
        "path",
        "polygon",
        "circle",
        "int4range",
        "int8range",
        "numrange",
        "tsrange",
        "tstzrange",
        "daterange",
    )
)

_SERIALS = {
    "serial": "integer",
    "serial4": "integer",
    "bigserial": "bigint",
    "serial8": "bigint",
    "smallserial": "smallint",
    "serial2": "smallint",
}

# `int[]`, `int[3][4]` and `int ARRAY` are all the one-dimensional-looking `integer[]` to Postgres.
_ARRAY_SUFFIX = re.compile(
    r"^(?P<base>.*?)(?:(?:\s*\[\s*\d*\s*\])+|\s+array(?:\s*\[\s*\d*\s*\])?)$", re.I
)
_SHAPE = re.compile(
    r"^(?P<name>[a-z][a-z0-9]*(?: [a-z][a-z0-9]*)*?)"
    r"(?:\s*\((?P<mods>\s*\d+\s*(?:,\s*-?\d+\s*)?)\))?"
    r"(?:\s+(?P<tz>with|without) time zone)?$"
)


def canonical_type(text: str) -> str:
    """`text` as format_type() would print it; raises ValueError for spellings Postgres rejects.

    Idempotent: a canonical spelling maps to itself, so introspected documents are unchanged.
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError("type must not be empty")
    if '"' in stripped or "." in stripped:
        return text  # quoted or schema-qualified: a user type, spelled by its author
    match = _ARRAY_SUFFIX.match(stripped)
    base, array = (match["base"], "[]") if match else (stripped, "")
    shape = _SHAPE.match(" ".join(base.lower().split()))
    if shape is None:
        return text
    name, tz = shape["name"], shape["tz"]
    mods = [int(m) for m in shape["mods"].split(",")] if shape["mods"] else []
    canonical = _canonical_base(name, mods, tz, base)
    return text if canonical is None else canonical + array


def _canonical_base(name: str, mods: list[int], tz: str | None, original: str) -> str | None:
    """The canonical spelling of a scalar type, or None when it is not a built-in we know."""
    if name in _SERIALS:
        raise ValueError(
            f"{name!r} is not a type but a shorthand for a sequence; use "
            f'"type": "{_SERIALS[name]}" with "identity": "by default" (or a default of '
            "nextval('<sequence>'::regclass))"
        )
    if tz is not None and name not in ("timestamp", "time"):
        return None
    if name in _PLAIN:
        if mods:
            raise ValueError(f"{original.strip()!r}: {_PLAIN[name]} takes no length or precision")
        return _PLAIN[name]
    if name in _LOWERCASE_ONLY:
        return name + _mods(mods)
    family = _FAMILIES.get(name)
    return None if family is None else family(mods, tz)


def _mods(mods: list[int]) -> str:
    return f"({','.join(str(m) for m in mods)})" if mods else ""


def _numeric(mods: list[int], tz: str | None) -> str:
    # format_type prints the scale even when it was left out: numeric(10) is numeric(10,0).
    return "numeric" + (_mods([mods[0], mods[1] if len(mods) > 1 else 0]) if mods else "")


def _varchar(mods: list[int], tz: str | None) -> str:
    _at_most_one(mods, "character varying")
    return "character varying" + _mods(mods)


def _char(mods: list[int], tz: str | None) -> str:
    # A bare char is char(1) in Postgres, and format_type says so.
    _at_most_one(mods, "character")
    return f"character({mods[0] if mods else 1})"


def _bit(mods: list[int], tz: str | None) -> str:
    _at_most_one(mods, "bit")
    return f"bit({mods[0] if mods else 1})"


def _varbit(mods: list[int], tz: str | None) -> str:
    _at_most_one(mods, "bit varying")
    return "bit varying" + _mods(mods)


def _float(mods: list[int], tz: str | None) -> str:
    # float(p) picks real for p <= 24 and double precision up to 53, as Postgres does.
    _at_most_one(mods, "float")
    if not mods:
        return "double precision"
    if not 1 <= mods[0] <= 53:
        raise ValueError(f"float({mods[0]}): precision must be between 1 and 53")
    return "real" if mods[0] <= 24 else "double precision"


def _datetime(base: str, with_tz: bool) -> Callable[[list[int], str | None], str]:
    def build(mods: list[int], tz: str | None) -> str:
        _at_most_one(mods, base)
        zone = "with" if with_tz or tz == "with" else "without"
        return f"{base}{_mods(mods)} {zone} time zone"

    return build


def _at_most_one(mods: list[int], name: str) -> None:
    if len(mods) > 1:
        raise ValueError(f"{name} takes a single length or precision, not {len(mods)}")


_FAMILIES = {
    "numeric": _numeric,
    "decimal": _numeric,
    "varchar": _varchar,
    "character varying": _varchar,
    "char varying": _varchar,
    "char": _char,
    "character": _char,
    "bit": _bit,
    "varbit": _varbit,
    "bit varying": _varbit,
    "float": _float,
    "timestamp": _datetime("timestamp", with_tz=False),
    "timestamptz": _datetime("timestamp", with_tz=True),
    "time": _datetime("time", with_tz=False),
    "timetz": _datetime("time", with_tz=True),
}
