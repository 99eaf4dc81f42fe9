"""Catalog queries, one `.sql` file per object kind, read as package resources.

SQL stays in `.sql` files so it can be reviewed, linted and pasted into psql as is. A line may end
with a version marker, `-- pg>=15` or `-- pg<15` (major versions): the loader keeps it only on
servers it applies to, so each query has one text with its version variants side by side.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_MARKER = re.compile(r"--\s*pg(>=|<)(\d+)\s*$")


@cache
def _text(kind: str) -> str:
    return resources.files(__name__).joinpath(f"{kind}.sql").read_text(encoding="utf-8")


@cache
def query(kind: str, server_version_num: int) -> str:
    """The query for `kind` (a file stem, e.g. "columns"), with lines for other versions removed."""
    major = server_version_num // 10000
    lines = []
    for line in _text(kind).splitlines():
        marker = _MARKER.search(line)
        if marker:
            op, version = marker.group(1), int(marker.group(2))
            if (major >= version) != (op == ">="):
                continue
            line = line[: marker.start()].rstrip()
        lines.append(line)
    return "\n".join(lines)
