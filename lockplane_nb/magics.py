"""`%lockplane`: the engine's workflow as one IPython magic with subcommands.

    %lockplane connect [URL] [--shadow URL]     remember the database (host/db shown, never a password)
    %lockplane introspect [-o VAR]              the live schema
    %%lockplane plan [-o VAR] [--from SRC]      the cell body (SQL DDL or JSON) is the desired schema
    %lockplane plan --to-models Base            ... or SQLAlchemy models (a Base or MetaData variable)
    %lockplane diff OLD NEW [-o VAR]            each a URL, a file, or a variable holding a Schema
    %lockplane validate [PLAN] [-o VAR]         safety report + proof on the shadow database
    %lockplane apply [PLAN]                     the review panel (approve, then apply)
    %lockplane preflight [PLAN]                 the read-only data checks, as a DataFrame
    %lockplane rollback [PLAN] [-o VAR]         the generated reverse plan
    %lockplane history [-o VAR]                 the ledger, as a DataFrame
    %lockplane runs [abandon ID] [-o VAR]       the run journal, as a DataFrame; abandon one
    %lockplane resume [RUN]                     continue an interrupted run where it stopped

Each subcommand returns the engine's own object (Schema, Plan, Diff, ...) as the cell's value;
how it looks comes from the display formatters registered in `load_ipython_extension`, so the
engine never imports IPython. Options live in traitlets, set with `%config Lockplane.<name>`.
The cell body is never templated (`{}` in JSON and `$$` in SQL stay as written).

`validate` and `apply` take `--shadow-sample N` (up to N real rows per table in the shadow, so
steps that depend on the data are tried there); `apply` and `preflight` take `--preflight-url`
(a replica for the read-only data checks; `%config Lockplane.preflight_url` or
$LOCKPLANE_PREFLIGHT_URL by default).
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import parse_qs, urlsplit

import psycopg
from IPython.core.error import UsageError
from IPython.core.magic import (
    Magics,
    line_cell_magic,
    magics_class,
    needs_local_scope,
    no_var_expand,
)
from IPython.core.magic_arguments import MagicArgumentParser
from traitlets import Bool, Int, Unicode, observe
from traitlets.config import Configurable

from . import render
from .errors import CellError

if TYPE_CHECKING:
    import pandas as pd

    from lockplane import Plan, SafetyReport, Schema, ShadowReport


Names = Mapping[str, Any]  # the variables a command may name: the caller's, then the user's

# ------------------------------------------------------------------------------ arguments


class _HelpShown(Exception):
    """argparse printed --help; the magic then returns nothing."""


class _Parser(MagicArgumentParser):
    """IPython's magic_arguments parser (errors are a short UsageError), with subcommands, and
    with --help that returns to the notebook instead of exiting the kernel."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            raise UsageError(message.strip())
        raise _HelpShown


