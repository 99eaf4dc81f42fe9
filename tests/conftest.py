"""Shared fixtures: a real PostgreSQL server and throwaway databases on it.

Tests run against a real server, never mocks: catalog details differ between major versions, and
only a server can tell. Point LOCKPLANE_TEST_URL at another server (e.g. the embedded PostgreSQL 18)
to run the same suite there. An unreachable server fails the run: a skipped suite looks green.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator

import psycopg
import pytest
from lockplane.db import with_database
from psycopg import sql

DEFAULT_TEST_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of the test server's maintenance database (LOCKPLANE_TEST_URL, or the local server)."""
    url = os.environ.get("LOCKPLANE_TEST_URL", DEFAULT_TEST_URL)
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        pytest.fail(
            f"PostgreSQL test server unreachable at {url} (set LOCKPLANE_TEST_URL): {exc}",
            pytrace=False,
        )
    return url


@pytest.fixture(scope="module")
def fresh_db(pg_url: str) -> Iterator[Callable[[], str]]:
    """Factory: each call creates an empty database `lp_test_<hex>` and returns its URL.

    Module-scoped so a module can build one database and run many tests against it; every
    database made is dropped WITH (FORCE) when the module's tests are done.
    """
    created: list[str] = []

    def create() -> str:
        name = f"lp_test_{secrets.token_hex(6)}"
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return with_database(pg_url, name)

    yield create
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for name in created:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
