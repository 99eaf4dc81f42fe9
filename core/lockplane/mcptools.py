"""What the MCP server's tools do, without the MCP SDK: each returns an Outcome (structured data
and a short summary) or raises a LockplaneError, which `error_data` turns into `{"error": ...}`.

The database and shadow URLs belong to the server's configuration, never to a tool argument, so
an agent never handles a password; everything a tool returns names them masked. The plans the
session made are kept by fingerprint, so `apply` can demand the fingerprint of the plan it runs:
the agent confirms exactly the steps it reviewed, and a plan edited in between is refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg

from . import ledger
from .db import connect, mask_url
from .diff import diff
from .errors import ConnectionFailed, InputError, LockplaneError, ShadowMismatch, UnsafePlan
from .executor import apply_plan, check_drift, unsafe_steps
from .extpaths import update_paths_for
from .introspect import introspect_url, opt_in
from .loader import parse_plan_text, parse_schema_text
from .model import Schema
from .plan import Hazard, Plan
from .planner import make_plan
from .preflight import PreflightReport
from .proof import ShadowReport, prove
from .rollback import rollback_plan
from .rules import BY_CODE, RULES
from .safety import SafetyReport
from .shadow import Shadow


class ConfirmationRequired(LockplaneError):
    """A tool that changes the database was called without the plan's fingerprint."""


class FingerprintMismatch(LockplaneError):
    """The fingerprint given names no plan of this session, or not the plan given."""


@dataclass(frozen=True)
class Outcome:
    data: dict[str, Any]
    summary: str


