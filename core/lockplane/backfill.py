"""Backfills in batches: one short transaction per batch, sized to a target duration.

A single `UPDATE` of a big table holds row locks on every row until it commits, bloats the table
at once and, if the connection drops, throws all its work away. A batch touches a bounded key
range (the primary key in order, or a range of heap pages when there is none) and commits in
about `target` seconds, so a concurrent writer waits at most one batch for a row; the cursor is
committed with the batch (journal.py), so an interrupted backfill restarts at the next batch.

This module composes and runs one batch; units.py drives the loop, with its retries.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from .plan import Backfill

TARGET_SECONDS = 0.2  # a batch should commit in about this long
FIRST_ROWS = 1000  # the first batch's size, before anything is measured
FIRST_PAGES = 10  # the same without a key: heap pages hold ~50-200 rows each
MIN_ROWS, MAX_ROWS = 100, 100_000
GROWTH = 2.0  # a batch is at most this much bigger or smaller than the one before


@dataclass
class Cursor:
    """Where a backfill has got to: the last key done (keyset) or the next page (heap)."""

    last_key: list[str] | None = None  # key values as text, in key order
    next_page: int = 0
    end_page: int | None = None  # heap mode: pages that existed when the backfill started
    batch_rows: int = FIRST_ROWS  # current batch size (rows, or pages in heap mode)
    finished: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "last_key": self.last_key,
            "next_page": self.next_page,
            "end_page": self.end_page,
            "batch_rows": self.batch_rows,
            "finished": self.finished,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Cursor:
        if not data:
            return cls()
        return cls(
            last_key=data.get("last_key"),
            next_page=int(data.get("next_page") or 0),
            end_page=data.get("end_page"),
            batch_rows=int(data.get("batch_rows") or FIRST_ROWS),
            finished=bool(data.get("finished")),
        )


@dataclass(frozen=True)
class Batch:
    rows: int  # rows set by this batch
    seconds: float


def estimate(conn: psycopg.Connection, spec: Backfill) -> int:
    """Rows to visit, from the planner's statistics (a count would scan the whole table)."""
    row = conn.execute(
        "SELECT greatest(c.reltuples, 0)::bigint, c.relpages FROM pg_class c WHERE c.oid = %s::regclass",
        [_regclass(spec)],
    ).fetchone()
    if row is None:
        return 0
    tuples, pages = int(row[0]), int(row[1])
    if tuples == 0 and pages == 0:  # never analyzed: small or new, so counting is cheap enough
        counted = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(spec.schema_, spec.table))
        ).fetchone()
        return int(counted[0]) if counted else 0
    return tuples


def heap_pages(conn: psycopg.Connection, spec: Backfill) -> int:
    row = conn.execute(
        "SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int",
        [_regclass(spec)],
    ).fetchone()
    return int(row[0]) if row else 0


def _regclass(spec: Backfill) -> str:
    return sql.Identifier(spec.schema_, spec.table).as_string(None)


def _keys(spec: Backfill) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(k) for k in spec.key)


def _params(prefix: str, n: int) -> sql.Composable:
    return sql.SQL(", ").join(sql.Placeholder(f"{prefix}{i}") for i in range(n))


def bound_query(spec: Backfill, first: bool) -> sql.Composed:
    """The last key of the next batch: the `%(limit)s`-th key after `(%(lo0)s, ...)` (or the
    last one left), read from the key's index alone; no row when no key is left."""
    after = sql.SQL("")
    if not first:
        after = sql.SQL("WHERE ({}) > ({})").format(_keys(spec), _params("lo", len(spec.key)))
    order = sql.SQL(", ").join(sql.SQL("{} DESC").format(sql.Identifier(k)) for k in spec.key)
    return sql.SQL(
        "SELECT {texts} FROM (SELECT {keys} FROM {table} {after} ORDER BY {keys} "
        "LIMIT %(limit)s) batch ORDER BY {order} LIMIT 1"
    ).format(
        texts=sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(k)) for k in spec.key),
        keys=_keys(spec),
        table=sql.Identifier(spec.schema_, spec.table),
        after=after,
        order=order,
    )


