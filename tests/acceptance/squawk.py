"""squawk over Lockplane's plans, as the executor sends them (used by the acceptance harness).

The plan is written out unit by unit exactly as `units.Runner` runs it: a transactional group in
BEGIN ... COMMIT with its `SET LOCAL lock_timeout` / `statement_timeout`, a non-transactional step
after session-level SETs. squawk then judges what really runs, and every violation it reports must
be one Lockplane already reports on that step: a hazard whose rule names the squawk rule as a peer
(`rules.Rule.squawk`). The only exception is written out in `_excused`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from lockplane.changes.ddl import table_name
from lockplane.plan import Plan, Step
from lockplane.rules import BY_CODE
from lockplane.units import split_units

LOCK_TIMEOUT, STATEMENT_TIMEOUT = "2000ms", "60000ms"  # the executor's defaults


def squawk_binary() -> str:
    """The squawk installed next to this Python (squawk-cli is a dev dependency), else PATH's."""
    beside = Path(sys.executable).parent / "squawk"
    path = str(beside) if beside.exists() else shutil.which("squawk")
    if path is None:
        raise RuntimeError("squawk is not installed: pip install -e '.[dev]' (squawk-cli)")
    return path


def script(plan: Plan) -> tuple[str, list[int]]:
    """The SQL the executor runs, and for each line the step it belongs to (0: boilerplate)."""
    lines: list[str] = []
    owner: list[int] = []

    def add(text: str, step: int = 0) -> None:
        for line in text.splitlines():
            lines.append(line)
            owner.append(step)

    for unit in split_units(plan.steps):
        scope = "LOCAL " if unit.transactional else ""
        if unit.transactional:
            add("BEGIN;")
        add(f"SET {scope}lock_timeout = '{LOCK_TIMEOUT}';")
        timeout = STATEMENT_TIMEOUT if unit.stops_traffic else "0"
        add(f"SET {scope}statement_timeout = '{timeout}';")
        for number, step in zip(unit.numbers, unit.steps, strict=True):
            add(step.sql + ";", number)
        if unit.transactional:
            add("COMMIT;")
    return "\n".join(lines) + "\n", owner


