"""`lockplane mcp`: the Model Context Protocol server, over stdio, with the official `mcp` SDK.

The SDK is an optional extra (`pip install "lockplane[mcp]"`), imported here only, when the
server is built. Every tool answers with structured content (the JSON an agent acts on) and one
text block (a short summary a person can read); a failure is a tool error whose structured
content is `{"error": {"code", "message", "path"}}`. The tool logic lives in mcptools.py.

No `from __future__ import annotations` here: the SDK reads the tools' annotations at
registration, and `CallToolResult` is only imported inside build_server.
"""

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from .db import database_url, shadow_url
from .errors import InputError, LockplaneError
from .mcptools import Outcome, Session, error_data

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

INSTRUCTIONS = """Lockplane plans, proves and applies Postgres schema changes safely.
The database and the shadow database are configured on the server: no tool takes a URL.
Typical flow: `plan` with the desired schema (SQL DDL or Lockplane JSON), read its hazards,
`validate` it (safety report and a proof on the shadow database), then `apply` it with the
plan's `fingerprint`, which confirms exactly the plan that was reviewed. Steps with
error-severity hazards (data loss) also need allow_destructive=true. `rollback` undoes the
last applied plan: called without `confirm` it shows the rollback plan, with `confirm` set to
that plan's fingerprint it applies it. `history` lists the ledger, `rules` the hazard catalog."""

Desired = Annotated[
    str,
    Field(description="The desired schema as SQL DDL (CREATE TABLE ...) or Lockplane JSON text."),
]
Fingerprint = Annotated[
    str, Field(description="A plan's fingerprint, as `plan` (or `rollback`) returned it.")
]
PlanText = Annotated[
    str,
    Field(description="Optional: a plan document as JSON text, instead of a plan made here."),
]
AllowDestructive = Annotated[
    bool,
    Field(description="Apply steps with error-severity hazards (data loss) too."),
]


def build_server(database: str | None = None, shadow: str | None = None) -> "MCPServer":
    """The server, configured with the database and shadow URLs (default $DATABASE_URL and
    $SHADOW_DATABASE_URL); it keeps the plans it makes for as long as it runs."""
    try:
        from mcp.server.mcpserver import MCPServer
        from mcp.types import CallToolResult, TextContent, ToolAnnotations
    except ImportError:
        raise InputError(
            "lockplane mcp", 'needs the mcp package: pip install "lockplane[mcp]"'
        ) from None

    session = Session(database_url(database), shadow_url(shadow))
    server = MCPServer("lockplane", instructions=INSTRUCTIONS)

    def answer(work: Callable[[], Outcome]) -> CallToolResult:
        try:
            outcome = work()
        except Exception as exc:
            import psycopg

            if not isinstance(exc, (LockplaneError, psycopg.Error)):
                raise
            data = error_data(exc, session)
            text = f"error ({data['error']['code']}): {data['error']['message']}"
            return CallToolResult(
                content=[TextContent(type="text", text=text)],
                structured_content=data,
                is_error=True,
            )
        data = json.loads(session.scrub(json.dumps(outcome.data)))
        return CallToolResult(
            content=[TextContent(type="text", text=session.scrub(outcome.summary))],
            structured_content=data,
        )

    reads = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    writes = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)

    @server.tool(annotations=reads)
    def introspect() -> CallToolResult:
        """The configured database's schema, as Lockplane JSON."""
        return answer(session.introspect)

    @server.tool(annotations=reads)
    def diff(
        desired: Desired,
        current: Annotated[
            str,
            Field(description="The schema to compare from (SQL or JSON); default the database."),
        ] = "",
    ) -> CallToolResult:
        """The changes from the database (or `current`) to the desired schema."""
        return answer(lambda: session.diff(desired, current))

    @server.tool(annotations=reads)
    def plan(
        desired: Desired,
        online: Annotated[
            bool,
            Field(description="Online forms (CONCURRENTLY, NOT VALID + VALIDATE); default true."),
        ] = True,
        expand_contract: Annotated[
            bool, Field(description="Rewriting type changes through a copy column and backfill.")
        ] = False,
    ) -> CallToolResult:
        """Plan the migration from the database to the desired schema: ordered steps with locks,
        hazards (rule codes) and reverse steps, and the plan's fingerprint."""
        return answer(lambda: session.plan(desired, online, expand_contract))

    @server.tool(annotations=reads)
    def validate(fingerprint: Fingerprint = "", plan: PlanText = "") -> CallToolResult:
        """The safety report of a plan, and its proof on the shadow database (the plan and its
        rollback run there, and the result is compared with the target)."""
        return answer(lambda: session.validate(fingerprint, plan))

    @server.tool(annotations=writes)
    def apply(
        fingerprint: Fingerprint = "",
        allow_destructive: AllowDestructive = False,
        plan: PlanText = "",
    ) -> CallToolResult:
        """Apply a plan to the database, after proving it on the shadow. `fingerprint` is
        required: it confirms which plan runs."""
        return answer(lambda: session.apply(fingerprint, allow_destructive, plan))

    @server.tool(annotations=writes)
    def rollback(
        fingerprint: Annotated[
            str, Field(description="The applied plan to undo; default the last one applied here.")
        ] = "",
        confirm: Annotated[
            str, Field(description="The rollback plan's fingerprint: set it to run the rollback.")
        ] = "",
        allow_destructive: AllowDestructive = False,
    ) -> CallToolResult:
        """Undo an applied plan: without `confirm`, show the rollback plan; with it, apply it."""
        return answer(lambda: session.rollback(fingerprint, confirm, allow_destructive))

    @server.tool(annotations=reads)
    def history() -> CallToolResult:
        """The migrations recorded in the database's ledger."""
        return answer(session.history)

    @server.tool(annotations=reads)
    def rules(
        codes: Annotated[
            list[str], Field(description="Only these rule codes (e.g. LP103); default all.")
        ] = [],  # noqa: B006 - the SDK reads the default into the tool's input schema
    ) -> CallToolResult:
        """The hazard rules: code, what each catches, why, and the safer way."""
        return answer(lambda: session.rules(codes))

    return server


def serve(database: str | None = None, shadow: str | None = None) -> None:
    """Run the server over stdio until the client closes it."""
    build_server(database, shadow).run("stdio")