def update_query(spec: Backfill, first: bool) -> sql.Composed:
    """Set the rows with keys in `((%(lo0)s, ...), (%(hi0)s, ...)]` whose column is still NULL:
    a range scan of the key's index (a join with the batch's keys would hash the whole
    table); returns how many it set."""
    column = sql.Identifier(spec.column)
    low = sql.SQL("")
    if not first:
        low = sql.SQL("({}) > ({}) AND ").format(_keys(spec), _params("lo", len(spec.key)))
    return sql.SQL(
        "WITH done AS (UPDATE {table} SET {column} = ({expression}) "
        "WHERE {low}({keys}) <= ({high}) AND {column} IS NULL RETURNING 1) "
        "SELECT count(*) FROM done"
    ).format(
        table=sql.Identifier(spec.schema_, spec.table),
        column=column,
        expression=sql.SQL(spec.expression),  # the schema's own SQL, as a default would be
        low=low,
        keys=_keys(spec),
        high=_params("hi", len(spec.key)),
    )


def heap_query(spec: Backfill) -> sql.Composed:
    """One heap batch: rows on pages [%(lo)s, %(hi)s) whose column is still NULL."""
    column = sql.Identifier(spec.column)
    return sql.SQL(
        "WITH done AS (UPDATE {table} SET {column} = ({expression}) "
        "WHERE ctid >= format('(%%s,0)', %(lo)s::bigint)::tid "
        "AND ctid < format('(%%s,0)', %(hi)s::bigint)::tid "
        "AND {column} IS NULL RETURNING 1) SELECT count(*) FROM done"
    ).format(
        table=sql.Identifier(spec.schema_, spec.table),
        column=column,
        expression=sql.SQL(spec.expression),
    )


def run_batch(conn: psycopg.Connection, spec: Backfill, cursor: Cursor) -> tuple[Batch, Cursor]:
    """Run the next batch in the caller's transaction; the batch and the cursor after it."""
    started = time.monotonic()
    if spec.key:
        first = cursor.last_key is None
        params: dict[str, Any] = {"limit": cursor.batch_rows}
        if not first:
            params.update({f"lo{i}": v for i, v in enumerate(cursor.last_key or ())})
        bound = conn.execute(bound_query(spec, first), params).fetchone()
        if bound is None:
            after = Cursor(cursor.last_key, batch_rows=cursor.batch_rows, finished=True)
            return Batch(0, time.monotonic() - started), after
        last = [str(v) for v in bound]
        params.update({f"hi{i}": v for i, v in enumerate(last)})
        row = conn.execute(update_query(spec, first), params).fetchone()
        rows = int(row[0]) if row else 0
        after = Cursor(last, batch_rows=cursor.batch_rows)
    else:
        end = cursor.end_page if cursor.end_page is not None else heap_pages(conn, spec)
        if cursor.next_page >= end:
            after = Cursor(next_page=cursor.next_page, end_page=end, finished=True)
            return Batch(0, time.monotonic() - started), after
        hi = min(end, cursor.next_page + cursor.batch_rows)
        row = conn.execute(heap_query(spec), {"lo": cursor.next_page, "hi": hi}).fetchone()
        rows = int(row[0]) if row else 0
        after = Cursor(next_page=hi, end_page=end, batch_rows=cursor.batch_rows)
    return Batch(rows, time.monotonic() - started), after


def resize(cursor: Cursor, batch: Batch, *, heap: bool, target: float = TARGET_SECONDS) -> None:
    """Aim the next batch at `target` seconds, changing size by at most GROWTH either way."""
    if batch.seconds <= 0:
        return
    wanted = cursor.batch_rows * target / batch.seconds
    low, high = cursor.batch_rows / GROWTH, cursor.batch_rows * GROWTH
    lo_bound, hi_bound = (1, MAX_ROWS // 10) if heap else (MIN_ROWS, MAX_ROWS)
    cursor.batch_rows = int(min(hi_bound, max(lo_bound, min(high, max(low, wanted)))))
