"""render.py without a database: schemas and plans are built in memory.

What matters for notebooks: output is deterministic (nbval compares text/html), styles never
leak out of `.lp-` (a `<style>` in an output is page-global), and what a reviewer must see
(hazards, locks, rollback SQL, check results) is there.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from lockplane import Plan, SafetyReport, Schema, ShadowReport, Step, diff, make_plan
from lockplane import parse_schema_text as parse
from lockplane.executor import ApplyResult
from lockplane.ledger import LedgerEntry
from lockplane.observe import StepObservation
from lockplane.plan import Hazard
from lockplane_nb import render

OLD = parse(
    """{"tables": [
      {"name": "users", "columns": [
        {"name": "id", "type": "bigint", "nullable": false, "is_primary_key": true},
        {"name": "email", "type": "text"},
        {"name": "legacy", "type": "text"}]},
      {"name": "gone", "columns": [{"name": "id", "type": "integer"}]}]}"""
)
NEW = parse(
    """{"enums": [{"name": "mood", "labels": ["ok", "meh"]}],
    "tables": [
      {"name": "users", "comment": "<script>alert(1)</script>", "columns": [
        {"name": "id", "type": "bigint", "nullable": false, "is_primary_key": true},
        {"name": "email", "type": "text", "nullable": false, "default": "''::text"},
        {"name": "age", "type": "integer"}],
       "indexes": [{"name": "users_email_idx", "columns": ["email"], "unique": true}],
       "check_constraints": [{"name": "age_positive", "expression": "(age > 0)"}]},
      {"name": "posts", "columns": [
        {"name": "id", "type": "integer", "is_primary_key": true},
        {"name": "user_id", "type": "bigint"}],
       "foreign_keys": [{"name": "posts_user_fk", "columns": ["user_id"],
                         "referenced_table": "users", "referenced_columns": ["id"],
                         "on_delete": "CASCADE"}]}],
    "unmanaged": [{"kind": "view", "schema": "public", "name": "active_users"}]}"""
)
PLAN = make_plan(OLD, NEW)


OBSERVED = [
    StepObservation(
        number=1,
        description="Change type of column users.id to bigint",
        locks={"users": "ACCESS EXCLUSIVE"},
        strongest_lock="ACCESS EXCLUSIVE",
        rewritten=("users",),
        duration_ms=4.2,
        locks_observed=True,
        claimed_lock="ACCESS EXCLUSIVE",
        claimed_tables=("users",),
        claimed_rewrite=True,
    ),
    StepObservation(
        number=2,
        description="Create index <i>",
        locks={"users": "ACCESS EXCLUSIVE"},
        strongest_lock="ACCESS EXCLUSIVE",
        rewritten=(),
        duration_ms=0.3,
        locks_observed=True,
        contradictions=["Lockplane bug: step 2 (Create index <i>) claims lock SHARE but …"],
        claimed_lock="SHARE",
        claimed_tables=("users",),
    ),
]


def every_html() -> list[str]:
    shadow = ShadowReport()
    shadow.add("Current schema built on the shadow", True, "2 tables")
    shadow.add("Result equals the target", False, "~ column users.age\n+ table posts")
    shadow.add("Rollback returns to the start", None, "the plan carries no reverse steps")
    shadow.observations += OBSERVED
    result = ApplyResult(3, 12, 7, shadow, True, "Applied 3 steps in 12 ms")
    return [
        render.schema_html(NEW),
        render.schema_html(Schema()),
        render.diff_html(diff(OLD, NEW)),
        render.diff_html(diff(NEW, NEW)),
        render.plan_html(PLAN),
        render.plan_html(Plan()),
        render.safety_html(SafetyReport(PLAN)),
        render.shadow_html(shadow),
        render.shadow_html(ShadowReport()),
        render.rollback_html(PLAN),
        render.apply_html(result),
    ]


def selectors(stylesheet: str) -> list[str]:
    rules = re.findall(r"([^{}]+)\{[^{}]*\}", re.sub(r"/\*.*?\*/", "", stylesheet, flags=re.S))
    return [s.strip() for rule in rules for s in rule.split(",")]


def test_output_is_deterministic() -> None:
    assert every_html() == every_html()
    assert "T_" not in "".join(every_html())  # no pandas Styler ids


def test_one_scoped_stylesheet_per_output() -> None:
    for html in every_html():
        blocks = re.findall(r"<style>(.*?)</style>", html, flags=re.S)
        assert blocks == [render.css()[len("<style>") : -len("</style>")]]
    found = selectors(render.css().removeprefix("<style>").removesuffix("</style>"))
    assert len(found) > 30
    assert all(s.startswith(".lp-") for s in found), [s for s in found if not s.startswith(".lp-")]


def test_theme_variables_with_fallbacks() -> None:
    sheet = render.css()
    for name in ("keyword", "string", "number", "comment", "operator"):
        assert f"var(--jp-mirror-editor-{name}-color, #" in sheet
    assert "var(--jp-content-font-color1, #" in sheet
    assert "rgba(46, 160, 67" in sheet and "rgba(248, 81, 73" in sheet
    assert all(v.count(",") >= 1 for v in re.findall(r"var\(--jp-[^)]*\)", sheet))


def test_sql_highlighted_without_pygments_stylesheet() -> None:
    html = render.sql_html("ALTER TABLE users ADD COLUMN age integer DEFAULT 1 -- note")
    assert html.startswith('<pre class="lp-sql"><span class="k">ALTER</span>')
    assert '<span class="nb">integer</span>' in html and '<span class="c1">-- note</span>' in html
    for html in every_html():
        assert "highlight" not in html and 'style="' not in html


def test_plan_shows_steps_locks_hazards_and_rollback() -> None:
    html = render.plan_html(PLAN)
    assert html.count('class="lp-step ') == len(PLAN.steps)
    assert (
        '<span class="lp-badge lp-sev-error" title="table-dropped · DATA_LOSS · error">LP102</span>'
        in html
    )
    assert (
        '<span class="lp-badge lp-sev-warning" title="rollback-loses-data · IRREVERSIBLE · warning">'
        "LP107</span>" in html
    )
    assert "Drops table gone and all the data in it" in html
    assert "lp-step-error" in html and "ACCESS EXCLUSIVE" in html
    assert html.count('<span class="lp-label">Rollback</span>') == len(PLAN.steps)
    assert "2 errors, 5 warnings" in html  # info-level design advice is not counted


def test_empty_plan_and_empty_diff_say_no_changes() -> None:
    assert "No changes" in render.plan_html(Plan())
    assert render.plan_text(Plan()) == "Plan: No changes"
    assert "No changes" in render.diff_html(diff(NEW, NEW))


def test_plan_text_is_short_and_readable() -> None:
    text = render.plan_text(PLAN)
    assert text.splitlines()[0].startswith(f"Plan: {len(PLAN.steps)} steps")
    assert "! LP102 table-dropped (error): Drops table gone" in text
    assert "rollback: DROP TABLE posts" in text


def test_untrusted_names_are_escaped() -> None:
    html = render.schema_html(NEW)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_schema_html_lists_everything() -> None:
    html = render.schema_html(NEW)
    for expected in (
        "users",
        "posts",
        "users_email_idx",
        "UNIQUE btree (email)",
        "age_positive",
        "FOREIGN KEY",
        "ON DELETE CASCADE",
        "mood",
        "active_users",
        "Not managed",
    ):
        assert expected in html
    assert render.schema_text(NEW).startswith("Schema: 2 tables, 1 enum, 1 unmanaged object")


def test_schema_html_respects_the_limit() -> None:
    html = render.schema_html(NEW, limit=1)
    assert "1 more tables not shown (display_limit=1)" in html
    assert "users_email_idx" not in html  # posts sorts first; users is cut


RICH = parse(
    """{"functions": [{"name": "touch", "returns": "trigger", "language": "plpgsql",
                     "body": "BEGIN RETURN NEW; END"}],
    "views": [{"name": "adults", "definition": "SELECT id FROM people WHERE age >= 18"},
              {"name": "counts", "materialized": true, "definition": "SELECT count(*) AS n FROM people",
               "storage_parameters": {"fillfactor": "60"}, "owner": "lp_owner",
               "columns": [{"name": "n", "type": "bigint", "comment": "how many"}]}],
    "domains": [{"name": "age", "type": "integer", "check_constraints":
                 [{"name": "age_check", "expression": "VALUE >= 0"}]}],
    "tables": [
      {"name": "events", "partition_by": "RANGE (at)",
       "columns": [{"name": "at", "type": "date", "nullable": false}]},
      {"name": "events_2024", "partition_of": "events",
       "partition_bound": "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"},
      {"name": "people", "row_level_security": true, "storage_parameters":
       {"autovacuum_enabled": "false"},
       "columns": [{"name": "id", "type": "bigint"}, {"name": "age", "type": "age"}],
       "triggers": [{"name": "people_touch", "timing": "BEFORE", "events": ["UPDATE"],
                     "update_columns": ["age"], "for_each": "row", "function": "touch"}],
       "policies": [{"name": "adults_only", "command": "SELECT", "using": "(age >= 18)"}]}]}"""
)


def test_schema_html_shows_every_managed_kind() -> None:
    html = render.schema_html(RICH)
    for expected in (
        "Views",
        "adults",
        "materialized",
        "Functions and procedures",
        "touch()",
        "plpgsql",
        "Domains",
        "CHECK VALUE &gt;= 0",
        "partitioned by RANGE (at)",
        "partition of events FOR VALUES FROM",
        "row level security",
        "with autovacuum_enabled=false",
        "materialized, with fillfactor=60, comments on n, owned by lp_owner",
        "BEFORE UPDATE OF age FOR EACH ROW EXECUTE touch()",
        "adults_only",
        "(age &gt;= 18)",
    ):
        assert expected in html, expected
    assert render.schema_counts(RICH) == (
        "3 tables, 1 view, 1 materialized view, 1 function, 1 domain"
    )
    frames = render.schema_frames(RICH)
    assert list(frames["views"]["view"]) == ["adults", "counts"]
    assert list(frames["views"]["storage"]) == ["", "fillfactor=60"]
    assert list(frames["tables"]["storage"]) == ["", "", "autovacuum_enabled=false"]
    assert list(frames["triggers"]["trigger"]) == ["people_touch"]
    assert list(frames["policies"]["command"]) == ["SELECT"]
    assert list(frames["functions"]["routine"]) == ["touch()"]


def test_schema_frames() -> None:
    frames = render.schema_frames(NEW)
    assert list(frames) == [
        "tables",
        "columns",
        "indexes",
        "constraints",
        "views",
        "functions",
        "triggers",
        "policies",
    ]
    assert list(frames["tables"]["table"]) == ["posts", "users"]
    assert len(frames["columns"]) == 5
    assert list(frames["indexes"]["index"]) == ["users_email_idx"]
    assert set(frames["constraints"]["type"]) == {"PRIMARY KEY", "CHECK", "FOREIGN KEY"}
    empty = render.schema_frames(Schema())
    assert all(f.empty for f in empty.values()) and "column" in empty["columns"].columns


def test_diff_frame_and_tints() -> None:
    d = diff(OLD, NEW)
    frame = render.diff_frame(d)
    assert list(frame.columns) == ["change", "kind", "object", "detail"]
    assert set(frame["change"]) == {"+", "−", "~"}
    html = render.diff_html(d)
    for cls in ("lp-add", "lp-drop", "lp-alter"):
        assert f'<tr class="{cls}"><td class="lp-sign">' in html
    assert render.diff_frame(diff(NEW, NEW)).empty


def test_safety_html_marks_each_verdict() -> None:
    html = render.safety_html(SafetyReport(PLAN))
    assert "Safety: FAILED" in html and "DATA_LOSS" in html
    assert "Validation FAILED" in html
    safe = make_plan(Schema(), OLD)
    assert "Safety: passed" in render.safety_html(SafetyReport(safe))


def test_shadow_html_marks() -> None:
    html = every_html()[7]
    assert '<span class="lp-mark lp-ok">✓</span>Current schema built' in html
    assert '<span class="lp-mark lp-fail">✗</span>Result equals the target' in html
    assert '<span class="lp-mark lp-skip">–</span>Rollback returns' in html
    assert "Shadow proof: FAILED" in html
    assert '<div class="lp-detail">~ column users.age\n+ table posts</div>' in html


def test_shadow_html_shows_observations_beside_claims_and_bugs_first() -> None:
    html = every_html()[7]
    assert "Observed on the shadow: plan" in html
    assert "rollback</div>" not in html  # no rollback observations, no empty table
    row = (
        "<tr><td>1</td><td>Change type of column users.id to bigint</td>"
        "<td>ACCESS EXCLUSIVE on users · rewrite</td>"
        "<td>ACCESS EXCLUSIVE on users · rewrote users · 4 ms</td></tr>"
    )
    assert row in html
    bug = html.index("1 Lockplane bug</b>")
    assert bug < html.index('<ul class="lp-checks">')  # ahead of the checks, not buried
    assert '<tr class="lp-drop"><td>2</td><td>Create index &lt;i&gt;</td>' in html
    assert html.count("LOCKPLANE BUG</span>") == 2  # in the banner and on the step's row
    assert "&lt;1 ms" in html and "<i>" not in html


def test_shadow_text_shows_observations_and_bugs() -> None:
    report = ShadowReport()
    report.add("Plan applied on the shadow", True, "2 steps")
    report.observations += OBSERVED
    text = render.shadow_text(report)
    assert text.splitlines()[:2] == [
        "!! 1 LOCKPLANE BUG: the shadow contradicts the static rules (the observed facts below "
        "are the truth)",
        "!! Lockplane bug: step 2 (Create index <i>) claims lock SHARE but …",
    ]
    assert "     observed: ACCESS EXCLUSIVE on users · rewrote users · 4 ms" in text
    assert "     rules:    SHARE on users" in text
    assert report.ok and len(report.contradictions) == 1


def test_rollback_html_runs_reverse_steps_last_first() -> None:
    html = render.rollback_html(PLAN)
    assert "cannot restore data" in html
    firsts = [s.reverse_sql for s in reversed(PLAN.steps)]
    positions = [html.index(render.sql_html(sql)) for sql in firsts[:3]]
    assert positions == sorted(positions)
    seed = Plan(steps=(Step(description="by hand", sql="SELECT 1"),))
    assert "carry no reverse step" in render.rollback_html(seed)


def test_hazard_free_step_shows_its_notes() -> None:
    step = Step(description="d", sql="SELECT 1", notes=("safe because",), lock="SHARE")
    html = render.plan_html(Plan(steps=(step,)))
    assert "safe because" in html and "lp-lock" in html
    bad = Step(
        description="d",
        sql="SELECT 1",
        hazards=(Hazard(code="TABLE_REWRITE", severity="warning", message="rewrites"),),
        notes=("hidden",),
    )
    assert "hidden" not in render.plan_html(Plan(steps=(bad,)))


def test_history_frame() -> None:
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    entry = LedgerEntry(1, when, 15, "me", "postgres", "a" * 64, "b" * 64, "applied", None, 2)
    frame = render.history_frame([entry])
    assert list(frame.columns) == render.HISTORY_COLUMNS
    assert frame.iloc[0]["source"] == "a" * 12 and frame.iloc[0]["steps"] == 2
    assert render.history_frame([]).empty


@pytest.mark.parametrize("limit", [0, 1, None])
def test_diff_limit(limit: int | None) -> None:
    d = diff(OLD, NEW)
    html = render.diff_html(d, limit=limit)
    shown = html.count('<td class="lp-sign">')
    assert shown == (len(d.rows()) if limit is None else limit)
