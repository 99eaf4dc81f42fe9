"""The shadow database: a throwaway place to parse SQL, build schemas and rehearse plans.

Resetting a database drops everything in it, so Lockplane only ever resets a database that is
empty or that it marked as its own (a `lockplane.shadow_marker` table), and never one that is
the target or that holds a Lockplane ledger. A shadow URL pointing at production is the mistake
this module exists to refuse.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from .db import connect, mask_url, with_database
from .errors import InputError, LockplaneError, ShadowRefused
from .hints import sql_backfills, with_backfills, with_hints
from .introspect import introspect, like, opt_in
from .model import Schema
from .plan import Step
from .planner import make_plan
from .sample import SampleReport, build_steps, copy_sample
from .sqltext import split_statements

MARKER_SCHEMA = "lockplane"
MARKER_TABLE = "shadow_marker"
_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")

_USER_OBJECTS = """
SELECT count(*) FROM (
    SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'lockplane')
       AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%'
    UNION ALL
    SELECT t.oid FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'lockplane')
       AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%'
       AND t.typtype IN ('e', 'd', 'r', 'm')
    UNION ALL
    SELECT p.oid FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'lockplane')
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
) objects
"""


def _same_database(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)

    def where(p: object) -> tuple[str, int, str]:
        host = (p.hostname or "localhost").replace("127.0.0.1", "localhost")  # type: ignore[attr-defined]
        return host, p.port or 5432, (p.path or "/").lstrip("/")  # type: ignore[attr-defined]

    return where(pa) == where(pb)


def _relation_exists(conn: psycopg.Connection, schema: str, name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [f'"{schema}"."{name}"']).fetchone()
    return bool(row and row[0])


def check_resettable(conn: psycopg.Connection, url: str, target_url: str | None = None) -> None:
    """Raise ShadowRefused unless this database may be wiped."""
    if target_url is not None and _same_database(url, target_url):
        raise ShadowRefused(
            f"shadow database {mask_url(url)} is the target database itself; "
            "give a separate database with --shadow-database or SHADOW_DATABASE_URL"
        )
    if _relation_exists(conn, MARKER_SCHEMA, MARKER_TABLE):
        return
    if _relation_exists(conn, MARKER_SCHEMA, "migrations"):
        raise ShadowRefused(
            f"shadow database {mask_url(url)} holds a Lockplane ledger: it is a real database, "
            "not a shadow; refusing to reset it"
        )
    row = conn.execute(_USER_OBJECTS).fetchone()
    if row and row[0]:
        raise ShadowRefused(
            f"shadow database {mask_url(url)} holds {row[0]} object(s) that Lockplane did not "
            "create; refusing to reset it (point the shadow at an empty database)"
        )


def reset(conn: psycopg.Connection) -> None:
    """Drop every user schema and extension, recreate `public`, and mark the database as ours."""
    names = [
        r[0]
        for r in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', "
            "'information_schema', %s) AND nspname NOT LIKE 'pg_toast%%' "
            "AND nspname NOT LIKE 'pg_temp%%'",
            [MARKER_SCHEMA],
        )
    ]
    for name in names:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
    for (ext,) in conn.execute(
        "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'"
    ).fetchall():
        conn.execute(sql.SQL("DROP EXTENSION IF EXISTS {} CASCADE").format(sql.Identifier(ext)))
    conn.execute("CREATE SCHEMA public")
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(MARKER_SCHEMA)))
    conn.execute(
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (created_at timestamptz DEFAULT now())").format(
            sql.Identifier(MARKER_SCHEMA, MARKER_TABLE)
        )
    )


def run_steps(conn: psycopg.Connection, steps: tuple[Step, ...] | list[Step], what: str) -> None:
    """Run steps in the connection's current transaction; a failure names the step."""
    for number, step in enumerate(steps, 1):
        try:
            with conn.transaction():
                conn.execute(step.sql.encode())
        except psycopg.Error as exc:
            raise ShadowStepFailed(what, number, step, exc) from None