def _parser() -> _Parser:
    p = _Parser(prog="%lockplane", description="Safe Postgres schema changes.", add_help=True)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help: str, out: bool = True) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help, description=help, add_help=True)
        if out:
            c.add_argument("-o", "--out", metavar="VAR", help="also store the result in VAR")
        return c

    c = command("connect", "remember the database (and shadow) this notebook works on", False)
    c.add_argument("url", nargs="?", help="postgresql:// URL; default $DATABASE_URL")
    c.add_argument("--shadow", metavar="URL", help="shadow database; default $SHADOW_DATABASE_URL")
    c.add_argument(
        "--embedded",
        metavar="NAME",
        help="use database NAME (and NAME_shadow) on the embedded server, creating them",
    )
    c.add_argument(
        "--fresh",
        action="store_true",
        help="with --embedded: drop and recreate both databases first",
    )
    c = command("introspect", "read the live schema of the connected database")
    c.add_argument("--database", metavar="URL", help="another database than the connected one")
    c = command("plan", "plan the change from the database (or --from) to the cell's schema")
    c.add_argument("--from", dest="source", metavar="SRC", help="URL, file or variable")
    c.add_argument("--to", dest="target", metavar="SRC", help="instead of a cell body")
    c.add_argument(
        "--to-models",
        metavar="VAR",
        help="variable holding a SQLAlchemy declarative base or MetaData: the desired schema is "
        "what metadata.create_all makes on the shadow",
    )
    c.add_argument(
        "--no-online",
        action="store_true",
        help="plain forms: no CONCURRENTLY builds or NOT VALID + VALIDATE (blocking locks)",
    )
    c.add_argument(
        "--expand-contract",
        action="store_true",
        help="retype columns through a synced copy and a batched backfill, not a table rewrite",
    )
    c = command("diff", "the changes between two schemas")
    c.add_argument("old", metavar="OLD", help="URL, file or variable holding a Schema")
    c.add_argument("new", metavar="NEW", help="URL, file or variable holding a Schema")
    c = command("validate", "safety report and shadow proof of a plan (default: the last one)")
    c.add_argument("plan", nargs="?", metavar="PLAN", help="variable holding a Plan, or a file")
    _sample_option(c)
    c = command("apply", "review a plan in a panel, then apply it (default: the last plan)", False)
    c.add_argument("plan", nargs="?", metavar="PLAN", help="variable holding a Plan, or a file")
    c.add_argument(
        "--lock-timeout", metavar="DURATION", help="one try's wait in a lock queue (default 2s)"
    )
    c.add_argument(
        "--statement-timeout",
        metavar="DURATION",
        help="how long a step may block reads or writes (default 1min; 0 for none)",
    )
    c.add_argument(
        "--retry-budget",
        type=float,
        metavar="SECONDS",
        help="how long to keep retrying steps waiting for locks (default 30)",
    )
    _sample_option(c)
    c.add_argument(
        "--preflight-url",
        metavar="URL",
        help="replica for the read-only data checks (default Lockplane.preflight_url, "
        "else $LOCKPLANE_PREFLIGHT_URL, else the database itself)",
    )
    c = command("preflight", "the read-only data checks of a plan on the database, as a table")
    c.add_argument("plan", nargs="?", metavar="PLAN", help="variable holding a Plan, or a file")
    c.add_argument(
        "--preflight-url",
        metavar="URL",
        help="ask this replica instead of the connected database",
    )
    c.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long each check may run before it counts as not checked (default 10)",
    )
    c = command("rollback", "the reverse plan of the last applied (or last) plan")
    c.add_argument("plan", nargs="?", metavar="PLAN", help="variable holding a Plan, or a file")
    c = command("history", "the ledger of applied plans")
    c.add_argument("--database", metavar="URL", help="another database than the connected one")
    c = command("runs", "the run journal (interrupted runs can be resumed or abandoned)")
    c.add_argument("action", nargs="?", choices=["list", "abandon"], default="list")
    c.add_argument("run", nargs="?", type=int, help="the run to abandon")
    c.add_argument("--database", metavar="URL", help="another database than the connected one")
    c = command("resume", "continue an interrupted run from its journal")
    c.add_argument("run", nargs="?", type=int, help="the run (default: the interrupted one)")
    return p


def _sample_option(c: argparse.ArgumentParser) -> None:
    c.add_argument(
        "--shadow-sample",
        type=int,
        default=0,
        metavar="N",
        help="copy up to N rows per table of the database into the shadow first (read-only), "
        "so steps that depend on the data are tried",
    )


# -------------------------------------------------------------------------- result objects


