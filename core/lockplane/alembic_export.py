"""A plan as an Alembic revision: upgrade() runs its steps, downgrade() its reverse steps.

For teams whose deployments run `alembic upgrade head`: Lockplane plans and proves the change,
Alembic carries it. Each step's SQL goes to the driver's own cursor as written, so no `:name`
or `%` in a string literal is taken for a parameter. Steps Postgres refuses inside a
transaction block (CONCURRENTLY) run in `autocommit_block()`, and so do steps the plan runs in
a transaction of their own (VALIDATE CONSTRAINT), so the strong locks of earlier steps are
released before they scan. A plan that cannot be undone gets a downgrade() that raises and
says why, rather than one that claims to undo it and does not.

No Alembic or SQLAlchemy import here: the module is text, and Alembic imports it later.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from .errors import InputError, LockplaneError
from .plan import Plan, Step

_REVISION = re.compile(r"^[A-Za-z0-9_]+$")


def _run(sql: str, indent: str) -> str:
    """`_run("...")`, the SQL as one string literal per SQL line, so the revision reads like
    the SQL it runs."""
    lines = sql.splitlines(keepends=True) or [""]
    if len(lines) == 1:
        return f"_run({lines[0]!r})"
    inner = "".join(f"\n{indent}    {line!r}" for line in lines)
    return f"_run({inner}\n{indent})"


def _statements(steps: tuple[Step, ...], indent: str = "    ") -> list[str]:
    out: list[str] = []
    for number, step in enumerate(steps, 1):
        out.append(f"{indent}# {number}. {step.description}")
        if step.transactional and not step.own_transaction and step.backfill is None:
            out.append(f"{indent}{_run(step.sql, indent)}")
            continue
        if not step.transactional:
            why = "CONCURRENTLY: not in a transaction block"
        elif step.backfill is not None:
            why = "one UPDATE here: `lockplane apply` runs it in batches, resumably"
        else:
            why = "in a transaction of its own"
        out.append(f"{indent}with op.get_context().autocommit_block():  # {why}")
        out.append(f"{indent}    {_run(step.sql, indent + '    ')}")
    return out or [f"{indent}pass"]


def _downgrade(plan: Plan) -> list[str]:
    missing = [
        f"step {n} ({s.description})"
        for n, s in enumerate(plan.steps, 1)
        if s.reverse_sql is None and not s.one_way
    ]
    try:
        if missing:
            raise LockplaneError(
                f"cannot downgrade: {', '.join(missing)} "
                f"{'has' if len(missing) == 1 else 'have'} no reverse SQL"
            )
        return _statements(plan.reverse().steps)
    except LockplaneError as exc:
        return [f"    raise RuntimeError({str(exc)!r})"]


def _docstring_line(message: str) -> str:
    """The message as the docstring's first line: one line, nothing that ends the string."""
    return " ".join(message.replace("\\", "/").replace('"', "'").split())


def _check_revision(option: str, value: str | None) -> None:
    if value is not None and not _REVISION.match(value):
        raise InputError(option, f"{value!r}: a revision id is letters, digits and underscores")


def revision_id(plan: Plan, revision: str | None) -> str:
    """`revision`, checked, or the first 12 hex digits of the plan's fingerprint, so that
    exporting the same plan twice gives the same revision."""
    _check_revision("--revision", revision)
    return revision or plan.fingerprint()[:12]


def revision_module(
    plan: Plan,
    *,
    revision: str | None = None,
    down_revision: str | None = None,
    message: str | None = None,
    now: datetime | None = None,
) -> str:
    """The text of an Alembic revision module for `plan`: `revision` as in revision_id;
    `down_revision` None starts a new history."""
    _check_revision("--down-revision", down_revision)
    fingerprint = plan.fingerprint()
    revision = revision_id(plan, revision)
    title = _docstring_line(message or f"lockplane plan {fingerprint[:12]}")
    created = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M:%S%z")
    lines = [
        f'"""{title}',
        "",
        f"Revision ID: {revision}",
        f"Revises: {down_revision or ''}",
        f"Create Date: {created}",
        "",
        f"Exported by `lockplane export alembic` from plan {fingerprint}",
        f"({len(plan.steps)} steps). Review and prove the plan with Lockplane, not this file.",
        '"""',
        "",
        "from alembic import op",
        "",
        f"revision = {revision!r}",
        f"down_revision = {down_revision!r}",
        "branch_labels = None",
        "depends_on = None",
        "",
        "",
        "def _run(sql: str) -> None:",
        '    """Run the SQL as written, on the driver\'s own cursor: no bind parameter and no',
        '    `%` in it is interpreted on the way."""',
        "    cursor = op.get_bind().connection.cursor()",
        "    try:",
        "        cursor.execute(sql)",
        "    finally:",
        "        cursor.close()",
        "",
        "",
        "def upgrade() -> None:",
        *_statements(plan.steps),
        "",
        "",
        "def downgrade() -> None:",
        *_downgrade(plan),
        "",
    ]
    return "\n".join(lines)
