"""Splitting a DDL file into statements, only to say which line an error came from.

Postgres parses and runs the whole file; it reports a position for syntax errors but not for,
say, a missing table in statement 40. On that error path the file is split here (respecting
quotes, dollar quotes and comments) and re-run statement by statement to find the culprit.
"""

from __future__ import annotations

import re

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


def split_statements(text: str) -> list[tuple[int, str]]:
    """(line where the statement starts, statement text) for each non-empty statement."""
    out: list[tuple[int, str]] = []
    start = i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "-" and text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif ch == "/" and text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif ch in "'\"":
            i += 1
            while i < n:
                if text[i] == ch and text[i + 1 : i + 2] == ch:
                    i += 2
                elif text[i] == ch:
                    break
                else:
                    i += 1
            i += 1
        elif ch == "$" and (m := _DOLLAR.match(text, i)):
            end = text.find(m.group(0), m.end())
            i = n if end < 0 else end + len(m.group(0))
        elif ch == ";":
            _add(out, text, start, i)
            start = i = i + 1
        else:
            i += 1
    _add(out, text, start, n)
    return out


def _add(out: list[tuple[int, str]], text: str, start: int, end: int) -> None:
    chunk = text[start:end]
    stripped = chunk.strip()
    if not stripped or all(
        line.strip().startswith("--") or not line.strip() for line in stripped.splitlines()
    ):
        return
    lead = len(chunk) - len(chunk.lstrip())
    out.append((text.count("\n", 0, start + lead) + 1, stripped))
