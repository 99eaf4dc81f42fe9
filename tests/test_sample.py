"""Sampled data on the shadow (`--shadow-sample N`) on real databases: the sample keeps foreign
keys whole (parents first, children among the copied parents, orphans of self-references and
cycles removed until none is left) and holds at most N rows per table; a step that passes on an
empty shadow fails on the sampled one before the real database is touched; identity, generated,
serial and sequence-default columns copy and a later INSERT does not collide; the source is
only read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from lockplane import Plan, Shadow, Step, apply_plan, introspect_url, make_plan, prove
from lockplane.cli import main
from lockplane.errors import ShadowMismatch
from lockplane.sample import SampleReport

GRAPH = """
CREATE TABLE parents (id int PRIMARY KEY, name text);
INSERT INTO parents SELECT i, 'p' || i FROM generate_series(1, 10) i;

-- children 1-5 point at parents 6-10 (never copied with N=5), children 6-10 at parents 1-5.
CREATE TABLE children (id int PRIMARY KEY, parent_id int REFERENCES parents);
INSERT INTO children SELECT i, CASE WHEN i <= 5 THEN i + 5 ELSE i - 5 END
  FROM generate_series(1, 10) i;
INSERT INTO children VALUES (11, NULL);

-- a tree whose node 4 hangs under node 9: with N=5, 4 is an orphan, then so is 5 (under 4).
CREATE TABLE nodes (id int PRIMARY KEY, parent_id int REFERENCES nodes);
INSERT INTO nodes VALUES (1, NULL), (2, 1), (3, 2), (9, 1), (4, 9), (5, 4), (6, 1);

-- a cycle: a.b_id -> b, b.a_id -> a; b 1 points at a 7, which a sample of 5 leaves out.
CREATE TABLE a (id int PRIMARY KEY, b_id int);
CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a);
INSERT INTO a SELECT i, NULL FROM generate_series(1, 7) i;
INSERT INTO b SELECT i, CASE WHEN i = 1 THEN 7 ELSE i END FROM generate_series(1, 7) i;
UPDATE a SET b_id = id;
ALTER TABLE a ADD CONSTRAINT a_b_id_fkey FOREIGN KEY (b_id) REFERENCES b;

-- a composite key of text and enum columns.
CREATE TYPE tier AS ENUM ('gold', 'silver');
CREATE TABLE plans (region text, tier tier, price int, PRIMARY KEY (region, tier));
INSERT INTO plans VALUES ('us', 'silver', 1), ('us', 'gold', 2), ('eu', 'gold', 3);
CREATE TABLE subs (id int PRIMARY KEY, region text, tier tier,
  FOREIGN KEY (region, tier) REFERENCES plans);
INSERT INTO subs VALUES (1, 'us', 'silver'), (2, 'eu', 'gold'), (3, 'us', 'gold'),
  (4, NULL, 'gold');
