"""The rollback of a plan: its generated reverse steps, or, for plans that carry none (the seed's
format), a plan derived by running the forward plan on a scratch copy of its start."""

from __future__ import annotations

from .diff import diff
from .errors import InputError, LockplaneError, NotReversible
from .introspect import introspect
from .model import Schema
from .observe import Observer
from .plan import Plan
from .planner import make_plan
from .shadow import Shadow


def rollback_plan(
    plan: Plan, before: Schema, *, shadow_url: str, source_name: str = "BEFORE"
) -> Plan:
    """The plan that takes a database from where `plan` leaves it back to `before`."""
    if plan.source is not None:
        drift = diff(plan.source, before)
        if not drift.is_empty:
            raise InputError(
                source_name, "is not the schema the plan starts from:\n" + drift.summary()
            )
    if plan.reversible or plan.one_way_steps():  # reverse() refuses a one-way plan
        reverse = plan.reverse()
        if reverse.target is None:
            reverse = reverse.model_copy(
                update={"target": before, "target_fingerprint": before.fingerprint()}
            )
        return reverse
    shadow = Shadow(shadow_url)
    try:
        with shadow.scratch() as conn:
            shadow.build(conn, before, "building the start schema on the shadow")
            # Step by step, as apply runs them: CONCURRENTLY steps cannot run in a transaction.
            observer = Observer(conn)
            for number, step in enumerate(plan.steps, 1):
                observer.run(number, step, "running the plan on the shadow")
            after = introspect(conn)
    except LockplaneError as exc:
        raise NotReversible(f"cannot derive the rollback: {exc}") from None
    return make_plan(after, before)
