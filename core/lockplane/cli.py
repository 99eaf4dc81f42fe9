"""The `lockplane` command: parse arguments, call the engine, print, pick an exit code.

Exit codes: 0 success; 1 an unsafe plan, a refused or failed apply, a failed shadow proof;
2 bad input (files, arguments, unreachable databases). Every error a user can act on is one
line on stderr, prefixed `lockplane: error:`; passwords never appear in output.

With `--json` (or `--format json`) every command prints exactly one JSON document on stdout
instead, errors included (`{"error": {...}}`), with the same exit codes; the documents are
models in output.py, published under schema-json/.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .errors import InputError, LockplaneError

if TYPE_CHECKING:
    from .extpaths import UpdatePaths
    from .model import Schema
    from .plan import Plan
    from .proof import ShadowReport

EXIT_OK, EXIT_UNSAFE, EXIT_INPUT = 0, 1, 2


def _json(args: argparse.Namespace) -> bool:
    return bool(args.format == "json")  # set by --json or --format, on every subcommand


def _deliver(text: str, args: argparse.Namespace) -> None:
    """A schema or plan document: to --output or stdout; with --json and --output, stdout
    still gets one document, saying where the file went."""
    from . import output

    _write(text, args.output)
    if args.output and _json(args):
        output.emit(output.WrittenDocument(written=args.output))


def _write(text: str, output: str | None) -> None:
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(output, f"cannot write file: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)


def cmd_introspect(args: argparse.Namespace) -> int:
    from .db import database_url
    from .introspect import introspect_url

    url = database_url(args.database)
    _deliver(introspect_url(url, grants=args.grants, owners=args.owners).to_json(), args)
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from .diff import diff
    from .sources import load_pair

    d = diff(*load_pair(args.before, args.after, shadow=args.shadow_database))
    sys.stdout.write(d.to_json() if _json(args) else d.summary() + "\n")
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from .planner import make_plan
    from .safety import SafetyReport
    from .sources import load_pair

    source, target = load_pair(args.source, args.target, shadow=args.shadow_database)
    if args.expand_contract and args.no_online:
        raise InputError("--expand-contract", "is an online form: it cannot go with --no-online")
    plan = make_plan(
        source,
        target,
        online=not args.no_online,
        expand_contract=args.expand_contract,
        extension_paths=_extension_paths(args, source, target),
    )
    if not args.validate:
        if plan.is_empty and not _json(args):
            sys.stderr.write("No changes: the schemas are identical.\n")
        _deliver(plan.to_json(), args)
        return EXIT_OK
    proof, mismatch = _rehearse(plan, source, args)
    report = SafetyReport(plan, proof)
    code = EXIT_OK if report.safe and mismatch is None else EXIT_UNSAFE
    if _json(args):
        from . import output

        if args.output:
            _write(plan.to_json(), args.output)
        output.emit(
            output.PlanValidationDocument(
                plan=None if args.output else plan,
                written=args.output,
                safety=output.safety_doc(report, proved=mismatch is None, shadow_error=mismatch),
            )
        )
        return code
    if mismatch is not None:
        sys.stderr.write(f"lockplane: error: {mismatch}\n")
    sys.stderr.write(report.text() + "\n")
    if proof is not None:
        sys.stderr.write("Shadow run:\n" + proof.text(observations=False) + "\n\n")
    elif not plan.is_empty:
        sys.stderr.write(
            "Shadow run: skipped (no shadow database: pass --shadow-database or set "
            "SHADOW_DATABASE_URL to see the locks and rewrites each step really causes)\n"
        )
    if plan.is_empty:
        sys.stderr.write("No changes: the schemas are identical.\n")
    _write(plan.to_json(), args.output)
    return code


def _extension_paths(
    args: argparse.Namespace, source: Schema, target: Schema
) -> UpdatePaths | None:
    """The extension update paths the plan needs, read on the shadow (where the proof runs)
    or else on the source database; None when there is neither, and then updates are one-way."""
    from .db import is_url, shadow_url
    from .extpaths import update_paths_for
    from .sources import shadow_configured

    if shadow_configured(args.shadow_database):
        return update_paths_for(shadow_url(args.shadow_database), source, target)
    if is_url(args.source):
        return update_paths_for(args.source, source, target)
    return None


def _rehearse(
    plan: Plan, source: Schema, args: argparse.Namespace
) -> tuple[ShadowReport | None, str | None]:
    """Prove the plan on the shadow when one is configured, so the report can show what each
    step really locks and rewrites; without one the report is the static rules alone. The
    second value is why the shadow disproved the plan, None when it did not."""
    from .db import is_url, shadow_url
    from .errors import ShadowMismatch
    from .proof import prove
    from .shadow import Shadow
    from .sources import shadow_configured

    if args.shadow_sample and not shadow_configured(args.shadow_database):
        raise InputError(
            "--shadow-sample",
            "needs a shadow database: pass --shadow-database or set SHADOW_DATABASE_URL",
        )
    if plan.is_empty or not shadow_configured(args.shadow_database):
        return None, None
    try:
        sample_from = args.source if args.shadow_sample else None
        if sample_from is not None and not is_url(sample_from):
            raise InputError(
                "--shadow-sample",
                "needs --from to be a postgresql:// URL: the rows are read from it",
            )
        shadow = Shadow(shadow_url(args.shadow_database), target_url=sample_from)
        return prove(
            plan, source, shadow, sample_from=sample_from, sample_rows=args.shadow_sample
        ), None
    except ShadowMismatch as exc:
        return exc.report, str(exc)


def cmd_export(args: argparse.Namespace) -> int:
    from . import output
    from .alembic_export import revision_id, revision_module
    from .loader import load_plan_file

    plan = load_plan_file(args.plan)
    revision = revision_id(plan, args.revision)
    module = revision_module(
        plan, revision=revision, down_revision=args.down_revision, message=args.message
    )
    if _json(args) and not args.output:  # the module inside the one JSON document
        output.emit(
            output.ExportDocument(
                revision=revision, down_revision=args.down_revision, module=module
            )
        )
        return EXIT_OK
    _deliver(module, args)
    return EXIT_OK


def cmd_rules(args: argparse.Namespace) -> int:
    from .rules import BY_CODE, RULES, markdown_table

    unknown = [c for c in args.code if c not in BY_CODE]
    if unknown:
        raise InputError(
            "rules", f"no rule {', '.join(unknown)} (codes run LP101 to {RULES[-1].code})"
        )
    if args.markdown:
        if _json(args):
            raise InputError("--markdown", "is a text format: it cannot go with --json")
        sys.stdout.write(markdown_table())
        return EXIT_OK
    chosen = [r for r in RULES if not args.code or r.code in args.code]
    if _json(args):
        from dataclasses import asdict

        from . import output

        output.emit(output.RulesDocument.model_validate([asdict(r) for r in chosen]))
        return EXIT_OK
    for r in chosen:
        peers = ", ".join([*r.atlas, *(f"squawk {x}" for x in r.squawk)])
        print(f"{r.code}  {r.name}  [{r.category}, {r.severity}]")
        print(f"    catches: {r.catches}")
        print(f"    why:     {r.why}")
        print(f"    safer:   {r.safer}")
        if peers:
            print(f"    peers:   {peers}")
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    from .db import shadow_url
    from .loader import load_plan_file
    from .rollback import rollback_plan
    from .sources import load_schema

    plan = load_plan_file(args.plan)
    before = load_schema(args.source, shadow=args.shadow_database)
    rollback = rollback_plan(
        plan, before, shadow_url=shadow_url(args.shadow_database), source_name=args.source
    )
    _deliver(rollback.to_json(), args)
    return EXIT_OK


def cmd_apply(args: argparse.Namespace) -> int:
    from .db import database_url, mask_url, shadow_url
    from .executor import apply_plan, resume_run
    from .loader import load_plan_file
    from .preflight import preflight_url
    from .safety import SafetyReport

    url = database_url(args.database)
    quiet = _json(args)  # the result says it all; no progress lines to interleave
    bars = _Bars(quiet=quiet)
    hooks: dict[str, Any] = {
        "lock_timeout": args.lock_timeout,
        "statement_timeout": args.statement_timeout,
        "retry_budget": args.retry_budget,
        "progress": bars.step,
        "on_retry": bars.waited,
        "on_progress": bars.advanced,
        "batch_seconds": args.batch_seconds,
        "backfill_pause": args.backfill_pause,
    }
    if args.resume is not None:
        if args.plan is not None:
            raise InputError("--resume", "takes no --plan: the plan is in the run's journal")
        try:
            result = resume_run(url, run_id=args.resume or None, **hooks)
        finally:
            bars.close()
        if quiet:
            from . import output

            output.emit(output.apply_document(result, mask_url(url), status="resumed"))
            return EXIT_OK
        print(f"{result.message} on {mask_url(url)} (ledger entry {result.ledger_id})")
        if not result.verified:
            sys.stderr.write("warning: the database does not read back as the plan's target\n")
        return EXIT_OK
    if args.plan is None:
        raise InputError("apply", "needs --plan FILE (or --resume to continue a run)")
    plan = load_plan_file(args.plan)
    if plan.is_empty:
        if quiet:
            from . import output

            output.emit(output.no_changes(mask_url(url)))
        else:
            print("No changes: nothing to apply.")
        return EXIT_OK
    if not args.yes and quiet:
        raise InputError("apply", "--json asks no questions: pass --yes to apply")
    if not args.yes:
        if not sys.stdin.isatty():
            raise InputError("apply", "refusing to apply without confirmation: pass --yes")
        sys.stderr.write(SafetyReport(plan).text())
        answer = input(f"Apply {len(plan.steps)} steps to {mask_url(url)}? [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            print("Not applied.")
            return EXIT_UNSAFE
    try:
        result = apply_plan(
            plan,
            url,
            shadow_url=shadow_url(args.shadow_database),
            allow_destructive=args.allow_destructive,
            preflight=args.preflight,
            preflight_timeout=args.preflight_timeout,
            preflight_url=preflight_url(args.preflight_url),
            shadow_sample=args.shadow_sample,
            **hooks,
        )
    finally:
        bars.close()
    if quiet:
        from . import output

        output.emit(output.apply_document(result, mask_url(url), status="applied"))
        return EXIT_OK
    if result.preflight is not None:
        sys.stderr.write("Data preflight:\n" + result.preflight.text() + "\n")
    sys.stderr.write("Shadow run:\n" + result.shadow.text(observations=False) + "\n")
    print(f"{result.message} on {mask_url(url)} (ledger entry {result.ledger_id})")
    if not result.verified:
        sys.stderr.write("warning: the database does not read back exactly as the shadow did\n")
    for warning in result.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    return EXIT_OK


class _Bars:
    """What an apply prints on stderr: a line per step, a line per wait, and a progress bar
    (rows done of the estimate, rows/s, ETA) for each backfill."""

    def __init__(self, *, quiet: bool = False) -> None:
        self._bars: dict[int, Any] = {}
        self._quiet = quiet

    def step(self, n: int, total: int, description: str) -> None:
        self.close()  # a backfill's bar is finished once the next step starts
        if not self._quiet:
            sys.stderr.write(f"[{n}/{total}] {description}\n")

    def waited(self, retry: Any) -> None:
        if not self._quiet:
            sys.stderr.write(f"  {retry.text()}\n")

    def advanced(self, n: int, progress: Any) -> None:
        if self._quiet:
            return
        from tqdm import tqdm

        bar = self._bars.get(n)
        if bar is None:
            bar = self._bars[n] = tqdm(
                total=progress.rows_total,
                initial=progress.rows_done,
                unit="rows",
                unit_scale=True,
                desc=f"  step {n}",
                file=sys.stderr,
                mininterval=0.5,
            )
        if progress.rows_total and progress.rows_total != bar.total:
            bar.total = progress.rows_total
        bar.update(progress.rows_done - bar.n)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


def cmd_runs(args: argparse.Namespace) -> int:
    from . import journal
    from .db import connect, database_url
    from .executor import abandon_run

    url = database_url(args.database)
    if args.action == "abandon":
        if args.run is None:
            raise InputError("runs abandon", "name the run to abandon: lockplane runs abandon ID")
        message = abandon_run(url, args.run)
        if _json(args):
            from . import output

            output.emit(output.AbandonDocument(abandoned=args.run, message=message))
        else:
            print(message)
        return EXIT_OK
    with connect(url, autocommit=True) as conn:
        runs = journal.runs(conn, args.run)
    if _json(args):
        from . import output

        output.emit(output.RunsDocument(runs=[output.run_doc(r) for r in runs]))
        return EXIT_OK
    if not runs:
        print("No runs recorded.")
    for r in runs:
        at = f"step {r.current_step}" if r.current_step and r.status != "done" else ""
        rows = ""
        if r.rows_done or r.rows_total:
            rows = f"  {r.rows_done:,}/{r.rows_total or 0:,} rows"
            if r.rows_total and r.status in {"running", "interrupted"}:
                rows += f" ({100 * r.rows_done / r.rows_total:.0f}%)"
            if r.rate and r.status == "running":
                rows += f", {r.rate:,.0f} rows/s"
                rows += f", ETA {r.eta:.0f}s" if r.eta is not None else ""
        print(
            f"{r.id:>4}  {r.started_at:%Y-%m-%d %H:%M:%S}  {r.status:<11} "
            f"{r.steps_done:>3}/{r.steps} steps {at:<8}{rows}  {r.os_user}/{r.db_user}  "
            f"plan {r.plan_fingerprint[:12]}"
        )
        if r.phase and r.status in {"running", "interrupted"}:
            print(f"      step {r.current_step}: {r.phase}")
        if r.error and args.run is not None:
            print(f"      {r.error}")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from . import output
    from .loader import load_plan_file, load_schema_file

    if args.kind == "schema":
        schema = load_schema_file(args.file)
        doc = output.ValidateDocument(
            valid=True, kind="schema", file=args.file, tables=len(schema.tables)
        )
        text = f"✓ {args.file}: valid schema ({len(schema.tables)} tables)"
    else:
        plan = load_plan_file(args.file)
        doc = output.ValidateDocument(
            valid=True, kind="plan", file=args.file, steps=len(plan.steps)
        )
        text = f"✓ {args.file}: valid plan ({len(plan.steps)} steps)"
    if _json(args):
        output.emit(doc)
    else:
        print(text)
    return EXIT_OK


def cmd_init(args: argparse.Namespace) -> int:
    from . import output
    from .compose import init_docker_compose

    message = init_docker_compose(Path(args.dir))
    if _json(args):
        output.emit(output.InitDocument(message=message))
    else:
        print(message)
    return EXIT_OK


def cmd_embedded(args: argparse.Namespace) -> int:
    """start prints shell exports for `eval "$(lockplane embedded start)"`; status exits 1
    when no server is running, so scripts can test it."""
    import shlex

    from . import embedded

    directory = embedded.data_dir_for(args.dir)
    if _json(args):
        return _embedded_json(args.action, args.dir, directory)
    if args.action == "start":
        server = embedded.start(args.dir)  # None: the default dir, which also gets a .gitignore
        print(f"export DATABASE_URL={shlex.quote(server.database_url)}")
        print(f"export SHADOW_DATABASE_URL={shlex.quote(server.shadow_url)}")
        sys.stderr.write(f"embedded PostgreSQL running in {directory} (pid {server.pid})\n")
        return EXIT_OK
    if args.action == "stop":
        stopped = embedded.stop(directory)
        print(f"{'stopped' if stopped else 'not running'}: embedded PostgreSQL in {directory}")
        return EXIT_OK
    server = embedded.status(directory)
    if server is None:
        print(f"not running: embedded PostgreSQL in {directory}")
        return 1
    print(f"running: embedded PostgreSQL in {directory} (pid {server.pid})")
    print(f"DATABASE_URL={server.database_url}")
    print(f"SHADOW_DATABASE_URL={server.shadow_url}")
    return EXIT_OK


def _embedded_json(action: str, arg_dir: str | None, directory: Path) -> int:
    """The embedded server as one document; its URLs masked like every URL Lockplane prints
    (the embedded server trusts local connections, so they carry no password anyway)."""
    from . import embedded, output
    from .db import mask_url

    if action == "stop":
        stopped = embedded.stop(directory)
        output.emit(
            output.EmbeddedDocument(
                action="stop", running=False, stopped=stopped, directory=str(directory)
            )
        )
        return EXIT_OK
    server = embedded.start(arg_dir) if action == "start" else embedded.status(directory)
    if server is None:
        output.emit(
            output.EmbeddedDocument(action="status", running=False, directory=str(directory))
        )
        return EXIT_UNSAFE
    output.emit(
        output.EmbeddedDocument(
            action="start" if action == "start" else "status",
            running=True,
            directory=str(directory),
            pid=server.pid,
            database_url=mask_url(server.database_url),
            shadow_url=mask_url(server.shadow_url),
        )
    )
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    from . import ledger
    from .db import connect, database_url

    with connect(database_url(args.database), autocommit=True) as conn:
        entries = ledger.history(conn)
    if _json(args):
        from . import output

        output.emit(output.HistoryDocument(entries=[output.ledger_doc(e) for e in entries]))
        return EXIT_OK
    if not entries:
        print("No migrations recorded.")
    for e in entries:
        print(
            f"{e.id:>4}  {e.started_at:%Y-%m-%d %H:%M:%S}  {e.outcome:<8} {e.steps:>3} steps "
            f"{e.duration_ms:>6} ms  {e.os_user}/{e.db_user}  "
            f"{(e.source_fingerprint or '?')[:12]} → {(e.target_fingerprint or '?')[:12]}"
        )
    return EXIT_OK


def cmd_mcp(args: argparse.Namespace) -> int:
    from .mcpserver import serve

    serve(args.database, args.shadow_database)
    return EXIT_OK


def cmd_version(args: argparse.Namespace) -> int:
    if _json(args):
        from . import output

        output.emit(output.VersionDocument(version=__version__))
    else:
        print(f"lockplane {__version__}")
    return EXIT_OK


def _seconds(text: str) -> float:
    """A duration in seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def _positive_seconds(text: str) -> float:
    """A duration in seconds, more than 0."""
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0")
    return value