"""


def setup(url: str, ddl: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(ddl.encode())


def rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query.encode()).fetchall()


def ids(url: str, table: str) -> list[object]:
    return [r[0] for r in rows(url, f"SELECT id FROM {table} ORDER BY id")]


def build_sampled(source: str, shadow: str, n: int) -> SampleReport:
    schema = introspect_url(source)
    s = Shadow(shadow, target_url=source)
    with s.session() as conn:
        report = s.build(conn, schema, "building", sample_from=source, sample_rows=n)
    assert report is not None
    assert introspect_url(shadow) == schema  # every foreign key was added back, valid
    return report


def test_sample_keeps_foreign_keys_whole_and_takes_at_most_n(fresh_db: Callable[[], str]) -> None:
    source, shadow = fresh_db(), fresh_db()
    setup(source, GRAPH)
    report = build_sampled(source, shadow, 5)
    assert ids(shadow, "parents") == [1, 2, 3, 4, 5]
    # picked among the copied parents (a naive first five would all be orphans)
    assert ids(shadow, "children") == [6, 7, 8, 9, 10]
    assert ids(shadow, "nodes") == [1, 2, 3]  # 4 (parent 9 not copied), then 5 (parent 4)
    # the cycle is broken at `a` (name order): a 1-5 copied, then the b among them (2-5),
    # then a 1 lost its b
    assert rows(shadow, "SELECT id, b_id FROM a ORDER BY id") == [(i, i) for i in range(2, 6)]
    assert rows(shadow, "SELECT id, a_id FROM b ORDER BY id") == [(i, i) for i in range(2, 6)]
    assert rows(shadow, "SELECT id, region, tier::text FROM subs ORDER BY id") == [
        (1, "us", "silver"),
        (2, "eu", "gold"),
        (3, "us", "gold"),
        (4, None, "gold"),  # a NULL in the key: not enforced, kept
    ]
    assert report.limit == 5 and report.orphans == 3
    assert report.rows == {
        "a": 4,
        "b": 4,
        "children": 5,
        "nodes": 3,
        "parents": 5,
        "plans": 3,
        "subs": 4,
    }
    assert report.text() == "7 tables, 28 rows (up to 5 per table), 3 orphans removed"
    assert rows(source, "SELECT count(*) FROM nodes") == [(7,)]  # the source keeps its rows


def test_n_larger_than_the_tables_copies_everything(fresh_db: Callable[[], str]) -> None:
    source, shadow = fresh_db(), fresh_db()
    setup(source, GRAPH)
    report = build_sampled(source, shadow, 1000)
    assert report.orphans == 0
    for table in ("parents", "children", "nodes", "a", "b", "plans", "subs"):
        query = f"SELECT * FROM {table} ORDER BY 1"
        assert rows(shadow, query) == rows(source, query), table


def test_inherited_rows_are_copied_once(fresh_db: Callable[[], str]) -> None:
    """A parent table reads its inheritance children's rows too; each is copied to its own."""
    source, shadow = fresh_db(), fresh_db()
    setup(
        source,
        "CREATE TABLE base (id int PRIMARY KEY); CREATE TABLE sub (extra text) INHERITS (base);"
        "INSERT INTO base VALUES (1); INSERT INTO sub VALUES (1, 'x'), (2, 'y');",
    )
    schema = introspect_url(source)
    s = Shadow(shadow, target_url=source)
    with s.session() as conn:
        report = s.build(conn, schema, "building", sample_from=source, sample_rows=10)
    assert report is not None and report.rows == {"base": 1, "sub": 2}
    assert rows(shadow, "SELECT id FROM base") == [(1,)]


def test_a_data_dependent_step_fails_on_the_sampled_shadow(fresh_db: Callable[[], str]) -> None:
    """SET NOT NULL over a NULL passes on an empty shadow; with the sample the shadow refuses
    the plan and the real database is never touched (preflight off: the shadow must catch it)."""
    db, target, shadow = fresh_db(), fresh_db(), fresh_db()
    setup(
        db,
        "CREATE TABLE users (id int PRIMARY KEY, email text);"
        "INSERT INTO users VALUES (1, 'a'), (2, NULL), (3, 'c');",
    )
    setup(target, "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);")
    before = introspect_url(db)
    plan = make_plan(before, introspect_url(target))

    empty = prove(plan, before, Shadow(shadow, target_url=db))
    assert empty.ok and "Sampled data copied" not in empty.text()

    with pytest.raises(ShadowMismatch) as exc:
        apply_plan(plan, db, shadow_url=shadow, preflight=False, shadow_sample=10)
    assert "shadow run" in str(exc.value) and "null" in str(exc.value).lower()
    report = exc.value.report
    assert [(c.name, c.passed) for c in report.checks][:2] == [  # type: ignore[attr-defined]
        ("Current schema built on the shadow", True),
        ("Sampled data copied", True),
    ]
    assert "1 table, 3 rows" in report.text()  # type: ignore[attr-defined]
    assert introspect_url(db) == before
    assert rows(db, "SELECT id, email FROM users ORDER BY id") == [(1, "a"), (2, None), (3, "c")]
    assert rows(db, "SELECT to_regclass('lockplane.migrations')") == [(None,)]


