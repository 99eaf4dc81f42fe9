"""`lockplane init docker-compose`: give a project a shadow database next to its real one.

Every plan is rehearsed on a shadow database before it touches the real one, and the shadow must
run the same Postgres (same image, same extensions, same server flags) or the rehearsal proves
little. So the shadow is cloned from the project's own Postgres service rather than invented:
same image, command, environment and healthcheck, but its own database name, host port 5433
(where Lockplane looks by default) and no volumes, because it is reset at will.

The compose file is edited as text where possible: the new service is inserted at the end of the
`services:` block and the result is re-parsed to prove nothing else changed, so the user's
comments and layout survive. Only if that proof fails is the file re-serialized with PyYAML.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError

# The names `docker compose` reads, in its own order of preference.
COMPOSE_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
SHADOW_SERVICE = "shadow"
SHADOW_HOST_PORT = 5433
SHADOW_DB = "lockplane_shadow"
NEW_FILE_NAME = "docker-compose.yml"

# Keys copied from the primary service: everything that makes the server behave the same.
# Not copied: volumes and ports (the shadow is a throwaway with its own port), container_name
# (must be unique), networks, depends_on, restart, labels.
_CLONED_KEYS = (
    "image",
    "platform",
    "command",
    "env_file",
    "environment",
    "shm_size",
    "healthcheck",
)
_SHADOW_KEY_ORDER = (*_CLONED_KEYS[:5], "ports", *_CLONED_KEYS[5:])
_POSTGRES_IMAGE_HINTS = ("postgres", "postgis", "pgvector", "timescaledb")

DEFAULT_COMPOSE = """\
# Postgres for Lockplane.
#   postgres: your development database (data kept in the lockplane-data volume)
#   shadow:   a throwaway database where every plan is rehearsed before it is applied
# Start both with `docker compose up -d --wait`. Lockplane's default connection URLs
# (DATABASE_URL and SHADOW_DATABASE_URL) already point at them.
services:
  postgres:
    image: postgres:17
    environment:
      POSTGRES_USER: lockplane
      POSTGRES_PASSWORD: lockplane
      POSTGRES_DB: lockplane
    ports:
      - "5432:5432"
    volumes:
      - lockplane-data:/var/lib/postgresql/data
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U lockplane -d lockplane"]
      interval: 2s
      timeout: 5s
      retries: 30

  shadow:
    image: postgres:17
    environment:
      POSTGRES_USER: lockplane
      POSTGRES_PASSWORD: lockplane
      POSTGRES_DB: lockplane_shadow
    ports:
      - "5433:5432"
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U lockplane -d lockplane_shadow"]
      interval: 2s
      timeout: 5s
      retries: 30

volumes:
  lockplane-data:
"""


def init_docker_compose(directory: Path) -> str:
    """Add a `shadow` service to the compose file in `directory`, or write a new file.

    Returns a message for the user; raises InputError (and changes nothing) when the file
    cannot be read, already has a shadow service, or has no Postgres service to clone.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(str(directory), "not a directory")
    found = [directory / name for name in COMPOSE_FILE_NAMES if (directory / name).is_file()]
    if not found:
        path = directory / NEW_FILE_NAME
        path.write_text(DEFAULT_COMPOSE, encoding="utf-8")
        return (
            f"Wrote {path} with services 'postgres' (port 5432) and '{SHADOW_SERVICE}' "
            f"(port {SHADOW_HOST_PORT}). Start them with `docker compose up -d --wait`; "
            "Lockplane's default connection URLs already point at them."
        )
    path = found[0]
    message = _add_shadow(path)
    if len(found) > 1:
        ignored = ", ".join(p.name for p in found[1:])
        message += (
            f" (Also found {ignored}, which docker compose ignores in favour of {path.name}.)"
        )
    return message


def _add_shadow(path: Path) -> str:
    text = _read(path)
    doc = _parse(path, text)
    services = doc.get("services") if isinstance(doc, dict) else None
    if not isinstance(services, dict) or not services:
        raise InputError(str(path), "has no services; add your Postgres service first")
    if SHADOW_SERVICE in services:
        raise InputError(
            str(path),
            f"already has a service named '{SHADOW_SERVICE}'; nothing changed "
            "(remove or rename it to have Lockplane generate one)",
        )
    primary = find_postgres_service(services)
    if primary is None:
        raise InputError(
            str(path),
            "no Postgres service found (looked for an image named postgres, postgis, pgvector or "
            "timescaledb); add one, or run this in an empty directory for a fresh compose file",
        )
    taken_by = next((n for n, s in services.items() if SHADOW_HOST_PORT in _host_ports(s)), None)
    if taken_by is not None:
        raise InputError(
            str(path),
            f"service '{taken_by}' already publishes host port {SHADOW_HOST_PORT}, "
            f"where the '{SHADOW_SERVICE}' service would go; nothing changed",
        )
    shadow = shadow_service(services[primary])
    new_text = _insert_service(text, doc, shadow)
    preserved = new_text is not None
    if new_text is None:
        expected = copy.deepcopy(doc)
        expected["services"][SHADOW_SERVICE] = shadow
        new_text = yaml.dump(expected, Dumper=_Dumper, sort_keys=False, width=1000)
    path.write_bytes(new_text.encode("utf-8"))
    env = _environment(shadow)
    url = _shadow_url(env.get("POSTGRES_USER"), env.get("POSTGRES_PASSWORD"))
    message = (
        f"Added service '{SHADOW_SERVICE}' to {path}: a throwaway copy of '{primary}' "
        f"({shadow.get('image')}) on port {SHADOW_HOST_PORT}, database {SHADOW_DB}. "
        f"Start it with `docker compose up -d {SHADOW_SERVICE}`; "
        f"its URL is {url} (set SHADOW_DATABASE_URL if that differs from Lockplane's default)."
    )
    if not preserved:
        message += " The file was rewritten by a YAML serializer: its comments were not kept."
    return message