def violations(plan: Plan, pg_version: int) -> list[tuple[int, str, str]]:
    """(step number, squawk rule, message) for every squawk violation in the plan."""
    text, owner = script(plan)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(text)
    try:
        run = subprocess.run(
            [squawk_binary(), "--reporter", "json", f"--pg-version={pg_version}", f.name],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        Path(f.name).unlink()
    if run.returncode not in (0, 1) or not run.stdout.strip():
        raise RuntimeError(f"squawk failed ({run.returncode}): {run.stderr.strip()}\n{text}")
    return [(owner[v["line"]], v["rule_name"], v["message"]) for v in json.loads(run.stdout)]


def _explained(step: Step, rule: str) -> bool:
    return any(rule in BY_CODE[h.rule].squawk for h in step.hazards if h.rule in BY_CODE)


_DROPPED_CONSTRAINT = re.compile(r"ALTER TABLE (.+?) DROP CONSTRAINT (\"[^\"]+\"|\S+)")
_DROPPED_VIEW = re.compile(r"DROP (MATERIALIZED )?VIEW (\"[^\"]+\"|\S+)")
_INDEX_ON = re.compile(r"CREATE (?:UNIQUE )?INDEX \S+ ON (\"[^\"]+\"|\S+)")
_TEMPORARY = "__lockplane_old"  # the enum a replacement renames out of the way, then drops


_ON_LEAVES = (
    "constraint-missing-not-valid",
    "disallowed-unique-constraint",
    "adding-serial-primary-key-field",
    "adding-not-nullable-field",
)


def _excused(plan: Plan, step: Step, rule: str) -> bool:
    """squawk rules that fire on Lockplane's own bookkeeping, where no guarantee is lost:

    - ban-drop-constraint on a constraint the same plan adds back under the same name (a changed
      constraint, or the temporary check of the online SET NOT NULL) or whose table it drops, or
      on the check a DETACH PARTITION ... CONCURRENTLY of the same plan added;
    - renaming-object / ban-drop-type on the old enum type a replacement renames and then drops;
    - ban-drop-default in a statement that sets the column's default again (a type change drops
      the default so Postgres need not cast it, then sets the new one; LP406 is raised when the
      default really goes);
    - require-concurrent-index-creation on an index of a materialized view created in the same
      step (nothing can read or write it yet), or on CREATE INDEX ... ON ONLY a partitioned
      table (catalog only: nothing is built, the partitions' indexes are built concurrently);
    - ban-drop-view on a view the plan creates again (a rebuild around a change under it);
    - require-concurrent-index-deletion on an index whose table the plan drops (the drop is there
      so the rollback builds the index after its table; the table drop is the hazard);
    - constraint-missing-not-valid / disallowed-unique-constraint / adding-serial-primary-key-field
      on a partitioned table's UNIQUE or PRIMARY KEY once every leaf partition got its constraint
      USING INDEX earlier in the plan (Postgres attaches those: nothing is built or scanned), and
      adding-not-nullable-field on its SET NOT NULL once every leaf got it (nothing to scan).
    """
    if rule in _ON_LEAVES:
        return _done_on_leaves(plan, step)
    if rule == "ban-drop-constraint":
        m = _DROPPED_CONSTRAINT.search(step.sql)
        if m is None:
            return False
        table, name = m.groups()
        others = [s.sql for s in plan.steps if s is not step]
        if name == "IF" and any(f"DETACH PARTITION {table} CONCURRENTLY" in o for o in others):
            return True  # the check DETACH ... CONCURRENTLY added, not one the schema had
        return any(f"ADD CONSTRAINT {name} " in o or o == f"DROP TABLE {table}" for o in others)
    if rule in ("renaming-object", "ban-drop-type"):
        return _TEMPORARY in step.sql
    if rule == "ban-drop-view":  # a view rebuilt around another change: the plan recreates it
        m = _DROPPED_VIEW.search(step.sql)
        return m is not None and any(
            f"VIEW {m.group(2)} " in s.sql for s in plan.steps if "CREATE " in s.sql
        )
    if rule == "require-concurrent-index-creation":  # on a materialized view the step creates
        if all(" ON ONLY " in s for s in step.sql.split(";\n") if "CREATE " in s):
            return True
        return any(
            f"MATERIALIZED VIEW {m.group(1)} " in step.sql for m in _INDEX_ON.finditer(step.sql)
        )
    if rule == "require-concurrent-index-deletion":
        drops = {s.sql for s in plan.steps}
        return bool(step.tables) and all(f"DROP TABLE {t}" in drops for t in step.tables)
    if rule == "ban-drop-default":
        dropping = [s for s in step.sql.split(";\n") if "DROP DEFAULT" in s]
        return all("SET DEFAULT" in s for s in dropping)
    return False


_ADDED_KEY = re.compile(r"^ALTER TABLE (\S+) ADD CONSTRAINT \S+ (?:UNIQUE|PRIMARY KEY) ")
_SET_NOT_NULL = re.compile(r"^ALTER TABLE (\S+) ALTER COLUMN (\S+) SET NOT NULL$")


def _leaves(plan: Plan, table: str) -> list[str]:
    """The leaf partitions (any depth) of a partitioned table of the plan's target, as SQL
    names them; none when it is not one."""
    if plan.target is None:
        return []
    tables = {table_name(t).as_string(None): t for t in plan.target.tables}
    root = tables.get(table)
    if root is None or root.partition_by is None:
        return []
    parent = {t.qname: t.partition_of for t in tables.values()}

    def under_root(qname: str) -> bool:
        up = parent.get(qname)
        while up is not None and up != root.qname:
            up = parent.get(up)
        return up == root.qname

    return [n for n, t in tables.items() if t.partition_by is None and under_root(t.qname)]


def _done_on_leaves(plan: Plan, step: Step) -> bool:
    """A partitioned table's key or SET NOT NULL that every leaf partition got earlier in the
    plan (a constraint USING INDEX; SET NOT NULL after a validated check)."""
    earlier = [s.sql for s in plan.steps[: plan.steps.index(step)]]
    key, not_null = _ADDED_KEY.match(step.sql), _SET_NOT_NULL.match(step.sql)
    if key is not None:
        leaves = _leaves(plan, key.group(1))
        done = [o for o in earlier if " USING INDEX " in o]
        prefix = "ALTER TABLE {} ADD CONSTRAINT "
    elif not_null is not None:
        leaves = _leaves(plan, not_null.group(1))
        done = earlier
        prefix = "ALTER TABLE {} ALTER COLUMN " + not_null.group(2) + " SET NOT NULL"
    else:
        return False
    return bool(leaves) and all(
        any(o.startswith(prefix.format(leaf)) for o in done) for leaf in leaves
    )


def unexplained(plan: Plan, pg_version: int) -> list[str]:
    """Violations that no hazard on their step accounts for, as readable lines."""
    out = []
    for number, rule, message in violations(plan, pg_version):
        step = plan.steps[number - 1] if number else None
        if step is not None and (_explained(step, rule) or _excused(plan, step, rule)):
            continue
        where = f"step {number} ({step.sql})" if step is not None else "boilerplate"
        out.append(f"squawk {rule} at {where}: {message}")
    return out
