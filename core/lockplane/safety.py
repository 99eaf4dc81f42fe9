"""The validation report: a plan's steps judged one by one, in the seed's format.

It reads what the plan already carries (hazards, locks, reverse steps, notes) and decides
nothing new, so the report, the JSON plan and the notebook can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from .plan import Plan, Step


@dataclass(frozen=True)
class StepVerdict:
    number: int
    step: Step

    @property
    def status(self) -> str:
        if self.step.blocking:
            return "FAIL"
        return "WARN" if self.step.hazards else "PASS"

    @property
    def data_restorable(self) -> bool:
        return not any(h.code == "IRREVERSIBLE" for h in self.step.hazards)


@dataclass(frozen=True)
class SafetyReport:
    plan: Plan

    @property
    def verdicts(self) -> list[StepVerdict]:
        return [StepVerdict(n, s) for n, s in enumerate(self.plan.steps, 1)]

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
            for h in s.hazards:
                label = "Error" if h.severity == "error" else "Warning"
                lines.append(f"  {label} [{h.code}]: {h.message}")
            lines += [f"  - {note}" for note in (s.notes if not s.hazards else ())]
            lines.append(f"  - Lock: {s.lock or 'none on existing tables'}")
            if s.reverse_sql is None:
                lines.append("  - Reversible: unknown (the plan carries no reverse step)")
            else:
                tail = "" if v.data_restorable else " (schema only: the data is not restored)"
                lines.append(f"  - Reversible: {s.reverse_sql}{tail}")
            lines.append("")
        if self.reversible:
            lines.append("✓ All operations are reversible")
        else:
            lost = [
                v.number
                for v in self.verdicts
                if not v.data_restorable or v.step.reverse_sql is None
            ]
            lines.append(
                f"⚠ Not fully reversible: step(s) {', '.join(map(str, lost))} cannot restore data"
            )
        if self.safe:
            lines.append("✓ All validations passed")
        else:
            lines.append("❌ Validation FAILED: Some operations are not safe")
        return "\n".join(lines) + "\n"
