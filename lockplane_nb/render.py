"""HTML and plain-text views of the engine's objects, for notebook outputs and widgets.

Why it looks the way it does:
- Every output carries the same single `<style>` block, every selector scoped under `.lp-`: a
  `<style>` in an output is page-global, so unscoped rules would restyle the user's notebook.
- Colours come from JupyterLab's theme variables (with fallbacks for classic Notebook, VS Code
  and nbconvert HTML); row and badge tints are translucent `rgba()` over inherited text, the
  only combination found readable in both light and dark themes. Meaning never rests on colour
  alone: diff rows keep a `+ / − / ~` column and badges spell out their code.
- SQL is highlighted by pygments into bare token spans (`HtmlFormatter(nowrap=True)`); the
  token classes are coloured from `--jp-mirror-editor-*` here, never by pygments' own global
  stylesheet.
- Output is deterministic (no generated ids, stable ordering), so notebooks tested with nbval
  can compare it.

Functions return strings or DataFrames and never display anything themselves; the magics and
the review panel decide where the HTML goes. pandas and pygments are imported lazily.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from lockplane.diff import Diff
    from lockplane.executor import ApplyResult
    from lockplane.journal import RunInfo
    from lockplane.ledger import LedgerEntry
    from lockplane.model import Function, Index, Policy, Schema, Table, Trigger, View
    from lockplane.observe import StepObservation
    from lockplane.plan import Hazard, Plan, Step
    from lockplane.preflight import PreflightCheck, PreflightReport
    from lockplane.proof import ShadowReport
    from lockplane.safety import SafetyReport

DEFAULT_LIMIT = 50
MINUS = "−"  # U+2212: a drop reads as a sign, not a hyphen
SIGNS = {"+": "+", "-": MINUS, "~": "~"}
ROW_CLASS = {"+": "lp-add", "-": "lp-drop", "~": "lp-alter"}
CHECK_MARKS = {True: "✓", False: "✗", None: "–"}

_KEYWORD = "var(--jp-mirror-editor-keyword-color, #008000)"
_CSS = f"""
.lp-root {{ font-family: var(--jp-ui-font-family, system-ui, sans-serif);
  font-size: var(--jp-ui-font-size1, 13px); color: var(--jp-content-font-color1, #222);
  line-height: 1.45; }}
.lp-head {{ font-weight: 600; margin: 2px 0 6px; }}
.lp-validation .lp-shadow {{ margin-top: 10px; }}
.lp-sub {{ font-weight: 600; margin: 8px 0 2px; }}
.lp-muted {{ color: var(--jp-content-font-color2, #666); font-weight: normal; }}
.lp-empty {{ color: var(--jp-content-font-color2, #666); font-style: italic; }}
.lp-more {{ color: var(--jp-content-font-color2, #666); font-style: italic; margin: 2px 0; }}
.lp-code {{ font-family: var(--jp-code-font-family, monospace);
  font-size: var(--jp-code-font-size, 12px); }}
.lp-grid {{ border-collapse: collapse; margin: 2px 0 8px; font-size: inherit;
  color: inherit; }}
.lp-root table.lp-grid th {{ text-align: left; font-weight: 600; padding: 2px 12px 2px 4px;
  border: none; border-bottom: 1px solid var(--jp-border-color1, #bdbdbd);
  background: transparent; vertical-align: bottom; }}
.lp-root table.lp-grid td {{ text-align: left; vertical-align: top; padding: 2px 12px 2px 4px;
  border: none; border-bottom: 1px solid var(--jp-border-color2, #e0e0e0);
  white-space: pre-wrap; line-height: 1.4; }}
.lp-root table.lp-grid tr.lp-add > td {{ background: rgba(46, 160, 67, 0.25); }}
.lp-root table.lp-grid tr.lp-drop > td {{ background: rgba(248, 81, 73, 0.25); }}
.lp-root table.lp-grid tr.lp-alter > td {{ background: rgba(210, 153, 34, 0.25); }}
.lp-root table.lp-grid td.lp-sign {{ font-family: var(--jp-code-font-family, monospace);
  font-weight: 700; text-align: center; }}
.lp-table {{ margin: 4px 0 6px; padding-left: 4px;
  border-left: 2px solid var(--jp-border-color2, #e0e0e0); }}
.lp-table > summary {{ cursor: pointer; }}
.lp-step {{ margin: 6px 0 10px; padding: 2px 0 2px 8px;
  border-left: 3px solid var(--jp-border-color2, #e0e0e0); }}
.lp-step-warning {{ border-left-color: rgba(210, 153, 34, 0.8); }}
.lp-step-error {{ border-left-color: rgba(248, 81, 73, 0.8); }}
.lp-num {{ display: inline-block; min-width: 1.6em; font-weight: 700; }}
.lp-desc {{ font-weight: 600; }}
.lp-badge {{ display: inline-block; margin: 0 4px 0 0; padding: 0 6px; border-radius: 9px;
  border: 1px solid var(--jp-border-color1, #bdbdbd); font-size: 11px; font-weight: 600;
  font-family: var(--jp-code-font-family, monospace); white-space: nowrap;
  color: inherit; }}
.lp-sev-error {{ background: rgba(248, 81, 73, 0.25); border-color: rgba(248, 81, 73, 0.7); }}
.lp-sev-warning {{ background: rgba(210, 153, 34, 0.25);
  border-color: rgba(210, 153, 34, 0.7); }}
.lp-sev-info {{ background: rgba(56, 139, 253, 0.08); border-color: rgba(56, 139, 253, 0.35); }}
.lp-lock {{ background: rgba(56, 139, 253, 0.15); border-color: rgba(56, 139, 253, 0.5); }}
.lp-flag {{ background: rgba(137, 87, 229, 0.15); border-color: rgba(137, 87, 229, 0.5); }}
.lp-root ul.lp-hazards {{ list-style: none; margin: 2px 0; padding: 0; }}
.lp-hazards > li {{ margin: 2px 0; }}
.lp-root ul.lp-notes {{ list-style: disc; margin: 2px 0; padding-left: 18px;
  color: var(--jp-content-font-color2, #666); }}
.lp-label {{ font-size: 11px; font-weight: 600; text-transform: uppercase;
  color: var(--jp-content-font-color2, #666); }}
.lp-rollback {{ margin: 2px 0 0; }}
.lp-root ul.lp-checks {{ list-style: none; margin: 2px 0; padding: 0; }}
.lp-checks > li {{ margin: 2px 0; }}
.lp-mark {{ display: inline-block; width: 1.3em; font-weight: 700; }}
.lp-ok {{ color: var(--jp-success-color1, #2e7d32); }}
.lp-fail {{ color: var(--jp-error-color1, #d32f2f); }}
.lp-warn {{ color: var(--jp-warn-color1, #ef6c00); }}
.lp-skip {{ color: var(--jp-content-font-color2, #666); }}
.lp-detail {{ margin: 2px 0 2px 1.3em; white-space: pre-wrap;
  font-family: var(--jp-code-font-family, monospace); font-size: var(--jp-code-font-size, 12px);
  color: var(--jp-content-font-color2, #666); }}
.lp-root pre.lp-sql, .lp-sql {{ margin: 3px 0; padding: 4px 8px; border-radius: 3px;
  white-space: pre-wrap; word-break: normal; overflow-wrap: anywhere; overflow-x: auto;
  background: var(--jp-cell-editor-background, #f5f5f5);
  border: 1px solid var(--jp-cell-editor-border-color, #e0e0e0);
  color: var(--jp-content-font-color1, #222);
  font-family: var(--jp-code-font-family, monospace); font-size: var(--jp-code-font-size, 12px);
  line-height: var(--jp-code-line-height, 1.4); }}
.lp-sql .k, .lp-sql .kc, .lp-sql .kd, .lp-sql .kn, .lp-sql .kp, .lp-sql .kr {{
  color: {_KEYWORD}; font-weight: bold; }}
.lp-sql .kt, .lp-sql .nb, .lp-sql .bp {{ color: var(--jp-mirror-editor-builtin-color, #008000); }}
.lp-sql .s, .lp-sql .s1, .lp-sql .s2, .lp-sql .sa, .lp-sql .sb, .lp-sql .sd, .lp-sql .se,
.lp-sql .dl {{ color: var(--jp-mirror-editor-string-color, #ba2121); }}
.lp-sql .s-Name, .lp-sql .n, .lp-sql .nv, .lp-sql .nf {{
  color: var(--jp-mirror-editor-variable-color, inherit); }}
.lp-sql .m, .lp-sql .mi, .lp-sql .mf, .lp-sql .mh, .lp-sql .mo {{
  color: var(--jp-mirror-editor-number-color, #008800); }}
.lp-sql .c, .lp-sql .c1, .lp-sql .cm, .lp-sql .cp, .lp-sql .cs {{
  color: var(--jp-mirror-editor-comment-color, #408080); font-style: italic; }}
.lp-sql .o, .lp-sql .ow {{ color: var(--jp-mirror-editor-operator-color, #aa22ff); }}
.lp-sql .p {{ color: var(--jp-mirror-editor-punctuation-color, #0055aa); }}
.lp-sql .err {{ color: var(--jp-mirror-editor-error-color, #f00); }}
"""


def css() -> str:
    """The one `<style>` block every Lockplane output uses (identical each time, so repeating
    it in several outputs costs nothing and each output renders on its own)."""
    return f"<style>{_CSS}</style>"


# ---------------------------------------------------------------------------- building blocks


def _root(kind: str, body: str, style: bool) -> str:
    return (css() if style else "") + f'<div class="lp-root lp-{kind}">{body}</div>'


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    row_classes: Iterable[str] | None = None,
    cell_classes: dict[int, str] | None = None,
) -> str:
    """A plain HTML table with escaped cells; `cell_classes` styles whole columns by index."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    classes = iter(row_classes) if row_classes is not None else None
    by_column = cell_classes or {}
    body = []
    for row in rows:
        cls = next(classes, "") if classes is not None else ""
        cells = "".join(
            f'<td class="{by_column[i]}">{_cell(v)}</td>'
            if i in by_column
            else f"<td>{_cell(v)}</td>"
            for i, v in enumerate(row)
        )
        body.append(f'<tr class="{cls}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
    return (
        f'<table class="lp-grid"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    return escape(str(value))


def _more(shown: int, total: int, what: str, limit: int | None) -> str:
    if total <= shown:
        return ""
    return (
        f'<div class="lp-more">… {total - shown} more {what} not shown '
        f"(display_limit={limit})</div>"
    )


def _limited(items: Sequence[Any], limit: int | None) -> Sequence[Any]:
    return items if limit is None else items[: max(limit, 0)]


def sql_html(sql: str) -> str:
    """SQL as a highlighted `<pre class="lp-sql">` with bare pygments token spans."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PostgresLexer

    spans = highlight(sql, PostgresLexer(), HtmlFormatter(nowrap=True)).rstrip("\n")
    return f'<pre class="lp-sql">{spans}</pre>'


def _badge(text: str, cls: str, title: str | None = None) -> str:
    tip = f' title="{escape(title)}"' if title else ""
    return f'<span class="lp-badge {cls}"{tip}>{escape(text)}</span>'


def _rule_label(h: Hazard) -> str:
    from lockplane.safety import rule_label

    return rule_label(h)


def _hazards_html(hazards: Iterable[Hazard]) -> str:
    """Each hazard as a badge with its rule code (its rule's name, category and severity in the
    tooltip) and its message."""
    from lockplane.rules import BY_CODE

    items = []
    for h in hazards:
        rule = BY_CODE.get(h.rule or "")
        label = rule.code if rule else h.code
        tip = f"{rule.name} · {h.code} · {h.severity}" if rule else h.severity
        items.append(f"<li>{_badge(label, f'lp-sev-{h.severity}', tip)} {escape(h.message)}</li>")
    return f'<ul class="lp-hazards">{"".join(items)}</ul>' if items else ""


def _mark(passed: bool | None, symbol: str | None = None) -> str:
    cls = {True: "lp-ok", False: "lp-fail", None: "lp-skip"}[passed]
    return f'<span class="lp-mark {cls}">{symbol or CHECK_MARKS[passed]}</span>'


# ----------------------------------------------------------------------------------- schema


def _key_text(key: Any) -> str:
    if isinstance(key, str):
        return key
    text = key.column if key.column is not None else f"({key.expression})"
    if key.collation:
        text += f" COLLATE {key.collation}"
    if key.opclass:
        text += f" {key.opclass}"
    if key.descending:
        text += " DESC"
    if key.nulls:
        text += f" NULLS {key.nulls.upper()}"
    return text


def index_definition(index: Index) -> str:
    """A short, readable definition (not executable DDL): `UNIQUE btree (email) WHERE …`."""
    text = ("UNIQUE " if index.unique else "") + index.method
    text += " (" + ", ".join(_key_text(k) for k in index.columns) + ")"
    if index.include:
        text += " INCLUDE (" + ", ".join(index.include) + ")"
    if index.nulls_not_distinct:
        text += " NULLS NOT DISTINCT"
    if index.where:
        text += f" WHERE {index.where}"
    return text


def _constraints(table: Table) -> list[tuple[str, str, str]]:
    """(name, type, definition) for every constraint of a table, primary key first."""
    out: list[tuple[str, str, str]] = []
    pk = table.primary_key
    if pk is not None:
        out.append((pk.name or "", "PRIMARY KEY", f"({', '.join(pk.columns)})"))
    for u in table.unique_constraints:
        text = ("NULLS NOT DISTINCT " if u.nulls_not_distinct else "") + f"({', '.join(u.columns)})"
        out.append((u.name, "UNIQUE", text + _deferral(u.deferrable, u.initially_deferred)))
    for c in table.check_constraints:
        text = f"({c.expression})" + (" NO INHERIT" if c.no_inherit else "")
        out.append((c.name, "CHECK", text + (" NOT VALID" if c.not_valid else "")))
    for f in table.foreign_keys:
        ref = (
            f.referenced_table
            if f.referenced_schema == "public"
            else (f"{f.referenced_schema}.{f.referenced_table}")
        )
        text = f"({', '.join(f.columns)}) → {ref}({', '.join(f.referenced_columns)})"
        if f.match_full:
            text += " MATCH FULL"
        if f.on_delete != "NO ACTION":
            text += f" ON DELETE {f.on_delete}"
        if f.on_update != "NO ACTION":
            text += f" ON UPDATE {f.on_update}"
        text += _deferral(f.deferrable, f.initially_deferred)
        out.append((f.name, "FOREIGN KEY", text + (" NOT VALID" if f.not_valid else "")))
    return out


def _deferral(deferrable: bool, initially_deferred: bool) -> str:
    if not deferrable:
        return ""
    return " DEFERRABLE" + (" INITIALLY DEFERRED" if initially_deferred else "")


def _column_extra(column: Any) -> str:
    if column.identity:
        return f"identity {column.identity}"
    if column.generated:
        return f"generated ({column.generated})"
    return ""


def _column_rows(table: Table) -> list[tuple[Any, ...]]:
    return [
        (
            c.name,
            c.type + (f" COLLATE {c.collation}" if c.collation else ""),
            "" if c.nullable else "NOT NULL",
            c.default or _column_extra(c),
            "PK" if c.is_primary_key else "",
            c.comment or "",
        )
        for c in table.columns
    ]


def trigger_text(g: Trigger) -> str:
    """`BEFORE UPDATE OF a ON EACH ROW WHEN (...) EXECUTE touch('x')`, shortened for a cell."""
    events = " OR ".join(
        f"UPDATE OF {', '.join(g.update_columns)}" if e == "UPDATE" and g.update_columns else e
        for e in g.events
    )
    text = f"{g.timing} {events} FOR EACH {g.for_each.upper()}"
    if g.when:
        text += f" WHEN ({g.when})"
    args = ", ".join(repr(a) for a in g.arguments)
    return text + f" EXECUTE {g.function}({args})"


def policy_cells(p: Policy) -> tuple[str, str, str]:
    """(command, roles, expressions) of a policy; RESTRICTIVE is said, PERMISSIVE is the norm."""
    command = p.command + ("" if p.permissive else " (restrictive)")
    exprs = " / ".join(x for x in (p.using, p.with_check) if x is not None)
    return command, ", ".join(p.roles), exprs


def function_cells(f: Function) -> tuple[str, str, str, str]:
    """(signature, returns, language, options) of a function or procedure."""
    options = [f.volatility] if f.volatility != "volatile" else []
    options += ["strict"] * f.strict + ["security definer"] * f.security_definer
    options += [f"SET {c}" for c in f.config]
    returns = f.returns if f.returns is not None else "(procedure)"
    return f"{f.qname}", returns, f.language, ", ".join(options)


def schema_frames(schema: Schema) -> dict[str, pd.DataFrame]:
    """The schema as DataFrames, one row per table / column / index / constraint / view /
    function / trigger / policy, for filtering and joining in the notebook (the HTML view shows
    the same data grouped)."""
    import pandas as pd

    tables = [
        {
            "table": t.qname,
            "columns": len(t.columns),
            "primary_key": ", ".join(t.primary_key.columns) if t.primary_key else "",
            "indexes": len(t.indexes),
            "constraints": len(_constraints(t)),
            "storage": storage_text(t.storage_parameters),
            "comment": t.comment or "",
        }
        for t in schema.tables
    ]
    columns = [
        {
            "table": t.qname,
            "column": c.name,
            "type": c.type,
            "nullable": c.nullable,
            "default": c.default or "",
            "primary_key": c.is_primary_key,
            "identity": c.identity or "",
            "generated": c.generated or "",
            "collation": c.collation or "",
            "comment": c.comment or "",
        }
        for t in schema.tables
        for c in t.columns
    ]
    indexes = [
        {
            "table": t.qname,
            "index": i.name,
            "unique": i.unique,
            "method": i.method,
            "keys": ", ".join(_key_text(k) for k in i.columns),
            "include": ", ".join(i.include),
            "where": i.where or "",
        }
        for t in schema.tables
        for i in t.indexes
    ]
    constraints = [
        {"table": t.qname, "constraint": name, "type": kind, "definition": definition}
        for t in schema.tables
        for name, kind, definition in _constraints(t)
    ]
    views = [
        {
            "view": v.qname,
            "materialized": v.materialized,
            "columns": len(v.columns),
            "definition": v.definition,
            "storage": storage_text(v.storage_parameters),
            "comment": v.comment or "",
        }
        for v in schema.views
    ]
    functions = [
        dict(zip(("routine", "returns", "language", "options"), function_cells(f), strict=True))
        | {"kind": f.kind}
        for f in schema.functions
    ]
    triggers = [
        {"table": t.qname, "trigger": g.name, "definition": trigger_text(g), "state": g.enabled}
        for t in schema.tables
        for g in t.triggers
    ]
    policies = [
        dict(
            zip(("command", "roles", "expressions"), policy_cells(p), strict=True),
            table=t.qname,
            policy=p.name,
        )
        for t in schema.tables
        for p in t.policies
    ]
    names = {
        "tables": [
            "table",
            "columns",
            "primary_key",
            "indexes",
            "constraints",
            "storage",
            "comment",
        ],
        "columns": [
            "table",
            "column",
            "type",
            "nullable",
            "default",
            "primary_key",
            "identity",
            "generated",
            "collation",
            "comment",
        ],
        "indexes": ["table", "index", "unique", "method", "keys", "include", "where"],
        "constraints": ["table", "constraint", "type", "definition"],
        "views": ["view", "materialized", "columns", "definition", "storage", "comment"],
        "functions": ["routine", "kind", "returns", "language", "options"],
        "triggers": ["table", "trigger", "definition", "state"],
        "policies": ["table", "policy", "command", "roles", "expressions"],
    }
    data = {
        "tables": tables,
        "columns": columns,
        "indexes": indexes,
        "constraints": constraints,
        "views": views,
        "functions": functions,
        "triggers": triggers,
        "policies": policies,
    }
    return {k: pd.DataFrame(data[k], columns=names[k]) for k in names}


def schema_counts(schema: Schema) -> str:
    """`3 tables, 1 enum, 2 sequences, 1 unmanaged object` (kinds with none left out)."""
    return schema.summary()


def schema_text(schema: Schema) -> str:
    """The short text/plain form: a pydantic repr of a whole schema is unreadably long."""
    lines = [f"Schema: {schema_counts(schema)}"]
    for t in schema.tables:
        cols = ", ".join(f"{c.name} {c.type}" for c in t.columns)
        lines.append(f"  {t.qname} ({cols})")
    return "\n".join(lines)


def storage_text(parameters: dict[str, str]) -> str:
    """`fillfactor=70, autovacuum_enabled=false`: storage parameters as reloptions spell them."""
    return ", ".join(f"{k}={v}" for k, v in parameters.items())


def _view_kind(v: View) -> str:
    """`materialized, with fillfactor=60, owned by x`: the kind, then what else it carries."""
    facts = ["materialized" if v.materialized else "view"]
    if v.storage_parameters:
        facts.append(f"with {storage_text(v.storage_parameters)}")
    commented = [c.name for c in v.columns if c.comment is not None]
    if commented:
        facts.append(f"comments on {', '.join(commented)}")
    if v.owner is not None:
        facts.append(f"owned by {v.owner}")
    return ", ".join(facts)


def _table_html(t: Table, open_: bool) -> str:
    constraints = _constraints(t)
    facts = [_plural(len(t.columns), "column")]
    if t.indexes:
        facts.append(_plural(len(t.indexes), "index", "indexes"))
    if constraints:
        facts.append(_plural(len(constraints), "constraint"))
    if t.unlogged:
        facts.append("unlogged")
    if t.partition_by:
        facts.append(f"partitioned by {t.partition_by}")
    if t.partition_of:
        facts.append(f"partition of {t.partition_of} {t.partition_bound}")
    if t.row_level_security:
        facts.append("row level security" + (" (forced)" if t.force_row_level_security else ""))
    if t.storage_parameters:
        facts.append(f"with {storage_text(t.storage_parameters)}")
    if t.owner is not None:
        facts.append(f"owned by {t.owner}")
    summary = (
        f"<summary><b>{escape(t.qname)}</b> "
        f'<span class="lp-muted">{escape(" · ".join(facts))}</span></summary>'
    )
    parts = []
    if t.comment:
        parts.append(f'<div class="lp-muted">{escape(t.comment)}</div>')
    parts.append(
        _table(
            ["column", "type", "null", "default", "key", "comment"],
            _column_rows(t),
            cell_classes={1: "lp-code", 3: "lp-code"},
        )
        if t.columns
        else '<div class="lp-empty">no columns</div>'
    )
    if t.indexes:
        rows = [(i.name, index_definition(i)) for i in t.indexes]
        parts.append(_table(["index", "definition"], rows, cell_classes={1: "lp-code"}))
    if constraints:
        parts.append(
            _table(["constraint", "type", "definition"], constraints, cell_classes={2: "lp-code"})
        )
    if t.triggers:
        rows = [(g.name, trigger_text(g), g.enabled) for g in t.triggers]
        parts.append(_table(["trigger", "definition", "state"], rows, cell_classes={1: "lp-code"}))
    if t.policies:
        rows = [(p.name, *policy_cells(p)) for p in t.policies]
        parts.append(
            _table(
                ["policy", "for", "roles", "using / with check"],
                rows,
                cell_classes={3: "lp-code"},
            )
        )
    return (
        f'<details class="lp-table"{" open" if open_ else ""}>{summary}{"".join(parts)}</details>'
    )


def schema_html(schema: Schema, *, limit: int | None = DEFAULT_LIMIT, style: bool = True) -> str:
    """Tables (each with its columns, indexes, constraints, triggers and policies), then views,
    functions, domains, types, enums, sequences, extensions, and the objects Lockplane lists but
    does not manage."""
    parts = [f'<div class="lp-head">Schema: {escape(schema_counts(schema))}</div>']
    tables = _limited(schema.tables, limit)
    open_ = len(tables) <= 10
    parts += [_table_html(t, open_) for t in tables]
    parts.append(_more(len(tables), len(schema.tables), "tables", limit))
    if not schema.tables:
        parts.append('<div class="lp-empty">No tables.</div>')
    if schema.views:
        rows = [(v.qname, _view_kind(v), v.definition) for v in _limited(schema.views, limit)]
        parts.append('<div class="lp-sub">Views</div>')
        parts.append(_table(["view", "kind", "query"], rows, cell_classes={2: "lp-code"}))
        parts.append(_more(len(rows), len(schema.views), "views", limit))
    if schema.functions:
        rows = [function_cells(f) for f in _limited(schema.functions, limit)]
        parts.append('<div class="lp-sub">Functions and procedures</div>')
        parts.append(
            _table(["routine", "returns", "language", "options"], rows, cell_classes={1: "lp-code"})
        )
        parts.append(_more(len(rows), len(schema.functions), "functions", limit))
    if schema.domains:
        rows = [
            (
                d.qname,
                d.type,
                " ".join(
                    (["NOT NULL"] if d.not_null else [])
                    + ([f"DEFAULT {d.default}"] if d.default is not None else [])
                    + [f"CHECK {c.expression}" for c in d.check_constraints]
                ),
            )
            for d in schema.domains
        ]
        parts.append('<div class="lp-sub">Domains</div>')
        parts.append(_table(["domain", "type", "constraints"], rows, cell_classes={2: "lp-code"}))
    if schema.composite_types or schema.range_types:
        rows = [
            (c.qname, "composite", ", ".join(f"{a.name} {a.type}" for a in c.attributes))
            for c in schema.composite_types
        ] + [(r.qname, "range", f"of {r.subtype}") for r in schema.range_types]
        parts.append('<div class="lp-sub">Types</div>')
        parts.append(_table(["type", "kind", "definition"], rows, cell_classes={2: "lp-code"}))
    if schema.enums:
        parts.append('<div class="lp-sub">Enums</div>')
        parts.append(
            _table(["enum", "labels"], [(e.qname, ", ".join(e.labels)) for e in schema.enums])
        )
    if schema.sequences:
        rows = [
            (
                s.qname,
                s.type,
                f"{s.owned_by.table}.{s.owned_by.column}" if s.owned_by else "",
            )
            for s in schema.sequences
        ]
        parts.append('<div class="lp-sub">Sequences</div>')
        parts.append(_table(["sequence", "type", "owned by"], rows))
    if schema.extensions:
        rows = [(x.name, x.schema_, x.version or "") for x in schema.extensions]
        parts.append('<div class="lp-sub">Extensions</div>')
        parts.append(_table(["extension", "schema", "version"], rows))
    if schema.unmanaged:
        rows = [
            (u.kind, f"{u.schema_}.{u.name}" if u.schema_ else u.name, u.on or "")
            for u in _limited(schema.unmanaged, limit)
        ]
        parts.append(
            '<div class="lp-sub">Not managed by Lockplane '
            '<span class="lp-muted">(listed, never changed or dropped)</span></div>'
        )
        parts.append(_table(["kind", "name", "on"], rows))
        parts.append(_more(len(rows), len(schema.unmanaged), "objects", limit))
    return _root("schema", "".join(parts), style)


# ------------------------------------------------------------------------------------- diff


def diff_frame(diff: Diff) -> pd.DataFrame:
    """One row per change: change (+ / − / ~), kind, object, detail."""
    import pandas as pd

    rows = [{**r, "change": SIGNS.get(r["change"], r["change"])} for r in diff.rows()]
    return pd.DataFrame(rows, columns=["change", "kind", "object", "detail"])


def _diff_counts(rows: list[dict[str, str]]) -> str:
    signs = [r["change"] for r in rows]
    parts = [
        _plural(signs.count("+"), "addition"),
        _plural(signs.count("-"), "drop"),
        _plural(signs.count("~"), "change"),
    ]
    return ", ".join(p for p in parts if not p.startswith("0 "))


def diff_html(diff: Diff, *, limit: int | None = DEFAULT_LIMIT, style: bool = True) -> str:
    """The changes as a table, rows tinted green (added), red (dropped), amber (changed)."""
    rows = diff.rows()
    if not rows:
        body = '<div class="lp-empty">No changes: the schemas are identical.</div>'
        return _root("diff", body, style)
    shown = _limited(rows, limit)
    table = _table(
        ["", "kind", "object", "detail"],
        [(SIGNS.get(r["change"], r["change"]), r["kind"], r["object"], r["detail"]) for r in shown],
        row_classes=[ROW_CLASS.get(r["change"], "") for r in shown],
        cell_classes={0: "lp-sign"},
    )
    head = f'<div class="lp-head">Diff: {escape(_diff_counts(rows))}</div>'
    return _root("diff", head + table + _more(len(shown), len(rows), "changes", limit), style)


# ------------------------------------------------------------------------------------- plan


def _strongest_lock(plan: Plan) -> str | None:
    from lockplane.plan import LOCK_ORDER

    locks = [s.lock for s in plan.steps if s.lock]
    return max(locks, key=LOCK_ORDER.index) if locks else None


def _hazard_counts(hazards: Sequence[Hazard]) -> tuple[int, int]:
    """Errors and warnings; info-level design advice is not a hazard to count."""
    errors = sum(1 for h in hazards if h.severity == "error")
    return errors, sum(1 for h in hazards if h.severity == "warning")


def plan_summary(plan: Plan) -> str:
    """`3 steps · strongest lock ACCESS EXCLUSIVE · 1 error, 2 warnings · reversible`."""
    if plan.is_empty:
        return "No changes"
    parts = [_plural(len(plan.steps), "step")]
    lock = _strongest_lock(plan)
    parts.append(f"strongest lock {lock}" if lock else "no locks on existing tables")
    errors, warnings = _hazard_counts(plan.hazards())
    if errors or warnings:
        parts.append(
            ", ".join(
                p
                for p in (_plural(errors, "error"), _plural(warnings, "warning"))
                if not p.startswith("0 ")
            )
        )
    else:
        parts.append("no hazards")
    parts.append("reversible" if plan.reversible else "not fully reversible")
    return " · ".join(parts)


def _step_html(number: int, step: Step, show_rollback: bool) -> str:
    concerns = [h for h in step.hazards if h.severity != "info"]
    severity = "error" if step.blocking else "warning" if concerns else "ok"
    badges = []
    if step.lock:
        badges.append(_badge(step.lock, "lp-lock", "strongest lock on an existing table"))
    if not step.transactional:
        badges.append(_badge("outside a transaction", "lp-flag"))
    head = (
        f'<div class="lp-step-head"><span class="lp-num">{number}.</span>'
        f'<span class="lp-desc">{escape(step.description)}</span> {"".join(badges)}</div>'
    )
    parts = [head, sql_html(step.sql), _hazards_html(step.hazards)]
    if step.notes and not concerns:
        notes = "".join(f"<li>{escape(n)}</li>" for n in step.notes)
        parts.append(f'<ul class="lp-notes">{notes}</ul>')
    if show_rollback:
        if step.reverse_sql is None:
            parts.append('<div class="lp-rollback lp-muted">Rollback: none (not generated)</div>')
        else:
            parts.append(
                f'<div class="lp-rollback"><span class="lp-label">Rollback</span>'
                f"{sql_html(step.reverse_sql)}</div>"
            )
    return f'<div class="lp-step lp-step-{severity}">{"".join(parts)}</div>'


def plan_html(
    plan: Plan, *, title: str = "Plan", show_rollback: bool = True, style: bool = True
) -> str:
    """Every step: number, description, highlighted SQL, lock, hazard badges (by severity,
    with code and message) and its rollback SQL. An empty plan says "No changes"."""
    if plan.is_empty:
        body = (
            f'<div class="lp-head">{escape(title)}</div>'
            '<div class="lp-empty">No changes: the database already matches.</div>'
        )
        return _root("plan", body, style)
    head = (
        f'<div class="lp-head">{escape(title)}: '
        f'<span class="lp-muted">{escape(plan_summary(plan))}</span></div>'
    )
    steps = "".join(_step_html(n, s, show_rollback) for n, s in enumerate(plan.steps, 1))
    return _root("plan", head + steps, style)


def plan_text(plan: Plan, title: str = "Plan") -> str:
    """The text/plain form: numbered steps with SQL, lock and hazards."""
    if plan.is_empty:
        return f"{title}: No changes"
    lines = [f"{title}: {plan_summary(plan)}"]
    for n, s in enumerate(plan.steps, 1):
        lock = f"  [{s.lock}]" if s.lock else ""
        lines.append(f"{n}. {s.description}{lock}")
        lines += [f"   {line}" for line in s.sql.splitlines()]
        lines += [f"   ! {_rule_label(h)} ({h.severity}): {h.message}" for h in s.hazards]
        if s.reverse_sql:
            lines.append(
                f"   rollback: {s.reverse_sql.splitlines()[0]}"
                + (" …" if "\n" in s.reverse_sql else "")
            )
    return "\n".join(lines)


def rollback_html(plan: Plan, *, style: bool = True) -> str:
    """The rollback of `plan` (the forward plan): its generated reverse steps, last step first,
    with a warning for steps whose rollback cannot bring data back or that have none; a plan
    with a one-way step has no rollback, and says which step."""
    one_way = plan.one_way_steps()
    if one_way:
        text = f"No rollback: {', '.join(one_way)} cannot be undone (one-way)."
        return _root("rollback", f'<div class="lp-fail">✗ {escape(text)}</div>', style)
    missing = [n for n, s in enumerate(plan.steps, 1) if s.reverse_sql is None]
    lossy = [
        n for n, s in enumerate(plan.steps, 1) if any(h.code == "IRREVERSIBLE" for h in s.hazards)
    ]
    notes = []
    if missing:
        notes.append(
            f"Step(s) {', '.join(map(str, missing))} carry no reverse step: this rollback is "
            "incomplete."
        )
    if lossy:
        notes.append(
            f"Step(s) {', '.join(map(str, lossy))} cannot restore data: the rollback restores "
            "the schema only."
        )
    warning = "".join(f'<div class="lp-warn">⚠ {escape(n)}</div>' for n in notes)
    inner = plan_html(plan.reverse(), title="Rollback", show_rollback=False, style=False)
    return _root("rollback", warning + inner, style)


# ----------------------------------------------------------------------------------- safety

_STATUS = {"PASS": ("lp-ok", "✓"), "WARN": ("lp-warn", "⚠"), "FAIL": ("lp-fail", "✗")}


def safety_html(report: SafetyReport, *, style: bool = True) -> str:
    """The validation report: each step's verdict, hazards, lock and reversibility."""
    items = []
    if report.plan.is_empty:
        items.append('<div class="lp-empty">No changes: nothing to validate.</div>')
    for v in report.verdicts:
        cls, symbol = _STATUS[v.status]
        s = v.step
        lines = [
            f'<div><span class="lp-mark {cls}">{symbol}</span>'
            f'<span class="lp-num">{v.number}.</span><span class="lp-desc">'
            f"{escape(s.description)}</span> "
            f'<span class="{cls}">{v.status}</span></div>',
            _hazards_html(s.hazards),
        ]
        facts = [f"Lock: {v.lock}", f"Table rewrite: {v.rewrite}"]
        if not s.transactional:
            facts.append("Runs outside a transaction (CONCURRENTLY)")
        if v.observed is not None:
            facts.append(f"Observed on the shadow: {v.observed}")
        if s.reverse_sql is None:
            facts.append("Reversible: unknown (the plan carries no reverse step)")
        elif not v.data_restorable:
            facts.append("Reversible: schema only (the data is not restored)")
        else:
            facts.append("Reversible: yes")
        notes = list(s.notes if not v.concerns else ()) + facts
        lines.append(
            '<ul class="lp-notes">' + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>"
        )
        items.append(f'<div class="lp-step lp-verdict">{"".join(lines)}</div>')
    rev = (
        _mark(True) + "All operations are reversible"
        if report.reversible
        else _mark(None, "⚠") + "Not fully reversible: some steps cannot restore data"
    )
    safe = (
        _mark(True) + "All validations passed"
        if report.safe
        else _mark(False) + "Validation FAILED: some operations are not safe"
    )
    verdict = "passed" if report.safe else "FAILED"
    head = f'<div class="lp-head">Safety: {verdict}</div>'
    foot = f"<div>{rev}</div><div>{safe}</div>"
    return _root("safety", head + "".join(items) + foot, style)


# ----------------------------------------------------------------------------------- shadow


def shadow_html(report: ShadowReport, *, style: bool = True) -> str:
    """Each shadow check with ✓ (proved), ✗ (disproved) or – (could not check) and its detail,
    then what each step was observed doing beside what the rules claimed. A contradiction is a
    bug in Lockplane's rules, so it leads the output in the error style instead of hiding in
    a table row."""
    if not report.checks:
        body = '<div class="lp-head">Shadow proof</div><div class="lp-empty">No checks ran.</div>'
        return _root("shadow", body, style)
    items = []
    for c in report.checks:
        detail = ""
        if c.detail and "\n" in c.detail:
            detail = f'<div class="lp-detail">{escape(c.detail)}</div>'
        elif c.detail:
            detail = f' <span class="lp-muted">{escape(c.detail)}</span>'
        items.append(f"<li>{_mark(c.passed)}{escape(c.name)}{detail}</li>")
    verdict = "passed" if report.ok else "FAILED"
    head = f'<div class="lp-head">Shadow proof: {verdict}</div>'
    body = head + _contradictions_html(report.contradictions)
    body += f'<ul class="lp-checks">{"".join(items)}</ul>'
    body += _observations_html("Observed on the shadow: plan", report.observations)
    body += _observations_html("Observed on the shadow: rollback", report.rollback_observations)
    return _root("shadow", body, style)


def _contradictions_html(messages: list[str]) -> str:
    if not messages:
        return ""
    n = len(messages)
    head = (
        f'<div class="lp-fail">{_mark(False)}<b>{n} Lockplane bug{"s" if n != 1 else ""}</b>: '
        "the shadow contradicts the static rules (the observed facts are the truth)</div>"
    )
    lines = "".join(
        f'<li><span class="lp-badge lp-sev-error">LOCKPLANE BUG</span>'
        f'<span class="lp-fail">{escape(m)}</span></li>'
        for m in messages
    )
    return f'<div class="lp-step lp-step-error">{head}<ul class="lp-hazards">{lines}</ul></div>'


def _observations_html(title: str, observations: Sequence[StepObservation]) -> str:
    """One row per step: the rules' claim and the observed facts side by side; a step the
    shadow contradicts gets the error badge and the row tint of an error."""
    if not observations:
        return ""
    rows = []
    for o in observations:
        bug = '<span class="lp-badge lp-sev-error">LOCKPLANE BUG</span>' if o.contradictions else ""
        cls = ' class="lp-drop"' if o.contradictions else ""
        rows.append(
            f"<tr{cls}><td>{o.number}</td><td>{escape(o.description)}</td>"
            f"<td>{escape(o.claim())}</td><td>{bug}{escape(o.summary())}</td></tr>"
        )
    head = "<tr><th>#</th><th>Step</th><th>Rules claimed</th><th>Shadow observed</th></tr>"
    return (
        f'<div class="lp-sub">{escape(title)}</div>'
        f'<table class="lp-grid lp-observed">{head}{"".join(rows)}</table>'
    )


def shadow_text(report: ShadowReport) -> str:
    """The checks, each step's observation beside its claim, and any contradiction (report.text)."""
    return report.text() if report.checks else "Shadow proof: no checks ran"


# ------------------------------------------------------------------------------------ apply


def apply_html(result: ApplyResult, *, style: bool = True) -> str:
    """What an apply did: the message, the ledger entry, the shadow checks, the read-back."""
    ledger = f" (ledger entry {result.ledger_id})" if result.ledger_id is not None else ""
    check = (
        _mark(True) + "The database reads back as the shadow did"
        if result.verified
        else _mark(False) + "The database does not read back exactly as the shadow did"
    )
    head = f'<div class="lp-head">{escape(result.message)}{escape(ledger)}</div>'
    body = head + (shadow_html(result.shadow, style=False) if result.shadow.checks else "")
    return _root("apply", body + f"<div>{check}</div>", style)


def apply_text(result: ApplyResult) -> str:
    ledger = f" (ledger entry {result.ledger_id})" if result.ledger_id is not None else ""
    lines = [result.message + ledger]
    if result.shadow.checks:
        lines.append(result.shadow.text())
    if not result.verified:
        lines.append("warning: the database does not read back exactly as the shadow did")
    return "\n".join(lines)


# -------------------------------------------------------------------------------- preflight

PREFLIGHT_COLUMNS = ["step", "check", "rows", "examples"]
PREFLIGHT_ALL_COLUMNS = ["step", "check", "result", "rows", "examples"]


def _preflight_check(c: PreflightCheck) -> str:
    """What the check looks for, as a noun phrase: "rows with NULL in users.email"."""
    return f"{c.unit}s {c.what}"


def _preflight_result(c: PreflightCheck) -> str:
    if c.passed is None:
        return f"not checked ({c.detail})" if c.detail else "not checked"
    return "passed" if c.passed else "FAILED"


def preflight_frame(report: PreflightReport, *, failures_only: bool = True) -> pd.DataFrame:
    """The preflight as a DataFrame: one row per failing check (step, check, rows, examples),
    or with `failures_only=False` one per check with its result. `rows` is the number of rows
    (or groups) in the way, <NA> when unknown; `examples` their keys, comma-separated."""
    import pandas as pd

    checks = report.failures if failures_only else report.checks
    columns = PREFLIGHT_COLUMNS if failures_only else PREFLIGHT_ALL_COLUMNS
    data = [
        {
            "step": c.step,
            "check": _preflight_check(c),
            "result": _preflight_result(c),
            "rows": c.count,
            "examples": ", ".join(c.examples),
        }
        for c in checks
    ]
    frame = pd.DataFrame(data, columns=columns)
    frame["rows"] = frame["rows"].astype("Int64")
    return frame


def preflight_html(report: PreflightReport, *, style: bool = True) -> str:
    """The preflight's verdict, which database answered, and its checks as a table (the failing
    ones first, since they are what stopped the apply)."""
    asked = f' <span class="lp-muted">({escape(report.asked())})</span>' if report.asked() else ""
    if report.skipped:
        head = f'<div class="lp-head">Data preflight: skipped{asked}</div>'
        body = f'<div class="lp-empty">{escape(report.skipped)}</div>'
        return _root("preflight", head + body, style)
    if not report.checks:
        head = f'<div class="lp-head">Data preflight: passed{asked}</div>'
        body = '<div class="lp-empty">No step depends on existing rows.</div>'
        return _root("preflight", head + body, style)
    verdict = "passed" if report.ok else "FAILED"
    head = f'<div class="lp-head">Data preflight: {verdict}{asked}</div>'
    ordered = sorted(report.checks, key=lambda c: {False: 0, None: 1, True: 2}[c.passed])
    table = _table(
        PREFLIGHT_ALL_COLUMNS,
        (
            [
                c.step,
                _preflight_check(c),
                f"{CHECK_MARKS[c.passed]} {_preflight_result(c)}",
                c.count,
                ", ".join(c.examples),
            ]
            for c in ordered
        ),
        row_classes=("lp-drop" if c.passed is False else "" for c in ordered),
    )
    return _root("preflight", head + table, style)


def preflight_text(report: PreflightReport) -> str:
    return "Data preflight:\n" + report.text()


def preflight_summary(report: PreflightReport, where: str) -> str:
    """One line over `%lockplane preflight`'s table: which database answered, and the verdict."""
    head = f"Data preflight on {where}"
    if report.replica:
        head += " (replica)"
    if report.skipped:
        return f"{head}: skipped: {report.skipped}"
    if not report.checks:
        return f"{head}: no step depends on existing rows"
    failed = len(report.failures)
    unknown = sum(1 for c in report.checks if c.passed is None)
    passed = len(report.checks) - failed - unknown
    parts = [f"{passed} passed", f"{failed} FAILED" if failed else "0 failed"]
    if unknown:
        parts.append(f"{unknown} not checked")
    return f"{head}: {_plural(len(report.checks), 'check')}: " + ", ".join(parts)


# ---------------------------------------------------------------------------------- history

HISTORY_COLUMNS = [
    "id",
    "started_at",
    "outcome",
    "steps",
    "duration_ms",
    "os_user",
    "db_user",
    "source",
    "target",
    "error",
]


RUNS_COLUMNS = [
    "id",
    "started_at",
    "status",
    "steps_done",
    "steps",
    "current_step",
    "phase",
    "rows_done",
    "rows_total",
    "rows_per_s",
    "eta_s",
    "os_user",
    "db_user",
    "plan",
    "error",
]


def runs_frame(runs: Sequence[RunInfo]) -> pd.DataFrame:
    """The run journal as a DataFrame: one row per run, with where an unfinished one stands."""
    import pandas as pd

    rows = [
        {
            "id": r.id,
            "started_at": r.started_at,
            "status": r.status,
            "steps_done": r.steps_done,
            "steps": r.steps,
            "current_step": r.current_step if r.status != "done" else None,
            "phase": r.phase or "",
            "rows_done": r.rows_done,
            "rows_total": r.rows_total,
            "rows_per_s": r.rate,
            "eta_s": r.eta,
            "os_user": r.os_user,
            "db_user": r.db_user,
            "plan": r.plan_fingerprint[:12],
            "error": r.error or "",
        }
        for r in runs
    ]
    frame = pd.DataFrame(rows, columns=RUNS_COLUMNS)
    return frame.astype({"current_step": "Int64", "rows_total": "Int64"})


def history_frame(entries: Sequence[LedgerEntry]) -> pd.DataFrame:
    """The ledger as a DataFrame, fingerprints shortened to 12 characters like the CLI."""
    import pandas as pd

    rows = [
        {
            "id": e.id,
            "started_at": e.started_at,
            "outcome": e.outcome,
            "steps": e.steps,
            "duration_ms": e.duration_ms,
            "os_user": e.os_user,
            "db_user": e.db_user,
            "source": (e.source_fingerprint or "")[:12],
            "target": (e.target_fingerprint or "")[:12],
            "error": e.error or "",
        }
        for e in entries
    ]
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)
