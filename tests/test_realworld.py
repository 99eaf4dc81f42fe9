"""A realistic schema end to end: a DVD rental store in the shape of Pagila (tests/data/rentals).

Planned from empty and applied, planned to empty and applied (over rows), then evolved by a
dozen realistic changes, each applied through a shadow proof, compared with the database built
directly from the changed DDL, and rolled back. Two variants: `core` (tables, types, indexes,
FKs: what Lockplane manages today) and `full` (plus an aggregate, functions, views, triggers,
row level security and a partitioned table), which fails until those object kinds are managed.

The acceptance reader (`acceptance/catalog.py`) does not read code objects yet, so `objects()`
below lists them, as Postgres prints them, with queries of its own; without it a plan that
silently left out every view would still compare equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from acceptance.catalog import run_sql, snapshot, snapshot_diff
from property.roundtrip import unordered
from servers import create_database, drop_database

DATA = Path(__file__).parent / "data" / "rentals"
SCHEMAS = {
    "core": (DATA / "core.sql").read_text(),
    "full": (DATA / "core.sql").read_text() + (DATA / "full.sql").read_text(),
}
ROWS = {
    "core": (DATA / "rows.sql").read_text(),
    "full": (DATA / "rows.sql").read_text() + (DATA / "payments.sql").read_text(),
}

_OBJECTS_SQL = """
WITH ns AS (
  SELECT oid, nspname FROM pg_namespace
  WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'lockplane')
    AND nspname !~ '^pg_(toast|temp_)'
), own AS (SELECT objid, classid FROM pg_depend WHERE deptype = 'e')
SELECT 'view ' || format('%I.%I', ns.nspname, c.relname), pg_get_viewdef(c.oid, true)
FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm')
UNION ALL
SELECT 'function ' || format('%I.%I', ns.nspname, p.proname)
       || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       CASE WHEN p.prokind = 'a' THEN 'aggregate sfunc ' || a.aggtransfn::regproc::text
            ELSE pg_get_functiondef(p.oid) END
FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid
WHERE NOT EXISTS (SELECT FROM own WHERE own.objid = p.oid)
UNION ALL
SELECT 'trigger ' || t.tgname || ' on ' || t.tgrelid::regclass::text, pg_get_triggerdef(t.oid, true)
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN ns ON ns.oid = c.relnamespace
WHERE NOT t.tgisinternal
UNION ALL
SELECT 'policy ' || pol.polname || ' on ' || pol.polrelid::regclass::text,
       concat_ws(' ', pol.polcmd, pol.polpermissive, pg_get_expr(pol.polqual, pol.polrelid),
                 pg_get_expr(pol.polwithcheck, pol.polrelid))
FROM pg_policy pol
UNION ALL
SELECT 'row security ' || c.oid::regclass::text,
       concat_ws(' ', c.relrowsecurity, c.relforcerowsecurity)
FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
WHERE c.relrowsecurity OR c.relforcerowsecurity
UNION ALL
SELECT 'partitioned ' || c.oid::regclass::text, pg_get_partkeydef(c.oid)
FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
WHERE c.relkind = 'p'
UNION ALL
SELECT 'partition ' || c.oid::regclass::text,
       i.inhparent::regclass::text || ' ' || pg_get_expr(c.relpartbound, c.oid)
FROM pg_class c JOIN ns ON ns.oid = c.relnamespace JOIN pg_inherits i ON i.inhrelid = c.oid
WHERE c.relispartition AND c.relkind IN ('r', 'p')  -- tables, not their indexes
ORDER BY 1
"""


def objects(url: str) -> dict[str, str]:
    """Views, functions, aggregates, triggers, policies and partitioning, by name."""
    with psycopg.connect(url, autocommit=True, options="-c search_path=public") as conn:
        return dict(conn.execute(_OBJECTS_SQL).fetchall())  # type: ignore[arg-type]


def everything(url: str) -> dict[str, Any]:
    return {**snapshot(url), "code": objects(url)}


@pytest.fixture
def db(pg_url: str) -> Iterator[Callable[[], str]]:
    """Call it for a fresh empty database; all are dropped when the test ends."""
    made: list[str] = []

    def make() -> str:
        made.append(create_database(pg_url, prefix="lp_real"))
        return made[-1]

    yield make
    for url in made:
        drop_database(pg_url, url)


def apply_proven(plan: Any, url: str, shadow_url: str) -> None:
    """Apply through a shadow proof, which must not contradict what the plan claims."""
    from lockplane import apply_plan

    result = apply_plan(plan, url, shadow_url=shadow_url, allow_destructive=True)
    assert not result.shadow.contradictions, result.shadow.contradictions


def describe(plan: Any) -> str:
    return "\n".join(f"  {i}. {s.sql}" for i, s in enumerate(plan.steps, 1))


@pytest.mark.parametrize("variant", ["core", "full"])
def test_whole_schema_from_empty_and_to_empty(db: Callable[[], str], variant: str) -> None:
    """Both directions are tried and every problem reported together, so a failure says how
    far a partly managed schema gets, not only the first thing missing."""
    from lockplane import LockplaneError, introspect_url, make_plan

    source, empty, target, shadow = db(), db(), db(), db()
    run_sql(source, SCHEMAS[variant])
    run_sql(source, ROWS[variant])
    schema = introspect_url(source)
    problems = []
    if schema.unmanaged:
        problems.append(f"not managed yet: {sorted({u.kind for u in schema.unmanaged})}")

    try:
        create = make_plan(introspect_url(empty), schema)
        apply_proven(create, target, shadow)
    except LockplaneError as exc:
        problems.append(f"from empty: {type(exc).__name__}: {exc}")
    else:
        missing = snapshot_diff(everything(target), everything(source))
        if missing:
            problems.append("from empty, differs from the source:\n" + "\n".join(missing))
        if not make_plan(introspect_url(target), schema).is_empty:
            problems.append("from empty: planning again is not empty")

    try:
        drop = make_plan(schema, introspect_url(empty))
        apply_proven(drop, source, shadow)  # over the rows
    except LockplaneError as exc:
        problems.append(f"to empty: {type(exc).__name__}: {exc}")
    else:
        left = snapshot_diff(everything(source), everything(empty))
        if left:
            problems.append("to empty, left behind:\n" + "\n".join(left))
    assert not problems, "\n".join(problems)


@dataclass(frozen=True)
class Evolution:
    """A change to the schema's DDL: exact replacements (each must match once), then SQL added."""

    name: str
    replace: tuple[tuple[str, str], ...] = ()
    append: str = ""
    needs_full: bool = False

    def apply(self, ddl: str) -> str:
        for old, new in self.replace:
            assert ddl.count(old) == 1, f"{self.name}: {old!r} occurs {ddl.count(old)} times"
            ddl = ddl.replace(old, new)
        return ddl + "\n" + self.append