def _row_count(text: str) -> int:
    """A number of rows: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


class UsageError(LockplaneError):
    """The command line itself is wrong; `main` shows it as one line, or as a JSON error when
    --json was asked for, and exits 2 like argparse always did."""

    exit_code = EXIT_INPUT


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 2 with one line, like every other input error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


def _wants_json(argv: Sequence[str]) -> bool:
    """Whether the command line asks for JSON, read before parsing so that a usage error can
    answer in the format asked for."""
    words = list(argv)[: list(argv).index("--")] if "--" in argv else list(argv)
    pairs = zip(words, [*words[1:], ""], strict=True)
    return any(
        w == "--json" or w == "--format=json" or (w == "--format" and nxt == "json")
        for w, nxt in pairs
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lockplane", description="Safe, explained, reversible Postgres schema changes."
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    shadow_help = "shadow database URL (default $SHADOW_DATABASE_URL); used to read .sql files"
    formats = argparse.ArgumentParser(add_help=False)
    formats.add_argument(
        "--json",
        dest="format",
        action="store_const",
        const="json",
        default="text",
        help="print one JSON document on stdout, errors included (same as --format json)",
    )
    formats.add_argument("--format", choices=["text", "json"], default="text", help="output format")

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help_text: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[formats])
        p.set_defaults(func=func)
        return p

    p = add("introspect", cmd_introspect, "Print a live database's schema as JSON.")
    p.add_argument("--database", metavar="URL", help="database URL (default $DATABASE_URL)")
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument(
        "--grants",
        action="store_true",
        help="include privileges of tables, views, sequences and functions (plans then manage them)",
    )
    p.add_argument(
        "--owners",
        action="store_true",
        help="include owners of tables, views, sequences and functions (plans then keep them)",
    )

    p = add(
        "diff",
        cmd_diff,
        "Show the changes between two schemas (JSON, .sql, URL or sqlalchemy:module:Base).",
    )
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--shadow-database", metavar="URL", help=shadow_help)

    p = add("plan", cmd_plan, "Plan the migration from one schema to another.")
    p.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="SRC",
        help="current schema: JSON, .sql, URL or sqlalchemy:module:Base",
    )
    p.add_argument(
        "--to",
        dest="target",
        required=True,
        metavar="DST",
        help="desired schema: JSON, .sql, URL or sqlalchemy:module:Base",
    )
    p.add_argument(
        "--validate",
        action="store_true",
        help="print the safety report on stderr (with a shadow run when a shadow database is "
        "configured); exit 1 if unsafe",
    )
    p.add_argument(
        "--no-online",
        action="store_true",
        help="plain forms instead of online ones (no CONCURRENTLY index builds, no NOT VALID + "
        "VALIDATE): fewer steps, all in one transaction, but blocking locks while they scan",
    )
    p.add_argument(
        "--expand-contract",
        action="store_true",
        help="change column types that would rewrite the table through a copy column kept in "
        "step by a trigger, a batched backfill and a quick switch-over, instead of one "
        "ALTER TYPE under ACCESS EXCLUSIVE",
    )
    p.add_argument(
        "--shadow-sample",
        type=_row_count,
        default=0,
        metavar="N",
        help="with --validate and a URL as --from: copy up to N rows per table of it into the "
        "shadow first, so steps that depend on the data are tried",
    )
    p.add_argument(
        "--output", "-o", metavar="FILE", help="write the plan to FILE instead of stdout"
    )
    p.add_argument("--shadow-database", metavar="URL", help=shadow_help)

    p = add("rollback", cmd_rollback, "Generate the plan that undoes a plan.")
    p.add_argument("--plan", required=True, metavar="FILE", help="the forward plan")
    p.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="BEFORE",
        help="the schema the plan starts from",
    )
    p.add_argument(
        "--output", "-o", metavar="FILE", help="write the rollback to FILE instead of stdout"
    )
    p.add_argument("--shadow-database", metavar="URL", help=shadow_help)

    p = add("runs", cmd_runs, "List the runs journalled on a database, or abandon one.")
    p.add_argument("action", nargs="?", choices=["list", "abandon"], default="list")
    p.add_argument("run", nargs="?", type=int, help="the run to show or abandon")
    p.add_argument("--database", metavar="URL", help="database URL (default $DATABASE_URL)")

    p = add("apply", cmd_apply, "Prove a plan on the shadow database, then apply it.")
    p.add_argument("--plan", metavar="FILE", help="the plan to apply")
    p.add_argument(
        "--resume",
        nargs="?",
        type=int,
        const=0,
        metavar="RUN",
        help="continue the interrupted run (or run RUN) where it stopped, from its journal",
    )
    p.add_argument(
        "--batch-seconds",
        type=_positive_seconds,
        default=0.2,
        metavar="SECONDS",
        help="how long one backfill batch should take; batch sizes adapt to it (default 0.2)",
    )
    p.add_argument(
        "--backfill-pause",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="sleep between backfill batches, to leave the database some air (default 0)",
    )
    p.add_argument("--database", metavar="URL", help="target database URL (default $DATABASE_URL)")
    p.add_argument(
        "--shadow-database",
        metavar="URL",
        help="shadow database URL (default $SHADOW_DATABASE_URL)",
    )
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--allow-destructive",
        action="store_true",
        help="apply steps whose hazards are errors (data loss, one-way extension updates)",
    )
    p.add_argument(
        "--lock-timeout",
        default="2s",
        metavar="DURATION",
        help="how long one try of a step may wait in a lock queue, where it makes every later "
        "query on the table wait too (default 2s)",
    )
    p.add_argument(
        "--statement-timeout",
        default="1min",
        metavar="DURATION",
        help="how long a step may hold locks that block reads or writes (default 1min; 0 for "
        "none); steps that let reads and writes through, such as CREATE INDEX CONCURRENTLY, "
        "have none",
    )
    p.add_argument(
        "--retry-budget",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long the apply may keep retrying steps that could not get their locks before "
        "it stops and undoes what it did (default 30)",
    )
    p.add_argument(
        "--preflight-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long each read-only data check may run before it counts as not checked "
        "(default 10)",
    )
    p.add_argument(
        "--no-preflight",
        dest="preflight",
        action="store_false",
        help="skip the read-only checks of existing rows before apply",
    )
    p.add_argument(
        "--preflight-url",
        metavar="URL",
        help="run the read-only data checks on this replica instead of the target "
        "(default $LOCKPLANE_PREFLIGHT_URL)",
    )
    p.add_argument(
        "--shadow-sample",
        type=_row_count,
        default=0,
        metavar="N",
        help="copy up to N rows per table of the target (read-only, foreign keys kept whole) "
        "into the shadow before proving the plan, so steps that depend on the data are tried",
    )

    p = add("export", cmd_export, "Write a plan in another tool's format (an Alembic revision).")
    p.add_argument("tool", choices=["alembic"], help="the format to write: an Alembic revision")
    p.add_argument("--plan", required=True, metavar="FILE", help="the plan to export")
    p.add_argument(
        "--output", "-o", metavar="FILE", help="write the revision to FILE instead of stdout"
    )
    p.add_argument(
        "--revision", metavar="ID", help="revision id (default: the plan fingerprint's start)"
    )
    p.add_argument(
        "--down-revision", metavar="ID", help="the revision this one follows (default: none)"
    )
    p.add_argument("--message", metavar="TEXT", help="the revision's message")

    p = add("rules", cmd_rules, "List the safety rules: code, what each catches, the safer way.")
    p.add_argument("code", nargs="*", help="show only these rule codes (e.g. LP301)")
    p.add_argument("--markdown", action="store_true", help="print the README's rule table")

    p = add("validate", cmd_validate, "Check a schema or plan file against its JSON Schema.")
    p.add_argument("kind", choices=["schema", "plan"])
    p.add_argument("file")

    p = add("init", cmd_init, "Add a shadow Postgres service to docker-compose.yml.")
    p.add_argument("what", choices=["docker-compose"])
    p.add_argument("--dir", default=".", help="directory holding the compose file (default .)")

    p = add(
        "embedded",
        cmd_embedded,
        "Run a project-local PostgreSQL 18 with a main and a shadow database; nothing to install.",
    )
    p.add_argument("action", choices=["start", "stop", "status"])
    p.add_argument(
        "--dir",
        metavar="DIR",
        help="data directory (default $LOCKPLANE_EMBEDDED_DIR, else ./.lockplane/pg)",
    )

    p = add("history", cmd_history, "List the migrations recorded in a database's ledger.")
    p.add_argument("--database", metavar="URL", help="database URL (default $DATABASE_URL)")

    p = add("mcp", cmd_mcp, "Run the MCP server over stdio, for AI agents (needs lockplane[mcp]).")
    p.add_argument("--database", metavar="URL", help="database URL (default $DATABASE_URL)")
    p.add_argument(
        "--shadow-database",
        metavar="URL",
        help="shadow database URL (default $SHADOW_DATABASE_URL)",
    )

    add("version", cmd_version, "Print the version.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from . import output

    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = _wants_json(argv)
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        if as_json:
            output.emit(output.lockplane_error(exc))
        else:
            sys.stderr.write(f"lockplane: error: {exc}\n")
        raise SystemExit(exc.exit_code) from None
    as_json = _json(args)
    try:
        return int(args.func(args))
    except LockplaneError as exc:
        if as_json:
            output.emit(output.lockplane_error(exc))
        else:
            sys.stderr.write(f"lockplane: error: {exc}\n")
        return exc.exit_code
    except Exception as exc:  # a database error outside any step: one line, not a traceback
        import psycopg

        if not isinstance(exc, psycopg.Error):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if as_json:
            output.emit(output.error_document("database_error", first, EXIT_UNSAFE))
        else:
            sys.stderr.write(f"lockplane: error: database error: {first}\n")
        return EXIT_UNSAFE
    except KeyboardInterrupt:
        if as_json:
            output.emit(output.error_document("interrupted", "interrupted", 130))
        else:
            sys.stderr.write("lockplane: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
