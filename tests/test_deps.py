"""The dependency graph (`lockplane.deps`): parsed references must cover what Postgres records.

The graph is parsed from definitions, not read from pg_depend, so that hand-written documents and
objects Postgres keeps no dependencies for can be ordered too. The database test is the check that
parsing is enough: every view -> table and view -> view edge pg_depend holds for a nontrivial
schema (quoted names, other schemas, joins, subqueries, CTEs, a materialized view) must be in the
parsed graph.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from lockplane.deps import Graph, name_chains
from lockplane.introspect import introspect_url
from lockplane.model import Schema, Table, View

SCHEMA = """
CREATE SCHEMA app;
CREATE SCHEMA "Reports";
CREATE TABLE app.users (id bigint PRIMARY KEY, email text, "Display Name" text);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint, total numeric, note text);
CREATE TABLE "Line Items" (order_id bigint, sku text, qty int);
CREATE TABLE unused (id bigint);
CREATE VIEW user_orders AS
  SELECT u.id, u."Display Name", o.total FROM app.users u JOIN orders o ON o.user_id = u.id;
CREATE VIEW "Reports"."Big Orders" AS
  SELECT * FROM user_orders WHERE total > (SELECT avg(total) FROM orders);
CREATE VIEW app.skus AS
  WITH per_order AS (SELECT order_id, count(*) AS n FROM "Line Items" GROUP BY order_id)
  SELECT p.order_id, p.n, 'FROM unused' AS label FROM per_order p;
CREATE MATERIALIZED VIEW order_sizes AS
  SELECT s.order_id, s.n, b.total FROM app.skus s LEFT JOIN "Reports"."Big Orders" b ON true;
CREATE VIEW "select" AS SELECT order_id FROM order_sizes WHERE EXISTS (SELECT 1 FROM app.users);
"""

PG_DEPEND_EDGES = """
SELECT DISTINCT vn.nspname, v.relname, tn.nspname, t.relname, t.relkind
FROM pg_rewrite r
JOIN pg_class v ON v.oid = r.ev_class
JOIN pg_namespace vn ON vn.oid = v.relnamespace
JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                 AND d.refclassid = 'pg_class'::regclass
JOIN pg_class t ON t.oid = d.refobjid AND t.oid <> v.oid
JOIN pg_namespace tn ON tn.oid = t.relnamespace
WHERE v.relkind IN ('v', 'm') AND t.relkind IN ('r', 'v', 'm')
  AND vn.nspname NOT IN ('pg_catalog', 'information_schema')
"""


def test_parsed_graph_contains_every_pg_depend_edge(fresh_db: Callable[[], str]) -> None:
    url = fresh_db()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA.encode())
        recorded = conn.execute(PG_DEPEND_EDGES).fetchall()
    graph = Graph(introspect_url(url))
    assert len(recorded) >= 9, recorded  # the schema above is as nontrivial as it looks
    missing = [
        r
        for r in recorded
        if ("table" if r[4] == "r" else "view", r[2], r[3])
        not in graph.dependencies(("view", r[0], r[1]))
    ]
    assert not missing
    # parsing only over-approximates where a word names an object: the literal does not count
    assert ("table", "public", "unused") not in graph.dependencies(("view", "app", "skus"))
    assert graph.depth(("view", "public", "select")) > graph.depth(
        ("view", "public", "order_sizes")
    )


def _schema(*views: tuple[str, str]) -> Schema:
    table = Table(name="t", columns=[{"name": "a", "type": "int"}, {"name": "b", "type": "int"}])
    return Schema(tables=[table], views=[View(name=n, definition=d) for n, d in views])


def test_name_chains_fold_case_and_skip_literals_and_comments() -> None:
    text = """SELECT "Odd"."Name", s . t, X FROM a.b -- c.d
    /* e */ WHERE f = 'g.h' AND $$i$$ = $q$j$q$ AND "select" = 1"""
    assert name_chains(text) == [
        ("Odd", "Name"),
        ("s", "t"),
        ("x",),
        ("a", "b"),
        ("f",),
        ("select",),
    ]


def test_depth_orders_dependencies_first_and_breaks_cycles() -> None:
    s = _schema(
        ("v1", "SELECT a FROM t"), ("v2", "SELECT a FROM v1"), ("v3", "SELECT v2.a FROM v2")
    )
    g = Graph(s)
    depths = [g.depth(("view", "public", v)) for v in ("v1", "v2", "v3")]
    assert depths == sorted(depths) and len(set(depths)) == 3
    assert g.dependents({("table", "public", "t")}) == {
        ("view", "public", "v1"),
        ("view", "public", "v2"),
        ("view", "public", "v3"),
    }
    cyclic = Graph(_schema(("p", "SELECT 1 AS q FROM t"), ("q", "SELECT p.q FROM p")))
    # q's word "q" is also a column alias in p: a spare edge p -> q closes a cycle, never an error
    assert {cyclic.depth(("view", "public", n)) for n in ("p", "q")} == {0, 1}


def test_columns_used_names_only_columns_in_the_text() -> None:
    g = Graph(_schema(("v", "SELECT t.b FROM t")))
    assert g.columns_used(("view", "public", "v")) == {("public", "t"): frozenset({"b"})}


FUNCTION_SCHEMA = """
CREATE SCHEMA app;
CREATE TABLE app.accounts (id bigint PRIMARY KEY, email text, balance numeric);
CREATE FUNCTION app.norm(t text) RETURNS text LANGUAGE sql IMMUTABLE RETURN lower(t);
CREATE FUNCTION total() RETURNS numeric LANGUAGE sql STABLE
  RETURN (SELECT sum(balance) FROM app.accounts);
