"""Watching a step run on the shadow: the locks it really took, the tables it really rewrote.

A step's lock and rewrite claims come from static rules (changes/*.py), written from the
Postgres documentation. The shadow can check them for free: inside the step's own transaction,
`pg_locks` lists every relation lock the backend holds, and a table whose `relfilenode` changed
was rewritten. Observed facts are the truth; a static claim they contradict is a bug in
Lockplane's rules, reported as such rather than quietly shown.

Only tables that exist when a run starts count (the same meaning as `Step.tables`): locks on
objects the plan itself creates block nobody. Catalog reads are set-based, one query per
snapshot, so watching a step costs two small queries.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import psycopg

from .plan import LOCK_ORDER, Step
from .shadow import ShadowStepFailed
from .sqlnames import obj
from .sqltext import split_statements

# pg_locks spells modes as lock-manager names; plans spell them as in LOCK TABLE.
_MODES = {
    "AccessShareLock": "ACCESS SHARE",
    "RowShareLock": "ROW SHARE",
    "RowExclusiveLock": "ROW EXCLUSIVE",
    "ShareUpdateExclusiveLock": "SHARE UPDATE EXCLUSIVE",
    "ShareLock": "SHARE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE",
    "ExclusiveLock": "EXCLUSIVE",
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
}

# Tables, partitioned tables and materialized views of the user: what a step can lock or
# rewrite that ordinary traffic uses. Lockplane's own schema (the shadow marker) is not the user's.
_TABLES = """
SELECT c.oid, n.nspname, c.relname, c.relfilenode
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'm')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'lockplane')
   AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%'
"""

_FILENODES = "SELECT oid, relfilenode FROM pg_class WHERE oid = ANY(%s)"

_LOCKS = """
SELECT relation, mode FROM pg_locks
 WHERE pid = pg_backend_pid() AND locktype = 'relation' AND granted
   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""

REWRITE = "TABLE_REWRITE"
NO_LOCK = "no lock on existing tables"


@dataclass(frozen=True)
class TableFile:
    """A table as a snapshot saw it: its name as SQL spells it and its current data file."""

    name: str
    relfilenode: int


def snapshot(conn: psycopg.Connection) -> dict[int, TableFile]:
    """Every user table, partitioned table and materialized view, by oid, in one query."""
    return {
        oid: TableFile(obj(schema, name).as_string(None), relfilenode)
        for oid, schema, name, relfilenode in conn.execute(_TABLES).fetchall()
    }


def strongest(modes: list[str] | tuple[str, ...] | set[str]) -> str | None:
    """The strongest of some lock modes in Postgres's own order, or None for no mode at all."""
    return max(modes, key=LOCK_ORDER.index) if modes else None


@dataclass(frozen=True)
class StepObservation:
    """What one step did on the shadow, next to what the static rules said it would do."""

    number: int
    description: str
    locks: dict[str, str]  # table (as SQL names it) -> strongest mode the step held on it
    strongest_lock: str | None
    rewritten: tuple[str, ...]
    duration_ms: float
    locks_observed: bool  # False for steps run outside a transaction (autocommit)
    contradictions: list[str] = field(default_factory=list)
    claimed_lock: str | None = None
    claimed_tables: tuple[str, ...] = ()
    claimed_rewrite: bool = False

    def summary(self) -> str:
        """One line of observed facts, e.g. `ACCESS EXCLUSIVE on users · rewrote users · 4 ms`."""
        if not self.locks_observed:
            lock = "locks not observed (ran outside a transaction)"
        else:
            lock = describe_locks(self.locks)
        parts = [lock]
        if self.rewritten:
            parts.append("rewrote " + ", ".join(self.rewritten))
        parts.append(_ms(self.duration_ms))
        return " · ".join(parts)

    def claim(self) -> str:
        """The static rules' claims, in the same words as `summary`, so the two read side by side."""
        if self.claimed_lock is None:
            lock = NO_LOCK
        else:
            lock = self.claimed_lock + (
                " on " + ", ".join(self.claimed_tables) if self.claimed_tables else ""
            )
        return lock + (" · rewrite" if self.claimed_rewrite else "")


def describe_locks(locks: dict[str, str]) -> str:
    """`ACCESS EXCLUSIVE on a; SHARE on b, c`: strongest mode first, so it leads with what
    matters to the traffic that waits."""
    if not locks:
        return NO_LOCK
    modes = sorted(set(locks.values()), key=LOCK_ORDER.index, reverse=True)
    return "; ".join(
        f"{m} on {', '.join(sorted(t for t, mode in locks.items() if mode == m))}" for m in modes
    )


