"""Errors a user can act on. Each prints as one line; the CLI maps them to exit codes.

Everything Lockplane raises on purpose derives from LockplaneError, so the CLI and the notebook
can show `str(error)` instead of a traceback, and anything else is a bug worth a traceback.
"""

from __future__ import annotations


class LockplaneError(Exception):
    """Base class; `exit_code` is what the CLI exits with."""

    exit_code = 1


class InputError(LockplaneError):
    """A file or argument is malformed: names the file, the path inside it, and what is wrong."""

    exit_code = 2

    def __init__(self, source: str, problems: list[tuple[str, str]] | str) -> None:
        if isinstance(problems, str):
            problems = [("", problems)]
        self.source = source
        self.problems = problems
        lines = [f"{source}: {path + ': ' if path else ''}{msg}" for path, msg in problems]
        super().__init__("\n".join(lines))


class ConnectionFailed(LockplaneError):
    """A database could not be reached; the message carries the masked URL only."""

    exit_code = 2


class PlanError(LockplaneError):
    """The planner cannot produce a correct plan for this pair of schemas."""


class UnsafePlan(LockplaneError):
    """Apply refused: the plan has error-severity hazards and no explicit permission."""


class DriftError(LockplaneError):
    """The database no longer matches the schema the plan was made for."""


class ShadowMismatch(LockplaneError):
    """The shadow run did not reach the schema it was meant to reach.

    `report` is the shadow report so far (a proof.ShadowReport), so a notebook can show
    which checks passed before the one that failed."""

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


class ShadowRefused(LockplaneError):
    """The shadow URL points at a database that Lockplane must not reset."""

    exit_code = 2


class ApplyFailed(LockplaneError):
    """A step failed on the real database; the transaction was rolled back.

    `ledger_id` is the ledger entry that records the failure."""

    def __init__(self, message: str, ledger_id: int | None = None) -> None:
        super().__init__(message)
        self.ledger_id = ledger_id


class RunInterrupted(LockplaneError):
    """A run stopped with work half done (a lost connection, a long backfill that could not
    get its locks), or an earlier one did: it can be resumed or abandoned, nothing else can
    be applied meanwhile. `run_id` is its journal entry."""

    def __init__(self, message: str, run_id: int | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id


class LockBusy(LockplaneError):
    """Another apply holds the advisory lock on this database."""


class NotReversible(LockplaneError):
    """A rollback was asked for, but the plan carries no way to derive it."""


class PreflightFailed(LockplaneError):
    """The data preflight found rows that would make a step fail; nothing was applied.

    `report` is the full preflight.PreflightReport: every check, its count, example keys and SQL."""

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report