def find_postgres_service(services: dict[str, Any]) -> str | None:
    """The service to clone: the first whose image starts with `postgres` (the official image),
    else the first whose image name looks like a Postgres build (postgis, pgvector, ...)."""
    images = {
        name: str(svc["image"])
        for name, svc in services.items()
        if isinstance(svc, dict) and svc.get("image")
    }
    official = [n for n, image in images.items() if image.lower().startswith("postgres")]
    if official:
        return official[0]
    for name, image in images.items():
        repository = image.split("@")[0].rsplit("/", 1)[-1].split(":")[0].lower()
        if any(hint in repository for hint in _POSTGRES_IMAGE_HINTS):
            return name
    return None


def shadow_service(primary: dict[str, Any]) -> dict[str, Any]:
    """The shadow's definition: the primary's server settings, its own database and port."""
    shadow = {k: copy.deepcopy(primary[k]) for k in _CLONED_KEYS if k in primary}
    env = shadow.get("environment")
    if isinstance(env, list):  # ["POSTGRES_DB=app", ...]
        env = [e for e in env if not str(e).startswith("POSTGRES_DB=") and e != "POSTGRES_DB"]
        shadow["environment"] = [*env, f"POSTGRES_DB={SHADOW_DB}"]
    else:
        shadow["environment"] = {**(env or {}), "POSTGRES_DB": SHADOW_DB}
    shadow["ports"] = [_Quoted(f"{SHADOW_HOST_PORT}:5432")]
    return {k: shadow[k] for k in _SHADOW_KEY_ORDER if k in shadow}


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (str(e).split("=", 1) for e in env)
        return {p[0]: p[1] for p in pairs if len(p) == 2}
    return {str(k): str(v) for k, v in env.items() if v is not None}


def _shadow_url(user: str | None, password: str | None) -> str:
    """The shadow's URL for the message; the password is never echoed."""
    user = user or "postgres"
    if "$" in user:
        user = "<user>"
    secret = ":***" if password else ""
    return f"postgresql://{user}{secret}@localhost:{SHADOW_HOST_PORT}/{SHADOW_DB}"


def _host_ports(service: Any) -> set[int]:
    """Host ports a service publishes, from short ("127.0.0.1:5433:5432/tcp") or long syntax."""
    published: set[int] = set()
    ports = service.get("ports") if isinstance(service, dict) else None
    for entry in ports or ():
        if isinstance(entry, dict):
            host = str(entry.get("published", ""))
        else:
            parts = str(entry).split("/")[0].rsplit(":", 2)
            host = parts[-2] if len(parts) >= 2 else ""
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", host.strip())
        if match:
            low = int(match[1])
            published.update(range(low, int(match[2] or low) + 1))
    return published


# --- reading and writing the file -----------------------------------------------------------


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")  # bytes: keep the file's own line endings
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(str(path), f"cannot read file: {e}") from None


def _parse(path: Path, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f" at line {mark.line + 1}:{mark.column + 1}" if mark else ""
        raise InputError(str(path), f"invalid YAML{where}: {e.problem}") from None
    except yaml.YAMLError as e:
        raise InputError(str(path), f"invalid YAML: {e}") from None


class _Dumper(yaml.SafeDumper):
    """Indents list items under their key, the way compose files are usually written."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


class _Quoted(str):
    """A string always written in double quotes: compose's docs quote port mappings because
    YAML 1.1 reads some unquoted `host:container` pairs as base-60 numbers."""

    __slots__ = ()


_Dumper.add_representer(
    _Quoted, lambda dumper, s: dumper.represent_scalar("tag:yaml.org,2002:str", str(s), style='"')
)


_SERVICES_LINE = re.compile(r"^services\s*:\s*(#.*)?$")


def _insert_service(text: str, doc: dict[str, Any], shadow: dict[str, Any]) -> str | None:
    """`text` with the shadow service appended to its `services:` block, or None when the
    file's layout is not one this can edit safely (the caller then re-serializes it)."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _SERVICES_LINE.match(line.rstrip())), None)
    if start is None:
        return None
    body: list[int] = []  # indented, non-blank lines of the block
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line.strip() and not line[0].isspace() and not line.startswith("#"):
            break  # the next top-level key
        if line.strip() and line[0].isspace():
            body.append(i)
    entries = [i for i in body if not lines[i].lstrip().startswith("#")]
    if not entries:
        return None
    indent = _indent(lines[entries[0]])
    deeper = next((_indent(lines[i]) for i in entries if len(_indent(lines[i])) > len(indent)), "")
    step = len(deeper) - len(indent) if deeper else 2
    rendered = yaml.dump(
        {SHADOW_SERVICE: shadow}, Dumper=_Dumper, sort_keys=False, indent=step, width=1000
    )
    newline = "\r\n" if "\r\n" in text else "\n"
    block = "".join(indent + line + newline for line in rendered.splitlines())
    last = body[-1]
    if any(not lines[i].strip() for i in range(entries[0], last)):
        block = newline + block  # the file separates services with blank lines; so do we
    head = "".join(lines[: last + 1])
    if not head.endswith("\n"):
        head += newline
    new_text = head + block + "".join(lines[last + 1 :])
    expected = copy.deepcopy(doc)
    expected["services"][SHADOW_SERVICE] = shadow
    try:
        if yaml.safe_load(new_text) != expected:
            return None
    except yaml.YAMLError:
        return None
    return new_text


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]