CREATE FUNCTION "Twice Total"() RETURNS numeric LANGUAGE sql STABLE
  BEGIN ATOMIC SELECT total() * 2; END;
CREATE FUNCTION new_code() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN 'x'; END $$;
CREATE TABLE codes (id bigint, code text DEFAULT new_code(), email text);
CREATE INDEX codes_email ON codes (app.norm(email)) WHERE app.norm(email) <> '';
CREATE VIEW app.summary AS SELECT "Twice Total"() AS t, app.norm('A') AS n;
"""

# Every function an object depends on, by (kind, schema, name) as the graph names its source:
# views through their rewrite rule, SQL-standard bodies through the function itself, defaults
# and indexes through pg_attrdef / pg_class rows of their table.
PG_DEPEND_FUNCTION_EDGES = """
SELECT DISTINCT
  CASE d.classid
    WHEN 'pg_rewrite'::regclass THEN 'view'
    WHEN 'pg_proc'::regclass THEN 'function'
    WHEN 'pg_attrdef'::regclass THEN 'default'
    ELSE 'index' END,
  COALESCE(vn.nspname, pn.nspname, an.nspname, xn.nspname),
  COALESCE(v.relname, p.proname, ac.relname || '.' || a.attname, xt.relname || '.' || x.relname),
  fn.nspname, f.proname
FROM pg_depend d
JOIN pg_proc f ON d.refclassid = 'pg_proc'::regclass AND f.oid = d.refobjid
JOIN pg_namespace fn ON fn.oid = f.pronamespace
LEFT JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid
LEFT JOIN pg_class v ON v.oid = r.ev_class
LEFT JOIN pg_namespace vn ON vn.oid = v.relnamespace
LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
LEFT JOIN pg_namespace pn ON pn.oid = p.pronamespace
LEFT JOIN pg_attrdef ad ON d.classid = 'pg_attrdef'::regclass AND ad.oid = d.objid
LEFT JOIN pg_class ac ON ac.oid = ad.adrelid
LEFT JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
LEFT JOIN pg_namespace an ON an.oid = ac.relnamespace
LEFT JOIN pg_class x ON d.classid = 'pg_class'::regclass AND x.oid = d.objid AND x.relkind = 'i'
LEFT JOIN pg_index xi ON xi.indexrelid = x.oid
LEFT JOIN pg_class xt ON xt.oid = xi.indrelid
LEFT JOIN pg_namespace xn ON xn.oid = xt.relnamespace
WHERE d.deptype = 'n' AND fn.nspname NOT IN ('pg_catalog', 'information_schema')
  AND d.classid IN ('pg_rewrite'::regclass, 'pg_proc'::regclass, 'pg_attrdef'::regclass,
                    'pg_class'::regclass)
  AND (d.classid <> 'pg_class'::regclass OR x.oid IS NOT NULL)
  AND (d.classid <> 'pg_rewrite'::regclass OR v.relkind IN ('v', 'm'))
"""


def test_parsed_graph_contains_every_pg_depend_function_edge(fresh_db: Callable[[], str]) -> None:
    url = fresh_db()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(FUNCTION_SCHEMA.encode())
        recorded = conn.execute(PG_DEPEND_FUNCTION_EDGES).fetchall()
    graph = Graph(introspect_url(url))
    kinds = {r[0] for r in recorded}
    assert kinds == {"view", "function", "default", "index"}, recorded
    missing = [r for r in recorded if ("function", r[3], r[4]) not in graph.dependencies(r[:3])]
    assert not missing
    # an SQL-standard body's table edge, which pg_depend records against the function too
    assert ("table", "app", "accounts") in graph.dependencies(("function", "public", "total"))
    chain = [graph.depth(("function", "public", n)) for n in ("total", "Twice Total")]
    assert chain[0] < chain[1] < graph.depth(("view", "app", "summary"))


TYPE_SCHEMA = """
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE DOMAIN positive AS numeric CHECK (VALUE > 0);
CREATE DOMAIN amount AS positive;
CREATE TYPE pt AS (x amount, m mood);
CREATE DOMAIN a_point AS pt;
CREATE DOMAIN a_path AS a_point[];
CREATE TYPE seg AS (lo a_point, hops a_path);
CREATE TYPE amount_range AS RANGE (subtype = amount);
CREATE TYPE span AS (r amount_range, s seg[]);
CREATE TABLE shapes (id bigint PRIMARY KEY, s span);
CREATE VIEW big AS SELECT id FROM shapes;
CREATE FUNCTION all_big() RETURNS SETOF big LANGUAGE sql AS $$ SELECT * FROM big $$;
CREATE FUNCTION add_big(s bigint, b big) RETURNS bigint LANGUAGE sql AS $$ SELECT s + b.id $$;
CREATE AGGREGATE sum_big(big) (SFUNC = add_big, STYPE = bigint);
CREATE FUNCTION grand() RETURNS bigint LANGUAGE sql STABLE
  RETURN (SELECT sum_big(b) FROM all_big() b);
