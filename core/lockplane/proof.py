"""The shadow proof: rehearse a plan and its rollback on a throwaway database.

Nothing touches the real database until the shadow has shown that the plan turns the current
schema into the target and that the rollback turns it back; this module holds that rehearsal
and its report, so the executor, the CLI's `plan --validate` and the notebook share one proof.

Each step runs on its own (in its own transaction, or in autocommit when it cannot run in one)
under an observer (observe.py), so the report also says what each step really locked and
rewrote. A failed step leaves the earlier ones committed on the shadow; that is harmless, since
the shadow is reset before every run. Where the observed facts contradict a step's static
claims, the report says so as a bug in Lockplane's rules; it does not fail the proof, because
the observation is the truth and the plan itself is fine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .diff import diff
from .errors import LockplaneError, ShadowMismatch
from .introspect import introspect, opt_in
from .model import Schema
from .observe import Observer, StepObservation
from .plan import Plan, Step
from .shadow import Shadow


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
    observations: list[StepObservation] = field(default_factory=list)
    rollback_observations: list[StepObservation] = field(default_factory=list)
    rollback: Plan | None = None  # the rollback rehearsed, once seen to return to the start

    @property
    def ok(self) -> bool:
        """Contradictions do not count: they are Lockplane's bugs, not the plan's."""
        return all(c.passed is not False for c in self.checks)

    @property
    def contradictions(self) -> list[str]:
        """Static claims (lock, locked tables, rewrite) that the shadow run disproved."""
        return [
            message
            for o in (*self.observations, *self.rollback_observations)
            for message in o.contradictions
        ]

    def add(self, name: str, passed: bool | None, detail: str = "") -> None:
        self.checks.append(Check(name, passed, detail))

    def text(self, *, observations: bool = True) -> str:
        """The checks, Lockplane bugs first; `observations=False` when the per-step facts are
        already shown next to each step (the safety report of `plan --validate`)."""
        mark = {True: "✓", False: "✗", None: "-"}
        lines = []
        bugs = self.contradictions
        if bugs:
            lines.append(
                f"!! {len(bugs)} LOCKPLANE BUG{'S' if len(bugs) != 1 else ''}: the shadow "
                "contradicts the static rules (the observed facts below are the truth)"
            )
            lines += [f"!! {message}" for message in bugs]
        lines += [
            f"{mark[c.passed]} {c.name}" + (f": {c.detail}" if c.detail else "")
            for c in self.checks
        ]
        for title, observed in (
            ("Observed on the shadow, plan", self.observations),
            ("Observed on the shadow, rollback", self.rollback_observations),
        ):
            if observed and observations:
                lines.append(f"{title}:")
                lines += [line for o in observed for line in observation_lines(o)]
        return "\n".join(lines)


def observation_lines(o: StepObservation) -> list[str]:
    """A step as observed, with the static rules' claim beside it and any contradiction."""
    lines = [
        f"  {o.number}. {o.description}",
        f"     observed: {o.summary()}",
        f"     rules:    {o.claim()}",
    ]
    return lines + [f"     !! {message}" for message in o.contradictions]


def _observe(
    observer: Observer, steps: tuple[Step, ...], what: str, into: list[StepObservation]
) -> None:
    """Run the steps one by one, appending each observation as it is made, so a failure
    leaves what ran before it in the report."""
    for number, step in enumerate(steps, 1):
        into.append(observer.run(number, step, what))


def prove(
    plan: Plan,
    current: Schema,
    shadow: Shadow,
    *,
    sample_from: str | None = None,
    sample_rows: int = 0,
) -> ShadowReport:
    """Rehearse the plan and its rollback on the shadow; raise ShadowMismatch on any failure.

    With `sample_from` (the real database, read-only) and `sample_rows`, the shadow first gets
    up to that many real rows per table, so steps that depend on the data are tried on some."""
    report = ShadowReport()
    with shadow.session() as conn:
        sampled = shadow.build(
            conn,
            current,
            "building the current schema on the shadow",
            sample_from=sample_from,
            sample_rows=sample_rows,
        )
        report.add("Current schema built on the shadow", True, current.summary())
        if sampled is not None:
            report.add("Sampled data copied", True, sampled.text())
        try:
            _observe(Observer(conn), plan.steps, "shadow run", report.observations)
        except LockplaneError as exc:
            report.add("Plan applied on the shadow", False, str(exc))
            raise ShadowMismatch(str(exc), report) from None
        report.add("Plan applied on the shadow", True, f"{len(plan.steps)} steps")
        wanted = opt_in(plan.target) if plan.target is not None else {}
        reached = report.reached = introspect(conn, **wanted)
        rollback_reached: Schema | None = None
        if plan.reversible:
            try:
                rollback = plan.reverse().steps
                _observe(Observer(conn), rollback, "shadow rollback", report.rollback_observations)
            except LockplaneError as exc:
                report.add("Rollback applied on the shadow", False, str(exc))
                raise ShadowMismatch(str(exc), report) from None
            rollback_reached = introspect(conn, **opt_in(current))
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
    one_way = plan.one_way_steps()
    if one_way:
        report.add(
            "Rollback returns to the start",
            None,
            f"not rehearsable: {', '.join(one_way)} {'is' if len(one_way) == 1 else 'are'} one-way",
        )
    elif rollback_reached is None:
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
        report.rollback = plan.reverse()
    return report


def rehearsed(proven: ShadowReport, rollback: Plan) -> ShadowReport:
    """The proof of a rollback that its forward plan's proof already rehearsed on the shadow
    (applied after the plan and seen to return to the start), so it is not rehearsed again.

    Refuses a report that did not rehearse exactly this plan."""
    if proven.rollback is None or proven.rollback != rollback:
        raise LockplaneError(
            "the given shadow proof did not rehearse this plan as its rollback; "
            "apply it with a shadow proof of its own"
        )
    report = ShadowReport(reached=rollback.target, observations=list(proven.rollback_observations))
    report.add(
        "Rehearsed on the shadow as the rollback of the proven plan",
        True,
        f"{len(rollback.steps)} steps",
    )
    return report
