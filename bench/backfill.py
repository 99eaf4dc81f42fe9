"""Benchmark: Lockplane's durable backfill against one plain `UPDATE` of the same rows.

Not a test. Builds a throwaway database with two identical tables of N rows (default 1,000,000),
then sets a new column on every row of each, while a writer session updates random rows one at a
time (each write timed):

  single UPDATE    `ALTER TABLE a ADD COLUMN w bigint; UPDATE a SET w = v * 2` (the peer)
  durable          `lockplane apply` of the plan that adds `w` with the backfill hint `v * 2`:
                   keyset batches of ~200 ms, each committed with its cursor in the journal

and prints rows/s of each, the ratio durable / single (the target is >= 0.5), and the longest
wait the writer saw during each. The database is dropped at the end, even on failure.

    python bench/backfill.py --rows 1000000 --url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from lockplane import apply_plan, introspect_url, make_plan
from lockplane.db import with_database
from lockplane.model import Column


class Writer:
    """The application: single-row updates of random rows of `table`, each one timed."""

    def __init__(self, url: str, table: str, rows: int) -> None:
        self.url, self.table, self.rows = url, table, rows
        self.waits: list[float] = []
        self.errors = 0
        self._stop = threading.Event()

    def _run(self) -> None:
        update = sql.SQL("UPDATE {} SET v = v WHERE id = %s").format(sql.Identifier(self.table))
        with psycopg.connect(self.url, autocommit=True) as conn:
            n = 0
            while not self._stop.is_set():
                n += 1
                started = time.monotonic()
                try:
                    conn.execute(update, [(n * 7919) % self.rows + 1])
                except psycopg.Error:
                    self.errors += 1
                self.waits.append(time.monotonic() - started)
                time.sleep(0.002)

    @contextmanager
    def running(self) -> Iterator[Writer]:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=30)


def build(url: str, rows: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("a", "b"):
            t = sql.Identifier(table)
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {} (id bigint PRIMARY KEY, v integer NOT NULL, pad text)"
                ).format(t)
            )
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} SELECT g, g % 1000, repeat('x', 40) "
                    "FROM generate_series(1, {}) g"
                ).format(t, sql.Literal(rows))
            )
        conn.execute("VACUUM ANALYZE")


def single_update(url: str, rows: int) -> tuple[float, Writer]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE a ADD COLUMN w bigint")
        with Writer(url, "a", rows).running() as writer:
            started = time.monotonic()
            conn.execute("UPDATE a SET w = v * 2")
            seconds = time.monotonic() - started
    return seconds, writer


def durable(url: str, shadow: str, rows: int) -> tuple[float, Writer]:
    now = introspect_url(url)
    tables = tuple(
        t.model_copy(
            update={"columns": (*t.columns, Column(name="w", type="bigint", backfill="v * 2"))}
        )
        if t.name == "b"
        else t
        for t in now.tables
    )
    plan = make_plan(now, now.model_copy(update={"tables": tables}))
    number = next(n for n, s in enumerate(plan.steps, 1) if s.backfill is not None)
    marks: dict[str, float] = {}

    def step(n: int, total: int, description: str) -> None:
        if n == number:
            marks["start"] = time.monotonic()

    def batch(n: int, progress: object) -> None:
        marks["end"] = time.monotonic()

    with Writer(url, "b", rows).running() as writer:
        apply_plan(plan, url, shadow_url=shadow, progress=step, on_progress=batch)
    return marks["end"] - marks["start"], writer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    suffix = secrets.token_hex(4)
    names = (f"lp_bench_backfill_{suffix}", f"lp_bench_backfill_{suffix}_shadow")
    with psycopg.connect(args.url, autocommit=True) as admin:
        for name in names:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url, shadow = (with_database(args.url, name) for name in names)
        print(f"building 2 tables of {args.rows:,} rows ...", flush=True)
        build(url, args.rows)
        one, w1 = single_update(url, args.rows)
        two, w2 = durable(url, shadow, args.rows)
        rate1, rate2 = args.rows / one, args.rows / two
        print(f"{'':16}{'seconds':>9}{'rows/s':>12}{'writer longest wait':>22}{'writes':>8}")
        print(
            f"{'single UPDATE':16}{one:>9.2f}{rate1:>12,.0f}{max(w1.waits):>20.3f} s{len(w1.waits):>8}"
        )
        print(f"{'durable':16}{two:>9.2f}{rate2:>12,.0f}{max(w2.waits):>20.3f} s{len(w2.waits):>8}")
        print(f"ratio durable / single UPDATE: {rate2 / rate1:.2f} (target >= 0.5)")
        if w1.errors or w2.errors:
            print(f"writer errors: single {w1.errors}, durable {w2.errors}")
    finally:
        with psycopg.connect(args.url, autocommit=True) as admin:
            for name in names:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


if __name__ == "__main__":
    main()
