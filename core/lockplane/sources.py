"""Where a schema comes from: a JSON document, a SQL DDL file, or a live database URL.

SQL is never parsed here: Postgres parses it, in a scratch database on the shadow server, and
the result is introspected. That way a `.sql` file means exactly what it would mean to Postgres.
"""

from __future__ import annotations

from pathlib import Path

from .db import is_url, shadow_url
from .errors import InputError
from .introspect import introspect_url
from .loader import load_schema_file
from .model import Schema
from .shadow import Shadow


def load_schema(source: str, *, shadow: str | None = None) -> Schema:
    """Load a schema from a `postgresql://` URL, a `.sql` file or a JSON file."""
    if is_url(source):
        return introspect_url(source)
    path = Path(source)
    if path.suffix.lower() == ".sql":
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(source, f"cannot read file: {exc.strerror or exc}") from None
        return Shadow(shadow_url(shadow)).load_sql(text, source)
    return load_schema_file(path)
