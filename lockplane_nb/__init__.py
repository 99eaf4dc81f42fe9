"""Notebook layer for Lockplane: `%load_ext lockplane_nb`, then `%lockplane --help`.

Depends on the engine (`lockplane`), never the other way round: the engine's objects get their
notebook look from display formatters registered here, not from methods of their own.
"""

from __future__ import annotations

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    """Register `%lockplane`, the `Lockplane` config section and the display formatters."""
    from .magics import register

    register(ipython)
