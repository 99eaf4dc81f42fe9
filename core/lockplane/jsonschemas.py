"""The published JSON Schemas, generated from the pydantic models: schema and plan documents,
and every `lockplane ... --json` output format (the models in output.py).

The models are the single definition of both formats; the files under `schema-json/` exist so
that editors can validate and autocomplete documents through their `$schema` URL. Generating
them (rather than writing them by hand) keeps the two from drifting, and `--check` lets a test
fail the moment a model change is not followed by a regeneration.

    python -m lockplane.jsonschemas          # rewrite every file under schema-json/
    python -m lockplane.jsonschemas --check  # exit 1 if any file is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .model import PLAN_URL, SCHEMA_URL, Schema
from .output import FORMATS
from .plan import Plan

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "schema-json"


def _generate(model: type[BaseModel], url: str, title: str) -> dict[str, Any]:
    # by_alias: documents spell `schema` and `$schema`, not the Python field names.
    # mode="validation": describes what may be written, so defaulted fields are optional.
    doc = model.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": DRAFT_2020_12, "$id": url, **doc, "title": title}


@cache
def schema_document() -> dict[str, Any]:
    """JSON Schema of a schema document. Cached and shared: callers must not mutate it."""
    return _generate(Schema, SCHEMA_URL, "Lockplane schema")


@cache
def plan_document() -> dict[str, Any]:
    """JSON Schema of a plan document. Cached and shared: callers must not mutate it."""
    return _generate(Plan, PLAN_URL, "Lockplane plan")


def output_document(name: str) -> dict[str, Any]:
    """JSON Schema of one CLI output format (`error.json`, `apply.json` ...), published next
    to schema.json so that its `$id` is the same base URL with its own file name."""
    model, title = FORMATS[name]
    return _generate(model, SCHEMA_URL.rsplit("/", 1)[0] + "/" + name, title)


def render(doc: dict[str, Any]) -> str:
    """Pretty, key-sorted and newline-terminated, so regeneration is byte-stable and diffs small."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def expected_files() -> dict[str, str]:
    """File name -> exact content each published file should have."""
    files = {"schema.json": render(schema_document()), "plan.json": render(plan_document())}
    files.update((name, render(output_document(name))) for name in FORMATS)
    return files


def stale_files(directory: Path = DEFAULT_DIR) -> list[str]:
    """Names of the files in `directory` that are missing or differ from what the models give."""
    stale = []
    for name, text in expected_files().items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale


def write_files(directory: Path = DEFAULT_DIR) -> list[Path]:
    """Write every file into `directory` (created if needed); returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in expected_files().items():
        path = directory / name
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lockplane.jsonschemas",
        description="Generate the JSON Schemas for Lockplane documents and CLI output.",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the files are out of date")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="output directory")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.dir)
        for name in stale:
            print(f"{args.dir / name} is out of date; run: python -m lockplane.jsonschemas")
        return 1 if stale else 0
    for path in write_files(args.dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
