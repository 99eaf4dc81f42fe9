"""Notebook layer for Lockplane: `%load_ext lockplane_nb`."""

from __future__ import annotations

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    """Registers nothing yet; the magics arrive with the notebook issue."""
