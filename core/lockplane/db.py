"""Connections: one place that opens them, fixes the session settings, and hides passwords.

Every Lockplane session runs with `search_path = public` so that `format_type` and `pg_get_expr`
print names the same way on every database (unqualified in public, qualified elsewhere), and the
SQL we generate from those strings resolves the same way when it runs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg

from .errors import ConnectionFailed, InputError

SEARCH_PATH = "public"
DEFAULT_DATABASE_URL = "postgresql://lockplane:lockplane@localhost:5432/lockplane"
DEFAULT_SHADOW_URL = "postgresql://lockplane:lockplane@localhost:5433/lockplane_shadow"
_PASSWORD_PARAM = re.compile(r"(password=)([^&\s]*)", re.IGNORECASE)


def mask_url(url: str) -> str:
    """The URL with any password replaced by `***`, for every message a user may see."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable connection string>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{host}"
    query = _PASSWORD_PARAM.sub(r"\1***", parts.query)
    masked = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    return _PASSWORD_PARAM.sub(r"\1***", masked) if "://" not in url else masked


def is_url(text: str) -> bool:
    return text.startswith(("postgresql://", "postgres://"))


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


def shadow_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("SHADOW_DATABASE_URL") or DEFAULT_SHADOW_URL


def connect(url: str, *, autocommit: bool = False, connect_timeout: int = 10) -> psycopg.Connection:
    """Open a connection with Lockplane's session settings; failures name the masked URL only."""
    if not is_url(url):
        raise InputError(mask_url(url), "not a postgresql:// URL")
    try:
        conn = psycopg.connect(
            url,
            autocommit=autocommit,
            connect_timeout=connect_timeout,
            options=f"-c search_path={SEARCH_PATH}",
            application_name="lockplane",
        )
    except psycopg.Error as exc:
        # libpq spreads one message over indented lines; keep all of it, on one line.
        reason = " ".join(str(exc).replace(url, mask_url(url)).split()) or type(exc).__name__
        raise ConnectionFailed(
            f"cannot connect to {mask_url(url)}: {_strip_password(reason)}"
        ) from None
    return conn


@contextmanager
def connection(url: str, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    conn = connect(url, autocommit=autocommit)
    try:
        yield conn
    finally:
        conn.close()


def with_database(url: str, dbname: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def _strip_password(text: str) -> str:
    return _PASSWORD_PARAM.sub(r"\1***", text)