def describe_url(url: str) -> str:
    """`host:port/database` (or `database on /socket/dir`): enough to recognise a database,
    with no user and no password."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        hostname = parts.hostname
    except ValueError:
        return "<unparseable connection string>"
    database = parts.path.lstrip("/") or parse_qs(parts.query).get("dbname", ["?"])[0]
    socket = parse_qs(parts.query).get("host", [""])[0]
    if not hostname and socket.startswith("/"):
        return f"{database} on {socket}{port}"
    return f"{hostname or socket or 'localhost'}{port}/{database}"


@dataclass(frozen=True)
class Connection:
    """What `%lockplane connect` shows: where, never who or with which password."""

    database: str
    shadow: str | None

    def __repr__(self) -> str:
        shadow = f"; shadow {self.shadow}" if self.shadow else "; no shadow database set"
        return f"Connected to {self.database}{shadow}"

    def _repr_html_(self) -> str:
        from html import escape

        shadow = (
            f' <span class="lp-muted">· shadow {escape(self.shadow)}</span>'
            if self.shadow
            else ' <span class="lp-muted">· no shadow database set</span>'
        )
        body = f'<span class="lp-ok">✓</span> Connected to <b>{escape(self.database)}</b>{shadow}'
        return f'{render.css()}<div class="lp-root lp-connect">{body}</div>'


@dataclass(frozen=True)
class Validation:
    """`%lockplane validate`: the static safety report and the shadow proof, side by side."""

    plan: Plan
    safety: SafetyReport
    shadow: ShadowReport

    @property
    def ok(self) -> bool:
        return self.safety.safe and self.shadow.ok

    def __repr__(self) -> str:
        return self.safety.text() + "\n" + render.shadow_text(self.shadow)

    def _repr_html_(self) -> str:
        return render.css() + (
            '<div class="lp-root lp-validation">'
            + render.safety_html(self.safety, style=False)
            + render.shadow_html(self.shadow, style=False)
            + "</div>"
        )


# ---------------------------------------------------------------------------------- magics


@magics_class
class Lockplane(Magics, Configurable):
    """The `%lockplane` magic and its options (`%config Lockplane` lists them).

    The class is named `Lockplane` because `%config` addresses configurables by class name;
    `LockplaneMagics` is the same class under its descriptive name.
    """

    database_url = Unicode(
        "", help="Database to work on (%lockplane connect overrides it); else $DATABASE_URL."
    ).tag(config=True)
    shadow_url = Unicode(
        "",
        help="Throwaway database for reading SQL and proving plans; else $SHADOW_DATABASE_URL.",
    ).tag(config=True)
    preflight_url = Unicode(
        "",
        help="Replica the read-only data preflight reads instead of the database; else "
        "$LOCKPLANE_PREFLIGHT_URL.",
    ).tag(config=True)
    short_errors = Bool(
        True, help="Show Lockplane errors as one message; False re-raises with the traceback."
    ).tag(config=True)
    display_limit = Int(
        render.DEFAULT_LIMIT, help="Rows shown in each table of an output (tables, changes)."
    ).tag(config=True)

    def __init__(self, shell: Any) -> None:
        # What `connect` chose. Kept out of the traits so `%config Lockplane` never prints a
        # password the user did not type into %config themselves. Set first: loading the
        # config below already fires the observer.
        self._connected: dict[str, str] = {}
        Configurable.__init__(self, config=shell.config)
        Magics.__init__(self, shell=shell)
        self._parser = _parser()
        self.last_plan: Plan | None = None  # made by plan/rollback; default for validate/apply
        self.last_applied: Plan | None = None  # set by the review panel after an apply

    @observe("database_url", "shadow_url")
    def _configured(self, change: Any) -> None:
        """A URL set with %config takes over from the one `connect` chose."""
        self._connected.pop(change["name"], None)

    @classmethod
    def class_get_trait_help(cls, trait: Any, inst: Any = None, helptext: Any = None) -> str:
        """`%config Lockplane` prints current values: show URLs with the password masked."""
        text = super().class_get_trait_help(trait, inst, helptext)
        value = getattr(inst, trait.name, None) if inst is not None else None
        if trait.name.endswith("_url") and value:
            from lockplane.db import mask_url

            text = text.replace(repr(value), repr(mask_url(value)))
        return text

    @no_var_expand
    @needs_local_scope
    @line_cell_magic
    def lockplane(self, line: str, cell: str | None = None, local_ns: Any = None) -> Any:
        """Safe Postgres schema changes; `%lockplane --help` lists the subcommands."""
        from lockplane.errors import LockplaneError

        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%lockplane: {exc}") from None
        try:
            args = self._parser.parse_args(argv)
        except _HelpShown:
            return None
        if args.command is None:
            self._parser.print_help()
            return None
        if cell is not None and args.command != "plan":
            raise UsageError(f"%%lockplane {args.command} takes no cell body; use %lockplane")
        if getattr(args, "out", None) is not None and not args.out.isidentifier():
            raise UsageError(f"-o {args.out}: not a valid variable name")
        ns = ChainMap(local_ns or {}, self.shell.user_ns)  # a caller's locals first
        try:
            result = getattr(self, f"_cmd_{args.command}")(args, cell, ns)
        except LockplaneError as exc:
            if not self.short_errors:
                raise
            raise CellError(exc) from None
        except psycopg.Error as exc:  # e.g. the server went away mid-command: one line too
            if not self.short_errors:
                raise
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise CellError(LockplaneError(f"database error: {first}")) from None
        if getattr(args, "out", None):
            self.shell.user_ns[args.out] = result
        return result

    # -- where things are ---------------------------------------------------------------

    def _database(self) -> str:
        url = (
            self._connected.get("database_url")
            or self.database_url
            or os.environ.get("DATABASE_URL")
        )
        if not url:
            raise UsageError(
                "no database: run `%lockplane connect URL` first (or set DATABASE_URL)"
            )
        return url

    def _database_or_none(self) -> str | None:
        try:
            return self._database()
        except UsageError:
            return None

    def _shadow_or_none(self) -> str | None:
        return (
            self._connected.get("shadow_url")
            or self.shadow_url
            or os.environ.get("SHADOW_DATABASE_URL")
            or None
        )

    def _shadow(self) -> str:
        url = self._shadow_or_none()
        if not url:
            raise UsageError(
                "no shadow database (needed to read SQL and prove plans): "
                "`%lockplane connect URL --shadow SHADOW_URL`, "
                "`%config Lockplane.shadow_url = '...'` or SHADOW_DATABASE_URL"
            )
        return url

    def _preflight_url(self, explicit: str | None) -> str | None:
        """The replica the data preflight reads: the option, %config, then the environment."""
        from lockplane.preflight import preflight_url

        return preflight_url(explicit or self.preflight_url or None)

    def _sample_rows(self, args: argparse.Namespace) -> int:
        """--shadow-sample N; sampling reads the connected database, so it needs one."""
        rows = int(getattr(args, "shadow_sample", 0) or 0)
        if rows < 0:
            raise UsageError(f"--shadow-sample {rows}: the number of rows cannot be negative")
        if rows and self._database_or_none() is None:
            raise UsageError(
                "--shadow-sample copies rows of the connected database: "
                "run `%lockplane connect URL` first"
            )
        return rows

    def _schema(self, source: str, ns: Names) -> Schema:
        """A Schema from a variable, a postgresql:// URL, or a JSON/.sql file."""
        from lockplane import Schema, introspect_url, load_schema
        from lockplane.db import is_url

        if source.isidentifier() and source in ns:
            value = ns[source]
            if isinstance(value, Schema):
                return value
            if not isinstance(value, str):
                raise UsageError(f"{source} holds a {type(value).__name__}, not a Schema")
            source = value
        if is_url(source):
            return introspect_url(source)
        if source.isidentifier() and not Path(source).exists():
            raise UsageError(f"{source!r} is neither a variable, a postgresql:// URL nor a file")
        return load_schema(source, shadow=self._shadow_or_none())

    def _cell_schema(self, text: str) -> Schema:
        """The desired schema written in the cell: JSON if it starts with `{`, else SQL DDL,
        which Postgres itself reads in a scratch database on the shadow server."""
        from lockplane import Shadow, parse_schema_text
        from lockplane.errors import ConnectionFailed, InputError, LockplaneError

        if not text.lstrip().startswith("{"):
            return Shadow(self._shadow()).load_sql(text, "<cell>")
        schema = parse_schema_text(text, "<cell>")
        shadow = self._shadow_or_none()
        if shadow is None:  # unnormalized: may report spelling differences, but works offline
            return schema
        try:  # as Postgres would spell it, so `int` vs `integer` is not a change
            return Shadow(shadow).normalize(schema)
        except (InputError, ConnectionFailed):
            raise
        except LockplaneError as exc:
            raise InputError("<cell>", f"does not build on the shadow database: {exc}") from None

    def _models_schema(self, name: str, ns: Names) -> Schema:
        """The schema SQLAlchemy models make: `metadata.create_all` in a scratch database on
        the shadow server, read back (lockplane.sqla)."""
        from lockplane import Shadow
        from lockplane.sqla import load_models, metadata_of

        if name not in ns:
            raise UsageError(f"--to-models {name}: no such variable")
        return load_models(metadata_of(ns[name], name), name, Shadow(self._shadow()))

    def _plan(self, source: str | None, ns: Names, default: Plan | None) -> Plan:
        from lockplane import Plan, load_plan_file

        if source is None:
            if default is None:
                raise UsageError("no plan yet: make one with %%lockplane plan, or name one")
            return default
        if source.isidentifier() and source in ns:
            value = ns[source]
            if not isinstance(value, Plan):
                raise UsageError(f"{source} holds a {type(value).__name__}, not a Plan")
            return value
        if source.isidentifier() and not Path(source).exists():
            raise UsageError(f"{source!r} is neither a variable holding a Plan nor a file")
        return load_plan_file(source)

    # -- subcommands ----------------------------------------------------------------------

    def _cmd_connect(self, args: argparse.Namespace, cell: str | None, ns: Names) -> Connection:
        from lockplane.db import connect

        if args.fresh and not args.embedded:
            raise UsageError("%lockplane connect: --fresh goes with --embedded NAME")
        url = args.url or self.database_url or os.environ.get("DATABASE_URL")
        shadow = args.shadow or self._shadow_or_none()
        if args.embedded:
            url, shadow = _embedded_databases(args.embedded, fresh=args.fresh)
        elif not url:
            url, embedded_shadow = _embedded_urls()
            shadow = args.shadow or embedded_shadow
        connect(url, autocommit=True).close()  # fail now, with the masked URL, if unreachable
        self._connected["database_url"] = url
        if shadow:
            self._connected["shadow_url"] = shadow
        return Connection(describe_url(url), describe_url(shadow) if shadow else None)

    def _cmd_introspect(self, args: argparse.Namespace, cell: str | None, ns: Names) -> Schema:
        from lockplane import introspect_url

        return introspect_url(args.database or self._database())

    def _cmd_plan(self, args: argparse.Namespace, cell: str | None, ns: Names) -> Plan:
        from lockplane import introspect_url, make_plan
        from lockplane.extpaths import update_paths_for

        has_body = cell is not None and cell.strip() != ""
        if has_body + bool(args.target) + bool(args.to_models) > 1:
            raise UsageError(
                "give the desired schema once: as the cell body, with --to or with --to-models"
            )
        if not has_body and not args.target and not args.to_models:
            raise UsageError(
                "plan needs the desired schema: write it in the cell (%%lockplane plan) "
                "or pass --to SRC or --to-models VAR"
            )
        current = self._schema(args.source, ns) if args.source else introspect_url(self._database())
        if args.to_models:
            desired = self._models_schema(args.to_models, ns)
        elif has_body:
            desired = self._cell_schema(cell or "")
        else:
            desired = self._schema(args.target, ns)
        # Whether an extension update can be undone is the server's to say (extpaths.py).
        asked = self._shadow_or_none() or self._database_or_none()
        paths = update_paths_for(asked, current, desired) if asked else None
        self.last_plan = make_plan(
            current,
            desired,
            online=not args.no_online,
            expand_contract=args.expand_contract,
            extension_paths=paths,
        )
        return self.last_plan

    def _cmd_diff(self, args: argparse.Namespace, cell: str | None, ns: Names) -> Any:
        from lockplane import diff

        return diff(self._schema(args.old, ns), self._schema(args.new, ns))

    def _cmd_validate(self, args: argparse.Namespace, cell: str | None, ns: Names) -> Validation:
        from lockplane import SafetyReport, Shadow, ShadowReport, introspect_url, prove
        from lockplane.errors import ShadowMismatch

        plan = self._plan(args.plan, ns, self.last_plan)
        target = self._database_or_none()
        sample = self._sample_rows(args)
        current = plan.source if plan.source is not None else introspect_url(self._database())
        shadow = Shadow(self._shadow(), target_url=target)
        try:
            proof = prove(
                plan,
                current,
                shadow,
                sample_from=self._database() if sample else None,
                sample_rows=sample,
            )
        except ShadowMismatch as exc:  # a failed proof is a result to show, not an error
            proof = exc.report if isinstance(exc.report, ShadowReport) else ShadowReport()
            if not proof.checks or proof.ok:
                proof.add("Shadow proof", False, str(exc))
        return Validation(plan, SafetyReport(plan, proof), proof)

    def _cmd_apply(self, args: argparse.Namespace, cell: str | None, ns: Names) -> Any:
        plan = self._plan(args.plan, ns, self.last_plan)
        try:
            from lockplane_nb.panel import ReviewPanel
        except ImportError as exc:
            raise UsageError(f"the review panel is not available: {exc}") from None

        def applied(result: Any) -> None:
            self.last_applied = plan  # what `%lockplane rollback` undoes by default

        options = {
            name: getattr(args, name)
            for name in ("lock_timeout", "statement_timeout", "retry_budget")
            if getattr(args, name, None) is not None
        }
        return ReviewPanel(
            plan,
            database_url=self._database(),
            shadow_url=self._shadow(),
            on_applied=applied,
            apply_options=options,
            shadow_sample=self._sample_rows(args),
            preflight_url=self._preflight_url(args.preflight_url),
        )

    def _cmd_preflight(self, args: argparse.Namespace, cell: str | None, ns: Names) -> pd.DataFrame:
        """Only the read-only data checks (no lock, no shadow, no apply): what would stop an
        apply, asked before there is one. Every check is a row, passed and failed; the line
        printed above says which database answered."""
        from lockplane.preflight import preflight_plan

        plan = self._plan(args.plan, ns, self.last_plan)
        if args.timeout <= 0:
            raise UsageError(f"--timeout {args.timeout:g}: must be more than 0 seconds")
        database = self._database()
        replica = self._preflight_url(args.preflight_url)
        report = preflight_plan(plan, database, timeout=args.timeout, replica_url=replica)
        print(render.preflight_summary(report, describe_url(replica or database)))
        return render.preflight_frame(report, failures_only=False)

    def _cmd_rollback(self, args: argparse.Namespace, cell: str | None, ns: Names) -> Plan:
        """The plan's generated reverse; for a plan without reverse steps that still carries
        the schema it starts from, the engine derives one on the shadow."""
        from lockplane import rollback_plan
        from lockplane.errors import NotReversible

        plan = self._plan(args.plan, ns, self.last_applied or self.last_plan)
        if plan.reversible:
            self.last_plan = plan.reverse()
        elif plan.source is not None:
            self.last_plan = rollback_plan(plan, plan.source, shadow_url=self._shadow())
        else:
            missing = [str(n) for n, s in enumerate(plan.steps, 1) if s.reverse_sql is None]
            raise NotReversible(
                f"step(s) {', '.join(missing)} of the plan carry no reverse step and the plan "
                "does not say which schema it starts from; "
                "`lockplane rollback --plan FILE --from BEFORE` can derive one"
            )
        return self.last_plan

    def _cmd_history(self, args: argparse.Namespace, cell: str | None, ns: Names) -> pd.DataFrame:
        from lockplane import ledger
        from lockplane.db import connect

        with connect(args.database or self._database(), autocommit=True) as conn:
            entries = ledger.history(conn)
        return render.history_frame(entries)

    def _cmd_runs(self, args: argparse.Namespace, cell: str | None, ns: Names) -> Any:
        from lockplane import abandon_run, journal
        from lockplane.db import connect

        url = args.database or self._database()
        if args.action == "abandon":
            if args.run is None:
                raise UsageError("%lockplane runs abandon ID: name the run to abandon")
            print(abandon_run(url, args.run))
        with connect(url, autocommit=True) as conn:
            return render.runs_frame(journal.runs(conn))

    def _cmd_resume(self, args: argparse.Namespace, cell: str | None, ns: Names) -> Any:
        """Resume in the cell, with a progress bar for long steps; returns the ApplyResult."""
        from IPython.display import display

        from lockplane import resume_run
        from lockplane_nb.panel import StepBar

        bar = StepBar()
        display(bar)
        return resume_run(self._database(), run_id=args.run, on_progress=bar.update)