def test_a_sample_that_misses_the_bad_row_lets_the_plan_through(
    fresh_db: Callable[[], str],
) -> None:
    """N is an upper bound, and rows come in key order: the NULL at id 3 is not in a sample of
    two, so the shadow passes (the preflight is what reads every row)."""
    db, target, shadow = fresh_db(), fresh_db(), fresh_db()
    setup(
        db,
        "CREATE TABLE users (id int PRIMARY KEY, email text);"
        "INSERT INTO users VALUES (1, 'a'), (2, 'b'), (3, NULL);",
    )
    setup(target, "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);")
    current = introspect_url(db)
    plan = make_plan(current, introspect_url(target))
    report = prove(plan, current, Shadow(shadow, target_url=db), sample_from=db, sample_rows=2)
    assert report.ok and "1 table, 2 rows (up to 2 per table)" in report.text()
    with pytest.raises(ShadowMismatch):
        prove(plan, current, Shadow(shadow, target_url=db), sample_from=db, sample_rows=3)


def test_identity_generated_serial_and_sequence_columns_copy_and_inserts_follow(
    fresh_db: Callable[[], str],
) -> None:
    source, shadow = fresh_db(), fresh_db()
    setup(
        source,
        "CREATE TABLE things (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text,"
        " doubled int GENERATED ALWAYS AS (id * 2) STORED, n serial);"
        "INSERT INTO things (name) VALUES ('a'), ('b'), ('c');"
        "CREATE TABLE other (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, note text);"
        "INSERT INTO other (id, note) VALUES (40, 'x'), (41, 'y');"
        "CREATE SEQUENCE ticket_seq START 100;"
        "CREATE TABLE tickets (no bigint DEFAULT nextval('ticket_seq') PRIMARY KEY);"
        "INSERT INTO tickets DEFAULT VALUES; INSERT INTO tickets DEFAULT VALUES;",
    )
    current = introspect_url(source)
    inserts = Plan(
        steps=(
            Step(description="Insert a thing", sql="INSERT INTO things (name) VALUES ('new')"),
            Step(description="Insert an other", sql="INSERT INTO other (note) VALUES ('new')"),
            Step(description="Insert a ticket", sql="INSERT INTO tickets DEFAULT VALUES"),
        )
    )
    report = prove(
        inserts, current, Shadow(shadow, target_url=source), sample_from=source, sample_rows=50
    )
    assert report.ok, report.text()
    assert "3 tables, 7 rows" in report.text()
    assert rows(shadow, "SELECT id, name, doubled, n FROM things ORDER BY id") == [
        (1, "a", 2, 1),
        (2, "b", 4, 2),
        (3, "c", 6, 3),
        (4, "new", 8, 4),  # the identity and the serial carry on after the copied rows
    ]
    assert rows(shadow, "SELECT id FROM other ORDER BY id") == [(40,), (41,), (42,)]
    assert rows(shadow, "SELECT no FROM tickets ORDER BY no") == [(100,), (101,), (102,)]


def test_the_sample_only_reads_the_source(fresh_db: Callable[[], str]) -> None:
    """The source refuses every write (as a hot standby would); the sample still works."""
    source, shadow = fresh_db(), fresh_db()
    setup(source, GRAPH)
    name = urlsplit(source).path.lstrip("/")
    setup(source, f"ALTER DATABASE {name} SET default_transaction_read_only = on")
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        setup(source, "CREATE TEMP TABLE probe (x int)")
    report = build_sampled(source, shadow, 5)
    assert report.total == 28
    assert rows(source, "SELECT count(*) FROM children") == [(11,)]


def test_cli_apply_with_a_shadow_sample(
    fresh_db: Callable[[], str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, target, shadow = fresh_db(), fresh_db(), fresh_db()
    setup(
        db,
        "CREATE TABLE users (id int PRIMARY KEY, email text);"
        "INSERT INTO users VALUES (1, 'a'), (2, 'a');",
    )
    setup(target, "CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE);")
    before = introspect_url(db)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(make_plan(before, introspect_url(target)).to_json())
    base = ["apply", "--plan", str(plan_file), "--database", db, "--shadow-database", shadow]
    code = main([*base, "--yes", "--no-preflight", "--shadow-sample", "5"])
    err = capsys.readouterr().err
    assert code == 1 and "lockplane: error: shadow run" in err, err
    assert "could not create unique index" in err and len(err.strip().splitlines()) == 1
    assert introspect_url(db) == before

    with pytest.raises(SystemExit) as exit_:
        main([*base, "--yes", "--shadow-sample", "-1"])
    assert exit_.value.code == 2
    assert "--shadow-sample: '-1' is negative" in capsys.readouterr().err
