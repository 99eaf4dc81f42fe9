"""Identifiers in generated SQL: quoted by psycopg.sql exactly when Postgres needs it.

Always quoting is correct but makes plans hard to read (`"public"."users"`), and plans are read
by people before they run. So a name is written bare only when Postgres would fold it to itself
and it is not a keyword that needs quoting; everything else goes through `sql.Identifier`.
Objects in `public` are written unqualified: every Lockplane session runs with
`search_path = public`, the same setting under which their names were introspected.
"""

from __future__ import annotations

import re
from typing import Any

from psycopg import sql

from .model import DEFAULT_SCHEMA

# Keywords that are not "unreserved" in PostgreSQL 15..18 (pg_get_keywords() catcode <> 'U').
_KEYWORDS = frozenset(
    [
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "authorization",
        "between",
        "bigint",
        "binary",
        "bit",
        "boolean",
        "both",
        "case",
        "cast",
        "char",
        "character",
        "check",
        "coalesce",
        "collate",
        "collation",
        "column",
        "concurrently",
        "constraint",
        "create",
        "cross",
        "current_catalog",
        "current_date",
        "current_role",
        "current_schema",
        "current_time",
        "current_timestamp",
        "current_user",
        "dec",
        "decimal",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "exists",
        "extract",
        "false",
        "fetch",
        "float",
        "for",
        "foreign",
        "freeze",
        "from",
        "full",
        "grant",
        "greatest",
        "group",
        "grouping",
        "having",
        "ilike",
        "in",
        "initially",
        "inner",
        "inout",
        "int",
        "integer",
        "intersect",
        "interval",
        "into",
        "is",
        "isnull",
        "join",
        "json",
        "json_array",
        "json_arrayagg",
        "json_exists",
        "json_object",
        "json_objectagg",
        "json_query",
        "json_scalar",
        "json_serialize",
        "json_table",
        "json_value",
        "lateral",
        "leading",
        "least",
        "left",
        "like",
        "limit",
        "localtime",
        "localtimestamp",
        "merge_action",
        "national",
        "natural",
        "nchar",
        "none",
        "normalize",
        "not",
        "notnull",
        "null",
        "nullif",
        "numeric",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "out",
        "outer",
        "overlaps",
        "overlay",
        "placing",
        "position",
        "precision",
        "primary",
        "real",
        "references",
        "returning",
        "right",
        "row",
        "select",
        "session_user",
        "setof",
        "similar",
        "smallint",
        "some",
        "substring",
        "symmetric",
        "system_user",
        "table",
        "tablesample",
        "then",
        "time",
        "timestamp",
        "to",
        "trailing",
        "treat",
        "trim",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "values",
        "varchar",
        "variadic",
        "verbose",
        "when",
        "where",
        "window",
        "with",
        "xmlattributes",
        "xmlconcat",
        "xmlelement",
        "xmlexists",
        "xmlforest",
        "xmlnamespaces",
        "xmlparse",
        "xmlpi",
        "xmlroot",
        "xmlserialize",
        "xmltable",
    ]
)
_BARE = re.compile(r"[a-z_][a-z0-9_$]*\Z")


def needs_quotes(name: str) -> bool:
    return not _BARE.match(name) or name in _KEYWORDS


class Ident(sql.Composable):
    """A possibly qualified name that quotes each part only when it must."""

    def __init__(self, *parts: str) -> None:
        super().__init__(parts)
        self._parts = parts

    def as_bytes(self, context: Any = None) -> bytes:
        return b".".join(
            sql.Identifier(p).as_bytes(context) if needs_quotes(p) else p.encode()
            for p in self._parts
        )


def obj(schema: str, name: str) -> Ident:
    """A schema-level object (table, type, sequence, index) as generated SQL names it."""
    return Ident(name) if schema == DEFAULT_SCHEMA else Ident(schema, name)


def col(name: str) -> Ident:
    return Ident(name)


def cols(names: tuple[str, ...] | list[str]) -> sql.Composed:
    return sql.SQL(", ").join(Ident(n) for n in names)


def render(statements: list[sql.Composable]) -> str:
    """A step's SQL text: its statements separated by `;` and newlines, no trailing `;`."""
    return ";\n".join(s.as_string(None) for s in statements)