LockplaneMagics = Lockplane


def _embedded_urls() -> tuple[str, str]:
    """The embedded server's (database, shadow) URLs, for a notebook with nothing configured."""
    try:
        from lockplane.embedded import default_urls
    except ImportError:
        raise UsageError(
            "no URL given, DATABASE_URL is not set, and the embedded server is not available: "
            "run `%lockplane connect postgresql://...`"
        ) from None
    return default_urls()


# ------------------------------------------------------------------------------ registration


def _html_formatters(magics: Lockplane) -> dict[type, Any]:
    from lockplane import (
        ApplyResult,
        Diff,
        Plan,
        PreflightReport,
        SafetyReport,
        Schema,
        ShadowReport,
    )

    return {
        Schema: lambda s: render.schema_html(s, limit=magics.display_limit),
        Diff: lambda d: render.diff_html(d, limit=magics.display_limit),
        Plan: render.plan_html,
        SafetyReport: render.safety_html,
        ShadowReport: render.shadow_html,
        ApplyResult: render.apply_html,
        PreflightReport: render.preflight_html,
    }


def _text_formatters() -> dict[type, Any]:
    """Readable text/plain: a pydantic or dataclass repr of these objects runs to pages."""
    from lockplane import (
        ApplyResult,
        Diff,
        Plan,
        PreflightReport,
        SafetyReport,
        Schema,
        ShadowReport,
    )

    def pretty(to_text: Any) -> Any:
        return lambda obj, p, cycle: p.text(to_text(obj))

    return {
        Schema: pretty(render.schema_text),
        Diff: pretty(lambda d: d.summary()),
        Plan: pretty(render.plan_text),
        SafetyReport: pretty(lambda r: r.text().rstrip("\n")),
        ShadowReport: pretty(render.shadow_text),
        ApplyResult: pretty(render.apply_text),
        PreflightReport: pretty(render.preflight_text),
    }


