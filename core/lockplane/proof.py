"""The shadow proof: rehearse a plan and its rollback on a throwaway database.

Nothing touches the real database until the shadow has shown that the plan turns the current
schema into the target and that the rollback turns it back; this module holds that rehearsal
and its report, so the executor, the CLI's `plan --validate` and the notebook share one proof.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .diff import diff
from .errors import LockplaneError, ShadowMismatch
from .introspect import introspect
from .model import Schema
from .plan import Plan
from .shadow import Shadow, run_steps


@dataclass(frozen=True)
class Check:
    """One thing the shadow run proved (passed=True), disproved (False) or could not check (None)."""

    name: str
    passed: bool | None
    detail: str = ""


@dataclass
class ShadowReport:
    checks: list[Check] = field(default_factory=list)
    reached: Schema | None = None  # what the plan produced on the shadow

    @property
    def ok(self) -> bool:
        return all(c.passed is not False for c in self.checks)

    def add(self, name: str, passed: bool | None, detail: str = "") -> None:
        self.checks.append(Check(name, passed, detail))

    def text(self) -> str:
        mark = {True: "✓", False: "✗", None: "-"}
        return "\n".join(
            f"{mark[c.passed]} {c.name}" + (f": {c.detail}" if c.detail else "")
            for c in self.checks
        )


def prove(plan: Plan, current: Schema, shadow: Shadow) -> ShadowReport:
    """Rehearse the plan and its rollback on the shadow; raise ShadowMismatch on any failure."""
    report = ShadowReport()
    with shadow.session() as conn:
        shadow.build(conn, current, "building the current schema on the shadow")
        report.add("Current schema built on the shadow", True, f"{len(current.tables)} tables")
        try:
            with conn.transaction():
                run_steps(conn, plan.steps, "shadow run")
        except LockplaneError as exc:
            report.add("Plan applied on the shadow", False, str(exc))
            raise ShadowMismatch(str(exc), report) from None
        report.add("Plan applied on the shadow", True, f"{len(plan.steps)} steps")
        reached = report.reached = introspect(conn)
        rollback_reached: Schema | None = None
        if plan.reversible:
            try:
                with conn.transaction():
                    run_steps(conn, plan.reverse().steps, "shadow rollback")
            except LockplaneError as exc:
                report.add("Rollback applied on the shadow", False, str(exc))
                raise ShadowMismatch(str(exc), report) from None
            rollback_reached = introspect(conn)
    if plan.target is None:
        report.add("Result equals the target", None, "the plan carries no target schema")
    else:
        differences = diff(reached, plan.target)
        if not differences.is_empty:  # hand-written targets: compare with Postgres's own spelling
            differences = diff(reached, shadow.normalize(plan.target))
        if not differences.is_empty:
            report.add("Result equals the target", False, differences.summary())
            raise ShadowMismatch(
                "the plan does not reach its target on the shadow; still different:\n"
                + differences.summary(),
                report,
            )
        report.add("Result equals the target", True)
    if rollback_reached is None:
        report.add("Rollback returns to the start", None, "the plan carries no reverse steps")
    else:
        back = diff(rollback_reached, current)
        if not back.is_empty:
            report.add("Rollback returns to the start", False, back.summary())
            raise ShadowMismatch(
                "the rollback does not return to the start on the shadow:\n" + back.summary(),
                report,
            )
        report.add("Rollback returns to the start", True)
    return report
