"""The rule catalog: every hazard Lockplane raises, with a stable code, as data.

A hazard in a plan names its rule (`Hazard.rule`), and the rule says what it catches, why that
matters, what Lockplane generates instead and which rules of other tools it corresponds to. The
change classes raise hazards only through `hazard(code, message)`, so a code that is not in this
catalog cannot appear in a plan, and `lockplane rules`, the README table and the notebook all read
this one list. Codes never change meaning; a retired rule keeps its number.

Numbering: LP1xx data loss, LP2xx might fail on existing data, LP3xx locks and rewrites, LP4xx
changes that break running clients, LP5xx schema design.
"""

from __future__ import annotations

from dataclasses import dataclass

from .plan import Hazard, HazardCode, Severity


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    category: HazardCode
    severity: Severity
    catches: str
    why: str
    safer: str
    atlas: tuple[str, ...] = ()
    squawk: tuple[str, ...] = ()


RULES: tuple[Rule, ...] = (
    Rule(
        "LP101",
        "schema-dropped",
        "BREAKING_CHANGE",
        "warning",
        "A schema is dropped.",
        "Clients and functions that name the schema fail; its tables are dropped by their own steps.",
        "Drop the schema in a later release, once nothing names it.",
        atlas=("DS101",),
        squawk=("ban-drop-schema",),
    ),
    Rule(
        "LP102",
        "table-dropped",
        "DATA_LOSS",
        "error",
        "A table is dropped.",
        "Every row in it is gone; the rollback recreates it empty.",
        "Refused unless --allow-destructive; keep a backup or rename the table out of the way first.",
        atlas=("DS102",),
        squawk=("ban-drop-table",),
    ),
    Rule(
        "LP103",
        "column-dropped",
        "DATA_LOSS",
        "error",
        "A column is dropped.",
        "Its values are gone, and running code that selects it fails.",
        "Refused unless --allow-destructive; stop using the column in the application first.",
        atlas=("DS103",),
        squawk=("ban-drop-column",),
    ),
    Rule(
        "LP104",
        "sequence-dropped",
        "DATA_LOSS",
        "error",
        "A sequence is dropped.",
        "Its current value is lost; the rollback restarts it at its start value, so ids repeat.",
        "Refused unless --allow-destructive.",
        squawk=("ban-drop-sequence",),
    ),
    Rule(
        "LP105",
        "index-dropped",
        "BREAKING_CHANGE",
        "warning",
        "An index is dropped.",
        "Queries that used it may become sequential scans.",
        "Check pg_stat_user_indexes.idx_scan first; the drop runs CONCURRENTLY when online.",
    ),
    Rule(
        "LP106",
        "constraint-dropped",
        "BREAKING_CHANGE",
        "warning",
        "A foreign key, unique or check constraint is dropped (not replaced).",
        "The database stops enforcing it: bad rows can arrive and cannot be re-validated cheaply.",
        "Intended relaxations are fine; the rollback re-adds it (and re-checks every row).",
        atlas=("CD101",),
        squawk=("ban-drop-constraint",),
    ),
    Rule(
        "LP107",
        "rollback-loses-data",
        "IRREVERSIBLE",
        "warning",
        "A step whose rollback restores the schema but not the data.",
        "Undoing the plan later brings back an empty table, column or sequence.",
        "Take a backup of what is dropped before applying.",
    ),
    Rule(
        "LP108",
        "type-dropped",
        "BREAKING_CHANGE",
        "warning",
        "A type (enum, domain, composite or range type) or a function is dropped, or re-created "
        "(a range type changed, a function's signature changed).",
        "Functions, casts and client code that name the type or call the function fail.",
        "Drop it in a later release, once nothing names it.",
        squawk=("ban-drop-type", "ban-drop-domain", "ban-drop-function"),
    ),
    Rule(
        "LP109",
        "extension-dropped",
        "BREAKING_CHANGE",
        "warning",
        "An extension is dropped.",
        "Its functions, types and operators go with it; queries using them fail.",
        "Check nothing calls the extension's functions first; the drop never cascades.",
        squawk=("ban-drop-extension",),
    ),
    Rule(
        "LP110",
        "view-dropped",
        "BREAKING_CHANGE",
        "warning",
        "A view or materialized view is dropped (not rebuilt).",
        "Queries, functions and clients that select from it fail. A view holds no data; a "
        "materialized view's rows are recomputed by the rollback.",
        "Drop the view in a later release, once nothing selects from it.",
        squawk=("ban-drop-view",),
    ),
    Rule(
        "LP111",
        "extension-version-changed",
        "BREAKING_CHANGE",
        "warning",
        "An extension is updated to another version that the server has an update path back "
        "from (pg_extension_update_paths).",
        "The update scripts change the extension's functions, types and operators, so queries "
        "using them may behave differently; the rollback runs the path back.",
        "Update extensions in a plan of their own.",
    ),
    Rule(
        "LP112",
        "extension-update-one-way",
        "IRREVERSIBLE",
        "error",
        "An extension is updated to a version the server has no update path back from "
        "(pg_extension_update_paths; most extensions ship upgrade scripts only), or no database "
        "was asked.",
        "Nothing can undo it: the step carries no reverse, `lockplane rollback` refuses the plan, "
        "and the shadow proof proves the update but cannot rehearse a rollback.",
        "Update the extension in a plan of its own, after a backup; plan with a shadow database "
        "so the path back is checked. Apply needs --allow-destructive.",
    ),
    Rule(
        "LP201",
        "not-null-column-without-default",
        "DATA_DEPENDENT",
        "error",
        "A NOT NULL column without a DEFAULT is added to an existing table.",
        "It fails on the first existing row.",
        "Add a DEFAULT, or add the column nullable, backfill it, then set NOT NULL.",
        atlas=("MF103",),
        squawk=("adding-required-field", "adding-not-nullable-field"),
    ),
    Rule(
        "LP202",
        "set-not-null",
        "DATA_DEPENDENT",
        "warning",
        "NOT NULL is set on an existing column.",
        "It fails if any row holds NULL (the preflight counts them).",
        "Online: a CHECK (col IS NOT NULL) NOT VALID, validated without blocking, then SET NOT NULL "
        "(no scan), then the check is dropped.",
        atlas=("MF104",),
        squawk=("adding-not-nullable-field",),
    ),
    Rule(
        "LP203",
        "unique-on-existing-data",
        "DATA_DEPENDENT",
        "warning",
        "A unique index, unique constraint or primary key is added over existing rows.",
        "It fails if the rows hold duplicates (or NULLs, for a primary key).",
        "Online: the unique index is built CONCURRENTLY, then attached with ADD CONSTRAINT ... "
        "USING INDEX.",
        atlas=("MF101", "MF102"),
        squawk=("disallowed-unique-constraint",),
    ),
    Rule(
        "LP204",
        "check-on-existing-data",
        "DATA_DEPENDENT",
        "warning",
        "A check constraint is added to an existing table.",
        "It fails if an existing row violates it.",
        "Online: ADD ... NOT VALID, then VALIDATE CONSTRAINT, which does not block reads or writes.",
        atlas=("PG305",),
        squawk=("constraint-missing-not-valid",),
    ),
    Rule(
        "LP205",
        "foreign-key-on-existing-data",
        "DATA_DEPENDENT",
        "warning",
        "A foreign key is added to an existing table.",
        "It fails if a row references a missing key.",
        "Online: ADD ... NOT VALID, then VALIDATE CONSTRAINT, which does not block writes.",
        atlas=("PG306",),
        squawk=("adding-foreign-key-constraint", "constraint-missing-not-valid"),
    ),
    Rule(
        "LP206",
        "type-change-may-fail",
        "DATA_DEPENDENT",
        "warning",
        "A column's type changes to one its values may not convert to (narrowing, text to number...).",
        "It fails on the first value that does not convert (the preflight finds them).",
        "Clean the data first, or add a new column, backfill, and switch over.",
        squawk=("changing-column-type",),
    ),
    Rule(
        "LP207",
        "enum-value-removed",
        "DATA_DEPENDENT",
        "warning",
        "A label is removed from an enum.",
        "It fails if a row still holds the label; Postgres cannot drop a label in place, so the type "
        "is replaced.",
        "Update the rows first; Lockplane swaps the type in one transaction.",
    ),
    Rule(
        "LP301",
        "type-change-rewrite",
        "TABLE_REWRITE",
        "warning",
        "A column type change that is not binary compatible.",
        "The table and its indexes are rewritten under an ACCESS EXCLUSIVE lock: no reads or writes "
        "meanwhile. Widening varchar, dropping a length limit or growing numeric precision is free.",
        "Plan with `--expand-contract`: a copy column kept in step by a trigger, a batched "
        "backfill, and a switch-over that only renames; or schedule it for a quiet window.",
        atlas=("PG301",),
        squawk=("changing-column-type",),
    ),
    Rule(
        "LP302",
        "volatile-default-rewrite",
        "TABLE_REWRITE",
        "warning",
        "A column added with a volatile default (now() is stable and fine; random(), "
        "clock_timestamp() are not), an identity, or a stored generated expression.",
        "Every row gets its own value: the table is rewritten under an ACCESS EXCLUSIVE lock.",
        "The online plan (the default) adds the column bare, backfills it in batches and "
        "sets NOT NULL through a validated check.",
        atlas=("PG302",),
        squawk=("adding-field-with-default", "adding-serial-primary-key-field"),
    ),
    Rule(
        "LP303",
        "set-logged-rewrite",
        "TABLE_REWRITE",
        "warning",
        "A table switches between LOGGED and UNLOGGED.",
        "Postgres rewrites the table under an ACCESS EXCLUSIVE lock.",
        "Schedule it for a quiet window.",
    ),
    Rule(
        "LP304",
        "enum-replace-rewrite",
        "TABLE_REWRITE",
        "warning",
        "Enum labels removed or reordered: the columns using it are converted to a new type.",
        "Each table holding such a column is rewritten under an ACCESS EXCLUSIVE lock.",
        "Only append labels (ALTER TYPE ... ADD VALUE is instant); remove labels rarely.",
    ),
    Rule(
        "LP305",
        "index-build-blocks-writes",
        "BLOCKING_LOCK",
        "warning",
        "An index is built on an existing table without CONCURRENTLY.",
        "The build holds a SHARE lock: every INSERT, UPDATE and DELETE waits until it ends.",
        "Online (the default): CREATE INDEX CONCURRENTLY, outside a transaction; on a partitioned "
        "table, each partition's index so, then the parent's ON ONLY it and ATTACH PARTITION.",
        atlas=("PG101",),
        squawk=("require-concurrent-index-creation",),
    ),
    Rule(
        "LP306",
        "index-drop-blocks",
        "BLOCKING_LOCK",
        "warning",
        "An index is dropped without CONCURRENTLY.",
        "DROP INDEX takes an ACCESS EXCLUSIVE lock on the table (and on every partition, for a "
        "partitioned table's index).",
        "Online (the default): DROP INDEX CONCURRENTLY, outside a transaction. Postgres has no "
        "online form for a partitioned table's index: drop it when traffic is low.",
        atlas=("PG102",),
        squawk=("require-concurrent-index-deletion",),
    ),
    Rule(
        "LP307",
        "constraint-scan-blocks",
        "BLOCKING_LOCK",
        "warning",
        "A check, unique or primary key constraint is added with a full scan under ACCESS EXCLUSIVE.",
        "No reads or writes while every row is checked (or the index is built).",
        "Online: checks NOT VALID + VALIDATE; unique and primary keys from a concurrently built index.",
        atlas=("PG104", "PG105", "PG304", "PG305"),
        squawk=(
            "constraint-missing-not-valid",
            "disallowed-unique-constraint",
            "adding-serial-primary-key-field",
        ),
    ),
    Rule(
        "LP308",
        "foreign-key-scan-blocks-writes",
        "BLOCKING_LOCK",
        "warning",
        "A foreign key is added and validated in one step.",
        "Both tables are locked SHARE ROW EXCLUSIVE while every row is checked: writes wait.",
        "Online: ADD ... NOT VALID, then VALIDATE CONSTRAINT (SHARE UPDATE EXCLUSIVE).",
        atlas=("PG306",),
        squawk=("adding-foreign-key-constraint",),
    ),
    Rule(
        "LP309",
        "set-not-null-scan",
        "BLOCKING_LOCK",
        "warning",
        "SET NOT NULL checks every row under an ACCESS EXCLUSIVE lock.",
        "No reads or writes during the scan.",
        "Online: a validated CHECK (col IS NOT NULL) lets SET NOT NULL skip the scan.",
        atlas=("PG303",),
        squawk=("adding-not-nullable-field",),
    ),
    Rule(
        "LP310",
        "generated-column-rebuilt",
        "TABLE_REWRITE",
        "warning",
        "A stored generated column's expression changes, or a plain column becomes generated.",
        "The column is dropped and added back: the table is rewritten under ACCESS EXCLUSIVE, the "
        "indexes and constraints on the column are rebuilt under the same lock, and the column "
        "moves to the end of the table.",
        "Add a new generated column beside the old one and switch readers over, in quiet hours.",
        squawk=(
            "ban-drop-column",
            "require-concurrent-index-creation",
            "adding-field-with-default",
        ),
    ),
    Rule(
        "LP311",
        "domain-scan-blocks-writes",
        "BLOCKING_LOCK",
        "warning",
        "SET NOT NULL, a validated check or VALIDATE CONSTRAINT on a domain that columns use.",
        "Every table with a column of the domain is scanned under a SHARE lock: their INSERTs, "
        "UPDATEs and DELETEs wait until the last one is checked.",
        "Postgres has no online form: Lockplane adds a new check NOT VALID (no scan); run the "
        "VALIDATE or SET NOT NULL in a quiet window.",
    ),
    Rule(
        "LP312",
        "full-table-update-blocks",
        "BLOCKING_LOCK",
        "warning",
        "A step that updates every row of a table while it holds ACCESS EXCLUSIVE (the rollback "
        "of an expand/contract switch-over, which rebuilds the original column from its copy).",
        "Nothing reads or writes the table until every row is updated, and the update bloats it "
        "as much as a rewrite would.",
        "Roll forward instead: plan the change back with `--expand-contract`, which copies the "
        "column in batches.",
    ),
    Rule(
        "LP320",
        "partition-lock-blocks",
        "BLOCKING_LOCK",
        "warning",
        "A partition is created on, attached to or detached from an existing partitioned table "
        "under a lock that blocks it, or with a scan (of the attached table or the default "
        "partition) under ACCESS EXCLUSIVE.",
        "Queries on the partitioned table wait for the lock; a scan holds it for as long as it "
        "reads.",
        "Online: DETACH PARTITION CONCURRENTLY when there is no default partition; ATTACH after "
        "a validated CHECK copying the bound (one-column RANGE or LIST key), so it skips the scan.",
        squawk=("require-concurrent-partition-detach",),
    ),
    Rule(
        "LP401",
        "looks-like-rename",
        "BREAKING_CHANGE",
        "warning",
        "A column is dropped and another of the same type added to the same table.",
        "If it is meant as a rename, the data of the old column is lost and running code that uses "
        "either name breaks between deploys.",
        "Lockplane never renames: to keep the data, add the new column, backfill it, switch the "
        "application, then drop the old one in a later plan.",
        atlas=("BC101", "BC102"),
        squawk=("renaming-column", "renaming-table"),
    ),
    Rule(
        "LP402",
        "not-null-dropped",
        "BREAKING_CHANGE",
        "warning",
        "NOT NULL is dropped from a column.",
        "Running code that assumes a value is present starts reading NULLs.",
        "Make sure every reader handles NULL before the plan is applied.",
        squawk=("ban-drop-not-null",),
    ),
    Rule(
        "LP403",
        "enum-values-reordered",
        "BREAKING_CHANGE",
        "warning",
        "Existing enum labels change order.",
        "Comparisons and ORDER BY on the column change meaning.",
        "Append new labels instead of reordering.",
        squawk=("require-enum-value-ordering",),
    ),
    Rule(
        "LP404",
        "index-renamed",
        "BREAKING_CHANGE",
        "info",
        "An index is renamed (the last step of replacing it online).",
        "Queries do not name indexes; only hints, monitoring and scripts that do see the change.",
        "Nothing to do for applications; update scripts that name the index.",
        squawk=("renaming-object",),
    ),
    Rule(
        "LP405",
        "column-type-changed",
        "BREAKING_CHANGE",
        "info",
        "A column's type changes, even when Postgres needs no rewrite.",
        "Clients that read the type (ORMs, prepared statements, casts) see the new one.",
        "Deploy clients that accept both types first.",
        squawk=("changing-column-type",),
    ),
    Rule(
        "LP406",
        "default-dropped",
        "BREAKING_CHANGE",
        "warning",
        "A column's default is dropped.",
        "Inserts that leave the column out now store NULL, or fail on a NOT NULL column.",
        "Make every writer set the column before the default goes.",
        squawk=("ban-drop-default",),
    ),
    Rule(
        "LP407",
        "identity-changed",
        "BREAKING_CHANGE",
        "warning",
        "A column becomes or stops being an identity, or switches ALWAYS / BY DEFAULT, or stops "
        "being generated.",
        "Inserts that pass or omit the column behave differently: ALWAYS refuses explicit "
        "values, and without identity an omitted value is NULL.",
        "Change the writers first; prefer BY DEFAULT while migrating.",
        squawk=("ban-alter-identity", "ban-drop-generated-expression"),
    ),
    Rule(
        "LP408",
        "materialized-view-recomputed",
        "BREAKING_CHANGE",
        "warning",
        "A materialized view is dropped and created again (its query changed, or a column or "
        "view it reads is rebuilt).",
        "DROP holds ACCESS EXCLUSIVE on it until the plan commits, while its query runs again to "
        "refill it: its readers wait for the whole recomputation.",
        "Create the new materialized view under another name, switch readers, drop the old one.",
    ),
    Rule(
        "LP409",
        "extension-moved",
        "BREAKING_CHANGE",
        "warning",
        "An extension moves to another schema (ALTER EXTENSION ... SET SCHEMA).",
        "Its functions, types and operators move along: code that names them schema-qualified, "
        "or finds them through a search_path without the new schema, fails.",
        "Put the new schema on the search_path of every role first.",
        squawk=("ban-set-schema",),
    ),
    Rule(
        "LP410",
        "rls-enabled-without-policy",
        "BREAKING_CHANGE",
        "warning",
        "Row level security is enabled (or forced) on an existing table while some command "
        "(SELECT, INSERT, UPDATE, DELETE) has no permissive policy.",
        "Every role but the owner (with FORCE, the owner too) silently gets no rows for that "
        "command: with Supabase, the anon and authenticated keys read empty results, no error.",
        "Create the policies in the same plan (they are created right after RLS is enabled, in "
        "one transaction), or grant BYPASSRLS to the roles that must keep full access.",
    ),
    Rule(
        "LP411",
        "row-access-changed",
        "BREAKING_CHANGE",
        "warning",
        "A policy is dropped, altered or added as RESTRICTIVE, or row level security is disabled "
        "or no longer forced, on an existing table.",
        "Which rows each role sees or writes changes without any error: disabling RLS exposes "
        "every row to every role with table privileges (the anon key, with Supabase).",
        "Review the policy change as a security change; test it with SET ROLE on the shadow.",
    ),
    Rule(
        "LP412",
        "privilege-revoked",
        "BREAKING_CHANGE",
        "warning",
        "A privilege on a table, view, sequence or function is revoked, or one changes owner.",
        "Clients of the role get 'permission denied' at once; a former owner also loses its "
        "exemption from row level security.",
        "Revoke after the clients stopped using the privilege.",
    ),
    Rule(
        "LP413",
        "trigger-dropped",
        "BREAKING_CHANGE",
        "warning",
        "A trigger is dropped or disabled (not replaced).",
        "Writes to the table stop running it: whatever it maintained (audit rows, derived "
        "columns, checks) silently stops.",
        "Make sure nothing relies on the trigger first; the rollback recreates or re-enables it.",
    ),
    Rule(
        "LP414",
        "enum-value-renamed",
        "BREAKING_CHANGE",
        "warning",
        "An enum label is renamed in place (the target document's `renamed` hint).",
        "Stored rows follow at once, but clients that write or compare the old label fail.",
        "Deploy clients that accept both labels first.",
        squawk=("renaming-object",),
    ),
    Rule(
        "LP420",
        "partition-detached",
        "BREAKING_CHANGE",
        "warning",
        "A partition is detached (also the first half of changing its bound).",
        "Queries on the partitioned table stop seeing its rows. Online, DETACH ... CONCURRENTLY "
        "also waits for every transaction using the table and cannot simply be run again: "
        "interrupted, it leaves the partition pending detach.",
        "Make sure no reader needs those rows through the parent; finish an interrupted "
        "concurrent detach with DETACH PARTITION ... FINALIZE.",
        squawk=("prefer-robust-stmts",),
    ),
    Rule(
        "LP501",
        "prefer-identity",
        "SCHEMA_DESIGN",
        "info",
        "A new serial column (a nextval default on an owned sequence).",
        "serial's sequence has its own owner and grants; identity columns are the SQL standard and "
        "travel with the table.",
        "Use GENERATED BY DEFAULT AS IDENTITY.",
        squawk=("prefer-identity",),
    ),
    Rule(
        "LP502",
        "prefer-timestamptz",
        "SCHEMA_DESIGN",
        "info",
        "A new column of type timestamp without time zone.",
        "Values are ambiguous across time zones and daylight saving changes.",
        "Use timestamptz.",
        squawk=("prefer-timestamp-tz",),
    ),
    Rule(
        "LP503",
        "char-field",
        "SCHEMA_DESIGN",
        "info",
        "A new column of type char(n).",
        "char pads with spaces, compares surprisingly and is no faster than text.",
        "Use text (with a CHECK on length if needed) or varchar.",
        squawk=("ban-char-field",),
    ),
    Rule(
        "LP504",
        "int-primary-key-overflow",
        "SCHEMA_DESIGN",
        "info",
        "A new primary key column of type integer or smallint.",
        "integer keys run out at 2,147,483,647; converting a busy key to bigint later rewrites the "
        "table and every table referencing it.",
        "Use bigint for keys.",
        squawk=("prefer-bigint-over-int", "prefer-bigint-over-smallint"),
    ),
    Rule(
        "LP505",
        "prefer-bigint",
        "SCHEMA_DESIGN",
        "info",
        "A new column of type integer or smallint.",
        "Counters and ids outgrow 32 bits more often than expected, and widening later rewrites "
        "the table.",
        "Use bigint unless the range is known to be small.",
        squawk=("prefer-bigint-over-int", "prefer-bigint-over-smallint"),
    ),
    Rule(
        "LP506",
        "prefer-text",
        "SCHEMA_DESIGN",
        "info",
        "A new column of type varchar(n).",
        "The length limit is a business rule hidden in a type; changing it later means ALTER "
        "TYPE, and shrinking it rewrites the table.",
        "Use text, with a CHECK (length(col) <= n) if the limit matters.",
        squawk=("prefer-text-field",),
    ),
    Rule(
        "LP507",
        "domain-check-constraint",
        "SCHEMA_DESIGN",
        "info",
        "A domain is created with NOT NULL or a check, or gets a check later.",
        "Every column of the domain, in every table, obeys it: changing it later scans all of "
        "them under SHARE (writes wait), and the domain hides the rule from readers of the table.",
        "Constraints on each table (NOT VALID + VALIDATE online), or a domain without any.",
        squawk=("ban-create-domain-with-constraint", "ban-alter-domain-with-add-constraint"),
    ),
    Rule(
        "LP508",
        "security-definer-search-path",
        "SCHEMA_DESIGN",
        "info",
        "A SECURITY DEFINER function or procedure without its own search_path setting.",
        "It runs with its owner's rights but resolves names through the caller's search_path, "
        "so a caller can make it run objects of the caller's choosing.",
        "Add SET search_path = pg_catalog, pg_temp (or the schemas it needs) to the definition.",
    ),
    Rule(
        "LP510",
        "policy-allows-everyone",
        "SCHEMA_DESIGN",
        "info",
        "A permissive policy for PUBLIC whose USING or WITH CHECK is just true.",
        "It admits every role to every row for its command, so row level security filters "
        "nothing there (with Supabase, the anon key included): usually a leftover placeholder.",
        "Name the roles the policy is for (TO authenticated) and give it a real condition.",
    ),
)

BY_CODE: dict[str, Rule] = {r.code: r for r in RULES}


def hazard(code: str, message: str) -> Hazard:
    """A hazard raised by rule `code`; its category and severity come from the catalog."""
    rule = BY_CODE[code]
    return Hazard(code=rule.category, severity=rule.severity, message=message, rule=code)


def markdown_table() -> str:
    """The README's rule table, generated here so it cannot drift from the code."""
    lines = [
        "| Code | Rule | Severity | Catches | Why it matters | Safer alternative | Peers |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in RULES:
        peers = ", ".join([*r.atlas, *(f"squawk {s}" for s in r.squawk)]) or "—"
        lines.append(
            f"| {r.code} | `{r.name}` | {r.severity} | {r.catches} | {r.why} | {r.safer} | {peers} |"
        )
    return "\n".join(lines) + "\n"
