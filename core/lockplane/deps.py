"""The dependency graph between the objects of a `Schema`, for ordering and dependent rebuilds.

Postgres records view -> relation dependencies in pg_depend, but not those of function bodies,
and a hand-written document has no pg_depend at all. So the edges are parsed out of the text of
each object (view queries, function signatures and bodies, the types a domain, composite or
range type is made of, trigger functions and WHEN conditions, policy expressions, column
defaults, check constraints, index expressions and predicates; aggregates' types and support
functions) and resolved against the objects the schema holds. The tokenizer knows string
literals, comments, quoted identifiers and `schema.name` chains, and nothing else:
a word that happens to name an object (an alias, a keyword) only adds an edge, and a spare edge
only adds order, never a wrong one. Bare names resolve to `public`, as introspection prints with
search_path=public.

Nodes are `(kind, schema, name)`. Adding a kind is one entry in `SOURCES` (objects whose text
names others) and/or `TARGETS` (objects that can be named).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import cached_property
from typing import Any

from .changes.functions import replaceable
from .model import DEFAULT_SCHEMA, Aggregate, Function, Index, IndexKey, Schema, Table

Node = tuple[str, str, str]
"""(kind, schema, name): kind is "table", "view" (plain or materialized; they share a namespace
with tables, so a name is never both), "function", "type", or one of a table's parts ("trigger",
"policy", "default", "check", "index", named `table.part`)."""

SOURCES: tuple[tuple[str, Callable[[Schema], Iterable[tuple[str, str, str]]]], ...] = (
    ("view", lambda s: ((v.schema_, v.name, v.definition) for v in s.views)),
    ("type", lambda s: _type_texts(s)),
    ("function", lambda s: ((f.schema_, f.name, _function_text(f)) for f in s.functions)),
    ("function", lambda s: ((a.schema_, a.name, aggregate_text(a)) for a in s.aggregates)),
    (
        "trigger",
        lambda s: _parts(
            s, lambda t: ((x.name, f"{x.function} {x.when or ''}") for x in t.triggers)
        ),
    ),
    (
        "policy",
        lambda s: _parts(
            s, lambda t: ((p.name, f"{p.using or ''} {p.with_check or ''}") for p in t.policies)
        ),
    ),
    (
        "default",
        lambda s: _parts(s, lambda t: ((c.name, c.default) for c in t.columns if c.default)),
    ),
    ("check", lambda s: _parts(s, lambda t: ((c.name, c.expression) for c in t.check_constraints))),
    ("index", lambda s: _parts(s, lambda t: ((i.name, _index_text(i)) for i in t.indexes))),
)
"""(kind, objects as (schema, name, text)): the objects whose text references others. The parts
of a table (trigger, policy, column default, check, index) are named `table.part`, a name no
schema-level object of the same kind can have."""

TARGETS: tuple[tuple[str, Callable[[Schema], Iterable[tuple[str, str]]]], ...] = (
    ("table", lambda s: ((t.schema_, t.name) for t in s.tables)),
    ("view", lambda s: ((v.schema_, v.name) for v in s.views)),
    ("function", lambda s: ((f.schema_, f.name) for f in s.functions)),
    ("function", lambda s: ((a.schema_, a.name) for a in s.aggregates)),
    ("type", lambda s: ((t.schema_, t.name) for t in _types(s))),
)
"""(kind, objects as (schema, name)): what a name in a text can resolve to. A function node
stands for all the overloads of its name, aggregates included (they share a namespace, and a
call's argument types are not resolved)."""


def _function_text(f: Function) -> str:
    """Everything of a function that names other objects: its argument and result types, and
    its body (SQL, plpgsql or SQL-standard text; another language's words only add spare edges)."""
    return f"{f.arguments} {f.returns or ''} {f.body}"


def _type_texts(schema: Schema) -> Iterable[tuple[str, str, str]]:
    """The types a domain, composite type or range type is made of (its base type, attribute
    types, subtype), which must exist when it is created."""
    for d in schema.domains:
        yield d.schema_, d.name, d.type
    for c in schema.composite_types:
        yield c.schema_, c.name, " ".join(a.type for a in c.attributes)
    for r in schema.range_types:
        yield r.schema_, r.name, r.subtype


def aggregate_text(a: Aggregate) -> str:
    """Everything CREATE AGGREGATE resolves at once: argument and state types, support
    functions."""
    return " ".join([a.arguments, a.stype, a.mstype or "", *a.functions])


def _index_text(i: Index) -> str:
    keys = [k.expression or "" for k in i.columns if isinstance(k, IndexKey)]
    return " ".join([*keys, i.where or ""])


def _parts(
    schema: Schema, parts: Callable[[Table], Iterable[tuple[str, str]]]
) -> Iterable[tuple[str, str, str]]:
    for t in schema.tables:
        for name, text in parts(t):
            yield t.schema_, f"{t.name}.{name}", text


def _types(schema: Schema) -> Iterable[Any]:
    return (*schema.enums, *schema.domains, *schema.composite_types, *schema.range_types)


# Reserved words (and those reserved but for function or type names): never an unquoted name, so
# they are skipped; pg_get_viewdef quotes any object named like one.
_RESERVED = frozenset(
    [
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "authorization",
        "binary",
        "both",
        "case",
        "cast",
        "check",
        "collate",
        "collation",
        "column",
        "concurrently",
        "constraint",
        "create",
        "cross",
        "current_catalog",
        "current_date",
        "current_role",
        "current_schema",
        "current_time",
        "current_timestamp",
        "current_user",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "freeze",
        "from",
        "full",
        "grant",
        "group",
        "having",
        "ilike",
        "in",
        "initially",
        "inner",
        "intersect",
        "into",
        "is",
        "isnull",
        "join",
        "lateral",
        "leading",
        "left",
        "like",
        "limit",
        "localtime",
        "localtimestamp",
        "natural",
        "not",
        "notnull",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "outer",
        "overlaps",
        "placing",
        "primary",
        "references",
        "returning",
        "right",
        "select",
        "session_user",
        "similar",
        "some",
        "symmetric",
        "system_user",
        "table",
        "tablesample",
        "then",
        "to",
        "trailing",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "variadic",
        "verbose",
        "when",
        "where",
        "window",
        "with",
    ]
)

_TOKEN = re.compile(
    r"""
      (?P<skip>'(?:[^']|'')*'            # string literal
        | [eE]'(?:[^'\\]|\\.|'')*'       # escape string
        | \$\$.*?\$\$ | \$(?P<tag>[A-Za-z_]\w*)\$.*?\$(?P=tag)\$   # dollar quoting
        | --[^\n]*                       # line comment
        | /\*.*?\*/)                     # block comment
    | (?P<quoted>"(?:[^"]|"")*")
    | (?P<word>[A-Za-z_\x80-\uffff][\w$\x80-\uffff]*)
    | (?P<dot>\s*\.\s*)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


def name_chains(text: str) -> list[tuple[str, ...]]:
    """Every identifier chain in `text` (`a`, `s.t`, `t.col`, `s.t.col`), as Postgres folds them:
    unquoted words lower-cased, quoted ones kept exactly."""
    chains: list[tuple[str, ...]] = []
    current: list[str] = []
    after_dot = False
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup if m.lastgroup != "tag" else "skip"
        if kind == "word" and m.group(kind).lower() in _RESERVED:
            kind = "other"
        if kind in ("word", "quoted"):
            word = m.group(kind)
            name = word[1:-1].replace('""', '"') if kind == "quoted" else word.lower()
            if current and not after_dot:
                chains.append(tuple(current))
                current = []
            current.append(name)
            after_dot = False
        elif kind == "dot" and current and not after_dot:
            after_dot = True
        else:
            if current and not (kind == "other" and m.group().isspace()):
                chains.append(tuple(current))
                current = []
            after_dot = False
    if current:
        chains.append(tuple(current))
    return chains


def _candidates(chain: tuple[str, ...]) -> Iterable[tuple[str, str]]:
    """The (schema, name) pairs a chain may name: any adjacent pair, and any part in public."""
    for i, part in enumerate(chain):
        yield DEFAULT_SCHEMA, part
        if i + 1 < len(chain):
            yield part, chain[i + 1]


class Graph:
    """Which objects each object of a schema references, parsed from their definitions."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        named: dict[tuple[str, str], list[Node]] = {}
        for kind, objects in TARGETS:
            for s, n in objects(schema):
                named.setdefault((s, n), []).append((kind, s, n))
        self._named = named
        self._words: dict[Node, frozenset[str]] = {}
        edges: dict[Node, set[Node]] = {}
        for kind, objects in SOURCES:
            for s, n, text in objects(schema):
                node = (kind, s, n)
                chains = name_chains(text)
                self._words[node] = frozenset(part for chain in chains for part in chain)
                refs = {t for c in chains for pair in _candidates(c) for t in named.get(pair, ())}
                edges.setdefault(node, set()).update(refs - {node})
        self.edges: dict[Node, frozenset[Node]] = {k: frozenset(v) for k, v in edges.items()}

    def named_in(self, text: str) -> set[Node]:
        """The objects a piece of text names (as the edges of a source are found)."""
        return {
            t for c in name_chains(text) for p in _candidates(c) for t in self._named.get(p, ())
        }

    def dependencies(self, node: Node) -> frozenset[Node]:
        """What `node` references directly."""
        return self.edges.get(node, frozenset())

    @cached_property
    def _depths(self) -> dict[Node, int]:
        """0 for an object that references nothing, else one more than its deepest reference.
        A cycle (possible only through over-approximated edges) is broken at the edge that
        closes it, visiting nodes and edges in sorted order, so the result is deterministic."""
        depths: dict[Node, int] = {}
        on_stack: set[Node] = set()

        def visit(node: Node) -> int:
            if node in depths:
                return depths[node]
            on_stack.add(node)
            deep = [visit(d) for d in sorted(self.dependencies(node)) if d not in on_stack]
            on_stack.discard(node)
            depths[node] = 1 + max(deep) if deep else 0
            return depths[node]

        for node in sorted(self.edges):
            visit(node)
        return depths

    def depth(self, node: Node) -> int:
        """A topological key: create in ascending depth (dependencies first), drop in descending
        depth (dependents first)."""
        return self._depths.get(node, 0)

    def dependents(self, nodes: Iterable[Node]) -> set[Node]:
        """Every object that references one of `nodes`, directly or through others (the given
        nodes themselves only when reached through a cycle)."""
        users: dict[Node, set[Node]] = {}
        for source, refs in self.edges.items():
            for ref in refs:
                users.setdefault(ref, set()).add(source)
        out: set[Node] = set()
        todo = list(nodes)
        while todo:
            for user in users.get(todo.pop(), ()):
                if user not in out:
                    out.add(user)
                    todo.append(user)
        return out

    def columns_used(self, node: Node) -> dict[tuple[str, str], frozenset[str]]:
        """The columns of each referenced table that `node`'s text names: (schema, table) ->
        column names (an over-approximation: any word equal to a column's name counts)."""
        words = self._words.get(node, frozenset())
        out: dict[tuple[str, str], frozenset[str]] = {}
        for kind, s, n in self.dependencies(node):
            table = self.schema.table(s, n) if kind == "table" else None
            if table is not None:
                out[s, n] = frozenset(c.name for c in table.columns if c.name in words)
        return out


def resolved_text(f: Function) -> str:
    """What Postgres resolves when it creates `f`, whatever check_function_bodies says, and
    records in pg_depend: its argument and result types, and an SQL-standard body."""
    return " ".join([f.arguments, f.returns or "", f.body if f.sql_body else ""])


def recreated_functions(old: Schema, new: Schema, rebuilt_views: Iterable[Node] = ()) -> set[Node]:
    """The function nodes of `old` with an overload that is dropped or whose signature or result
    changes (a DROP FUNCTION, which Postgres refuses while anything uses it), that names a view
    in `rebuilt_views` in its types or SQL-standard body (the view cannot be dropped under it),
    and the functions whose SQL-standard bodies call those and the aggregates over those
    (Postgres records both dependencies, so they go too): what uses them is dropped before and
    created again after."""
    news = {f.key: f for f in new.functions}
    graph = Graph(old)
    rebuilt = set(rebuilt_views)
    out: set[Node] = set()
    for f in old.functions:
        n = news.get(f.key)
        if n is None or not replaceable(f, n) or graph.named_in(resolved_text(f)) & rebuilt:
            out.add(("function", f.schema_, f.name))
    for a in old.aggregates:
        if graph.named_in(aggregate_text(a)) & rebuilt:
            out.add(("function", a.schema_, a.name))
    callers = [("function", f.schema_, f.name) for f in old.functions if f.sql_body]
    callers += [("function", a.schema_, a.name) for a in old.aggregates]
    while grown := {c for c in callers if c not in out and graph.dependencies(c) & out}:
        out |= grown
    return out
