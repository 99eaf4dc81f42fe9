"""The CLI's machine-readable output: one JSON document per command, errors included.

Each document is a pydantic model, so `jsonschemas.py` publishes its JSON Schema next to the
schema and plan formats, and a test checks real command output against it. Commands build a
model from the engine's results (`*_document` helpers below); `emit` prints it. URLs in
documents are masked where they are put in (`db.mask_url`); an error's message and path also
go through `scrub`, since they may quote a driver's text or a URL as the user typed it.
Schema and plan documents are data and are never rewritten: a default or a function body may
legitimately hold a string that looks like a connection string.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from .errors import InputError, LockplaneError
from .plan import Plan

if TYPE_CHECKING:
    from .executor import ApplyResult
    from .journal import RunInfo
    from .ledger import LedgerEntry
    from .preflight import PreflightReport
    from .proof import ShadowReport
    from .safety import SafetyReport

# `scheme://user:password@` and `password=...` (keyword DSNs, URL query parameters).
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s\"]*:)[^@\s\"]*@", re.IGNORECASE)
_KEY_PASSWORD = re.compile(r"(\bpassword=)[^\s&\"]+", re.IGNORECASE)


def scrub(text: str) -> str:
    """`text` with any password in a connection string replaced by `***`."""
    return _KEY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


class Document(BaseModel):
    """Base of every output document: unknown fields are a schema violation, so the published
    schemas describe the output exactly."""

    model_config = ConfigDict(extra="forbid")


class DiffRow(Document):
    change: str
    kind: str
    object: str
    detail: str


class DiffDocument(Document):
    changes: list[DiffRow]


class WrittenDocument(Document):
    """What `--output FILE` prints instead of the document it wrote to the file."""

    written: str


class ExportDocument(Document):
    """`export alembic --json` without --output: the revision module, as text."""

    revision: str
    down_revision: str | None
    module: str = Field(description="Python source of the Alembic revision module.")


class CheckDoc(Document):
    name: str
    passed: bool | None
    detail: str


class ObservationDoc(Document):
    number: int
    description: str
    locks: dict[str, str]
    strongest_lock: str | None
    rewritten: list[str]
    duration_ms: float
    locks_observed: bool
    contradictions: list[str]
    summary: str


class ShadowDoc(Document):
    ok: bool
    checks: list[CheckDoc]
    observations: list[ObservationDoc]
    rollback_observations: list[ObservationDoc]
    contradictions: list[str]


class HazardDoc(Document):
    rule: str
    severity: str
    message: str


class VerdictDoc(Document):
    number: int
    description: str
    status: Literal["PASS", "WARN", "FAIL"]
    hazards: list[HazardDoc]
    lock: str
    rewrite: str
    transactional: bool
    observed: str | None
    reverse_sql: str | None
    one_way: bool
    data_restorable: bool


class SafetyDoc(Document):
    safe: bool
    reversible: bool
    proved: bool  # False when the shadow run disproved the plan
    shadow_error: str | None = None
    shadow: ShadowDoc | None  # None: no shadow database configured, or nothing to prove
    steps: list[VerdictDoc]


class PlanValidationDocument(Document):
    """`plan --validate --json`: the plan (or where it was written) and its safety report."""

    plan: Plan | None = None
    written: str | None = None
    safety: SafetyDoc


class PreflightCheckDoc(Document):
    step: str
    rows: str
    passed: bool | None
    count: int | None
    examples: list[str]
    sql: str
    detail: str


class PreflightDoc(Document):
    ok: bool
    skipped: str | None
    database: str
    replica: bool
    checks: list[PreflightCheckDoc]


class ErrorBody(Document):
    code: str  # the error class in snake_case: input_error, connection_failed, unsafe_plan ...
    message: str
    path: str | None = None  # the file, argument or URL an input error is about
    exit_code: int
    ledger_id: int | None = None  # ApplyFailed: the ledger entry that records the failure
    run_id: int | None = None  # RunInterrupted: the run to resume or abandon
    preflight: PreflightDoc | None = None  # PreflightFailed: every check, not just the failures


class ErrorDocument(Document):
    error: ErrorBody


class RetryDoc(Document):
    step: int
    description: str
    attempt: int
    reason: str
    sleep: float
    undo: bool
    dropped: list[str]
    text: str


class ApplyDocument(Document):
    """`apply --json` and `apply --resume --json`."""

    status: Literal["applied", "resumed", "no_changes"]
    message: str
    database: str
    steps_applied: int
    duration_ms: int
    ledger_id: int | None
    run_id: int | None
    verified: bool
    shadow: ShadowDoc | None  # None for a resumed run: its plan was proved when it started
    preflight: PreflightDoc | None
    retries: list[RetryDoc]
    warnings: list[str]


class RunDoc(Document):
    id: int
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    status: str
    os_user: str
    db_user: str
    plan_fingerprint: str
    error: str | None
    ledger_id: int | None
    steps: int
    steps_done: int
    current_step: int | None
    rows_done: int
    rows_total: int | None
    phase: str | None
    rate: float | None
    eta: float | None


class RunsDocument(Document):
    runs: list[RunDoc]


class AbandonDocument(Document):
    abandoned: int
    message: str


class RuleDoc(Document):
    code: str
    name: str
    category: str
    severity: str
    catches: str
    why: str
    safer: str
    atlas: list[str]
    squawk: list[str]


class RulesDocument(RootModel[list[RuleDoc]]):
    """`rules --json`: the catalog (or the rules asked for), a list as it has always been."""


class ValidateDocument(Document):
    valid: Literal[True]
    kind: Literal["schema", "plan"]
    file: str
    tables: int | None = None
    steps: int | None = None


class LedgerEntryDoc(Document):
    id: int
    started_at: datetime
    duration_ms: int
    os_user: str
    db_user: str
    source_fingerprint: str | None
    target_fingerprint: str | None
    outcome: str
    error: str | None
    steps: int


class HistoryDocument(Document):
    entries: list[LedgerEntryDoc]


class VersionDocument(Document):
    version: str


class InitDocument(Document):
    message: str


class EmbeddedDocument(Document):
    action: Literal["start", "stop", "status"]
    running: bool
    stopped: bool | None = None  # stop: False when no server was running
    directory: str
    pid: int | None = None
    database_url: str | None = None
    shadow_url: str | None = None


# The published output formats: file name under schema-json/ -> (model, title).
FORMATS: dict[str, tuple[type[BaseModel], str]] = {
    "error.json": (ErrorDocument, "Lockplane CLI error"),
    "diff.json": (DiffDocument, "Lockplane diff"),
    "written.json": (WrittenDocument, "Lockplane output written to a file"),
    "export.json": (ExportDocument, "Lockplane plan exported as an Alembic revision"),
    "plan-validation.json": (PlanValidationDocument, "Lockplane plan with safety report"),
    "apply.json": (ApplyDocument, "Lockplane apply result"),
    "runs.json": (RunsDocument, "Lockplane runs"),
    "runs-abandon.json": (AbandonDocument, "Lockplane abandoned run"),
    "rules.json": (RulesDocument, "Lockplane safety rules"),
    "validate.json": (ValidateDocument, "Lockplane validation result"),
    "history.json": (HistoryDocument, "Lockplane migration history"),
    "version.json": (VersionDocument, "Lockplane version"),
    "init.json": (InitDocument, "Lockplane init result"),
    "embedded.json": (EmbeddedDocument, "Lockplane embedded server"),
}


def emit(doc: BaseModel | str) -> None:
    """Print one JSON document on stdout: a model, or JSON text already rendered (schema and
    plan documents have their own `to_json`). by_alias: a plan inside a document spells its
    fields as a plan file does."""
    text = doc if isinstance(doc, str) else doc.model_dump_json(indent=2, by_alias=True)
    sys.stdout.write(text.rstrip("\n") + "\n")


def no_changes(database: str) -> ApplyDocument:
    """`apply --json` of an empty plan: nothing ran, nothing was recorded."""
    return ApplyDocument(
        status="no_changes",
        message="No changes: nothing to apply.",
        database=database,
        steps_applied=0,
        duration_ms=0,
        ledger_id=None,
        run_id=None,
        verified=True,
        shadow=None,
        preflight=None,
        retries=[],
        warnings=[],
    )


def error_code(exc: BaseException) -> str:
    """`InputError` -> `input_error`, `ConnectionFailed` -> `connection_failed`."""
    name = type(exc).__name__
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def error_document(
    code: str, message: str, exit_code: int, *, path: str | None = None, exc: Any = None
) -> ErrorDocument:
    from .preflight import PreflightReport

    report = getattr(exc, "report", None)
    return ErrorDocument(
        error=ErrorBody(
            code=code,
            message=scrub(message),
            path=scrub(path) if path is not None else None,
            exit_code=exit_code,
            ledger_id=getattr(exc, "ledger_id", None),
            run_id=getattr(exc, "run_id", None),
            preflight=preflight_doc(report) if isinstance(report, PreflightReport) else None,
        )
    )


def lockplane_error(exc: LockplaneError) -> ErrorDocument:
    path = exc.source if isinstance(exc, InputError) else None
    return error_document(error_code(exc), str(exc), exc.exit_code, path=path, exc=exc)


def shadow_doc(report: ShadowReport) -> ShadowDoc:
    def observed(items: list[Any]) -> list[ObservationDoc]:
        return [
            ObservationDoc(
                number=o.number,
                description=o.description,
                locks=dict(o.locks),
                strongest_lock=o.strongest_lock,
                rewritten=list(o.rewritten),
                duration_ms=o.duration_ms,
                locks_observed=o.locks_observed,
                contradictions=list(o.contradictions),
                summary=o.summary(),
            )
            for o in items
        ]

    return ShadowDoc(
        ok=report.ok,
        checks=[CheckDoc(name=c.name, passed=c.passed, detail=c.detail) for c in report.checks],
        observations=observed(report.observations),
        rollback_observations=observed(report.rollback_observations),
        contradictions=report.contradictions,
    )


def safety_doc(report: SafetyReport, *, proved: bool, shadow_error: str | None) -> SafetyDoc:
    from .safety import rule_label

    return SafetyDoc(
        safe=report.safe,
        reversible=report.reversible,
        proved=proved,
        shadow_error=shadow_error,
        shadow=shadow_doc(report.shadow) if report.shadow is not None else None,
        steps=[
            VerdictDoc(
                number=v.number,
                description=v.step.description,
                status=v.status,  # type: ignore[arg-type]
                hazards=[
                    HazardDoc(rule=rule_label(h), severity=h.severity, message=h.message)
                    for h in v.step.hazards
                ],
                lock=v.lock,
                rewrite=v.rewrite,
                transactional=v.step.transactional,
                observed=v.observed,
                reverse_sql=v.step.reverse_sql,
                one_way=v.step.one_way,
                data_restorable=v.data_restorable,
            )
            for v in report.verdicts
        ],
    )


def preflight_doc(report: PreflightReport) -> PreflightDoc:
    return PreflightDoc(
        ok=report.ok,
        skipped=report.skipped,
        database=report.database,
        replica=report.replica,
        checks=[PreflightCheckDoc.model_validate(row) for row in report.rows()],
    )


def apply_document(
    result: ApplyResult, database: str, *, status: Literal["applied", "resumed"]
) -> ApplyDocument:
    return ApplyDocument(
        status=status,
        message=result.message,
        database=database,
        steps_applied=result.steps_applied,
        duration_ms=result.duration_ms,
        ledger_id=result.ledger_id,
        run_id=result.run_id,
        verified=result.verified,
        shadow=shadow_doc(result.shadow) if status == "applied" else None,
        preflight=preflight_doc(result.preflight) if result.preflight is not None else None,
        retries=[
            RetryDoc(
                step=r.step,
                description=r.description,
                attempt=r.attempt,
                reason=r.reason,
                sleep=r.sleep,
                undo=r.undo,
                dropped=list(r.dropped),
                text=r.text(),
            )
            for r in result.retries
        ],
        warnings=list(result.warnings),
    )


def run_doc(r: RunInfo) -> RunDoc:
    return RunDoc(
        id=r.id,
        started_at=r.started_at,
        updated_at=r.updated_at,
        finished_at=r.finished_at,
        status=r.status,
        os_user=r.os_user,
        db_user=r.db_user,
        plan_fingerprint=r.plan_fingerprint,
        error=r.error,
        ledger_id=r.ledger_id,
        steps=r.steps,
        steps_done=r.steps_done,
        current_step=r.current_step,
        rows_done=r.rows_done,
        rows_total=r.rows_total,
        phase=r.phase,
        rate=r.rate,
        eta=r.eta,
    )


def ledger_doc(e: LedgerEntry) -> LedgerEntryDoc:
    from dataclasses import asdict

    return LedgerEntryDoc.model_validate(asdict(e))
