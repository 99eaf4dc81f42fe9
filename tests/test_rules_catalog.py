"""The rule catalog as users read it: `lockplane rules`, the README table, the plan's codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lockplane.cli import main
from lockplane.model import Schema
from lockplane.planner import make_plan
from lockplane.rules import BY_CODE, RULES, hazard, markdown_table

README = Path(__file__).parent.parent / "README.md"

# squawk's rule names at the revision studied in ../shared/research/anchors.md, plus the ones that
# squawk-cli 2.70 added (renaming-object, ban-drop-constraint/-type/-default/-schema/-sequence/
# -extension/-domain/-view/-function, ban-alter-identity, ban-drop-generated-expression,
# ban-set-schema): a peer name in the catalog that squawk does not have would send a reader
# looking for nothing.
SQUAWK_RULES = {
    "adding-field-with-default", "adding-foreign-key-constraint", "adding-not-nullable-field",
    "adding-required-field", "adding-serial-primary-key-field",
    "ban-alter-domain-with-add-constraint", "ban-char-field",
    "ban-concurrent-index-creation-in-transaction", "ban-create-domain-with-constraint",
    "ban-drop-column", "ban-drop-database", "ban-drop-not-null", "ban-drop-table",
    "ban-duplicate-column-assignments", "ban-truncate-cascade", "ban-uncommitted-transaction",
    "changing-column-type", "constraint-missing-not-valid", "disallowed-unique-constraint",
    "identifier-too-long", "prefer-bigint-over-int", "prefer-bigint-over-smallint",
    "prefer-identity", "prefer-repack", "prefer-robust-stmts", "prefer-text-field",
    "prefer-timestamp-tz", "renaming-column", "renaming-object", "ban-drop-constraint",
    "ban-drop-type", "ban-drop-default", "ban-drop-schema", "ban-drop-sequence", "ban-drop-extension",
    "ban-drop-domain", "ban-drop-view", "ban-drop-function", "ban-alter-identity",
    "renaming-table", "require-concurrent-index-creation",
    "require-concurrent-index-deletion", "require-concurrent-partition-detach",
    "require-concurrent-reindex", "require-enum-value-ordering", "require-lock-timeout",
    "require-statement-timeout", "transaction-nesting", "ban-drop-generated-expression",
    "ban-set-schema",
}  # fmt: skip
ATLAS = re.compile(r"^(DS|MF|BC|CD|PG)\d{3}$")


def test_codes_are_unique_well_formed_and_ordered() -> None:
    codes = [r.code for r in RULES]
    assert len(codes) == len(set(codes)) == len(BY_CODE)
    assert codes == sorted(codes)
    assert all(re.fullmatch(r"LP[1-5]\d\d", c) for c in codes)
    names = [r.name for r in RULES]
    assert len(names) == len(set(names))


def test_every_rule_explains_itself_and_names_real_peers() -> None:
    for r in RULES:
        assert r.catches and r.why and r.safer, r.code
        assert set(r.squawk) <= SQUAWK_RULES, r.code
        assert all(ATLAS.match(a) for a in r.atlas), r.code
        # the number range says the category
        assert r.code[2] == {
            "DATA_LOSS": "1", "IRREVERSIBLE": "1", "DATA_DEPENDENT": "2", "TABLE_REWRITE": "3",
            "BLOCKING_LOCK": "3", "BREAKING_CHANGE": "4" if r.code >= "LP400" else "1",
            "SCHEMA_DESIGN": "5",
        }[r.category], r.code  # fmt: skip


def test_hazard_takes_category_and_severity_from_the_catalog() -> None:
    h = hazard("LP102", "Drops table t")
    assert (h.code, h.severity, h.rule) == ("DATA_LOSS", "error", "LP102")
    with pytest.raises(KeyError):
        hazard("LP999", "no such rule")


def test_readme_table_is_the_generated_one() -> None:
    text = README.read_text()
    start = text.index("-->\n", text.index("<!-- rules:start")) + len("-->\n")
    end = text.index("<!-- rules:end -->")
    assert text[start:end] == markdown_table(), "run `lockplane rules --markdown` into the README"


def test_rules_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    assert all(f"{r.code}  {r.name}" in out for r in RULES)
    assert main(["rules", "LP305"]) == 0
    out = capsys.readouterr().out
    assert "LP305  index-build-blocks-writes" in out and "LP306" not in out
    assert "CREATE INDEX CONCURRENTLY" in out and "squawk require-concurrent-index-creation" in out
    assert main(["rules", "LP999"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lockplane: error: rules: no rule LP999") and err.count("\n") == 1
    assert main(["rules", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["code"] for d in data] == [r.code for r in RULES]


def _schema(sql_tables: list[dict]) -> Schema:
    return Schema.model_validate({"tables": sql_tables})


def test_plan_hazards_carry_rule_codes_and_the_report_shows_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    before = {
        "name": "t",
        "columns": [
            {"name": "id", "type": "bigint", "nullable": False},
            {"name": "n", "type": "integer"},
        ],
        "primary_key": {"name": "t_pkey", "columns": ["id"]},
    }
    after = json.loads(json.dumps(before))
    after["columns"][1]["type"] = "bigint"
    plan = make_plan(_schema([before]), _schema([after]))
    (step,) = plan.steps
    assert {h.rule for h in step.hazards} == {"LP301", "LP405"}
    assert step.tables == ("t",)
    (tmp_path / "b.json").write_text(json.dumps({"tables": [before]}))
    (tmp_path / "a.json").write_text(json.dumps({"tables": [after]}))
    argv = ["plan", "--from", str(tmp_path / "b.json"), "--to", str(tmp_path / "a.json")]
    assert main([*argv, "--validate"]) == 0
    err = capsys.readouterr().err
    assert "⚠ Validation 1: WARN" in err
    assert "Warning [LP301 type-change-rewrite]: Changing t.n from integer to bigint" in err
    assert "  - Lock: ACCESS EXCLUSIVE on t (blocks reads and writes)" in err
    assert "  - Table rewrite: yes, t" in err


def test_design_advice_does_not_change_the_verdict() -> None:
    new = {
        "name": "events",
        "columns": [
            {"name": "id", "type": "integer", "nullable": False},
            {"name": "at", "type": "timestamp without time zone"},
            {"name": "code", "type": "character(3)"},
        ],
        "primary_key": {"name": "events_pkey", "columns": ["id"]},
    }
    plan = make_plan(_schema([]), _schema([new]))
    (step,) = plan.steps
    assert sorted(h.rule for h in step.hazards) == ["LP502", "LP503", "LP504"]
    assert all(h.severity == "info" for h in step.hazards)
    from lockplane.safety import SafetyReport

    report = SafetyReport(plan)
    assert report.verdicts[0].status == "PASS"
    assert "  - Advice [LP502 prefer-timestamptz]: events.at is" in report.text()
