"""Who is in the way: the sessions that hold (or would hold) the locks a step needs.

A DDL statement that waits for a lock sits in the lock queue, and every query that arrives after
it queues behind it: one forgotten `idle in transaction` session can turn a millisecond ALTER into
an outage. So before a step runs, the executor asks (one set-based query over `pg_locks` and
`pg_stat_activity`) whether a session that will not finish soon holds a lock that conflicts with
the step's; and while a step runs, a watcher on a second connection samples
`pg_blocking_pids()` for it, so that when the step gives up on a lock the error can name exactly
who held it. The executor, not this module, decides what to do about them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import psycopg

from .db import connect
from .plan import LOCK_ORDER

# Postgres's table-lock conflict matrix ("Table-Level Lock Modes" in the docs): which granted
# modes make a request for the key mode wait.
CONFLICTS: dict[str, frozenset[str]] = {
    "ACCESS SHARE": frozenset({"ACCESS EXCLUSIVE"}),
    "ROW SHARE": frozenset({"EXCLUSIVE", "ACCESS EXCLUSIVE"}),
    "ROW EXCLUSIVE": frozenset({"SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"}),
    "SHARE UPDATE EXCLUSIVE": frozenset(
        {"SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"}
    ),
    "SHARE": frozenset(
        {
            "ROW EXCLUSIVE",
            "SHARE UPDATE EXCLUSIVE",
            "SHARE ROW EXCLUSIVE",
            "EXCLUSIVE",
            "ACCESS EXCLUSIVE",
        }
    ),
    "SHARE ROW EXCLUSIVE": frozenset(
        {
            "ROW EXCLUSIVE",
            "SHARE UPDATE EXCLUSIVE",
            "SHARE",
            "SHARE ROW EXCLUSIVE",
            "EXCLUSIVE",
            "ACCESS EXCLUSIVE",
        }
    ),
    "EXCLUSIVE": frozenset(set(LOCK_ORDER) - {"ACCESS SHARE"}),
    "ACCESS EXCLUSIVE": frozenset(LOCK_ORDER),
}

_QUERY_CHARS = 80
_SECRET = re.compile(r"(password\s+)'(?:[^']|'')*'", re.IGNORECASE)


def pg_mode(mode: str) -> str:
    """`ACCESS SHARE` as pg_locks spells it: `AccessShareLock`."""
    return "".join(word.capitalize() for word in mode.split()) + "Lock"


def short_query(text: str | None) -> str:
    """One line, at most 80 characters, with `PASSWORD '...'` literals hidden."""
    if text is None:
        return "<query not visible: the role may not read other sessions' queries>"
    line = _SECRET.sub(r"\1'***'", " ".join(text.split()))
    return line if len(line) <= _QUERY_CHARS else line[: _QUERY_CHARS - 1] + "…"


@dataclass(frozen=True)
class Blocker:
    """A session in the way of a step, as pg_stat_activity showed it at that moment."""

    pid: int
    state: str | None  # None: the role may not see that session's state
    xact_age: float | None  # seconds since its transaction began; None outside a transaction
    query: str | None  # its current or last query, as sent
    why: str  # what it holds that the step needs, e.g. "holds ACCESS SHARE on users"

    def text(self) -> str:
        facts = [self.state or "state not visible"]
        if self.xact_age is not None:
            facts.append(f"transaction open {self.xact_age:.1f}s")
        facts.append(self.why)
        return f"pid {self.pid} ({', '.join(facts)}): {short_query(self.query)}"


def describe(blockers: Iterable[Blocker]) -> str:
    found = list(blockers)
    if not found:
        return "the blocking session could not be identified (it may have finished)"
    return "blocked by " + "; ".join(b.text() for b in found)


def wanted_modes(tables: Mapping[str, str], *, concurrent: bool) -> list[tuple[str, str, str]]:
    """(table, pg_locks mode, our name for it) for every granted lock that makes the step wait.

    A concurrent index build (and the other non-transactional DDL) takes only SHARE UPDATE
    EXCLUSIVE, but it also waits for every transaction that may write the table, i.e. for the
    holders of locks that conflict with SHARE."""
    rows = []
    for table, mode in tables.items():
        modes = set(CONFLICTS[mode]) | (set(CONFLICTS["SHARE"]) if concurrent else set())
        rows += [(table, pg_mode(m), m) for m in LOCK_ORDER if m in modes]
    return rows


_FIND = """
WITH wanted AS (
    SELECT to_regclass(w.name) AS rel, w.name, w.pgmode, w.mode
      FROM unnest(%(names)s::text[], %(pgmodes)s::text[], %(modes)s::text[])
           AS w(name, pgmode, mode)
), reasons AS (
    SELECT l.pid, format('holds %%s on %%s', w.mode, w.name) AS why
      FROM pg_locks l
      JOIN wanted w ON l.relation = w.rel AND l.mode = w.pgmode
     WHERE l.locktype = 'relation' AND l.granted
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    UNION ALL
    SELECT a.pid, 'holds a snapshot that a concurrent index build must wait out'
      FROM pg_stat_activity a
     WHERE %(snapshots)s AND a.datname = current_database()
       AND a.backend_type = 'client backend' AND a.backend_xmin IS NOT NULL
)
SELECT a.pid, a.state, extract(epoch FROM clock_timestamp() - a.xact_start)::float8, a.query,
       string_agg(DISTINCT r.why, ', ')
  FROM reasons r
  JOIN pg_stat_activity a ON a.pid = r.pid
 WHERE a.pid <> ALL(%(exclude)s::int[])
   -- autovacuum cancels itself when a lock request waits for it, except against wraparound
   AND (a.backend_type <> 'autovacuum worker' OR a.query LIKE '%%wraparound%%')
   AND (a.state LIKE 'idle in transaction%%'
        OR clock_timestamp() - a.xact_start >= %(older_ms)s * interval '1 millisecond')
 GROUP BY a.pid, a.state, a.xact_start, a.query
 ORDER BY a.xact_start NULLS LAST, a.pid