EVOLUTIONS = [
    Evolution(
        "add a column with a default",
        append="ALTER TABLE customer ADD COLUMN loyalty_points integer NOT NULL DEFAULT 0;",
    ),
    Evolution(
        "new partial index",
        append="CREATE INDEX idx_open_rentals ON rental (inventory_id) WHERE return_date IS NULL;",
    ),
    Evolution(
        "add a foreign key",
        append="ALTER TABLE film ADD CONSTRAINT film_original_language_id_fkey FOREIGN KEY "
        "(original_language_id) REFERENCES language ON UPDATE CASCADE ON DELETE RESTRICT;",
    ),
    Evolution(
        "change a column type under a view",
        replace=(("    title text NOT NULL,\n", "    title varchar(255) NOT NULL,\n"),),
    ),
    Evolution(
        "add a check",
        append="ALTER TABLE film ADD CONSTRAINT film_length_check CHECK (length > 0);",
    ),
    Evolution("add an enum value", replace=(("'NC-17');", "'NC-17', 'NR');"),)),
    Evolution(
        "add a table with a foreign key",
        append="""CREATE TABLE film_review (
            review_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            film_id integer NOT NULL REFERENCES film ON DELETE CASCADE,
            customer_id integer NOT NULL REFERENCES customer ON DELETE CASCADE,
            stars smallint NOT NULL CHECK (stars BETWEEN 1 AND 5),
            body text,
            created_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (film_id, customer_id));
        CREATE INDEX idx_film_review_customer ON film_review (customer_id);""",
    ),
    Evolution(
        "drop a column",
        replace=(
            (
                "    last_update timestamptz NOT NULL DEFAULT now(),\n    picture bytea\n",
                "    last_update timestamptz NOT NULL DEFAULT now()\n",
            ),
        ),
    ),
    Evolution("tighten the year domain", replace=(("VALUE <= 2155", "VALUE <= 2100"),)),
    Evolution(
        "comment a column and make another NOT NULL",
        replace=(("    active integer\n", "    active integer NOT NULL\n"),),
        append="COMMENT ON COLUMN address.postal_code IS 'empty when the country has none';",
    ),
    Evolution(
        "rename a function by replacing it",
        replace=(("FUNCTION get_customer_balance(", "FUNCTION customer_balance("),),
        needs_full=True,
    ),
    Evolution(
        "new policy",
        append="CREATE POLICY customer_insert ON customer FOR INSERT WITH CHECK (store_id > 0);",
        needs_full=True,
    ),
    Evolution(
        "change a view",
        replace=(("sum(p.amount) AS total_sales", "sum(p.amount) AS total_sales, count(*) AS n"),),
        needs_full=True,
    ),
    Evolution(
        "new trigger",
        append="CREATE TRIGGER last_updated BEFORE UPDATE ON rental "
        "FOR EACH ROW EXECUTE FUNCTION last_updated();",
        needs_full=True,
    ),
    Evolution(
        "new partition",
        append="CREATE TABLE payment_p2022_03 PARTITION OF payment "
        "FOR VALUES FROM ('2022-03-01 00:00:00+00') TO ('2022-04-01 00:00:00+00');",
        needs_full=True,
    ),
]


@pytest.mark.parametrize(
    ("variant", "evolution"),
    [
        pytest.param(v, e, id=f"{v}-{e.name}")
        for v in ("core", "full")
        for e in EVOLUTIONS
        if v == "full" or not e.needs_full
    ],
)
def test_evolution(db: Callable[[], str], variant: str, evolution: Evolution) -> None:
    from lockplane import introspect_url, make_plan

    old, new, shadow = db(), db(), db()
    run_sql(old, SCHEMAS[variant])
    run_sql(old, ROWS[variant])
    run_sql(new, evolution.apply(SCHEMAS[variant]))
    before = everything(old)

    plan = make_plan(introspect_url(old), introspect_url(new))
    assert not plan.is_empty, "the schemas differ, but the plan is empty"
    apply_proven(plan, old, shadow)
    missing = snapshot_diff(everything(old), everything(new))
    assert not missing, "\n".join(missing) + "\n" + describe(plan)
    assert make_plan(introspect_url(old), introspect_url(new)).is_empty

    rollback = plan.reverse()
    apply_proven(rollback, old, shadow)
    undone = snapshot_diff(unordered(everything(old)), unordered(before))
    assert not undone, "\n".join(undone) + "\n" + describe(rollback)
