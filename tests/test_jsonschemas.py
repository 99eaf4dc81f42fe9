"""The published JSON Schemas must be exactly what the models generate.

If this fails after a model change, run `python -m lockplane.jsonschemas` and commit the result.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from lockplane import jsonschemas
from lockplane.model import PLAN_URL, SCHEMA_URL
from lockplane.output import FORMATS

PUBLISHED = Path(__file__).resolve().parents[1] / "schema-json"


@pytest.mark.parametrize("name", sorted(jsonschemas.expected_files()))
def test_published_file_is_up_to_date(name: str) -> None:
    expected = jsonschemas.expected_files()[name]
    actual = (PUBLISHED / name).read_text(encoding="utf-8")
    assert actual == expected, (
        f"schema-json/{name} is out of date; run: python -m lockplane.jsonschemas"
    )


def test_check_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert jsonschemas.main(["--check", "--dir", str(tmp_path)]) == 1  # missing counts as stale
    assert jsonschemas.main(["--dir", str(tmp_path)]) == 0
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(first) == sorted(jsonschemas.expected_files())
    assert {"schema.json", "plan.json", "error.json", "apply.json"} <= set(first)
    assert jsonschemas.main(["--check", "--dir", str(tmp_path)]) == 0
    assert jsonschemas.main(["--dir", str(tmp_path)]) == 0
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == first  # byte-stable
    (tmp_path / "plan.json").write_text("{}\n")
    assert jsonschemas.main(["--check", "--dir", str(tmp_path)]) == 1
    assert "plan.json is out of date" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("doc", "url", "title"),
    [
        (jsonschemas.schema_document(), SCHEMA_URL, "Lockplane schema"),
        (jsonschemas.plan_document(), PLAN_URL, "Lockplane plan"),
    ],
)
def test_documents_are_valid_draft_2020_12(doc: dict, url: str, title: str) -> None:
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"] == url
    assert doc["title"] == title


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_output_formats_are_valid_draft_2020_12(name: str) -> None:
    doc = jsonschemas.output_document(name)
    Draft202012Validator.check_schema(doc)
    assert doc["$id"] == SCHEMA_URL.replace("schema.json", name)
    assert doc["title"] == FORMATS[name][1]


def test_rendering_is_sorted_and_newline_terminated() -> None:
    text = jsonschemas.render({"b": 1, "a": {"d": 2, "c": 3}})
    assert text.endswith("}\n")
    assert list(json.loads(text)) == ["a", "b"]
