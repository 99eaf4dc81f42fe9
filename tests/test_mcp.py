"""The MCP server, driven the way an agent drives it: the SDK's client session over in-memory
streams (and once over stdio, through `lockplane mcp`), against real Postgres.

Every URL the server is configured with carries a password (the test servers trust local
connections, so any password works): no tool output may contain it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import psycopg
from mcp import Client, StdioServerParameters

from lockplane import diff, introspect_url
from lockplane.mcpserver import build_server

PASSWORD = "n0t-for-agents"
TOOLS = {"introspect", "diff", "plan", "validate", "apply", "rollback", "history", "rules"}
START = """
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);
INSERT INTO users VALUES (1, 'a@example.com'), (2, 'b@example.com');
"""
# A NOT NULL column with a (volatile) default and an index on it.
DESIRED = """
CREATE TABLE users (
    id bigint PRIMARY KEY,
    email text NOT NULL,
    seen_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX users_seen_at_idx ON users (seen_at);
"""


def with_password(url: str) -> str:
    parts = urlsplit(url)
    userinfo, host = parts.netloc.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{PASSWORD}@{host}"))


class Agent:
    """An MCP client session that keeps every output it reads, to check none leaks a password."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.seen: list[str] = []

    async def call(self, tool: str, **arguments: Any) -> tuple[bool, dict[str, Any], str]:
        result = await self.client.call_tool(tool, arguments)
        text = "\n".join(block.text for block in result.content if block.type == "text")
        data = result.structured_content or {}
        self.seen += [text, json.dumps(data)]
        return bool(result.is_error), data, text

    async def ok(self, tool: str, **arguments: Any) -> tuple[dict[str, Any], str]:
        failed, data, text = await self.call(tool, **arguments)
        assert not failed, text
        return data, text

    async def refused(self, tool: str, **arguments: Any) -> dict[str, Any]:
        """The structured error of a refused call: exactly code, message, path (and a shadow
        report when there was one)."""
        failed, data, text = await self.call(tool, **arguments)
        assert failed, text
        error = data["error"]
        assert (
            {"code", "message", "path"}
            <= set(error)
            <= {"code", "message", "path", "shadow", "preflight"}
        )
        assert text == f"error ({error['code']}): {error['message']}"
        return error

    def assert_no_password(self) -> None:
        leaks = [out for out in self.seen if PASSWORD in out]
        assert not leaks, leaks[0][:500]


def run_agent(database: str, shadow: str, scenario: Callable[[Agent], Any]) -> Agent:
    async def main() -> Agent:
        server = build_server(with_password(database), with_password(shadow))
        async with Client(server, mode="legacy") as client:  # memory streams, JSON-RPC framing
            agent = Agent(client)
            await scenario(agent)
            return agent

    agent = anyio.run(main)
    agent.assert_no_password()
    return agent


def execute(url: str, statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statements.encode())


def fetch(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query.encode()).fetchall()


def test_agent_plans_validates_applies_and_rolls_back(fresh_db: Callable[[], str]) -> None:
    db, shadow = fresh_db(), fresh_db()
    execute(db, START)
    start = introspect_url(db)

    async def scenario(agent: Agent) -> None:
        listed = await agent.client.list_tools()
        assert {t.name for t in listed.tools} == TOOLS
        assert all(t.description for t in listed.tools)

        planned, text = await agent.ok("plan", desired=DESIRED)
        fingerprint = planned["fingerprint"]
        assert fingerprint in text and "LP202" in text
        assert [(h["rule"], h["severity"]) for h in planned["hazards"]] == [("LP202", "warning")]
        assert ("LP103", "error") in {
            (h["rule"], h["severity"]) for h in planned["rollback_hazards"]
        }
        steps = [s["sql"] for s in planned["plan"]["steps"]]
        assert any("CREATE INDEX CONCURRENTLY" in s for s in steps), steps

        validated, text = await agent.ok("validate", fingerprint=fingerprint)
        assert validated["safe"] and validated["proved"] and validated["shadow"]["ok"]
        checks = {c["name"]: c["passed"] for c in validated["shadow"]["checks"]}
        assert checks["Result equals the target"] is True
        assert checks["Rollback returns to the start"] is True
        assert [h["rule"] for s in validated["steps"] for h in s["hazards"]] == ["LP202"]
        assert text.startswith("Safe: 8 steps, 1 warnings, 0 errors; shadow proof passed")

        assert (await agent.refused("apply"))["code"] == "confirmation_required"
        wrong = await agent.refused("apply", fingerprint="0" * 64)
        assert wrong["code"] == "fingerprint_mismatch" and fingerprint[:12] in wrong["message"]
        edited = planned["plan"] | {"steps": planned["plan"]["steps"][:1]}
        tampered = await agent.refused("apply", fingerprint=fingerprint, plan=json.dumps(edited))
        assert tampered["code"] == "fingerprint_mismatch"
        assert introspect_url(db) == start  # nothing refused touched the database

        applied, text = await agent.ok("apply", fingerprint=fingerprint)
        assert applied["applied"] and applied["verified"] and applied["steps_applied"] == 8
        assert applied["shadow"]["ok"] and f"ledger entry {applied['ledger_id']}" in text
        target = json.dumps(planned["plan"]["target"])
        assert diff(introspect_url(db), start.model_validate_json(target)).is_empty
        assert fetch(db, "SELECT count(*) FROM users WHERE seen_at IS NULL") == [(0,)]
        assert fetch(
            db,
            "SELECT a.attnotnull, i.indisvalid FROM pg_attribute a JOIN pg_index i "
            "ON i.indrelid = a.attrelid AND a.attnum = ANY (i.indkey) "
            "WHERE a.attrelid = 'users'::regclass AND a.attname = 'seen_at'",
        ) == [(True, True)]

        history, text = await agent.ok("history")
        assert [(m["id"], m["outcome"]) for m in history["migrations"]] == [
            (applied["ledger_id"], "applied")
        ]
        assert (
            history["migrations"][0]["target_fingerprint"] == planned["plan"]["target_fingerprint"]
        )

        preview, text = await agent.ok("rollback")
        assert preview["applied"] is False and preview["rollback_of"] == fingerprint
        assert f"confirm={preview['fingerprint']}" in text
        assert "LP103" in {h["rule"] for h in preview["hazards"]}
        assert introspect_url(db) != start  # a preview changes nothing
        unsafe = await agent.refused("rollback", confirm=preview["fingerprint"])
        assert unsafe["code"] == "unsafe_plan" and "allow_destructive" in unsafe["message"]
        wrong = await agent.refused("rollback", confirm=fingerprint, allow_destructive=True)
        assert wrong["code"] == "fingerprint_mismatch"
        undone, _ = await agent.ok(
            "rollback", confirm=preview["fingerprint"], allow_destructive=True
        )
        assert undone["applied"] and undone["rollback_of"] == fingerprint
        assert diff(introspect_url(db), start).is_empty

        history, _ = await agent.ok("history")
        assert [m["outcome"] for m in history["migrations"]] == ["applied", "applied"]

    run_agent(db, shadow, scenario)


def test_refusals_and_errors_are_structured(fresh_db: Callable[[], str]) -> None:
    db, shadow = fresh_db(), fresh_db()
    execute(db, START + "INSERT INTO users VALUES (3, 'a@example.com');")
    start = introspect_url(db)

    async def scenario(agent: Agent) -> None:
        bad = await agent.refused("plan", desired="CREATE TABLE users (id bigint PRIMARY KEY,\n);")
        assert bad["code"] == "input_error" and bad["path"] == "desired: line 2"
        assert "syntax error" in bad["message"]
        empty = await agent.refused("diff", desired="  ")
        assert empty == {"code": "input_error", "message": empty["message"], "path": "desired"}
        bad_json = await agent.refused("plan", desired='{"tables": 3}')
        assert bad_json["code"] == "input_error" and bad_json["path"].startswith("desired")

        dropped = "CREATE TABLE users (id bigint PRIMARY KEY);"
        changes, text = await agent.ok("diff", desired=dropped)
        assert not changes["empty"] and "email" in text
        planned, _ = await agent.ok("plan", desired=dropped)
        assert ("LP103", "error") in {(h["rule"], h["severity"]) for h in planned["hazards"]}
        validated, text = await agent.ok("validate", plan=json.dumps(planned["plan"]))
        assert validated["fingerprint"] == planned["fingerprint"] and not validated["safe"]
        assert text.startswith("UNSAFE")
        refused = await agent.refused("apply", fingerprint=planned["fingerprint"])
        assert refused["code"] == "unsafe_plan" and "Drops column users.email" in refused["message"]
        assert "allow_destructive=true" in refused["message"]
        assert diff(introspect_url(db), start).is_empty

        unique = "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL UNIQUE);"
        planned, _ = await agent.ok("plan", desired=unique)
        duplicates = await agent.refused("apply", fingerprint=planned["fingerprint"])
        assert duplicates["code"] == "preflight_failed" and "id=1, id=3" in duplicates["preflight"]

        same, text = await agent.ok("plan", desired=START)
        assert same["steps"] == 0 and text.startswith("No changes")
        nothing, text = await agent.ok("apply", fingerprint=same["fingerprint"])
        assert nothing == {"applied": False, "fingerprint": same["fingerprint"]}
        assert diff(introspect_url(db), start).is_empty

        read, text = await agent.ok("introspect")
        assert [t["name"] for t in read["schema"]["tables"]] == ["users"]
        assert read["database"].count("***") == 1 and "***" in text

        rules, text = await agent.ok("rules", codes=["LP103", "LP202"])
        assert [r["code"] for r in rules["rules"]] == ["LP103", "LP202"]
        unknown = await agent.refused("rules", codes=["LP999"])
        assert unknown["code"] == "input_error" and unknown["path"] == "codes"
        nothing = await agent.refused("rollback")
        assert nothing["code"] == "input_error" and nothing["path"] == "fingerprint"

    run_agent(db, shadow, scenario)


def test_unreachable_database_is_a_structured_error_without_the_password(
    fresh_db: Callable[[], str],
) -> None:
    shadow = fresh_db()
    missing = urlunsplit(urlsplit(shadow)._replace(path="/lockplane_no_such_db"))

    async def scenario(agent: Agent) -> None:
        for tool in ("introspect", "history"):
            error = await agent.refused(tool)
            assert error["code"] == "connection_failed" and ":***@" in error["message"]

    run_agent(missing, shadow, scenario)


def test_lockplane_mcp_serves_over_stdio(fresh_db: Callable[[], str]) -> None:
    db, shadow = fresh_db(), fresh_db()
    execute(db, START)
    root = Path(__file__).resolve().parents[1]
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "lockplane.cli", "mcp", "--shadow-database", with_password(shadow)],
        env={
            **os.environ,
            "DATABASE_URL": with_password(db),
            "PYTHONPATH": os.pathsep.join([str(root / "core"), str(root)]),
        },
    )

    async def main() -> tuple[set[str], dict[str, Any]]:
        async with Client(server) as client:
            listed = await client.list_tools()
            result = await client.call_tool("introspect", {})
            assert not result.is_error
            return {t.name for t in listed.tools}, result.structured_content or {}

    names, read = anyio.run(main)
    assert names == TOOLS
    assert [t["name"] for t in read["schema"]["tables"]] == ["users"]
    assert PASSWORD not in json.dumps(read)
