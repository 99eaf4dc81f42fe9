"""Every rule in the catalog, triggered on a real database; and where Lockplane generates the safer
form a rule names, the online plan avoids the rule and applies with the rows in place.

One table of cases, one test: a case is the schema before, its rows, and the DDL a person would
run to get the schema after. The schema after is read back from a rolled-back transaction on the
same database, before the rows go in (so a change that needs an empty table still describes its
target), which keeps each case to one scratch database. A meta-test makes a rule without a case
fail: the catalog and this table grow together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql

from lockplane import apply_plan, diff, make_plan
from lockplane.db import connect
from lockplane.extpaths import UpdatePaths, update_paths_for
from lockplane.introspect import introspect
from lockplane.model import Schema
from lockplane.rules import RULES

USERS = "CREATE TABLE users (id bigint PRIMARY KEY, email text, n bigint, note text);"
USER_ROWS = "INSERT INTO users VALUES (1, 'a@x', 1, 'x'), (2, 'b@x', 2, NULL);"
ORDERS = USERS + "CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint);"
ORDER_ROWS = USER_ROWS + "INSERT INTO orders VALUES (10, 1), (11, NULL);"
MOOD = "CREATE TYPE mood AS ENUM ('ok', 'meh');" + USERS.replace("note text", "m mood")
REPLACE_MOOD = (
    "ALTER TYPE mood RENAME TO mood_old; CREATE TYPE mood AS ENUM {};"
    "ALTER TABLE users ALTER COLUMN m TYPE mood USING m::text::mood; DROP TYPE mood_old;"
)


@dataclass(frozen=True)
class Case:
    code: str  # the rule the plan must raise
    schema: str
    change: str  # DDL that turns `schema` into the desired one
    rows: str = ""
    online: bool = True  # which plan raises it: blocking rules come from --no-online plans
    avoided: tuple[str, ...] = ()  # rules the online plan must not raise (then it is applied)
    name: str = ""
    renamed: tuple[str, str, str] | None = None  # (enum, new label, old label): Enum.renamed hint
    grants: bool = False  # introspect table privileges too (they are opt-in)
    # Extension update paths the planner is told of; otherwise they are read on the database.
    paths: tuple[tuple[str, str, str], ...] = ()
    expand_contract: bool = False  # plan with --expand-contract
    rollback: bool = False  # the rule is raised by the plan's generated rollback

    @property
    def id(self) -> str:
        return f"{self.code}-{self.name}" if self.name else self.code


CASES = [
    Case("LP101", "CREATE SCHEMA reports;", "DROP SCHEMA reports;"),
    Case("LP102", USERS, "DROP TABLE users;", USER_ROWS),
    Case("LP103", USERS, "ALTER TABLE users DROP COLUMN note;", USER_ROWS),
    Case("LP104", "CREATE SEQUENCE tickets;", "DROP SEQUENCE tickets;"),
    Case(
        "LP105",
        USERS + "CREATE INDEX users_n ON users (n);",
        "DROP INDEX users_n;",
        USER_ROWS,
        avoided=("LP306",),
    ),
    Case(
        "LP106",
        USERS + "ALTER TABLE users ADD CONSTRAINT n_pos CHECK (n > 0);",
        "ALTER TABLE users DROP CONSTRAINT n_pos;",
        USER_ROWS,
    ),
    Case("LP107", USERS, "ALTER TABLE users DROP COLUMN email;", USER_ROWS),
    Case("LP108", "CREATE TYPE level AS ENUM ('low', 'high');", "DROP TYPE level;"),
    Case(
        "LP108",
        "CREATE FUNCTION one() RETURNS bigint LANGUAGE sql RETURN 1;",
        "DROP FUNCTION one();",
        name="function",
    ),
    Case("LP109", "CREATE EXTENSION hstore;", "DROP EXTENSION hstore;"),
    Case(
        "LP110",
        USERS + "CREATE VIEW emails AS SELECT id, email FROM users;",
        "DROP VIEW emails;",
        USER_ROWS,
    ),
    Case("LP201", USERS, "ALTER TABLE users ADD COLUMN tenant bigint NOT NULL;", USER_ROWS),
    Case(
        "LP202",
        USERS,
        "ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
        USER_ROWS,
        avoided=("LP309",),
    ),
    Case(
        "LP203",
        USERS,
        "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);",
        USER_ROWS,
        avoided=("LP307",),
        name="constraint",
    ),
    Case(
        "LP203",
        USERS,
        "CREATE UNIQUE INDEX users_lower_email ON users (lower(email));",
        USER_ROWS,
        avoided=("LP305",),
        name="index",
    ),
    Case(
        "LP204",
        USERS,
        "ALTER TABLE users ADD CONSTRAINT n_pos CHECK (n > 0);",
        USER_ROWS,
        avoided=("LP307",),
    ),
    Case(
        "LP205",
        ORDERS,
        "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) "
        "REFERENCES users (id);",
        ORDER_ROWS,
        avoided=("LP308",),
    ),
    Case(
        "LP206",
        USERS,
        "ALTER TABLE users ALTER COLUMN note TYPE integer USING note::integer;",
        "INSERT INTO users VALUES (1, 'a@x', 1, '7'), (2, 'b@x', 2, NULL);",
    ),
    Case(
        "LP207", MOOD, REPLACE_MOOD.format("('ok')"), "INSERT INTO users VALUES (1, 'a', 1, 'ok');"
    ),
    Case("LP301", USERS, "ALTER TABLE users ALTER COLUMN email TYPE integer USING 0;", USER_ROWS),
    Case(
        "LP302",
        USERS,
        "ALTER TABLE users ADD COLUMN r float8 DEFAULT random();",
        USER_ROWS,
        online=False,
        avoided=("LP302",),
    ),
    Case("LP303", USERS, "ALTER TABLE users SET UNLOGGED;", USER_ROWS),
    Case(
        "LP304", MOOD, REPLACE_MOOD.format("('ok')"), "INSERT INTO users VALUES (1, 'a', 1, 'ok');"
    ),
    Case(
        "LP305",
        USERS,
        "CREATE INDEX users_email ON users (email);",
        USER_ROWS,
        online=False,
        avoided=("LP305",),
    ),
    Case(
        "LP306",
        USERS + "CREATE INDEX users_email ON users (email);",
        "DROP INDEX users_email;",
        USER_ROWS,
        online=False,
        avoided=("LP306",),
    ),
    Case(
        "LP307",
        USERS,
        "ALTER TABLE users ADD CONSTRAINT n_pos CHECK (n > 0);",
        USER_ROWS,
        online=False,
        avoided=("LP307",),
        name="check",
    ),
    Case(
        "LP307",
        USERS,
        "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE NULLS NOT DISTINCT (email) "
        "DEFERRABLE INITIALLY DEFERRED;",
        USER_ROWS,
        online=False,
        avoided=("LP307",),
        name="unique",
    ),
    Case(
        "LP307",
        "CREATE TABLE tags (name text, slug text NOT NULL);",
        "ALTER TABLE tags ADD CONSTRAINT tags_pkey PRIMARY KEY (name);",
        "INSERT INTO tags VALUES ('a', 'a'), ('b', 'b');",
        online=False,
        avoided=("LP307", "LP309"),
        name="primary-key",
    ),
    Case(
        "LP308",
        ORDERS,
        "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) "
        "REFERENCES users (id) ON DELETE CASCADE;",
        ORDER_ROWS,
        online=False,
        avoided=("LP308",),
    ),
    Case(
        "LP309",
        USERS,
        'ALTER TABLE users ALTER COLUMN "email" SET NOT NULL;',
        USER_ROWS,
        online=False,
        avoided=("LP309",),
    ),
    Case(
        "LP311",
        "CREATE DOMAIN label AS text;" + USERS.replace("note text", "note label"),
        "ALTER DOMAIN label SET NOT NULL;",
        USER_ROWS.replace("NULL)", "'y')"),
        name="set-not-null",
    ),
    Case(
        "LP311",
        "CREATE DOMAIN label AS text;" + USERS.replace("note text", "note label"),
        "ALTER DOMAIN label ADD CONSTRAINT label_long CHECK (length(VALUE) < 100);",
        USER_ROWS,
        name="validate",
    ),
    Case(
        "LP312",
        USERS,
        "ALTER TABLE users ALTER COLUMN n TYPE numeric;",
        USER_ROWS,
        expand_contract=True,
        rollback=True,
    ),
    Case(
        "LP320",
        "CREATE TABLE ev (at date NOT NULL) PARTITION BY RANGE (at);"
        "CREATE TABLE ev_rest PARTITION OF ev DEFAULT;",
        "CREATE TABLE ev_2024 PARTITION OF ev FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');",
        "INSERT INTO ev VALUES ('2030-01-01');",
    ),
    Case(
        "LP320",
        "CREATE TABLE ev (at date NOT NULL) PARTITION BY RANGE (at);"
        "CREATE TABLE ev_2024 PARTITION OF ev FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');",
        "ALTER TABLE ev DETACH PARTITION ev_2024;",
        online=False,  # no rows: a detach takes them out of the parent's count
        avoided=("LP320",),
        name="detach",
    ),
    Case(
        "LP420",
        "CREATE TABLE ev (at date NOT NULL) PARTITION BY RANGE (at);"
        "CREATE TABLE ev_2024 PARTITION OF ev FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');",
        "ALTER TABLE ev DETACH PARTITION ev_2024;",
        "INSERT INTO ev VALUES ('2024-03-01');",
    ),
    Case(
        "LP401",
        USERS,
        "ALTER TABLE users DROP COLUMN note; ALTER TABLE users ADD COLUMN remark text;",
        USER_ROWS,
    ),
    Case(
        "LP402",
        USERS.replace("email text", "email text NOT NULL"),
        "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;",
        USER_ROWS,
    ),
    Case("LP403", MOOD, REPLACE_MOOD.format("('meh', 'ok')")),
    Case(
        "LP404",
        USERS + "CREATE INDEX users_n ON users (n);",
        "DROP INDEX users_n; CREATE INDEX users_n ON users (n, email);",
        USER_ROWS,
        avoided=("LP305", "LP306"),
    ),
    Case(
        "LP405",
        USERS.replace("note text", "note varchar(10)"),
        "ALTER TABLE users ALTER COLUMN note TYPE varchar(20);",
        USER_ROWS,
        name="binary-compatible",
    ),
    Case(
        "LP406",
        USERS.replace("n bigint", "n bigint DEFAULT 0"),
        "ALTER TABLE users ALTER COLUMN n DROP DEFAULT;",
        USER_ROWS,
    ),
    Case(
        "LP407",
        USERS.replace("n bigint", "n bigint NOT NULL"),
        "ALTER TABLE users ALTER COLUMN n ADD GENERATED BY DEFAULT AS IDENTITY;",
        USER_ROWS,
    ),
    Case(
        "LP408",
        USERS + "CREATE MATERIALIZED VIEW counts AS SELECT n, count(*) AS c FROM users GROUP BY n;",
        "DROP MATERIALIZED VIEW counts; "
        "CREATE MATERIALIZED VIEW counts AS SELECT n, count(*) AS c FROM users WHERE n > 1 GROUP BY n;",
        USER_ROWS,
    ),
    Case(
        "LP410",
        USERS,
        "ALTER TABLE users ENABLE ROW LEVEL SECURITY;"
        "CREATE POLICY users_read ON users FOR SELECT USING (n > 0);",
        USER_ROWS,
    ),
    Case(
        "LP411",
        USERS + "ALTER TABLE users ENABLE ROW LEVEL SECURITY;"
        "CREATE POLICY users_all ON users USING (n > 0);",
        "ALTER TABLE users DISABLE ROW LEVEL SECURITY;",
        USER_ROWS,
    ),
    Case(
        "LP412",
        USERS + "GRANT SELECT, UPDATE ON users TO PUBLIC;",
        "REVOKE UPDATE ON users FROM PUBLIC;",
        USER_ROWS,
        grants=True,
    ),
    Case(
        "LP413",
        USERS
        + "CREATE FUNCTION keep() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;"
        + "CREATE TRIGGER users_keep BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION keep();",
        "ALTER TABLE users DISABLE TRIGGER users_keep;",
        USER_ROWS,
    ),
    Case("LP501", USERS, "ALTER TABLE users ADD COLUMN seq bigserial;", USER_ROWS),
    Case("LP502", USERS, "ALTER TABLE users ADD COLUMN at timestamp;", USER_ROWS),
    Case("LP503", USERS, "ALTER TABLE users ADD COLUMN cc char(2);", USER_ROWS),
    Case("LP504", "", "CREATE TABLE tags (id integer PRIMARY KEY);"),
    Case("LP505", USERS, "ALTER TABLE users ADD COLUMN score integer;", USER_ROWS),
    Case("LP506", USERS, "ALTER TABLE users ADD COLUMN code varchar(20);", USER_ROWS),
    Case("LP507", USERS, "CREATE DOMAIN positive AS bigint CHECK (VALUE > 0);", USER_ROWS),
    Case(
        "LP510",
        USERS + "ALTER TABLE users ENABLE ROW LEVEL SECURITY;",
        "CREATE POLICY users_all ON users FOR SELECT USING (true);",
        USER_ROWS,
    ),
    Case(
        "LP508",
        "",
        "CREATE FUNCTION me() RETURNS text LANGUAGE sql SECURITY DEFINER RETURN current_user;",
    ),
    Case(
        "LP414",
        MOOD,
        "ALTER TYPE mood RENAME VALUE 'meh' TO 'bad';",
        "INSERT INTO users VALUES (1, 'a@x', 1, 'meh');",
        renamed=("mood", "bad", "meh"),
    ),
    Case(
        "LP310",
        "CREATE TABLE items (id bigint PRIMARY KEY, price numeric,"
        " total numeric GENERATED ALWAYS AS (price * 2) STORED);",
        "ALTER TABLE items DROP COLUMN total,"
        " ADD COLUMN total numeric GENERATED ALWAYS AS (price * 3) STORED;",
        "INSERT INTO items (id, price) VALUES (1, 5);",
    ),
    Case(
        "LP409",
        "CREATE EXTENSION citext;",
        "CREATE SCHEMA ext; ALTER EXTENSION citext SET SCHEMA ext;",
    ),
    Case(
        "LP111",
        "CREATE EXTENSION citext VERSION '1.5';",
        "ALTER EXTENSION citext UPDATE TO '1.6';",
        # No contrib extension ships a downgrade script: the path back is the planner's input.
        paths=(("citext", "1.6", "1.5"),),
    ),
    Case(
        "LP112",
        "CREATE EXTENSION citext VERSION '1.5';",
        "ALTER EXTENSION citext UPDATE TO '1.6';",
    ),
]


def test_every_rule_has_a_case() -> None:
    assert {c.code for c in CASES} == {r.code for r in RULES}
    assert len({c.id for c in CASES}) == len(CASES)


NO_ONLINE_FORM = {"LP311", "LP312"}
"""Blocking rules Postgres offers no online form for (a domain's columns are scanned under
SHARE whichever way its checks are validated; the way back from an expand/contract switch-over
is one statement, rolling forward is the safer form): their cases show the online plan raises
them."""


def test_every_blocking_rule_is_avoided_by_an_online_plan() -> None:
    """The rules whose safer form is an online form Lockplane generates (LP3xx locks)."""
    blocking = {r.code for r in RULES if r.category == "BLOCKING_LOCK"}
    assert blocking - NO_ONLINE_FORM <= {code for c in CASES for code in c.avoided}
    assert all(c.online for c in CASES if c.code in NO_ONLINE_FORM)


def _schemas(url: str, case: Case) -> tuple[Schema, Schema]:
    """(before, after): the change runs in a rolled-back transaction on the empty tables."""
    with connect(url, autocommit=True) as conn:
        if case.schema:
            conn.execute(case.schema.encode())
        with conn.transaction(force_rollback=True):
            conn.execute(case.change.encode())
            after = introspect(conn, grants=case.grants)
        if case.rows:
            conn.execute(case.rows.encode())
        return introspect(conn, grants=case.grants), after


def _rules(plan: object) -> set[str]:
    return {h.rule for s in plan.steps for h in s.hazards if h.rule}  # type: ignore[attr-defined]


def _row_counts(url: str, schema: Schema) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        counts = {}
        for t in schema.tables:
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t.schema_, t.name))
            counts[t.qname] = conn.execute(query).fetchone()[0]  # type: ignore[index]
        return counts


@pytest.fixture(scope="module")
def shadow(fresh_db: Callable[[], str]) -> str:
    return fresh_db()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_rule(case: Case, fresh_db: Callable[[], str], shadow: str) -> None:
    db = fresh_db()
    before, after = _schemas(db, case)
    if case.renamed is not None:
        name, now, was = case.renamed
        enums = [e.model_copy(update={"renamed": {now: was}}) if e.name == name else e
                 for e in after.enums]  # fmt: skip
        after = after.model_copy(update={"enums": tuple(enums)})
    paths = (
        UpdatePaths(frozenset(case.paths)) if case.paths else update_paths_for(db, before, after)
    )
    plan = make_plan(
        before,
        after,
        online=case.online,
        extension_paths=paths,
        expand_contract=case.expand_contract,
    )
    if case.rollback:
        plan = plan.reverse()
    rule_hazards = [h for s in plan.steps for h in s.hazards if h.rule == case.code]
    assert rule_hazards, f"{case.code} not raised; got {sorted(_rules(plan))}"
    if not case.avoided:
        return
    online = make_plan(before, after)
    assert not _rules(online) & set(case.avoided), [s.sql for s in online.steps]
    assert not any(h.code == "BLOCKING_LOCK" for s in online.steps for h in s.hazards)
    counts = _row_counts(db, before)
    result = apply_plan(online, db, shadow_url=shadow)
    assert result.verified and not result.shadow.contradictions, result.shadow.text()
    with connect(db, autocommit=True) as conn:
        assert diff(introspect(conn), after).is_empty
    assert _row_counts(db, before) == counts