@dataclass
class Session:
    """One server's configuration and memory: the plans it made (by fingerprint) and the
    fingerprints it applied, last one last."""

    database_url: str
    shadow_url: str
    plans: dict[str, Plan] = field(default_factory=dict)
    applied: list[str] = field(default_factory=list)

    def keep(self, plan: Plan) -> str:
        fingerprint = plan.fingerprint()
        self.plans[fingerprint] = plan
        return fingerprint

    def scrub(self, text: str) -> str:
        """The text with the configured URLs masked: belt and braces over every output."""
        for url in (self.database_url, self.shadow_url):
            text = text.replace(url, mask_url(url))
        return text

    # --- the tools ------------------------------------------------------------------------

    def introspect(self) -> Outcome:
        schema = introspect_url(self.database_url)
        return Outcome(
            {"database": mask_url(self.database_url), "schema": _doc(schema.to_json())},
            f"{mask_url(self.database_url)}: {schema.summary()}",
        )

    def diff(self, desired: str, current: str = "") -> Outcome:
        after = self.desired(desired, "desired")
        before = self.desired(current, "current") if current.strip() else self.live(after)
        d = diff(before, after)
        return Outcome(
            {"empty": d.is_empty, "changes": _doc(d.to_json())},
            "No changes: the schemas are identical." if d.is_empty else d.summary(),
        )

    def plan(self, desired: str, online: bool = True, expand_contract: bool = False) -> Outcome:
        if expand_contract and not online:
            raise InputError("expand_contract", "is an online form: it needs online=true")
        target = self.desired(desired, "desired")
        source = self.live(target)
        plan = make_plan(
            source,
            target,
            online=online,
            expand_contract=expand_contract,
            extension_paths=update_paths_for(self.shadow_url, source, target),
        )
        fingerprint = self.keep(plan)
        data = plan_data(plan, fingerprint)
        return Outcome(data, _plan_summary(plan, fingerprint, data["hazards"]))

    def validate(self, fingerprint: str = "", plan: str = "") -> Outcome:
        chosen, fingerprint = self.chosen(fingerprint, plan)
        if chosen.is_empty:
            return Outcome(
                {"fingerprint": fingerprint, "safe": True, "proved": None, "steps": []},
                "No changes: nothing to validate.",
            )
        live = self.live(chosen.source)
        check_drift(chosen, live)
        shadow = Shadow(self.shadow_url, target_url=self.database_url)
        try:
            proof, proved = prove(chosen, live, shadow), True
        except ShadowMismatch as exc:
            proof, proved = exc.report if isinstance(exc.report, ShadowReport) else None, False
        report = SafetyReport(chosen, proof)
        data = {
            "fingerprint": fingerprint,
            "safe": report.safe,
            "reversible": report.reversible,
            "proved": proved,
            "steps": [
                {
                    "step": v.number,
                    "status": v.status,
                    "description": v.step.description,
                    "lock": v.lock,
                    "rewrite": v.rewrite,
                    "transactional": v.step.transactional,
                    "observed": v.observed,
                    "hazards": [_hazard(v.number, h) for h in v.step.hazards],
                }
                for v in report.verdicts
            ],
            "shadow": shadow_data(proof),
            "report": report.text(),
        }
        concerns = [h for v in report.verdicts for h in v.concerns]
        errors = sum(h.severity == "error" for h in concerns)
        summary = (
            f"{'Safe' if report.safe else 'UNSAFE'}: {len(chosen.steps)} steps, "
            f"{len(concerns) - errors} warnings, {errors} errors; shadow proof "
            f"{'passed' if proved else 'FAILED'}; plan {fingerprint[:12]}"
        )
        return Outcome(data, summary)

    def apply(
        self, fingerprint: str = "", allow_destructive: bool = False, plan: str = ""
    ) -> Outcome:
        if not fingerprint.strip():
            raise ConfirmationRequired(
                "apply needs `fingerprint`: the fingerprint of the plan to apply, as `plan` "
                "returned it; it confirms which steps run"
            )
        chosen, fingerprint = self.chosen(fingerprint, plan, confirm=True)
        return self.run(chosen, fingerprint, allow_destructive)

    def rollback(
        self, fingerprint: str = "", confirm: str = "", allow_destructive: bool = False
    ) -> Outcome:
        if not fingerprint.strip():
            if not self.applied:
                raise InputError(
                    "fingerprint", "no plan was applied in this session: name the plan to undo"
                )
            fingerprint = self.applied[-1]
        forward, fingerprint = self.chosen(fingerprint, "")
        if forward.source is None:
            raise InputError(
                "fingerprint", f"plan {fingerprint[:12]} carries no source schema to return to"
            )
        reverse = rollback_plan(
            forward, forward.source, shadow_url=self.shadow_url, source_name="fingerprint"
        )
        reverse_fingerprint = self.keep(reverse)
        if not confirm.strip():
            data = {**plan_data(reverse, reverse_fingerprint), "applied": False}
            data["rollback_of"] = fingerprint
            return Outcome(
                data,
                _plan_summary(reverse, reverse_fingerprint, data["hazards"])
                + f"\nNot applied: call rollback again with confirm={reverse_fingerprint}.",
            )
        if confirm.strip() != reverse_fingerprint:
            raise FingerprintMismatch(
                f"confirm {confirm.strip()[:12]} is not the rollback of plan {fingerprint[:12]} "
                f"(that is {reverse_fingerprint[:12]}): review it before running it"
            )
        outcome = self.run(reverse, reverse_fingerprint, allow_destructive)
        return Outcome({**outcome.data, "rollback_of": fingerprint}, outcome.summary)

    def history(self) -> Outcome:
        with connect(self.database_url, autocommit=True) as conn:
            entries = ledger.history(conn)
        rows = [{**asdict(e), "started_at": e.started_at.isoformat()} for e in entries]
        lines = [
            f"{e.id}: {e.outcome} {e.steps} steps, {e.started_at:%Y-%m-%d %H:%M:%S}, "
            f"{(e.source_fingerprint or '?')[:12]} → {(e.target_fingerprint or '?')[:12]}"
            for e in entries
        ]
        return Outcome(
            {"database": mask_url(self.database_url), "migrations": rows},
            "\n".join(lines) or "No migrations recorded.",
        )

    def rules(self, codes: list[str] | None = None) -> Outcome:
        wanted = codes or []
        unknown = [c for c in wanted if c not in BY_CODE]
        if unknown:
            raise InputError(
                "codes", f"no rule {', '.join(unknown)} (codes run LP101 to {RULES[-1].code})"
            )
        chosen = [r for r in RULES if not wanted or r.code in wanted]
        return Outcome(
            {"rules": [asdict(r) for r in chosen]},
            "\n".join(f"{r.code} {r.name} [{r.severity}]: {r.catches}" for r in chosen),
        )

    # --- shared ---------------------------------------------------------------------------

    def desired(self, text: str, name: str) -> Schema:
        """A schema given as text: SQL DDL (Postgres parses it in a scratch database on the
        shadow server) or Lockplane JSON (built there and read back, so spellings compare)."""
        if not text.strip():
            raise InputError(name, "is empty: give a schema as SQL DDL or Lockplane JSON")
        shadow = Shadow(self.shadow_url)
        if not text.lstrip().startswith("{"):
            return shadow.load_sql(text, name)
        schema = parse_schema_text(text, name)
        try:
            return shadow.normalize(schema)
        except (InputError, ConnectionFailed):
            raise
        except LockplaneError as exc:
            raise InputError(name, f"does not build on the shadow database: {exc}") from None

    def live(self, against: Schema | None) -> Schema:
        """The database, read with the privileges and owners `against` manages."""
        return introspect_url(self.database_url, **(opt_in(against) if against else {}))

    def chosen(self, fingerprint: str, plan: str, *, confirm: bool = False) -> tuple[Plan, str]:
        """The plan a tool acts on: given as JSON text (whose fingerprint must then match, when
        one is given or `confirm` demands it), or else one this session made."""
        fingerprint = fingerprint.strip()
        if plan.strip():
            given = parse_plan_text(plan, "plan")
            actual = given.fingerprint()
            if (fingerprint or confirm) and fingerprint != actual:
                raise FingerprintMismatch(
                    f"fingerprint {fingerprint[:12]} is not the fingerprint of the plan given "
                    f"({actual[:12]}): the plan changed since it was reviewed"
                )
            return given, self.keep(given)
        if not fingerprint:
            raise InputError("fingerprint", "name a plan by its fingerprint, or give `plan`")
        found = self.plans.get(fingerprint)
        if found is None:
            known = ", ".join(f[:12] for f in self.plans) or "none yet"
            raise FingerprintMismatch(
                f"no plan of this session has fingerprint {fingerprint[:12]} (plans made: "
                f"{known}); make the plan with `plan`, or pass its JSON as `plan`"
            )
        return found, fingerprint

    def run(self, plan: Plan, fingerprint: str, allow_destructive: bool) -> Outcome:
        """Apply after the engine's shadow proof; error-severity hazards need permission."""
        blocked = unsafe_steps(plan)
        if blocked and not allow_destructive:
            raise UnsafePlan(
                "refusing to apply: " + " | ".join(blocked) + ". Pass allow_destructive=true "
                "to apply anyway."
            )
        result = apply_plan(
            plan, self.database_url, shadow_url=self.shadow_url, allow_destructive=allow_destructive
        )
        if plan.is_empty:
            return Outcome({"applied": False, "fingerprint": fingerprint}, result.message)
        self.applied.append(fingerprint)
        data = {
            "applied": True,
            "fingerprint": fingerprint,
            "database": mask_url(self.database_url),
            "ledger_id": result.ledger_id,
            "run_id": result.run_id,
            "steps_applied": result.steps_applied,
            "duration_ms": result.duration_ms,
            "verified": result.verified,
            "shadow": shadow_data(result.shadow),
            "preflight": None if result.preflight is None else result.preflight.text(),
            "warnings": list(result.warnings),
        }
        summary = f"{result.message} on {mask_url(self.database_url)}"
        if result.ledger_id is not None:
            summary += f" (ledger entry {result.ledger_id})"
        if not result.verified:
            summary += "; warning: the database does not read back exactly as the shadow did"
        return Outcome(data, summary)