"""


def find_blockers(
    conn: psycopg.Connection,
    tables: Mapping[str, str],
    *,
    exclude: Iterable[int],
    older_than_ms: int,
    concurrent: bool = False,
) -> list[Blocker]:
    """Sessions holding a lock that conflicts with `tables` (SQL name -> the step's lock mode)
    that are idle in transaction or whose transaction is at least `older_than_ms` old.

    Before a step, `older_than_ms` is the lock_timeout: such a session will not let go in time,
    and queueing behind it would stall every query on the table for nothing. After a lock timeout,
    it is how long the attempt waited: whoever held the lock since then is who blocked it. With
    `concurrent`, sessions holding any snapshot also count, wherever they are: a concurrent
    index build waits for all of them before it can finish.
    """
    wanted = wanted_modes(tables, concurrent=concurrent)
    if not wanted and not concurrent:
        return []
    rows = conn.execute(
        _FIND,
        {
            "names": [w[0] for w in wanted],
            "pgmodes": [w[1] for w in wanted],
            "modes": [w[2] for w in wanted],
            "snapshots": concurrent,
            "exclude": list(exclude),
            "older_ms": max(older_than_ms, 0),
        },
    ).fetchall()
    return [Blocker(int(pid), state, age, query, why) for pid, state, age, query, why in rows]


_BLOCKING = """
SELECT a.pid, a.state, extract(epoch FROM clock_timestamp() - a.xact_start)::float8, a.query,
       CASE WHEN w.locktype = 'relation'
            THEN format('holds a lock that conflicts with %%s on %%s',
                        upper(regexp_replace(regexp_replace(w.mode, 'Lock$', ''),
                                             '([a-z])([A-Z])', '\\1 \\2', 'g')),
                        w.relation::regclass)
            ELSE 'the step waits for its transaction to end'
       END
  FROM pg_stat_activity a
  LEFT JOIN LATERAL (SELECT l.locktype, l.mode, l.relation FROM pg_locks l
                      WHERE l.pid = %(pid)s AND NOT l.granted LIMIT 1) w ON true
 WHERE a.pid = ANY(pg_blocking_pids(%(pid)s))
"""


class BlockerWatch:
    """Samples pg_blocking_pids() for the executing session from a second connection.

    After a lock timeout the lock request is gone, and with it Postgres's own record of who
    blocked it; the sessions holding locks then may have changed. Sampling while the step waits
    (every 100 ms) is the reliable way to name the blocker, including the ones a concurrent
    index build waits for, which hold no lock on the table at all (an old snapshot).
    """

    def __init__(self, url: str, pid: int, interval: float = 0.1) -> None:
        self._conn = connect(url, autocommit=True)
        self.pid = self._conn.info.backend_pid  # the watcher's own session, to exclude
        self._target = pid
        self._interval = interval
        self._armed = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._seen: dict[int, Blocker] = {}
        self._thread = threading.Thread(target=self._run, name="lockplane-blockers", daemon=True)
        self._thread.start()

    def follow(self, pid: int) -> None:
        """Watch another session: the executing one reconnected after losing its connection."""
        self._target = pid

    def arm(self) -> None:
        """Start sampling for a new attempt, forgetting the last one's blockers."""
        with self._lock:
            self._seen.clear()
        self._armed.set()

    def disarm(self) -> list[Blocker]:
        """Stop sampling; the sessions seen blocking the attempt, latest sample of each."""
        self._armed.clear()
        with self._lock:
            return list(self._seen.values())

    def close(self) -> None:
        self._stop.set()
        self._armed.set()  # wake the thread so it sees the stop
        self._thread.join(timeout=5)
        self._conn.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._armed.wait()
            if self._stop.is_set():
                return
            try:
                rows = self._conn.execute(_BLOCKING, {"pid": self._target}).fetchall()
            except psycopg.Error:
                return  # the watcher is a diagnostic aid: never let it break an apply
            with self._lock:
                if self._armed.is_set():
                    for pid, state, age, query, why in rows:
                        self._seen[int(pid)] = Blocker(int(pid), state, age, query, why)
            self._stop.wait(self._interval)
