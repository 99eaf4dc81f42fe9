"""`init_docker_compose`: clone the project's Postgres service as `shadow`, or write a new file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lockplane.compose import DEFAULT_COMPOSE, find_postgres_service, init_docker_compose
from lockplane.errors import InputError

REPO_COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"

APP_COMPOSE = """\
# My app
services:
  web:
    build: .
    ports:
      - "8000:8000"
    depends_on: [db]

  db:
    image: postgres:16-alpine  # pinned
    container_name: app-db
    command: ["postgres", "-c", "shared_preload_libraries=pg_stat_statements"]
    environment:
      POSTGRES_USER: app
      POSTGRES_PASSWORD: secret
      POSTGRES_DB: app
    volumes:
      - pgdata:/var/lib/postgresql/data
    ports:
      - "5432:5432"
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U app"]

volumes:
  pgdata:
"""


def services(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["services"]


def test_adds_shadow_cloned_from_the_postgres_service(tmp_path: Path) -> None:
    path = tmp_path / "docker-compose.yml"
    path.write_text(APP_COMPOSE)
    message = init_docker_compose(tmp_path)
    assert "Added service 'shadow'" in message and "copy of 'db'" in message
    assert "secret" not in message  # the password is never echoed
    assert "postgresql://app:***@localhost:5433/lockplane_shadow" in message
    found = services(path)
    assert list(found) == ["web", "db", "shadow"]
    assert found["shadow"] == {
        "image": "postgres:16-alpine",
        "command": ["postgres", "-c", "shared_preload_libraries=pg_stat_statements"],
        "environment": {
            "POSTGRES_USER": "app",
            "POSTGRES_PASSWORD": "secret",
            "POSTGRES_DB": "lockplane_shadow",
        },
        "ports": ["5433:5432"],
        "healthcheck": {"test": ["CMD-SHELL", "pg_isready -U app"]},
    }


def test_other_content_and_comments_are_kept_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "docker-compose.yml"
    path.write_text(APP_COMPOSE)
    init_docker_compose(tmp_path)
    text = path.read_text()
    services_end = APP_COMPOSE.index("\nvolumes:")
    assert text.startswith(APP_COMPOSE[:services_end])  # everything before, untouched
    assert text.endswith(APP_COMPOSE[services_end:])  # and everything after
    assert '      - "5433:5432"\n' in text  # port quoted and indented like the file
    assert "  shadow:\n    image: postgres:16-alpine\n" in text


def test_first_run_changes_nothing_else_and_second_run_refuses(tmp_path: Path) -> None:
    path = tmp_path / "docker-compose.yml"
    path.write_text(APP_COMPOSE)
    init_docker_compose(tmp_path)
    after_first = path.read_bytes()
    with pytest.raises(InputError, match="already has a service named 'shadow'; nothing changed"):
        init_docker_compose(tmp_path)
    assert path.read_bytes() == after_first


def test_list_environment_and_four_space_indent(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(
        "services:\n"
        "    db:\n"
        "        image: postgres\n"
        "        environment:\n"
        "            - POSTGRES_PASSWORD=${PGPASS}\n"
        "            - POSTGRES_DB=app\n"
    )
    init_docker_compose(tmp_path)
    shadow = services(path)["shadow"]
    assert shadow["environment"] == ["POSTGRES_PASSWORD=${PGPASS}", "POSTGRES_DB=lockplane_shadow"]
    assert "\n    shadow:\n        image: postgres\n" in path.read_text()


def test_flow_style_file_is_rewritten_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "compose.yml"
    path.write_text('services: {db: {image: "postgis/postgis:16-3.4"}}\n')
    message = init_docker_compose(tmp_path)
    assert "comments were not kept" in message
    assert services(path)["shadow"] == {
        "image": "postgis/postgis:16-3.4",
        "environment": {"POSTGRES_DB": "lockplane_shadow"},
        "ports": ["5433:5432"],
    }


def test_no_postgres_service_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "docker-compose.yaml"
    original = "services:\n  cache:\n    image: redis:7\n"
    path.write_text(original)
    with pytest.raises(InputError, match="no Postgres service found"):
        init_docker_compose(tmp_path)
    assert path.read_text() == original


def test_host_port_5433_already_taken_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "docker-compose.yml"
    original = (
        "services:\n  db:\n    image: postgres:17\n"
        "  other:\n    image: postgres:15\n    ports:\n      - 127.0.0.1:5433:5432\n"
    )
    path.write_text(original)
    with pytest.raises(InputError, match="service 'other' already publishes host port 5433"):
        init_docker_compose(tmp_path)
    assert path.read_text() == original


def test_invalid_yaml_names_the_position(tmp_path: Path) -> None:
    path = tmp_path / "docker-compose.yml"
    path.write_text("services:\n  db:\n    image: [postgres\n")
    with pytest.raises(InputError) as info:
        init_docker_compose(tmp_path)
    assert str(info.value).startswith(f"{path}: invalid YAML at line ")


def test_compose_yaml_is_preferred_like_docker_compose_does(tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text("services:\n  db:\n    image: postgres\n")
    (tmp_path / "compose.yaml").write_text("services:\n  pg:\n    image: postgres\n")
    message = init_docker_compose(tmp_path)
    assert "docker-compose.yml, which docker compose ignores" in message
    assert "shadow" in services(tmp_path / "compose.yaml")
    assert "shadow" not in services(tmp_path / "docker-compose.yml")


def test_no_compose_file_writes_a_fresh_one(tmp_path: Path) -> None:
    message = init_docker_compose(tmp_path)
    path = tmp_path / "docker-compose.yml"
    assert path.read_text() == DEFAULT_COMPOSE
    assert "'postgres' (port 5432)" in message and "'shadow' (port 5433)" in message
    found = services(path)
    assert found["postgres"]["image"] == found["shadow"]["image"] == "postgres:17"
    assert found["postgres"]["ports"] == ["5432:5432"]
    assert found["shadow"]["ports"] == ["5433:5432"]
    assert found["postgres"]["environment"] == {
        "POSTGRES_USER": "lockplane",
        "POSTGRES_PASSWORD": "lockplane",
        "POSTGRES_DB": "lockplane",
    }
    assert found["shadow"]["environment"]["POSTGRES_DB"] == "lockplane_shadow"
    assert "pg_isready" in found["postgres"]["healthcheck"]["test"][1]
    assert "volumes" not in found["shadow"]


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a directory"):
        init_docker_compose(tmp_path / "missing")


def test_repo_compose_file_is_the_default() -> None:
    assert REPO_COMPOSE.read_text() == DEFAULT_COMPOSE


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        ({"web": {"build": "."}, "db": {"image": "postgres:16"}}, "db"),
        ({"geo": {"image": "postgis/postgis"}, "db": {"image": "postgres"}}, "db"),
        ({"geo": {"image": "docker.io/postgis/postgis:16-3.4"}}, "geo"),
        ({"vec": {"image": "pgvector/pgvector:pg16"}}, "vec"),
        ({"cache": {"image": "redis"}, "web": {"build": "."}}, None),
    ],
)
def test_primary_service_choice(found: dict, expected: str | None) -> None:
    assert find_postgres_service(found) == expected


def test_windows_line_endings_and_missing_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_bytes(b"services:\r\n  db:\r\n    image: postgres\r\n    ports: ['5432:5432']")
    init_docker_compose(tmp_path)
    data = path.read_bytes()
    assert data.startswith(
        b"services:\r\n  db:\r\n    image: postgres\r\n    ports: ['5432:5432']\r\n"
    )
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert services(path)["shadow"]["ports"] == ["5433:5432"]
