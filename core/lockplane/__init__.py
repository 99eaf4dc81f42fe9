"""Lockplane: safe, explained, reversible Postgres schema changes.

The public API, in the order data flows: a schema is loaded or introspected, two schemas are
diffed, the diff becomes a plan, the plan gets a safety report, and the plan is applied after a
shadow proof. The notebook layer and the CLI use only these names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Schema": "model",
    "Plan": "plan",
    "Step": "plan",
    "Hazard": "plan",
    "introspect_url": "introspect",
    "load_schema": "sources",
    "load_schema_file": "loader",
    "load_plan_file": "loader",
    "parse_schema_text": "loader",
    "parse_plan_text": "loader",
    "Diff": "diff",
    "make_plan": "planner",
    "rollback_plan": "rollback",
    "SafetyReport": "safety",
    "apply_plan": "executor",
    "resume_run": "executor",
    "abandon_run": "executor",
    "prove": "proof",
    "check_drift": "executor",
    "ApplyResult": "executor",
    "ShadowReport": "proof",
    "PreflightReport": "preflight",
    "Shadow": "shadow",
    "LockplaneError": "errors",
}

# These three share their names with their modules: bind them eagerly, or `lockplane.diff` would
# become the module as soon as anything imports `lockplane.diff`.
from .diff import diff  # noqa: E402
from .introspect import introspect  # noqa: E402
from .preflight import preflight  # noqa: E402

__all__ = [
    "ApplyResult",
    "Diff",
    "Hazard",
    "LockplaneError",
    "Plan",
    "PreflightReport",
    "SafetyReport",
    "Schema",
    "Shadow",
    "ShadowReport",
    "Step",
    "__version__",
    "abandon_run",
    "apply_plan",
    "check_drift",
    "diff",
    "introspect",
    "introspect_url",
    "load_plan_file",
    "load_schema",
    "load_schema_file",
    "make_plan",
    "parse_plan_text",
    "parse_schema_text",
    "preflight",
    "prove",
    "resume_run",
    "rollback_plan",
]

if TYPE_CHECKING:
    from .diff import Diff
    from .errors import LockplaneError
    from .executor import ApplyResult, abandon_run, apply_plan, check_drift, resume_run
    from .introspect import introspect_url
    from .loader import load_plan_file, load_schema_file, parse_plan_text, parse_schema_text
    from .model import Schema
    from .plan import Hazard, Plan, Step
    from .planner import make_plan
    from .preflight import PreflightReport
    from .proof import ShadowReport, prove
    from .rollback import rollback_plan
    from .safety import SafetyReport
    from .shadow import Shadow
    from .sources import load_schema


def __getattr__(name: str) -> Any:
    """Import lazily: `lockplane version` should not pay for psycopg and pydantic."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lockplane' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)
