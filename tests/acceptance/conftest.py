"""Acceptance fixtures: a per-test factory of scratch databases on the shared test server.

The shared `fresh_db` fixture is module-scoped, which would keep hundreds of case databases
alive until the module ends; acceptance cases drop theirs as soon as each test finishes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from servers import create_database, drop_database


@pytest.fixture
def scratch_db(pg_url: str) -> Iterator[Callable[[], str]]:
    """Call it to get a fresh empty database URL; all of them are dropped (FORCE) at teardown."""
    made: list[str] = []

    def make() -> str:
        made.append(create_database(pg_url, prefix="lp_acc"))
        return made[-1]

    yield make
    for url in made:
        drop_database(pg_url, url)
