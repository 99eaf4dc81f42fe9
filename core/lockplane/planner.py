"""Changes in, an ordered plan out.

Order comes from each change's phase (see `changes.base.Phase`): schemas, extensions, types and
sequences first; then drops of foreign keys, indexes and constraints that stand in the way; then
tables, columns, constraints, indexes and foreign keys; then drops, dependents before what they
depend on. Within a phase, changes sort by object name, so the same pair of schemas always gives
the same plan.

Online (the default), each change on an existing table that would hold a blocking lock while it
scans or builds is then replaced, where it stands, by its online form (`changes/online.py`):
CONCURRENTLY index builds and drops, NOT VALID + VALIDATE, SET NOT NULL through a validated check.
"""

from __future__ import annotations

from dataclasses import replace

from .changes.base import Change
from .changes.objects import with_update_paths
from .changes.online import online_forms
from .changes.partitions import PartitionCover
from .diff import Diff, diff
from .extpaths import UpdatePaths
from .model import Schema
from .plan import Plan


def order(changes: tuple[Change, ...] | list[Change]) -> list[Change]:
    return sorted(changes, key=lambda c: (c.phase, c.key(), c.description()))


def planned_changes(d: Diff, *, online: bool = True, expand_contract: bool = False) -> list[Change]:
    """The changes a plan's steps are made from, in plan order."""
    ordered = order(d.changes)
    if not online:
        return ordered
    expand = (d.old, d.new) if expand_contract else None
    return [form for _, forms in online_forms(ordered, expand) for form in forms]


def plan_from_diff(d: Diff, *, online: bool = True, expand_contract: bool = False) -> Plan:
    cover = PartitionCover(d.old, d.new)
    return Plan(
        source_fingerprint=d.old.fingerprint(),
        target_fingerprint=d.new.fingerprint(),
        steps=tuple(
            cover(c.to_step())
            for c in planned_changes(d, online=online, expand_contract=expand_contract)
        ),
        source=d.old,
        target=d.new,
    )


def make_plan(
    old: Schema,
    new: Schema,
    *,
    online: bool = True,
    expand_contract: bool = False,
    extension_paths: UpdatePaths | None = None,
) -> Plan:
    """The plan that turns a database holding `old` into one holding `new`; `online=False` keeps
    the plain one-statement forms (shorter plans, blocking locks while they scan or build);
    `expand_contract` changes column types that would rewrite the table through a copy column,
    a sync trigger and a backfill instead (changes/expand.py).

    `extension_paths` (extpaths.py, read on the shadow or the source): the extension updates the
    server has scripts for; without it, every extension version update is one-way."""
    d = diff(old, new)
    if extension_paths is not None:
        d = replace(d, changes=with_update_paths(d.changes, extension_paths))
    return plan_from_diff(d, online=online, expand_contract=expand_contract)
