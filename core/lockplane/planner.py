"""Changes in, an ordered plan out.

Order comes from each change's phase (see `changes.base.Phase`): schemas, extensions, types and
sequences first; then drops of foreign keys, indexes and constraints that stand in the way; then
tables, columns, constraints, indexes and foreign keys; then drops, dependents before what they
depend on. Within a phase, changes sort by object name, so the same pair of schemas always gives
the same plan.
"""

from __future__ import annotations

from .changes.base import Change
from .diff import Diff, diff
from .model import Schema
from .plan import Plan


def order(changes: tuple[Change, ...] | list[Change]) -> list[Change]:
    return sorted(changes, key=lambda c: (c.phase, c.key(), c.description()))


def plan_from_diff(d: Diff) -> Plan:
    return Plan(
        source_fingerprint=d.old.fingerprint(),
        target_fingerprint=d.new.fingerprint(),
        steps=tuple(c.to_step() for c in order(d.changes)),
        source=d.old,
        target=d.new,
    )


def make_plan(old: Schema, new: Schema) -> Plan:
    """The plan that turns a database holding `old` into one holding `new`."""
    return plan_from_diff(diff(old, new))