class ShadowStepFailed(LockplaneError):
    def __init__(self, what: str, number: int, step: Step, exc: psycopg.Error) -> None:
        self.number = number
        self.step = step
        reason = (exc.diag.message_primary or str(exc)).strip()
        super().__init__(f"{what}: step {number} ({step.description}) failed: {reason}")


class Shadow:
    """A shadow server/database pair, checked once and reset before each use."""

    def __init__(self, url: str, *, target_url: str | None = None) -> None:
        self.url = url
        self.target_url = target_url

    @contextmanager
    def session(self) -> Iterator[psycopg.Connection]:
        """The shadow database itself, reset and marked, in autocommit mode."""
        conn = connect(self.url, autocommit=True)
        try:
            check_resettable(conn, self.url, self.target_url)
            reset(conn)
            yield conn
        finally:
            conn.close()

    @contextmanager
    def scratch(self) -> Iterator[psycopg.Connection]:
        """A brand-new database on the shadow server, dropped afterwards; falls back to the
        shadow database itself when the role may not create databases."""
        admin = connect(self.url, autocommit=True)
        name = f"lockplane_tmp_{secrets.token_hex(6)}"
        try:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.InsufficientPrivilege:
            admin.close()
            with self.session() as conn:
                yield conn
            return
        try:
            conn = connect(with_database(self.url, name), autocommit=True)
            try:
                yield conn
            finally:
                conn.close()
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            admin.close()

    def load_sql(self, text: str, source: str) -> Schema:
        """Let Postgres parse a DDL file: run it in a scratch database and introspect the result."""
        with self.scratch() as conn:
            try:
                with conn.transaction():
                    conn.execute(text.encode())
            except psycopg.Error as exc:
                raise InputError(source, [_locate(conn, text, exc)]) from None
            return with_backfills(introspect(conn), sql_backfills(text, source), source)

    def build(
        self,
        conn: psycopg.Connection,
        schema: Schema,
        what: str,
        *,
        sample_from: str | None = None,
        sample_rows: int = 0,
    ) -> SampleReport | None:
        """Create `schema` from nothing in an (empty) database, in one transaction.

        With `sample_from` (a database holding `schema`, read-only) and `sample_rows` > 0, also
        fill it with up to that many of its rows per table (sample.py): the foreign keys are
        added after the rows, once the orphans are gone. Returns what was sampled, if anything.
        """
        if not sample_from or sample_rows <= 0:
            with conn.transaction():
                run_steps(conn, make_plan(Schema(), schema).steps, what)
            return None
        before, after = build_steps(schema)
        with conn.transaction():
            run_steps(conn, before, what)
            report = copy_sample(sample_from, conn, schema, sample_rows)
            run_steps(conn, after, f"{what} (constraints added after the sampled rows)")
        return report

    def normalize(self, schema: Schema) -> Schema:
        """The schema as Postgres would hold it: built in a scratch database and read back, so
        hand-written defaults and expressions compare equal to introspected ones."""
        with self.scratch() as conn:
            self.build(conn, schema, "building the schema on the shadow")
            return with_hints(schema, like(schema, introspect(conn, **opt_in(schema))))


def _locate(conn: psycopg.Connection, text: str, exc: psycopg.Error) -> tuple[str, str]:
    """("line N", message) for an error in a DDL file, finding the statement when Postgres
    gave no position by replaying the file one statement at a time (then rolling back)."""
    message = (exc.diag.message_primary or str(exc)).strip()
    position = exc.diag.statement_position
    if position and position.isdigit():
        line = text.encode()[: int(position) - 1].decode(errors="ignore").count("\n") + 1
        return f"line {line}", message
    try:
        with conn.transaction(force_rollback=True):
            for line, statement in split_statements(text):
                try:
                    with conn.transaction():
                        conn.execute(statement.encode())
                except psycopg.Error:
                    return f"line {line}", message
    except psycopg.Error:
        pass
    return "", message
