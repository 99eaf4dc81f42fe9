"""Shared fixtures: real PostgreSQL servers and throwaway databases on them (see servers.py).

Tests run against real servers, never mocks: catalog details differ between major versions, and
only a server can tell. An unreachable server fails the run: a skipped suite looks green.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import servers


@pytest.fixture(scope="session", params=servers.names())
def pg_url(request: pytest.FixtureRequest) -> str:
    """URL of a test server's maintenance database; every database test runs on each server."""
    try:
        url = servers.url_of(request.param)
    except Exception as exc:  # the embedded server failed to start: fail, never skip
        pytest.fail(f"test server {request.param!r} could not be started: {exc}", pytrace=False)
    problem = servers.check(url)
    if problem is not None:
        pytest.fail(f"test server {request.param!r} unreachable ({url}): {problem}", pytrace=False)
    return url


@pytest.fixture(scope="module")
def fresh_db(pg_url: str) -> Iterator[Callable[[], str]]:
    """Factory: each call creates an empty database `lp_test_<hex>` and returns its URL.

    Module-scoped so a module can build one database and run many tests against it; every
    database made is emptied for reuse (or dropped) when the module's tests are done.
    """
    created: list[str] = []

    def create() -> str:
        created.append(servers.take_database(pg_url))
        return created[-1]

    yield create
    for url in created:
        servers.give_back(pg_url, url)


@pytest.fixture(scope="session", autouse=True)
def _scratch_pool() -> Iterator[None]:
    """Scratch databases are emptied and reused during the session, dropped at its end."""
    yield
    servers.drain()
