"""What a column type change costs, decided from the two type names as format_type prints them.

Postgres converts a column's values with an assignment cast unless `USING` is given, and rewrites
the table unless the old representation is binary-compatible with the new one. The rules here
cover the built-in types; anything unknown is treated conservatively (USING, rewrite, may fail),
which costs a warning at worst and never a wrong plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_INTEGERS = {"smallint", "integer", "bigint"}
_NUMBERS = _INTEGERS | {"numeric", "real", "double precision", "money"}
_STRINGS = {"text", "character varying", "character", "name", "citext", "bpchar"}
_TIMES = {
    "date",
    "timestamp without time zone",
    "timestamp with time zone",
    "time without time zone",
    "time with time zone",
}
# Assignment casts between date/time types that Postgres has built in.
_TIME_CASTS = {
    ("date", "timestamp without time zone"),
    ("date", "timestamp with time zone"),
    ("timestamp without time zone", "timestamp with time zone"),
    ("timestamp with time zone", "timestamp without time zone"),
    ("timestamp without time zone", "date"),
    ("timestamp with time zone", "date"),
    ("timestamp without time zone", "time without time zone"),
    ("timestamp with time zone", "time with time zone"),
    ("time without time zone", "time with time zone"),
    ("time with time zone", "time without time zone"),
}
_TYPMOD = re.compile(
    r"^(?P<base>[^()\[\]]+?)\s*(?:\((?P<mod>[^)]*)\))?(?P<rest>[^()\[\]]*)(?P<arr>(\[\])*)$"
)


@dataclass(frozen=True)
class ParsedType:
    base: str
    modifiers: tuple[int, ...]
    array: bool


def parse(type_name: str) -> ParsedType:
    """Split `character varying(10)[]` into base, modifiers and array-ness."""
    m = _TYPMOD.match(type_name.strip())
    if not m:
        return ParsedType(type_name, (), False)
    base = (m["base"] + m["rest"]).strip()
    mods = tuple(int(x) for x in re.findall(r"-?\d+", m["mod"] or ""))
    return ParsedType(base, mods, bool(m["arr"]))


@dataclass(frozen=True)
class TypeChange:
    needs_using: bool
    rewrites: bool
    may_fail: bool


def classify(old: str, new: str) -> TypeChange:
    if old == new:  # only the collation changes: no conversion at all
        return TypeChange(needs_using=False, rewrites=False, may_fail=False)
    o, n = parse(old), parse(new)
    if o.array != n.array:
        return TypeChange(needs_using=True, rewrites=True, may_fail=True)
    if o.base == n.base:
        return _same_base(o, n)
    if o.base in _STRINGS and n.base in _STRINGS:
        unbounded = n.base in {"text", "citext"}
        widening = unbounded or (n.base == "character varying" and _wider(o, n))
        binary = o.base in {"text", "character varying", "citext"} and widening
        return TypeChange(needs_using=False, rewrites=not binary, may_fail=not widening)
    if n.base in _STRINGS and not o.array:
        # Every type has an assignment cast to text through its output function.
        return TypeChange(needs_using=False, rewrites=True, may_fail=bool(n.modifiers))
    if o.base in _NUMBERS and n.base in _NUMBERS:
        may_fail = not (
            _int_rank(o.base) <= _int_rank(n.base) or n.base in {"numeric", "double precision"}
        )
        return TypeChange(needs_using=False, rewrites=True, may_fail=may_fail)
    if (o.base, n.base) in _TIME_CASTS:
        return TypeChange(needs_using=False, rewrites=True, may_fail=False)
    if {o.base, n.base} == {"cidr", "inet"}:
        return TypeChange(
            needs_using=o.base == "inet", rewrites=o.base == "inet", may_fail=o.base == "inet"
        )
    if {o.base, n.base} == {"json", "jsonb"}:
        return TypeChange(needs_using=True, rewrites=True, may_fail=False)
    return TypeChange(needs_using=True, rewrites=True, may_fail=True)


def _same_base(o: ParsedType, n: ParsedType) -> TypeChange:
    """Only the modifiers differ: widening is free, narrowing scans and may fail."""
    if o.base in {"character varying", "bit varying"}:
        wider = _wider(o, n)
        return TypeChange(needs_using=False, rewrites=not wider, may_fail=not wider)
    if o.base == "numeric":
        if not n.modifiers:
            return TypeChange(needs_using=False, rewrites=False, may_fail=False)
        if o.modifiers and len(o.modifiers) == len(n.modifiers) == 2:
            same_scale = o.modifiers[1] == n.modifiers[1]
            wider = same_scale and n.modifiers[0] >= o.modifiers[0]
            return TypeChange(needs_using=False, rewrites=not wider, may_fail=not wider)
        return TypeChange(needs_using=False, rewrites=True, may_fail=True)
    if o.base.startswith(("timestamp", "time", "interval")):
        wider = not n.modifiers or (o.modifiers and n.modifiers[0] >= o.modifiers[0])
        return TypeChange(needs_using=False, rewrites=not wider, may_fail=False)
    return TypeChange(needs_using=False, rewrites=True, may_fail=True)


def _wider(o: ParsedType, n: ParsedType) -> bool:
    """True when every value of `o` fits `n` (no length limit counts as infinitely wide)."""
    if not n.modifiers:
        return True
    if not o.modifiers:
        return False
    return n.modifiers[0] >= o.modifiers[0]


def _int_rank(base: str) -> int:
    return {"smallint": 1, "integer": 2, "bigint": 3}.get(base, 99)


VOLATILE_FUNCTIONS = (
    "nextval(",
    "random(",
    "gen_random_uuid(",
    "uuid_generate_v1(",
    "uuid_generate_v4(",
    "uuidv4(",
    "uuidv7(",
    "clock_timestamp(",
    "timeofday(",
    "txid_current(",
    "statement_timestamp(",
)


def is_volatile(expression: str | None) -> bool:
    """Whether a default must be evaluated per row (forcing a rewrite when a column is added).

    Postgres stores a stable default such as now() once; a volatile one is computed for every
    existing row. Deciding this from the text is a heuristic: the shadow run is the proof.
    """
    if expression is None:
        return False
    text = expression.lower()
    return any(f in text for f in VOLATILE_FUNCTIONS)
