"""Acceptance fixtures: a per-test factory of scratch databases on the shared test server.

The shared `fresh_db` fixture is module-scoped, which would keep hundreds of case databases
alive until the module ends; acceptance cases give theirs back as soon as each test finishes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql
from servers import give_back, take_database

ROLES = ("lp_reader", "lp_writer", "lp_owner")
"""Roles the cases grant to, name in policies and hand tables to. Roles are cluster-wide, so
they are created once per server and never dropped (other sessions may be using them)."""

_CREATE_ROLES = """
DO $$
DECLARE r text;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('lockplane test roles'));
  FOREACH r IN ARRAY {roles}::text[] LOOP
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;  -- made meanwhile
      END;
    END IF;
  END LOOP;
END $$
"""


@pytest.fixture(scope="session")
def cluster_roles(pg_url: str) -> tuple[str, ...]:
    """The test roles exist on this server: xdist workers race here, hence the advisory lock
    (serialising the check) and the handler (for a role made by a session without it)."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL(_CREATE_ROLES).format(roles=sql.Literal(list(ROLES))))
    return ROLES


@pytest.fixture
def scratch_db(pg_url: str, cluster_roles: tuple[str, ...]) -> Iterator[Callable[[], str]]:
    """Call it to get a fresh empty database URL; all of them are emptied for reuse at teardown."""
    made: list[str] = []

    def make() -> str:
        made.append(take_database(pg_url, prefix="lp_acc"))
        return made[-1]

    yield make
    for url in made:
        give_back(pg_url, url)
