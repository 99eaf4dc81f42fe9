"""An in-process IPython shell with `%lockplane` loaded, reset for every test.

The shell is the real one IPython's own tests use (`globalipapp.start_ipython`), so magics,
`%config`, display formatters and error display go through the same code as in a kernel; only
the frontend is missing. Each test gets a freshly registered magic (no connection, no last plan)
and an environment without DATABASE_URL / SHADOW_DATABASE_URL, so tests stay independent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.testing.globalipapp import start_ipython

from lockplane_nb.magics import Lockplane, register


@pytest.fixture(scope="session")
def shell() -> Any:
    ip = start_ipython()
    # A terminal shell formats text/plain only; a kernel also asks for HTML.
    ip.display_formatter.active_types = ["text/plain", "text/html"]
    return ip


@pytest.fixture
def ip(shell: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The shell with a fresh `Lockplane` magic and no `Lockplane` config; user variables made
    by the test are removed afterwards."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SHADOW_DATABASE_URL", raising=False)
    shell.config.pop("Lockplane", None)  # `%config Lockplane.x = ...` persists in the shell
    register(shell)
    before = set(shell.user_ns)
    yield shell
    for name in set(shell.user_ns) - before:
        shell.user_ns.pop(name, None)
    shell.config.pop("Lockplane", None)


@pytest.fixture
def magics(ip: Any) -> Lockplane:
    """The registered magic instance, to inspect its state."""
    return next(c for c in ip.configurables if isinstance(c, Lockplane))