def _embedded_databases(name: str, *, fresh: bool) -> tuple[str, str]:
    """A named database and its shadow on the project's embedded server."""
    from lockplane import embedded

    server = embedded.start()
    if fresh:
        return server.fresh_databases(name)
    return server.url(name), server.url(f"{name}_shadow")


def current_urls() -> tuple[str, str | None]:
    """(database, shadow) URLs of the running notebook's connection, for code that needs the
    database directly (psycopg, the CLI). Handle them with care: they may hold a password."""
    from IPython import get_ipython

    shell = get_ipython()
    magics = next(
        (c for c in getattr(shell, "configurables", []) if isinstance(c, Lockplane)), None
    )
    if magics is None:
        raise UsageError("run %load_ext lockplane_nb and %lockplane connect first")
    return magics._database(), magics._shadow_or_none()


def register(shell: Any) -> Lockplane:
    """Register the magic, its `%config` section and the display formatters (replacing any
    earlier registration, so `%reload_ext lockplane_nb` starts fresh)."""
    shell.configurables[:] = [c for c in shell.configurables if not isinstance(c, Lockplane)]
    magics = Lockplane(shell)
    shell.register_magics(magics)
    shell.configurables.append(magics)
    formatters = shell.display_formatter.formatters
    for cls, fn in _html_formatters(magics).items():
        formatters["text/html"].for_type(cls, fn)
    for cls, fn in _text_formatters().items():
        formatters["text/plain"].for_type(cls, fn)
    return magics
