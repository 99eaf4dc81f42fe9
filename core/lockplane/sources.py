"""Where a schema comes from: a JSON document, a SQL DDL file, a live database URL, or
SQLAlchemy models (`sqlalchemy:package.module:Base`, see sqla.py).

SQL is never parsed here: Postgres parses it, in a scratch database on the shadow server, and
the result is introspected. A hand-written JSON document is, when a shadow is configured, built
there and read back too ("normalized"), so that `'active'` and `'active'::text` or `int` and
`integer` are not reported as differences forever after.
"""

from __future__ import annotations

import os
from pathlib import Path

from .db import is_url, shadow_url
from .errors import ConnectionFailed, InputError, LockplaneError
from .introspect import introspect_url, opt_in
from .loader import load_schema_file
from .model import Schema
from .shadow import Shadow
from .sqla import is_models_spec, load_models_spec


def shadow_configured(explicit: str | None) -> bool:
    return explicit is not None or bool(os.environ.get("SHADOW_DATABASE_URL"))


def load_schema(
    source: str,
    *,
    shadow: str | None = None,
    normalize: bool | None = None,
    access_of: Schema | None = None,
) -> Schema:
    """Load a schema from a `postgresql://` URL, a `.sql` file, SQLAlchemy models
    (`sqlalchemy:package.module:Base`, built on the shadow server) or a JSON file.

    `normalize` (JSON only) defaults to whether a shadow database is configured. `access_of`: the
    schema this one will be compared with; a database is then read with the table privileges
    and owners that schema manages (they are opt-in), so a plan can change them.
    """
    if is_url(source):
        return introspect_url(source, **(opt_in(access_of) if access_of is not None else {}))
    if is_models_spec(source):  # SQLAlchemy itself is imported only here
        return load_models_spec(source, Shadow(shadow_url(shadow)))
    path = Path(source)
    if path.suffix.lower() == ".sql":
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(source, f"cannot read file: {exc.strerror or exc}") from None
        return Shadow(shadow_url(shadow)).load_sql(text, source)
    schema = load_schema_file(path)
    if normalize is None:
        normalize = shadow_configured(shadow)
    if not normalize:
        return schema
    try:
        return Shadow(shadow_url(shadow)).normalize(schema)
    except (InputError, ConnectionFailed):
        raise
    except LockplaneError as exc:
        raise InputError(source, f"does not build on the shadow database: {exc}") from None


def load_pair(source: str, target: str, *, shadow: str | None = None) -> tuple[Schema, Schema]:
    """The two sides of a diff or plan. A database source is read after the target, with the
    privileges and owners the target manages; otherwise the source is loaded first, so that its
    errors come first."""
    if is_url(source):
        after = load_schema(target, shadow=shadow)
        return load_schema(source, shadow=shadow, access_of=after), after
    before = load_schema(source, shadow=shadow)
    return before, load_schema(target, shadow=shadow)