def plan_data(plan: Plan, fingerprint: str) -> dict[str, Any]:
    """A plan for an agent: its fingerprint, the hazards of its steps and of its rollback with
    their rule codes, and the plan document itself."""
    return {
        "fingerprint": fingerprint,
        "steps": len(plan.steps),
        "hazards": [_hazard(n, h) for n, s in enumerate(plan.steps, 1) for h in s.hazards],
        "rollback_hazards": [
            _hazard(n, h) for n, s in enumerate(plan.steps, 1) for h in s.reverse_hazards
        ],
        "reversible": plan.reversible,
        "plan": _doc(plan.to_json()),
    }


def shadow_data(report: ShadowReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {
        "ok": report.ok,
        "checks": [asdict(c) for c in report.checks],
        "contradictions": report.contradictions,
    }


def error_data(exc: BaseException, session: Session | None = None) -> dict[str, Any]:
    """`{"error": {"code", "message", "path"}}`: the code from the error's class
    (InputError → input_error), the path the input error names, the message masked."""
    path: str | None = None
    if isinstance(exc, InputError):
        where = next((p for p, _ in exc.problems if p), "")
        path = f"{exc.source}: {where}" if where else exc.source
    if isinstance(exc, psycopg.Error):
        code = "database_error"
        message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    else:
        code = re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()
        message = str(exc)
    error: dict[str, Any] = {"code": code, "message": message, "path": path}
    report = getattr(exc, "report", None)
    if isinstance(report, ShadowReport):
        error["shadow"] = shadow_data(report)
    elif isinstance(report, PreflightReport):
        error["preflight"] = report.text()
    if session is not None:
        return json.loads(session.scrub(json.dumps({"error": error})))
    return {"error": error}


def _hazard(step: int, h: Hazard) -> dict[str, Any]:
    rule = BY_CODE.get(h.rule or "")
    return {
        "step": step,
        "rule": h.rule,
        "name": rule.name if rule else None,
        "code": h.code,
        "severity": h.severity,
        "message": h.message,
    }


def _plan_summary(plan: Plan, fingerprint: str, hazards: list[dict[str, Any]]) -> str:
    if plan.is_empty:
        return f"No changes: the schemas are identical (plan {fingerprint[:12]})."
    lines = [f"Plan {fingerprint} ({len(plan.steps)} steps):"]
    lines += [f"  {n}. {s.description}" for n, s in enumerate(plan.steps, 1)]
    lines += [
        f"  {h['severity']} [{h['rule'] or h['code']}] step {h['step']}: {h['message']}"
        for h in hazards
    ]
    return "\n".join(lines)


def _doc(text: str) -> Any:
    return json.loads(text)
