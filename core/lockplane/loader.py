"""Read schema and plan documents, reporting every problem in a file at once, one per line.

Hand-written JSON fails in predictable ways: a typo in a key, a string where a boolean goes, a
forgotten `type`. Fixing those one error per run is miserable, so checking is layered:

1. read the file and parse the JSON (a syntax error stops here: nothing after it is reliable);
2. validate against the published JSON Schema, which finds every structural problem at once;
3. rewrite column types to the spelling Postgres prints (`int` -> `integer`, see `types.py`);
4. build the pydantic model, whose validators catch what JSON Schema cannot (a column listed
   twice, `is_primary_key` disagreeing with `primary_key`).

Each problem is reported as `file: path.in[0].document: message`, with paths written the way a
reader would navigate the document, and raised together as one InputError.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaViolation
from pydantic import BaseModel, ValidationError

from .errors import InputError
from .jsonschemas import plan_document, schema_document
from .model import Schema
from .plan import Plan
from .types import canonical_type

PathPart = str | int
Problem = tuple[list[PathPart], str]
M = TypeVar("M", bound=BaseModel)

_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def load_schema_file(path: str | Path) -> Schema:
    """Load a schema document from a JSON file; raises InputError naming every problem."""
    return parse_schema_text(_read(Path(path)), str(path))


def load_plan_file(path: str | Path) -> Plan:
    """Load a plan document from a JSON file; raises InputError naming every problem."""
    return parse_plan_text(_read(Path(path)), str(path))


def parse_schema_text(text: str, source_name: str = "<input>") -> Schema:
    """Parse a schema document held in memory (a notebook cell); `source_name` labels errors."""
    return _parse(text, source_name, Schema, _validator("schema"))


def parse_plan_text(text: str, source_name: str = "<input>") -> Plan:
    """Parse a plan document held in memory; `source_name` labels errors."""
    return _parse(text, source_name, Plan, _validator("plan"))


@cache
def _validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator(schema_document() if kind == "schema" else plan_document())


def _read(path: Path) -> str:
    source = str(path)
    try:
        return path.read_text(encoding="utf-8-sig")  # tolerate a BOM from Windows editors
    except FileNotFoundError:
        raise InputError(source, "file not found") from None
    except IsADirectoryError:
        raise InputError(source, "is a directory, not a file") from None
    except PermissionError:
        raise InputError(source, "permission denied") from None
    except UnicodeDecodeError as e:
        raise InputError(source, f"not UTF-8 text (bad byte at offset {e.start})") from None
    except OSError as e:
        raise InputError(source, f"cannot read file: {e.strerror or e}") from None


def _parse(text: str, source: str, model: type[M], validator: Draft202012Validator) -> M:
    data, problems = _decode(text, source)
    _check_kind(data, source, model)
    problems += [p for error in validator.iter_errors(data) for p in _explain(error)]
    _raise_if_any(source, problems)  # the steps below assume the document's shape is right
    problems = _canonicalize_types(data, model)
    try:
        result = model.model_validate(data)
    except ValidationError as e:
        problems += _from_pydantic(data, e)
    _raise_if_any(source, problems)
    return result


def _check_kind(data: Any, source: str, model: type[BaseModel]) -> None:
    """A plan passed where a schema belongs (or the reverse) gets one clear line, not twenty."""
    url = data.get("$schema") if isinstance(data, dict) else None
    if not isinstance(url, str):
        return
    wanted, other = ("schema", "plan") if model is Schema else ("plan", "schema")
    if url.endswith(f"/{other}.json"):
        message = f"this is a {other} document ({url}); expected a {wanted} document"
        raise InputError(source, [("$schema", message)])


def _raise_if_any(source: str, problems: list[Problem]) -> None:
    if not problems:
        return
    unique = {(tuple(path), msg): None for path, msg in problems}  # drop repeats, keep order
    ordered = sorted(unique, key=lambda p: _sort_key(p[0]))
    raise InputError(source, [(format_path(path), msg) for path, msg in ordered])


def _sort_key(path: Iterable[PathPart]) -> list[tuple[int, int, str]]:
    # Indexes compare as numbers (tables[2] before tables[10]); keys alphabetically.
    return [(0, p, "") if isinstance(p, int) else (1, 0, p) for p in path]


def format_path(path: Iterable[PathPart]) -> str:
    """`["tables", 1, "columns", 0, "type"]` -> `tables[1].columns[0].type`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


