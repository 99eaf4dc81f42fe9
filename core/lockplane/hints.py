"""Plan hints: what a desired schema says about how to get there, not about what to hold.

`Enum.renamed` (rename labels in place) and `Column.backfill` (the expression that sets the
rows a new column finds) are not content: introspection never fills them and fingerprints leave
them out. So whenever a document is rebuilt by Postgres (a JSON document normalized on the
shadow, a SQL file parsed there), they are carried over from the original here.

In SQL a backfill is a comment line, since DDL has no place for it:

    -- lockplane:backfill [schema.]table.column = expression

one per column, anywhere in the file, the expression on the same line.
"""

from __future__ import annotations

import re

from .errors import InputError
from .model import DEFAULT_SCHEMA, Schema

_DIRECTIVE = re.compile(r"^[ \t]*--[ \t]*lockplane:backfill\b(?P<rest>.*)$", re.MULTILINE)
_TARGET = re.compile(
    r'\s*((?:"(?:[^"]|"")+"|[^\s."=]+)(?:\.(?:"(?:[^"]|"")+"|[^\s."=]+)){1,2})\s*='
)

ColumnKey = tuple[str, str, str]


def _name(part: str) -> str:
    """An identifier as Postgres reads it: quoted exactly, bare folded to lower case."""
    if part.startswith('"'):
        return part[1:-1].replace('""', '"')
    return part.lower()


def _split(target: str) -> list[str]:
    return [_name(p) for p in re.findall(r'"(?:[^"]|"")+"|[^."]+', target)]


def sql_backfills(text: str, source: str) -> dict[ColumnKey, tuple[int, str]]:
    """(schema, table, column) -> (line, expression) for every backfill comment in `text`."""
    found: dict[ColumnKey, tuple[int, str]] = {}
    for m in _DIRECTIVE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        target = _TARGET.match(m.group("rest"))
        expression = m.group("rest")[target.end() :].strip() if target else ""
        if target is None or not expression:
            raise InputError(
                source,
                [
                    (
                        f"line {line}",
                        "lockplane:backfill needs `[schema.]table.column = expression`",
                    )
                ],
            )
        parts = _split(target.group(1))
        key = (parts[0], parts[1], parts[2]) if len(parts) == 3 else (DEFAULT_SCHEMA, *parts)
        if key in found:
            raise InputError(
                source, [(f"line {line}", f"a second backfill for {'.'.join(key[1:])}")]
            )
        found[key] = (line, expression)  # type: ignore[assignment]
    return found


def with_backfills(
    schema: Schema, backfills: dict[ColumnKey, tuple[int, str]], source: str
) -> Schema:
    """`schema` with the backfill comments of its SQL file set on their columns."""
    columns = {(t.schema_, t.name, c.name) for t in schema.tables for c in t.columns}
    unknown = sorted((line, key) for key, (line, _) in backfills.items() if key not in columns)
    if unknown:
        line, (schema_, table, column) = unknown[0]
        where = table if schema_ == DEFAULT_SCHEMA else f"{schema_}.{table}"
        raise InputError(
            source,
            [(f"line {line}", f"lockplane:backfill names {where}.{column}: no such column")],
        )
    return _backfilled(schema, {key: expr for key, (_, expr) in backfills.items()})


def with_hints(doc: Schema, read: Schema) -> Schema:
    """`read` (the document rebuilt by Postgres) with `doc`'s plan hints back on it."""
    renamed = {(e.schema_, e.name): e.renamed for e in doc.enums if e.renamed}
    backfill = {
        (t.schema_, t.name, c.name): c.backfill for t in doc.tables for c in t.columns if c.backfill
    }
    enums = tuple(
        e.model_copy(update={"renamed": renamed[(e.schema_, e.name)]})
        if (e.schema_, e.name) in renamed
        else e
        for e in read.enums
    )
    return _backfilled(read.model_copy(update={"enums": enums}), backfill)


def _backfilled(schema: Schema, hints: dict[ColumnKey, str]) -> Schema:
    if not hints:
        return schema
    tables = tuple(
        t.model_copy(
            update={
                "columns": tuple(
                    c.model_copy(update={"backfill": hints[(t.schema_, t.name, c.name)]})
                    if (t.schema_, t.name, c.name) in hints
                    else c
                    for c in t.columns
                )
            }
        )
        for t in schema.tables
    )
    return schema.model_copy(update={"tables": tables})