"""

# What domains, range types, composite types and functions (aggregates too) depend on, as the
# graph names both ends: a view's or table's row type is that relation, an array its element
# (a domain over an array depends on the array type, which Postgres ties to its element).
PG_DEPEND_TYPE_EDGES = """
WITH ref AS (
  SELECT t.oid,
    CASE WHEN c.relkind IN ('v', 'm') THEN 'view' WHEN c.relkind IN ('r', 'p') THEN 'table'
         ELSE 'type' END AS kind,
    n.nspname, t.typname
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
  LEFT JOIN pg_class c ON c.oid = t.typrelid
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND t.typtype <> 'm'
    AND NOT (t.typtype = 'b' AND t.typelem <> 0)
), refs AS (
  SELECT r.oid, r.kind, r.nspname, r.typname FROM ref r
  UNION ALL
  SELECT a.oid, r.kind, r.nspname, r.typname FROM pg_type a JOIN ref r ON r.oid = a.typelem
  WHERE a.typtype = 'b'
)
SELECT DISTINCT
  CASE WHEN d.classid = 'pg_proc'::regclass THEN 'function' ELSE 'type' END,
  COALESCE(sn.nspname, cn.nspname, pn.nspname), COALESCE(st.typname, sc.relname, p.proname),
  COALESCE(rt.kind, 'function'), COALESCE(rt.nspname, fn.nspname),
  COALESCE(rt.typname, f.proname)
FROM pg_depend d
LEFT JOIN pg_type st ON d.classid = 'pg_type'::regclass AND st.oid = d.objid
LEFT JOIN pg_namespace sn ON sn.oid = st.typnamespace
LEFT JOIN pg_class sc ON d.classid = 'pg_class'::regclass AND sc.oid = d.objid
LEFT JOIN pg_namespace cn ON cn.oid = sc.relnamespace
LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
LEFT JOIN pg_namespace pn ON pn.oid = p.pronamespace
LEFT JOIN refs rt ON d.refclassid = 'pg_type'::regclass AND rt.oid = d.refobjid
LEFT JOIN pg_proc f ON d.refclassid = 'pg_proc'::regclass AND f.oid = d.refobjid
LEFT JOIN pg_namespace fn ON fn.oid = f.pronamespace
WHERE d.deptype = 'n'
  AND (st.typtype IN ('d', 'r') OR sc.relkind = 'c' OR p.oid IS NOT NULL)
  AND (rt.oid IS NOT NULL OR fn.nspname NOT IN ('pg_catalog', 'information_schema'))
  AND NOT EXISTS (  -- a range type's constructor functions come and go with it
    SELECT FROM pg_depend i
    WHERE i.classid = 'pg_proc'::regclass AND i.objid = p.oid AND i.deptype = 'i')
"""


def test_parsed_graph_contains_every_pg_depend_type_edge(fresh_db: Callable[[], str]) -> None:
    url = fresh_db()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(TYPE_SCHEMA.encode())
        recorded = conn.execute(PG_DEPEND_TYPE_EDGES).fetchall()
    graph = Graph(introspect_url(url))
    sources = {r[:3] for r in recorded}
    assert ("type", "public", "a_path") in sources, recorded  # a domain over an array
    assert ("function", "public", "sum_big") in sources, recorded  # an aggregate
    assert ("function", "public", "grand") in sources, recorded  # an SQL body calling it
    missing = [r for r in recorded if r[3:] != r[:3] and r[3:] not in graph.dependencies(r[:3])]
    assert not missing
    order = ["positive", "amount", "pt", "a_point", "a_path", "seg", "span"]
    depths = [graph.depth(("type", "public", n)) for n in order]
    assert depths == sorted(depths) and len(set(depths)) == len(depths)
    assert graph.depth(("function", "public", "sum_big")) > graph.depth(
        ("function", "public", "add_big")
    )