# --- 1. JSON ------------------------------------------------------------------------------


class _Object(dict):
    """A decoded JSON object that remembers keys written twice (json.loads keeps the last)."""

    duplicates: tuple[str, ...] = ()


class _NotJson(ValueError):
    pass


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    if len(obj) != len(pairs):
        keys = [k for k, _ in pairs]
        obj.duplicates = tuple(dict.fromkeys(k for k in keys if keys.count(k) > 1))
    return obj


def _reject_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON value")


def _decode(text: str, source: str) -> tuple[Any, list[Problem]]:
    """The parsed document and its duplicate keys; a syntax error raises at once."""
    if not text.strip():
        raise InputError(source, "file is empty; expected a JSON object")
    try:
        data = json.loads(text, object_pairs_hook=_object, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise InputError(source, f"invalid JSON at line {e.lineno}:{e.colno}: {e.msg}") from None
    except _NotJson as e:
        raise InputError(source, f"invalid JSON: {e}") from None
    return data, list(_duplicate_keys(data, []))


def _duplicate_keys(node: Any, path: list[PathPart]) -> Iterable[Problem]:
    if isinstance(node, dict):
        for key in getattr(node, "duplicates", ()):
            yield [*path, key], "key appears more than once; only the last value would be used"
        for key, value in node.items():
            yield from _duplicate_keys(value, [*path, key])
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _duplicate_keys(value, [*path, i])


# --- 2. JSON Schema -----------------------------------------------------------------------


def _explain(error: SchemaViolation) -> list[Problem]:
    """One jsonschema error as problems with short messages that name the exact property."""
    path = list(error.absolute_path)
    kind, value, instance = error.validator, error.validator_value, error.instance
    if kind in ("anyOf", "oneOf"):
        return _explain_alternatives(error, path)
    if kind == "required":
        # iter_errors yields one error per missing property; list them all, repeats are dropped.
        return [([*path, p], "required property missing") for p in value if p not in instance]
    if kind == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        return [
            ([*path, key], f"unknown property{_suggest(key, allowed)}")
            for key in instance
            if key not in allowed
        ]
    return [(path, _message(kind, value, instance, error.message))]


def _message(kind: str, value: Any, instance: Any, default: str) -> str:
    if kind == "type":
        return f"expected {_type_names(value)}, got {_describe(instance)}"
    if kind == "enum":
        folded = str(instance).lower()
        same = [v for v in value if isinstance(instance, str) and str(v).lower() == folded]
        if same:  # the right word in the wrong case: name it rather than list every choice
            return f"got {_describe(instance)}; did you mean {json.dumps(same[0])}?"
        choices = ", ".join(json.dumps(v) for v in value)
        return f"must be one of {choices}; got {_describe(instance)}"
    if kind == "const":
        return f"must be {json.dumps(value)}; got {_describe(instance)}"
    if kind == "minLength":
        return "must not be empty" if value == 1 else f"must be at least {value} characters"
    if kind == "maxLength":
        return f"is {len(instance)} characters long; at most {value} allowed"
    if kind == "minItems":
        return "must not be empty" if value == 1 else f"must have at least {value} items"
    if kind == "pattern":
        return f"must match the pattern {value}; got {_describe(instance)}"
    return default


def _explain_alternatives(error: SchemaViolation, path: list[PathPart]) -> list[Problem]:
    """Explain a failed anyOf through the alternative the value was evidently meant to be.

    Pydantic writes `X | None` and `Name | IndexKey` as anyOf. Its raw error ("... is not valid
    under any of the given schemas") hides the real problem, such as a missing property inside
    the object alternative. An alternative whose type already matches the value is the one the
    author meant, so its errors are reported; if none matches, the message lists the types.
    """
    branches: dict[int, list[SchemaViolation]] = {}
    for sub in error.context or ():
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    wrong_type = {
        i
        for i, subs in branches.items()
        if any(s.validator == "type" and not s.relative_path for s in subs)
    }
    meant = [subs for i, subs in sorted(branches.items()) if i not in wrong_type]
    if meant:
        return [p for sub in min(meant, key=len) for p in _explain(sub)]
    expected: list[str] = []
    for subs in branches.values():
        for s in subs:
            if s.validator == "type" and not s.relative_path:
                names = s.validator_value
                names = [names] if isinstance(names, str) else names
                expected += [n for n in names if n not in expected]
    if not expected:
        return [(path, error.message)]
    return [(path, f"expected {_type_names(expected)}, got {_describe(error.instance)}")]


def _type_names(value: str | list[str]) -> str:
    names = [value] if isinstance(value, str) else list(value)
    return " or ".join(names)


def _describe(instance: Any) -> str:
    if isinstance(instance, dict):
        return "an object"
    if isinstance(instance, list):
        return "an array"
    text = json.dumps(instance, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _suggest(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; expected one of: {', '.join(allowed)}" if allowed else ""


# --- 3. Types -----------------------------------------------------------------------------


def _canonicalize_types(data: dict[str, Any], model: type[BaseModel]) -> list[Problem]:
    """Rewrite every Column.type in place to format_type's spelling; report the impossible ones.

    Runs after JSON Schema validation, so the document's shape can be trusted here.
    """
    roots: list[tuple[list[PathPart], Any]] = [([], data)]
    if model is Plan:  # a plan embeds the schemas it goes from and to
        roots = [(["source"], data.get("source")), (["target"], data.get("target"))]
    problems: list[Problem] = []
    for prefix, doc in roots:
        if not isinstance(doc, dict):
            continue
        for ti, table in enumerate(doc.get("tables", ())):
            for ci, column in enumerate(table.get("columns", ())):
                try:
                    column["type"] = canonical_type(column["type"])
                except ValueError as e:
                    problems.append(([*prefix, "tables", ti, "columns", ci, "type"], str(e)))
    return problems


# --- 4. Pydantic --------------------------------------------------------------------------


def _from_pydantic(data: Any, exc: ValidationError) -> list[Problem]:
    """Pydantic errors (mostly model validators) as problems on the document's own paths."""
    found: list[tuple[list[PathPart], str, str]] = []
    for err in exc.errors(include_url=False):
        msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        found.append((_document_path(data, err["loc"], err["type"]), err["type"], msg))
    return [(path, msg) for path, kind, msg in found if not _is_echo(path, kind, found)]


def _is_echo(path: list[PathPart], kind: str, found: list[tuple[list[PathPart], str, str]]) -> bool:
    """Whether an error only repeats another one from a different angle.

    In a union every alternative reports, so "not a string" beside the object alternative's real
    complaint is noise; and a tuple whose only item failed is then "too short", which JSON Schema
    already ruled out for the document as written.
    """
    if kind.endswith("_type"):
        return any(p == path and not k.endswith("_type") for p, k, _ in found)
    if kind == "too_short":
        return any(len(p) > len(path) and p[: len(path)] == path for p, _, _ in found)
    return False


def _document_path(data: Any, loc: tuple[PathPart, ...], kind: str) -> list[PathPart]:
    """Follow `loc` through the data, dropping pydantic's union tags (`constrained-str`, ...)."""
    path: list[PathPart] = []
    node = data
    for i, part in enumerate(loc):
        into_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        into_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if into_dict or into_list:
            node = node[part]
        elif not (kind == "missing" and i == len(loc) - 1):
            continue  # a union tag, not a step into the document
        path.append(part)
    return path
