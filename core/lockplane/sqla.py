"""SQLAlchemy models as a schema source: `sqlalchemy:package.module:Base`.

The models are not translated here: `metadata.create_all` runs against a scratch database on
the shadow server and the result is introspected, so the desired schema is exactly what
Postgres holds after SQLAlchemy created it (enum types, check constraints, expression indexes,
comments and all). SQLAlchemy is an optional extra, imported only by these functions.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

from .db import connect, with_database
from .errors import InputError
from .introspect import introspect
from .model import Schema
from .shadow import Shadow

if TYPE_CHECKING:
    from sqlalchemy import MetaData

PREFIX = "sqlalchemy:"
INSTALL_HINT = 'SQLAlchemy is not installed: pip install "lockplane[sqlalchemy]"'


def is_models_spec(source: str) -> bool:
    return source.startswith(PREFIX)


def _sqlalchemy(source: str) -> Any:
    try:
        import sqlalchemy
    except ImportError:
        raise InputError(source, INSTALL_HINT) from None
    return sqlalchemy


def metadata_of(value: object, source: str) -> MetaData:
    """The MetaData of a declarative base (a class, or a `registry`), or the MetaData itself;
    anything else is an InputError naming `source`. Other objects may carry a `.metadata` too
    (an Enum type does, once a table uses it), but naming one is a mistake, not a schema."""
    sqlalchemy = _sqlalchemy(source)
    from sqlalchemy.orm import registry

    if isinstance(value, sqlalchemy.MetaData):
        return value
    metadata = getattr(value, "metadata", None)
    if isinstance(value, (type, registry)) and isinstance(metadata, sqlalchemy.MetaData):
        return metadata
    raise InputError(
        source, f"{type(value).__name__} is neither a declarative base nor a MetaData object"
    )


def import_models(spec: str) -> MetaData:
    """Import `sqlalchemy:package.module:Base` (Base may be dotted: `module:Models.Base`).

    The module is looked up from the current directory too, as `python -m` would, so that
    `lockplane plan --to sqlalchemy:app.models:Base` works from a project's root."""
    _sqlalchemy(spec)
    module_name, sep, attribute = spec[len(PREFIX) :].partition(":")
    if not sep or not module_name or not attribute:
        raise InputError(spec, "expected sqlalchemy:package.module:Base")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        value: object = importlib.import_module(module_name)
    except Exception as exc:  # the user's module: any error in it is bad input, in one line
        reason = f"{type(exc).__name__}: {_first_line(exc)}"
        raise InputError(spec, f"cannot import {module_name}: {reason}") from None
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise InputError(spec, f"{module_name} has no attribute {attribute}") from None
    return metadata_of(value, spec)


def load_models(metadata: MetaData, source: str, shadow: Shadow) -> Schema:
    """Run `metadata.create_all` in a scratch database on the shadow server; introspect it.

    Schemas the tables name are created first: create_all expects them to exist, and a model
    that names one means the desired schema holds it."""
    sqlalchemy = _sqlalchemy(source)
    with shadow.scratch() as conn:
        url = with_database(shadow.url, conn.info.dbname)
        engine = sqlalchemy.create_engine(
            "postgresql+psycopg://", creator=lambda: connect(url), poolclass=sqlalchemy.NullPool
        )
        names = sorted({t.schema for t in metadata.tables.values() if t.schema})
        try:
            with engine.begin() as models:
                for name in names:
                    models.execute(sqlalchemy.schema.CreateSchema(name, if_not_exists=True))
                metadata.create_all(models)
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise InputError(source, f"create_all failed: {_first_line(exc)}") from None
        finally:
            engine.dispose()
        return introspect(conn)


def load_models_spec(spec: str, shadow: Shadow) -> Schema:
    return load_models(import_models(spec), spec, shadow)


def _first_line(exc: Exception) -> str:
    orig = getattr(exc, "orig", None)
    if orig is not None:
        diag = getattr(orig, "diag", None)
        primary = getattr(diag, "message_primary", None)
        if primary:
            return str(primary)
        exc = orig
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