def _ms(duration_ms: float) -> str:
    return "<1 ms" if duration_ms < 1 else f"{duration_ms:.0f} ms"


def contradictions(
    number: int,
    step: Step,
    locks: dict[str, str],
    rewritten: tuple[str, ...],
    locks_observed: bool,
) -> list[str]:
    """Every static claim of `step` that the observed facts disprove, one message each."""
    head = f"Lockplane bug: step {number} ({step.description}) claims"
    out: list[str] = []
    if locks_observed:
        if strongest(set(locks.values())) != step.lock:
            claim = f"lock {step.lock}" if step.lock else NO_LOCK
            out.append(f"{head} {claim} but the shadow observed {describe_locks(locks)}")
        unclaimed = sorted(t for t in locks if t not in step.tables)
        if unclaimed:
            claimed = (
                "it locks only " + ", ".join(step.tables)
                if step.tables
                else "it locks no existing table"
            )
            out.append(
                f"{head} {claimed} but the shadow observed "
                + ", ".join(f"{locks[t]} on {t}" for t in unclaimed)
            )
    claims_rewrite = any(h.code == REWRITE for h in step.hazards)
    if rewritten and not claims_rewrite:
        out.append(
            f"{head} no table rewrite but the shadow observed a rewrite of " + ", ".join(rewritten)
        )
    if claims_rewrite and not rewritten:
        out.append(f"{head} a table rewrite ({REWRITE}) but the shadow observed no rewrite")
    return out


class Observer:
    """Runs steps one at a time on a connection in autocommit mode and watches each.

    The start snapshot fixes which tables count; the data files are re-read after every step,
    so a table rewritten by step 2 is not reported again for step 5.
    """

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.start = snapshot(conn)
        self._files = {oid: t.relfilenode for oid, t in self.start.items()}

    def run(self, number: int, step: Step, what: str) -> StepObservation:
        """Run `step` (in its own transaction, or in autocommit when it cannot run in one);
        raise ShadowStepFailed, naming the step, when Postgres refuses it."""
        held: list[tuple[int, str]] = []
        started = time.perf_counter()
        try:
            if step.transactional:
                with self.conn.transaction():
                    self.conn.execute(step.sql.encode())
                    elapsed = time.perf_counter() - started
                    held = self.conn.execute(_LOCKS).fetchall()
            else:
                # One statement per round trip: several in one query string would form an
                # implicit transaction, which CREATE INDEX CONCURRENTLY refuses.
                for _line, statement in split_statements(step.sql):
                    self.conn.execute(statement.encode())
                elapsed = time.perf_counter() - started
        except psycopg.Error as exc:
            raise ShadowStepFailed(what, number, step, exc) from None
        locks = self._locks(held)
        rewritten = self._rewritten()
        return StepObservation(
            number=number,
            description=step.description,
            locks=locks,
            strongest_lock=strongest(set(locks.values())),
            rewritten=rewritten,
            duration_ms=elapsed * 1000,
            locks_observed=step.transactional,
            contradictions=contradictions(
                number, step, locks, rewritten, locks_observed=step.transactional
            ),
            claimed_lock=step.lock,
            claimed_tables=step.tables,
            claimed_rewrite=any(h.code == REWRITE for h in step.hazards),
        )

    def _locks(self, held: list[tuple[int, str]]) -> dict[str, str]:
        """The strongest mode per start-snapshot table among the locks the step held."""
        modes: dict[str, set[str]] = {}
        for relation, mode in held:
            table = self.start.get(relation)
            if table is not None and mode in _MODES:
                modes.setdefault(table.name, set()).add(_MODES[mode])
        return {name: max(m, key=LOCK_ORDER.index) for name, m in modes.items()}

    def _rewritten(self) -> tuple[str, ...]:
        """Start-snapshot tables whose data file changed since the previous step; a table that
        is gone was dropped, not rewritten, and is no longer followed."""
        now = dict(self.conn.execute(_FILENODES, [list(self._files)]).fetchall())
        out = sorted(
            self.start[oid].name
            for oid, before in self._files.items()
            if oid in now and now[oid] != before
        )
        self._files = {oid: now[oid] for oid in self._files if oid in now}
        return tuple(out)
