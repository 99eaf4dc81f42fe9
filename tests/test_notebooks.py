"""The tutorials in notebooks/ are executable docs: each runs top to bottom under nbval
(`--nbval-lax`: every cell must run; cells marked NBVAL_CHECK_OUTPUT must print exactly what is
stored), against the embedded PostgreSQL the notebooks start themselves.

nbval runs a notebook's cells in one kernel, in order, so they cannot be spread over this
suite's xdist workers; each notebook gets its own nbval run in a subprocess instead."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.mark.parametrize("notebook", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebook_runs_top_to_bottom(notebook: str) -> None:
    command = [
        sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "-q",
        "--nbval-lax", "--nbval-current-env",
        "--nbval-sanitize-with", str(NOTEBOOKS / "sanitize.cfg"),
        str(NOTEBOOKS / notebook),
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=NOTEBOOKS.parent, timeout=600
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout


def test_there_are_six_tutorials() -> None:
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == [
        "01-getting-started",
        "02-safe-changes",
        "03-rollbacks",
        "04-existing-database",
        "05-durable-changes",
        "06-sqlalchemy",
    ]
