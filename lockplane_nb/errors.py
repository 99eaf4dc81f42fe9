"""How a failed `%lockplane` cell looks: one short red message, no traceback.

A Lockplane error (bad JSON, bad SQL, unreachable database, refused plan) is something the
user fixes in their input, so the engine's one-line message is the whole story and a traceback
through the magic machinery only hides it. IPython prints whatever `_render_traceback_()`
returns instead of a traceback (both in a terminal and in a kernel, where the lines become the
error output), while the cell still counts as failed, so "Run All" stops there.
`%config Lockplane.short_errors = False` re-raises the original exception instead.
"""

from __future__ import annotations

RED = "\x1b[0;31m"
RESET = "\x1b[0m"


class CellError(Exception):
    """A user-actionable failure of a `%lockplane` command, shown as its message only."""

    def __init__(self, cause: BaseException) -> None:
        self.cause = cause
        super().__init__(str(cause) or type(cause).__name__)

    def _render_traceback_(self) -> list[str]:
        lines = [line.replace("\t", " ") for line in str(self).splitlines()]  # libpq indents
        first, *rest = lines or [type(self.cause).__name__]
        return [f"{RED}lockplane: {' '.join(first.split())}{RESET}", *(f"  {x}" for x in rest)]
