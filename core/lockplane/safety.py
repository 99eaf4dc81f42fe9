"""The validation report: a plan's steps judged one by one, in the seed's format.

It reads what the plan already carries (hazards with their rule codes, locks, tables, reverse
steps, notes) and decides nothing new, so the report, the JSON plan and the notebook can never
disagree. When the plan was rehearsed on the shadow, each step also shows what the shadow
observed (locks actually taken, tables actually rewritten, time), next to the static claims.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .plan import LOCK_BLOCKS, Hazard, Plan, Step
from .rules import BY_CODE

if TYPE_CHECKING:
    from .proof import ShadowReport


def rule_label(h: Hazard) -> str:
    """`LP301 type-change-rewrite`, or the bare category for plans made before rule codes."""
    rule = BY_CODE.get(h.rule or "")
    return f"{rule.code} {rule.name}" if rule else h.code


@dataclass(frozen=True)
class StepVerdict:
    number: int
    step: Step
    observed: str | None = None  # the shadow's observation of this step, one line

    @property
    def status(self) -> str:
        if self.step.blocking:
            return "FAIL"
        return "WARN" if self.concerns else "PASS"

    @property
    def concerns(self) -> list[Hazard]:
        """Hazards that need a reviewer (errors and warnings); info is design advice."""
        return [h for h in self.step.hazards if h.severity != "info"]

    @property
    def advice(self) -> list[Hazard]:
        return [h for h in self.step.hazards if h.severity == "info"]

    @property
    def data_restorable(self) -> bool:
        return not any(h.code == "IRREVERSIBLE" for h in self.step.hazards)

    @property
    def lock(self) -> str:
        """`ACCESS EXCLUSIVE on users (blocks reads and writes)`."""
        s = self.step
        if s.lock is None:
            return "none on existing tables"
        where = f" on {', '.join(s.tables)}" if s.tables else ""
        return f"{s.lock}{where} (blocks {LOCK_BLOCKS[s.lock]})"

    @property
    def rewrite(self) -> str:
        if not any(h.code == "TABLE_REWRITE" for h in self.step.hazards):
            return "no"
        return f"yes, {', '.join(self.step.tables)}" if self.step.tables else "yes"

    @property
    def rules(self) -> list[str]:
        return list(dict.fromkeys(rule_label(h) for h in self.step.hazards))


@dataclass(frozen=True)
class SafetyReport:
    plan: Plan
    shadow: ShadowReport | None = None  # a shadow run's report, for observed facts per step

    @property
    def verdicts(self) -> list[StepVerdict]:
        seen = {o.number: o.summary() for o in getattr(self.shadow, "observations", ())}
        return [StepVerdict(n, s, seen.get(n)) for n, s in enumerate(self.plan.steps, 1)]

    @property
    def safe(self) -> bool:
        return not any(s.blocking for s in self.plan.steps)

    @property
    def reversible(self) -> bool:
        return self.plan.reversible and all(v.data_restorable for v in self.verdicts)

    def text(self) -> str:
        lines = ["=== Validation Results ===", ""]
        if self.plan.is_empty:
            lines += ["✓ No changes: nothing to validate", ""]
        mark = {"PASS": "✓", "WARN": "⚠", "FAIL": "✗"}
        for v in self.verdicts:
            s = v.step
            lines.append(f"{mark[v.status]} Validation {v.number}: {v.status}")
            lines.append(f"  {s.description}")
            for h in v.concerns:
                label = "Error" if h.severity == "error" else "Warning"
                lines.append(f"  {label} [{rule_label(h)}]: {h.message}")
            lines += [f"  - {note}" for note in (s.notes if not v.concerns else ())]
            lines += [f"  - Advice [{rule_label(h)}]: {h.message}" for h in v.advice]
            lines.append(f"  - Lock: {v.lock}")
            lines.append(f"  - Table rewrite: {v.rewrite}")
            if not s.transactional:
                lines.append("  - Runs outside a transaction (CONCURRENTLY)")
            if v.observed is not None:
                lines.append(f"  - Observed on the shadow: {v.observed}")
            if s.one_way:
                lines.append("  - Reversible: no, one-way (the rollback of this plan is refused)")
            elif s.reverse_sql is None:
                lines.append("  - Reversible: unknown (the plan carries no reverse step)")
            else:
                tail = "" if v.data_restorable else " (schema only: the data is not restored)"
                lines.append(f"  - Reversible: {s.reverse_sql}{tail}")
            lines.append("")
        if self.reversible:
            lines.append("✓ All operations are reversible")
        else:
            one_way = [v.number for v in self.verdicts if v.step.one_way]
            lost = [
                v.number
                for v in self.verdicts
                if not v.step.one_way and (not v.data_restorable or v.step.reverse_sql is None)
            ]
            if one_way:
                lines.append(
                    f"⚠ Not reversible: step(s) {', '.join(map(str, one_way))} cannot be undone"
                )
            if lost:
                lines.append(
                    f"⚠ Not fully reversible: step(s) {', '.join(map(str, lost))} cannot "
                    "restore data"
                )
        if self.safe:
            lines.append("✓ All validations passed")
        else:
            lines.append("❌ Validation FAILED: Some operations are not safe")
        return "\n".join(lines) + "\n"
