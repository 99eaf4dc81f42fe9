"""Which extension version updates a server can run, read from `pg_extension_update_paths()`.

Whether `ALTER EXTENSION x UPDATE TO 'v'` can be undone depends on the update scripts installed
on the server, not on the schema: most extensions ship upgrade scripts only. The planner asks a
database (the shadow, or the source) once, for the extensions whose version a plan changes, and
marks an update without a path back as one-way (see `changes.objects.AlterExtension`).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from .db import connect
from .model import Schema


@dataclass(frozen=True)
class UpdatePaths:
    """The (extension, from version, to version) updates the server has a script path for."""

    paths: frozenset[tuple[str, str, str]] = frozenset()

    def has(self, name: str, source: str, target: str) -> bool:
        return (name, source, target) in self.paths


def version_changes(old: Schema, new: Schema) -> list[str]:
    """The extensions installed on both sides at different versions."""
    before = {e.name: e.version for e in old.extensions}
    return sorted(
        e.name for e in new.extensions if e.name in before and before[e.name] != e.version
    )


def read_update_paths(conn: psycopg.Connection, names: list[str]) -> UpdatePaths:
    """The update paths of the named extensions; one the server does not ship has none."""
    found: set[tuple[str, str, str]] = set()
    query = sql.SQL(
        "SELECT x.name, p.source, p.target FROM pg_available_extensions x, "
        "LATERAL pg_extension_update_paths(x.name) p "
        "WHERE x.name = ANY({}) AND p.path IS NOT NULL"
    ).format(sql.Literal(names))
    for name, source, target in conn.execute(query).fetchall():
        found.add((name, source, target))
    return UpdatePaths(frozenset(found))


def update_paths_for(url: str, old: Schema, new: Schema) -> UpdatePaths | None:
    """The update paths the plan from `old` to `new` needs to know about, read on the database
    at `url`; None when the plan updates no extension (nothing to ask)."""
    names = version_changes(old, new)
    if not names:
        return None
    with connect(url, autocommit=True) as conn:
        return read_update_paths(conn, names)
