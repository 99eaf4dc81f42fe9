"""The schema model: what a Postgres schema holds, as immutable pydantic objects.

One document shape serves three producers (hand-written JSON, SQL DDL loaded into a shadow,
live introspection) so that every comparison happens between objects of the same kind. The seed
format (`tables[].columns[].is_primary_key`, `indexes[].columns` as plain names) loads unchanged;
richer fields are optional and default to what Postgres itself would choose.

Collections are kept in a canonical order (sorted by name, columns in table order) by the
validators below, so two equal schemas serialize to byte-identical JSON and fingerprint alike.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from typing import Annotated, Any, Literal

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_SCHEMA = "public"
FK_ACTIONS = ("NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT")
FkAction = Literal["NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT"]
Name = Annotated[str, Field(min_length=1, max_length=63)]


class Model(BaseModel):
    """Frozen and strict: an unknown key in a schema file is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class QualifiedName(BaseModel):
    """A schema-qualified name, used as the identity of every top-level object."""

    model_config = ConfigDict(frozen=True)
    schema_: str = Field(alias="schema")
    name: str

    def __str__(self) -> str:
        return self.name if self.schema_ == DEFAULT_SCHEMA else f"{self.schema_}.{self.name}"


def qualified(schema: str, name: str) -> str:
    """Display form: unqualified in `public`, as `format_type` prints with search_path=public."""
    return name if schema == DEFAULT_SCHEMA else f"{schema}.{name}"


class IdentityOptions(Model):
    """Options of an identity column's sequence; left out when all are Postgres's defaults."""

    start: int | None = Field(
        None, description="None: MINVALUE for ascending, MAXVALUE for descending."
    )
    increment: int = 1
    min_value: int | None = Field(None, description="None: the type's default.")
    max_value: int | None = Field(None, description="None: the type's default.")
    cache: int = 1
    cycle: bool = False


class Column(Model):
    name: Name
    type: str = Field(
        description="Type exactly as format_type() prints it, e.g. 'character varying(255)'."
    )
    nullable: bool = True
    default: str | None = Field(None, description="Default expression as pg_get_expr() prints it.")
    is_primary_key: bool = Field(
        False, description="Seed compatibility: derived from the table's primary_key when present."
    )
    identity: Literal["always", "by default"] | None = Field(
        None, description="GENERATED ALWAYS / BY DEFAULT AS IDENTITY."
    )
    identity_options: IdentityOptions | None = None
    generated: str | None = Field(
        None,
        description="Expression of a stored generated column (GENERATED ALWAYS AS ... STORED).",
    )
    collation: str | None = Field(None, description="Only when it differs from the type's default.")
    comment: str | None = None
    backfill: str | None = Field(
        None,
        description="Plan hint: when the column is added to an existing table, the SQL "
        "expression that sets the rows the table already has, in batches (resumable). "
        "Introspection never fills this, and it is not part of the schema's content (not in "
        "the fingerprint, never a difference).",
    )

    @model_validator(mode="after")
    def _one_source_of_values(self) -> Column:
        sources = [x for x in ("default", "identity", "generated") if getattr(self, x) is not None]
        if len(sources) > 1:
            raise ValueError(f"a column cannot have both {sources[0]!r} and {sources[1]!r}")
        if self.identity_options is not None and self.identity is None:
            raise ValueError("identity_options needs identity")
        if self.identity is not None and self.nullable:
            object.__setattr__(self, "nullable", False)  # Postgres makes identity columns NOT NULL
        if self.backfill is not None and (self.identity or self.generated):
            raise ValueError("backfill is for columns whose values the plan computes once")
        return self

    def content(self) -> Column:
        """The column without its backfill hint: what the database holds."""
        return self.model_copy(update={"backfill": None}) if self.backfill else self


class PrimaryKey(Model):
    name: str | None = Field(None, description="Constraint name; defaults to <table>_pkey.")
    columns: tuple[Name, ...] = Field(min_length=1)


class UniqueConstraint(Model):
    name: Name
    columns: tuple[Name, ...] = Field(min_length=1)
    nulls_not_distinct: bool = False
    deferrable: bool = False
    initially_deferred: bool = False


class CheckConstraint(Model):
    name: Name
    expression: str = Field(description="Boolean expression as pg_get_expr() prints it.")
    no_inherit: bool = False
    not_valid: bool = Field(False, description="Added NOT VALID: existing rows are not checked.")


class ForeignKey(Model):
    name: Name
    columns: tuple[Name, ...] = Field(min_length=1)
    referenced_schema: str = DEFAULT_SCHEMA
    referenced_table: Name
    referenced_columns: tuple[Name, ...] = Field(min_length=1)
    on_delete: FkAction = "NO ACTION"
    on_update: FkAction = "NO ACTION"
    match_full: bool = False
    deferrable: bool = False
    initially_deferred: bool = False
    not_valid: bool = Field(False, description="Added NOT VALID: existing rows are not checked.")

    @model_validator(mode="after")
    def _same_arity(self) -> ForeignKey:
        if len(self.columns) != len(self.referenced_columns):
            raise ValueError("columns and referenced_columns must have the same length")
        return self


class IndexKey(Model):
    """One key of an index: a column or an expression, with its ordering options.

    Plain ascending column keys are written as bare strings in `Index.columns`; this object is
    only needed for expressions, DESC, NULLS FIRST/LAST, a non-default operator class or collation.
    """

    column: Name | None = None
    expression: str | None = None
    descending: bool = False
    nulls: Literal["first", "last"] | None = Field(
        None, description="Only when it differs from the default (LAST for ASC, FIRST for DESC)."
    )
    opclass: str | None = None
    collation: str | None = None

    @model_validator(mode="after")
    def _column_xor_expression(self) -> IndexKey:
        if (self.column is None) == (self.expression is None):
            raise ValueError("an index key has exactly one of 'column' or 'expression'")
        return self


class Index(Model):
    name: Name
    columns: tuple[Name | IndexKey, ...] = Field(min_length=1)
    unique: bool = False
    method: str = "btree"
    include: tuple[Name, ...] = ()
    where: str | None = Field(None, description="Partial index predicate.")
    nulls_not_distinct: bool = False

    @model_validator(mode="after")
    def _canonical_keys(self) -> Index:
        keys = tuple(_canonical_key(k) for k in self.columns)
        if keys != self.columns:
            object.__setattr__(self, "columns", keys)
        return self


def _canonical_key(key: str | IndexKey) -> str | IndexKey:
    """A key with nothing but a column name is written as that name, so both spellings compare equal."""
    if isinstance(key, IndexKey) and key.column is not None and key == IndexKey(column=key.column):
        return key.column
    return key


PolicyCommand = Literal["ALL", "SELECT", "INSERT", "UPDATE", "DELETE"]
Privilege = Literal[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REFERENCES",
    "TRIGGER",
    "MAINTAIN",
    "USAGE",
    "EXECUTE",
]
# In the order Postgres documents them; MAINTAIN (tables and materialized views) is PG17+.
PRIVILEGES: tuple[str, ...] = Privilege.__args__  # type: ignore[attr-defined]
RELATION_PRIVILEGES = PRIVILEGES[:8]
SEQUENCE_PRIVILEGES = ("SELECT", "UPDATE", "USAGE")
FUNCTION_PRIVILEGES = ("EXECUTE",)


class Policy(Model):
    """A row-level security policy; it filters rows only while the table has RLS enabled."""

    name: Name
    permissive: bool = Field(True, description="False: RESTRICTIVE (ANDed with the others).")
    command: PolicyCommand = "ALL"
    roles: tuple[str, ...] = Field(
        ("public",), min_length=1, description="Role names, or 'public' for every role."
    )
    using: str | None = Field(None, description="USING expression as pg_get_expr() prints it.")
    with_check: str | None = Field(
        None, description="WITH CHECK expression as pg_get_expr() prints it."
    )

    @model_validator(mode="after")
    def _canonical(self) -> Policy:
        roles = tuple(sorted({"public" if r.lower() == "public" else r for r in self.roles}))
        object.__setattr__(self, "roles", roles)
        if self.command == "SELECT" and self.with_check is not None:
            raise ValueError(f"policy {self.name!r}: a SELECT policy has no WITH CHECK")
        if self.command in ("INSERT",) and self.using is not None:
            raise ValueError(f"policy {self.name!r}: an INSERT policy has no USING")
        if self.command == "DELETE" and self.with_check is not None:
            raise ValueError(f"policy {self.name!r}: a DELETE policy has no WITH CHECK")
        return self


class Grant(Model):
    """Privileges of one grantee on a table, view, sequence or function (the owner's own
    implicit ones are not listed)."""

    grantee: str = Field(description="Role name, or PUBLIC.")
    privileges: tuple[Privilege, ...] = Field(min_length=1)
    with_grant_option: bool = False

    @model_validator(mode="after")
    def _canonical(self) -> Grant:
        if self.grantee.lower() == "public":
            object.__setattr__(self, "grantee", "PUBLIC")
        ordered = tuple(p for p in PRIVILEGES if p in self.privileges)
        object.__setattr__(self, "privileges", ordered)
        return self


TRIGGER_EVENTS = ("INSERT", "DELETE", "UPDATE", "TRUNCATE")  # the order pg_get_triggerdef prints


class Trigger(Model):
    """A trigger on a table; one created on a partitioned table is one object (its clones on the
    partitions are not)."""

    name: Name
    timing: Literal["BEFORE", "AFTER", "INSTEAD OF"]
    events: tuple[Literal["INSERT", "DELETE", "UPDATE", "TRUNCATE"], ...] = Field(min_length=1)
    update_columns: tuple[Name, ...] = Field((), description="UPDATE OF these columns.")
    for_each: Literal["row", "statement"] = "statement"
    when: str | None = Field(None, description="WHEN condition as pg_get_triggerdef prints it.")
    function: str = Field(description="The trigger function as regproc prints it.")
    arguments: tuple[str, ...] = ()
    enabled: Literal["enabled", "disabled", "replica", "always"] = Field(
        "enabled", description="ENABLE (origin and local), DISABLE, ENABLE REPLICA, ENABLE ALWAYS."
    )
    constraint: bool = Field(False, description="CREATE CONSTRAINT TRIGGER.")
    deferrable: bool = False
    initially_deferred: bool = False
    comment: str | None = None

    @model_validator(mode="after")
    def _canonical(self) -> Trigger:
        events = tuple(sorted(set(self.events), key=TRIGGER_EVENTS.index))
        object.__setattr__(self, "events", events)
        if self.function.startswith(f"{DEFAULT_SCHEMA}."):  # regproc prints it unqualified
            object.__setattr__(self, "function", self.function.removeprefix(f"{DEFAULT_SCHEMA}."))
        if self.update_columns and "UPDATE" not in events:
            raise ValueError(f"trigger {self.name!r}: update_columns needs the UPDATE event")
        return self


GRANTS_DOC = "None: privileges are not managed; the plan never touches them."
OWNER_DOC = "None: not compared; a plan changes the owner only when this is set."
STORAGE_DOC = (
    "Storage parameters (reloptions) as pg_class.reloptions holds them, e.g. "
    "{'fillfactor': '70', 'autovacuum_enabled': 'false'}."
)


def _canonical_grants(obj: Any, allowed: tuple[str, ...]) -> None:
    """One entry per grantee and grant option, sorted; privileges must fit the object's kind."""
    grants: tuple[Grant, ...] | None = obj.grants
    if grants is None:
        return
    keys = [(g.grantee, g.with_grant_option) for g in grants]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup is not None:
        raise ValueError(f"grantee {dup[0]!r} appears twice; list its privileges once")
    bad = next((p for g in grants for p in g.privileges if p not in allowed), None)
    if bad is not None:
        raise ValueError(f"privilege {bad} does not apply here; use {', '.join(allowed)}")
    ordered = tuple(sorted(grants, key=lambda g: (g.grantee, g.with_grant_option)))
    object.__setattr__(obj, "grants", ordered)


def _canonical_options(options: dict[str, str]) -> dict[str, str]:
    """Names as Postgres folds them, sorted, so equal settings compare and print alike."""
    return {k.lower(): options[k] for k in sorted(options, key=str.lower)}


class Table(Model):
    schema_: str = Field(DEFAULT_SCHEMA, alias="schema")
    name: Name
    columns: tuple[Column, ...] = ()
    primary_key: PrimaryKey | None = None
    unique_constraints: tuple[UniqueConstraint, ...] = ()
    check_constraints: tuple[CheckConstraint, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    indexes: tuple[Index, ...] = ()
    comment: str | None = None
    unlogged: bool = False
    row_level_security: bool = False
    force_row_level_security: bool = False
    policies: tuple[Policy, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    grants: tuple[Grant, ...] | None = Field(None, description=GRANTS_DOC)
    owner: str | None = Field(None, description=OWNER_DOC)
    storage_parameters: dict[str, str] = Field(default_factory=dict, description=STORAGE_DOC)
    partition_by: str | None = Field(
        None,
        description="Partition key of a partitioned table, as pg_get_partkeydef() prints it, "
        "e.g. 'RANGE (created_at)'.",
    )
    partition_of: str | None = Field(
        None,
        description="Parent of a partition, display-qualified ('events', 'app.events'). A "
        "partition lists only what is its own: the columns, and the constraints and indexes it "
        "inherits from its parent, are not repeated.",
    )
    partition_bound: str | None = Field(
        None,
        description="Bound of a partition as pg_get_expr(relpartbound) prints it, e.g. "
        "\"FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')\" or 'DEFAULT'.",
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _partition_fields(self) -> Table:
        """A partition has a parent and a bound, and no columns of its own (they are its
        parent's); a partitioned table's key is checked by Postgres when it is created."""
        if (self.partition_of is None) != (self.partition_bound is None):
            raise ValueError("partition_of and partition_bound go together: a partition has both")
        if self.partition_of is not None and self.columns:
            raise ValueError(
                f"partition {self.name!r} lists columns: a partition's columns are its parent's "
                f"({self.partition_of}); leave them out"
            )
        if self.partition_by is not None and self.unlogged:
            raise ValueError("a partitioned table cannot be unlogged")
        return self

    @model_validator(mode="after")
    def _primary_key_both_ways(self) -> Table:
        """Seed files mark key columns; introspection names the constraint. Keep both in step."""
        flagged = tuple(c.name for c in self.columns if c.is_primary_key)
        pk = self.primary_key
        if pk is None and flagged:
            pk = PrimaryKey(name=None, columns=flagged)
        if pk is not None:
            if flagged and set(flagged) != set(pk.columns):
                raise ValueError(
                    f"is_primary_key columns {list(flagged)} disagree with primary_key "
                    f"{list(pk.columns)}"
                )
            if pk.name is None:
                pk = PrimaryKey(name=f"{self.name}_pkey"[:63], columns=pk.columns)
            names = {c.name for c in self.columns}
            missing = [c for c in pk.columns if c not in names]
            if missing and self.partition_of is None:  # a partition's columns are its parent's
                raise ValueError(f"primary key column {missing[0]!r} is not a column of the table")
            cols = tuple(
                c
                if c.is_primary_key == (c.name in pk.columns)
                else c.model_copy(update={"is_primary_key": c.name in pk.columns})
                for c in self.columns
            )
            object.__setattr__(self, "columns", cols)
            object.__setattr__(self, "primary_key", pk)
        seen: set[str] = set()
        for c in self.columns:
            if c.name in seen:
                raise ValueError(f"column {c.name!r} appears twice")
            seen.add(c.name)
        for attr in (
            "unique_constraints",
            "check_constraints",
            "foreign_keys",
            "indexes",
            "triggers",
        ):
            items = getattr(self, attr)
            object.__setattr__(self, attr, tuple(sorted(items, key=lambda o: o.name)))
        policies = tuple(sorted(self.policies, key=lambda p: p.name))
        dup_policy = next(
            (a.name for a, b in itertools.pairwise(policies) if a.name == b.name), None
        )
        if dup_policy is not None:
            raise ValueError(f"policy {dup_policy!r} appears twice")
        object.__setattr__(self, "policies", policies)
        _canonical_grants(self, RELATION_PRIVILEGES)
        object.__setattr__(self, "storage_parameters", _canonical_options(self.storage_parameters))
        return self

    @property
    def qname(self) -> str:
        return qualified(self.schema_, self.name)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


class Enum(Model):
    schema_: str = Field(DEFAULT_SCHEMA, alias="schema")
    name: Name
    labels: tuple[str, ...]
    renamed: dict[str, str] = Field(
        default_factory=dict,
        description="Plan hint, {new_label: old_label}: these labels are renamed in place (ALTER "
        "TYPE ... RENAME VALUE) rather than one dropped and another added. Lockplane never guesses "
        "renames; introspection never fills this, and it is not part of the schema's content "
        "(plans ignore it once applied, and it is not in the fingerprint).",
    )
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _renames_name_labels(self) -> Enum:
        for new, old in self.renamed.items():
            if new not in self.labels:
                raise ValueError(f"renamed: {new!r} is not a label of enum {self.qname}")
            if old in self.labels:
                raise ValueError(f"renamed: {old!r} is still a label of enum {self.qname}")
        return self

    def content(self) -> Enum:
        """The enum without its rename hint: what the database holds."""
        return self.model_copy(update={"renamed": {}}) if self.renamed else self

    @property
    def qname(self) -> str:
        return qualified(self.schema_, self.name)


class DomainCheck(Model):
    name: Name
    expression: str = Field(description="Boolean expression over VALUE as pg_get_expr() prints it.")
    not_valid: bool = Field(False, description="Added NOT VALID: existing values are not checked.")


class Domain(Model):
    """A domain: a base type with a default, NOT NULL and checks that every column of it obeys."""

    schema_: str = Field(DEFAULT_SCHEMA, alias="schema")
    name: Name
    type: str = Field(description="Base type exactly as format_type() prints it.")
    default: str | None = Field(None, description="Default expression as pg_get_expr() prints it.")
    not_null: bool = False
    collation: str | None = Field(None, description="None: the base type's collation.")
    check_constraints: tuple[DomainCheck, ...] = ()
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _canonical(self) -> Domain:
        ordered = tuple(sorted(self.check_constraints, key=lambda c: c.name))
        object.__setattr__(self, "check_constraints", ordered)
        return self

    @property
    def qname(self) -> str:
        return qualified(self.schema_, self.name)


class ViewColumn(Model):
    name: Name
    type: str = Field(description="Type exactly as format_type() prints it.")
    comment: str | None = None


class View(Model):
    """A view or materialized view. `definition` is the query as `pg_get_viewdef(oid, true)`
    prints it with search_path=public; `columns` are what the view exposes (introspection fills
    them in; a hand-written document may leave them out, and then they are not compared)."""

    schema_: str = Field(DEFAULT_SCHEMA, alias="schema")
    name: Name
    definition: str
    materialized: bool = False
    check_option: Literal["local", "cascaded"] | None = None
    security_barrier: bool = False
    security_invoker: bool = Field(False, description="PostgreSQL 15+.")
    columns: tuple[ViewColumn, ...] = ()
    indexes: tuple[Index, ...] = Field((), description="Materialized views only.")
    storage_parameters: dict[str, str] = Field(
        default_factory=dict, description=f"Materialized views only. {STORAGE_DOC}"
    )
    comment: str | None = None
    grants: tuple[Grant, ...] | None = Field(None, description=GRANTS_DOC)
    owner: str | None = Field(None, description=OWNER_DOC)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _canonical(self) -> View:
        if not self.materialized and (self.indexes or self.storage_parameters):
            raise ValueError("only a materialized view can have indexes and storage_parameters")
        _canonical_grants(self, RELATION_PRIVILEGES)
        object.__setattr__(self, "storage_parameters", _canonical_options(self.storage_parameters))
        if self.materialized and (
            self.check_option or self.security_barrier or self.security_invoker
        ):
            raise ValueError(
                "check_option, security_barrier and security_invoker are for plain views only"
            )
        object.__setattr__(self, "indexes", tuple(sorted(self.indexes, key=lambda i: i.name)))
        # pg_get_viewdef indents the first line and ends with ";": neither is part of the query
        object.__setattr__(self, "definition", self.definition.strip().rstrip(";").rstrip())
        return self

    @property
    def qname(self) -> str:
        return qualified(self.schema_, self.name)


def identity_arguments(arguments: str) -> str:
    """`a integer, b text DEFAULT 'x'::text` -> `a integer, b text`: what tells overloads apart
    (pg_get_function_identity_arguments), from what pg_get_function_arguments prints."""
    out: list[str] = []
    depth, quote, start = 0, "", 0
    cut: int | None = None
    for i, ch in enumerate(arguments + ","):
        if quote:
            quote = "" if ch == quote else quote  # a doubled quote reopens at once: same result
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif depth == 0 and ch == ",":
            out.append(arguments[start : i if cut is None else cut].strip())
            start, cut = i + 1, None
        elif depth == 0 and cut is None and arguments[i : i + 9].upper() == " DEFAULT ":
            cut = i
    return ", ".join(x for x in out if x)


class _Routine(Model):
    """What functions and aggregates share: overloads told apart by identity arguments."""

    schema_: str
    name: str
    arguments: str

    @property
    def identity(self) -> str:
        return identity_arguments(self.arguments)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.schema_, self.name, self.identity)

    @property
    def qname(self) -> str:
        return f"{qualified(self.schema_, self.name)}({self.identity})"


class Function(_Routine):
    """A function or procedure; overloads are separate objects, told apart by their identity
    arguments. Every option defaults to what CREATE FUNCTION picks when it is not given."""

    schema_: str = Field(DEFAULT_SCHEMA, alias="schema")
    name: Name
    kind: Literal["function", "procedure"] = "function"
    arguments: str = Field("", description="As pg_get_function_arguments() prints them.")
    returns: str | None = Field(
        None, description="As pg_get_function_result() prints it; None for a procedure."
    )
    language: str = "sql"
    body: str = Field(
        description="prosrc, or for an SQL-standard body what pg_get_function_sqlbody() prints."
    )
    sql_body: bool = Field(False, description="body is SQL-standard (BEGIN ATOMIC or RETURN).")
    volatility: Literal["volatile", "stable", "immutable"] = "volatile"
    strict: bool = False
    security_definer: bool = False
    leakproof: bool = False
    parallel: Literal["unsafe", "restricted", "safe"] = "unsafe"
    cost: float | None = Field(None, description="None: 1 for C and internal, else 100.")
    rows: float | None = Field(None, description="None: 1000 for a set-returning function.")
    config: tuple[str, ...] = Field(
        (), description="SET items as proconfig holds them: name=value."
    )
    comment: str | None = None
    grants: tuple[Grant, ...] | None = Field(
        None, description=f"{GRANTS_DOC} Postgres grants EXECUTE to PUBLIC by default."
    )
    owner: str | None = Field(None, description=OWNER_DOC)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _kind_fits(self) -> Function:
        if (self.kind == "function") == (self.returns is None):
            what = "needs 'returns'" if self.kind == "function" else "has no 'returns'"
            raise ValueError(f"{self.kind} {self.name!r} {what}")
        _canonical_grants(self, FUNCTION_PRIVILEGES)
        return self


class Aggregate(_Routine):
    """An aggregate (CREATE AGGREGATE), ordinary or ordered-set; overloads are told apart by
    their identity arguments. Support functions are named as regproc prints them (qualified only
    when not on the search path); types as format_type() prints them. Every option defaults to
    what CREATE AGGREGATE picks when it is not given."""

    schema_: str = Field(DEFAULT_SCHEMA, alias="schema")
    name: Name
    arguments: str = Field(
        "", description="As pg_get_function_arguments() prints them ('' for an aggregate of *)."
    )
    hypothetical: bool = Field(False, description="A hypothetical-set ordered-set aggregate.")
    sfunc: str
    stype: str
    sspace: int = 0
    finalfunc: str | None = None
    finalfunc_extra: bool = False
    finalfunc_modify: Literal["read_only", "shareable", "read_write"] | None = Field(
        None, description="None: read_only, or read_write for an ordered-set aggregate."
    )
    combinefunc: str | None = None
    serialfunc: str | None = None
    deserialfunc: str | None = None
    initcond: str | None = None
    msfunc: str | None = None
    minvfunc: str | None = None
    mstype: str | None = None
    msspace: int = 0
    mfinalfunc: str | None = None
    mfinalfunc_extra: bool = False
    mfinalfunc_modify: Literal["read_only", "shareable", "read_write"] | None = Field(
        None, description="None: read_only."
    )
    minitcond: str | None = None
    sortop: str | None = Field(None, description="As OPERATOR(schema.op).")
    parallel: Literal["unsafe", "restricted", "safe"] = "unsafe"
    comment: str | None = None
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def qname(self) -> str:
        return f"{qualified(self.schema_, self.name)}({self.identity or '*'})"

    @property
    def functions(self) -> tuple[str, ...]:
        """The support functions it names, as written."""
        names = (self.sfunc, self.finalfunc, self.combinefunc, self.serialfunc)
        names += (self.deserialfunc, self.msfunc, self.minvfunc, self.mfinalfunc)
        return tuple(n for n in names if n is not None)


class CompositeAttribute(Model):
    name: Name
    type: str = Field(description="Type exactly as format_type() prints it.")
    collation: str | None = Field(None, description="Only when it differs from the type's default.")


class CompositeType(Model):
    """A composite type (CREATE TYPE ... AS (...)); attributes keep their declared order."""

    schema_: str = Field(DEFAULT_SCHEMA, alias="schema")
    name: Name
    attributes: tuple[CompositeAttribute, ...] = ()
    comment: str | None = None
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _unique_attributes(self) -> CompositeType:
        names = [a.name for a in self.attributes]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup is not None:
            raise ValueError(f"attribute {dup!r} of type {self.qname} appears twice")
        return self

    @property
    def qname(self) -> str:
        return qualified(self.schema_, self.name)


def default_multirange_name(range_name: str) -> str:
    """The multirange type name Postgres 14+ picks: the first 'range' becomes 'multirange',
    else '_multirange' is appended (truncated to 63 bytes like any name)."""
    at = range_name.find("range")
    if at >= 0:
        name = range_name[:at] + "multirange" + range_name[at + len("range") :]
    else:
        name = range_name + "_multirange"
    return name.encode()[:63].decode(errors="ignore")


class RangeType(Model):
    """A range type (CREATE TYPE ... AS RANGE); Postgres also creates its multirange type and the
    constructor functions of both, which belong to it and are not objects of their own here."""

    schema_: str = Field(DEFAULT_SCHEMA, alias="schema")
    name: Name
    subtype: str = Field(description="Subtype exactly as format_type() prints it.")
    subtype_opclass: str | None = Field(None, description="None: the subtype's default btree one.")
    collation: str | None = Field(None, description="None: the subtype's default collation.")
    canonical: str | None = Field(None, description="Canonical function, as regproc prints it.")
    subtype_diff: str | None = Field(None, description="Subtype difference function (regproc).")
    multirange: str | None = Field(
        None, description="Multirange type name; None: the one Postgres derives from the name."
    )
    comment: str | None = None
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _canonical_multirange(self) -> RangeType:
        if self.multirange == default_multirange_name(self.name):
            object.__setattr__(self, "multirange", None)
        return self

    @property
    def qname(self) -> str:
        return qualified(self.schema_, self.name)


class SequenceOwner(Model):
    table: Name
    column: Name
    schema_: str = Field(DEFAULT_SCHEMA, alias="schema")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Sequence(Model):
    """A free-standing sequence; identity columns' internal sequences belong to their column."""

    schema_: str = Field(DEFAULT_SCHEMA, alias="schema")
    name: Name
    type: Literal["smallint", "integer", "bigint"] = "bigint"
    start: int = 1
    increment: int = 1
    min_value: int | None = Field(None, description="None: the type's default.")
    max_value: int | None = Field(None, description="None: the type's default.")
    cache: int = 1
    cycle: bool = False
    owned_by: SequenceOwner | None = None
    grants: tuple[Grant, ...] | None = Field(None, description=GRANTS_DOC)
    owner: str | None = Field(None, description=OWNER_DOC)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _canonical(self) -> Sequence:
        _canonical_grants(self, SEQUENCE_PRIVILEGES)
        return self

    @property
    def qname(self) -> str:
        return qualified(self.schema_, self.name)


class Extension(Model):
    name: Name
    schema_: str = Field(DEFAULT_SCHEMA, alias="schema")
    version: str | None = Field(None, description="None: whatever version the server installs.")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Unmanaged(Model):
    """An object Lockplane sees but does not manage yet: listed, never altered or dropped."""

    kind: str
    schema_: str | None = Field(None, alias="schema")
    name: str
    on: str | None = Field(None, description="The table it belongs to, for triggers and policies.")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Schema(Model):
    """A whole database schema document (the file format of `lockplane introspect`)."""

    json_schema_url: str | None = Field(None, alias="$schema")
    schemas: tuple[Name, ...] = Field(
        (), description="Namespaces besides public; those used by objects are added automatically."
    )
    extensions: tuple[Extension, ...] = ()
    enums: tuple[Enum, ...] = ()
    domains: tuple[Domain, ...] = ()
    composite_types: tuple[CompositeType, ...] = ()
    range_types: tuple[RangeType, ...] = ()
    sequences: tuple[Sequence, ...] = ()
    tables: tuple[Table, ...] = ()
    functions: tuple[Function, ...] = Field((), description="Functions and procedures.")
    aggregates: tuple[Aggregate, ...] = ()
    views: tuple[View, ...] = Field((), description="Views and materialized views.")
    unmanaged: tuple[Unmanaged, ...] = Field(
        (), description="Read-only inventory of objects Lockplane does not manage; never dropped."
    )
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _canonical(self) -> Schema:
        object.__setattr__(self, "json_schema_url", None)  # a pointer for editors, not content
        implied = _implied_sequences(self.tables, self.sequences)
        if implied:
            object.__setattr__(self, "sequences", self.sequences + implied)
        used = {t.schema_ for t in self.tables} | {e.schema_ for e in self.enums}
        used |= {d.schema_ for d in self.domains} | {f.schema_ for f in self.functions}
        used |= {x.schema_ for x in (*self.composite_types, *self.range_types)}
        used |= {s.schema_ for s in self.sequences} | {x.schema_ for x in self.extensions}
        used |= {v.schema_ for v in self.views} | {a.schema_ for a in self.aggregates}
        names = sorted((set(self.schemas) | used) - {DEFAULT_SCHEMA})
        object.__setattr__(self, "schemas", tuple(names))
        kinds = ("extensions", "enums", "domains", "composite_types", "range_types")
        for attr in (*kinds, "sequences", "tables", "views"):
            items = getattr(self, attr)
            ordered = tuple(sorted(items, key=lambda o: (o.schema_, o.name)))
            keys = [(o.schema_, o.name) for o in ordered]
            dup = next((k for k, n in itertools.pairwise(keys) if k == n), None)
            if dup is not None:
                raise ValueError(f"{attr[:-1]} {qualified(*dup)!r} appears twice")
            object.__setattr__(self, attr, ordered)
        functions = tuple(sorted(self.functions, key=lambda f: f.key))
        dup_f = next((a for a, b in itertools.pairwise(functions) if a.key == b.key), None)
        if dup_f is not None:
            raise ValueError(f"{dup_f.kind} {dup_f.qname!r} appears twice")
        object.__setattr__(self, "functions", functions)
        aggregates = tuple(sorted(self.aggregates, key=lambda a: a.key))
        dup_a = next((a for a, b in itertools.pairwise(aggregates) if a.key == b.key), None)
        if dup_a is not None:
            raise ValueError(f"aggregate {dup_a.qname!r} appears twice")
        object.__setattr__(self, "aggregates", aggregates)
        clash = {(t.schema_, t.name) for t in self.tables} & {
            (v.schema_, v.name) for v in self.views
        }
        if clash:
            raise ValueError(f"{qualified(*min(clash))!r} is both a table and a view")
        _check_partitions(self.tables)
        object.__setattr__(
            self,
            "unmanaged",
            tuple(
                sorted(self.unmanaged, key=lambda u: (u.kind, u.schema_ or "", u.on or "", u.name))
            ),
        )
        return self

    def summary(self) -> str:
        """`3 tables, 2 views, 1 function, 1 unmanaged object`: kinds with none left out."""
        kinds: list[tuple[int, str]] = [
            (len(self.tables), "table"),
            (sum(not v.materialized for v in self.views), "view"),
            (sum(v.materialized for v in self.views), "materialized view"),
            (sum(f.kind == "function" for f in self.functions), "function"),
            (sum(f.kind == "procedure" for f in self.functions), "procedure"),
            (len(self.enums), "enum"),
            (len(self.domains), "domain"),
            (len(self.composite_types), "composite type"),
            (len(self.range_types), "range type"),
            (len(self.sequences), "sequence"),
            (len(self.extensions), "extension"),
            (len(self.schemas), "schema"),
            (len(self.unmanaged), "unmanaged object"),
        ]
        parts = [
            f"{n} {word}{'' if n == 1 else 's'}" for i, (n, word) in enumerate(kinds) if n or not i
        ]
        return ", ".join(parts)

    def table(self, schema: str, name: str) -> Table | None:
        return next((t for t in self.tables if t.schema_ == schema and t.name == name), None)

    def parent(self, table: Table) -> Table | None:
        """The partitioned table a partition belongs to (None for any other table)."""
        if table.partition_of is None:
            return None
        return next((t for t in self.tables if t.qname == table.partition_of), None)

    def partition_depth(self, table: Table) -> int:
        """0 for a table that is not a partition, 1 for a partition, 2 for a sub-partition..."""
        depth, parent = 0, self.parent(table)
        while parent is not None:
            depth, parent = depth + 1, self.parent(parent)
        return depth

    def effective_columns(self, table: Table) -> tuple[Column, ...]:
        """The columns a table really has: a partition's are its top-level parent's."""
        parent = self.parent(table)
        return table.columns if parent is None else self.effective_columns(parent)

    def managed_dict(self) -> dict[str, Any]:
        """The part of the document that plans change: everything but `$schema` and `unmanaged`."""
        # plan hints, not content (see Enum.renamed, Column.backfill)
        hints: dict[str, Any] = {
            "enums": {"__all__": {"renamed"}},
            "tables": {"__all__": {"columns": {"__all__": {"backfill"}}}},
        }
        return self.model_dump(
            mode="json",
            by_alias=True,
            exclude={"json_schema_url": True, "unmanaged": True, **hints},
        )

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON of the managed objects; equal schemas, equal fingerprints."""
        canonical = json.dumps(self.managed_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_json(self) -> str:
        """The document as `lockplane introspect` prints it: defaults left out, keys in model order."""
        data = self.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        data = {"$schema": SCHEMA_URL, **{k: v for k, v in data.items() if k != "$schema"}}
        data.setdefault("tables", [])
        for table in data["tables"]:  # the seed format always spells these out
            for column in table.get("columns", []):
                column.setdefault("nullable", True)
                column.setdefault("is_primary_key", False)
            for index in table.get("indexes", []):
                index.setdefault("unique", False)
        return pydantic_core.to_json(data, indent=2).decode() + "\n"


def _check_partitions(tables: tuple[Table, ...]) -> None:
    """Every partition names a partitioned table of the same document (so plans can find the
    columns it inherits and create it after its parent)."""
    by_name = {t.qname: t for t in tables}
    for t in tables:
        if t.partition_of is None:
            continue
        parent = by_name.get(t.partition_of)
        if parent is None:
            raise ValueError(
                f"table {t.qname!r} is a partition of {t.partition_of!r}, which is not a table "
                "of this schema"
            )
        if parent.partition_by is None:
            raise ValueError(
                f"table {t.qname!r} is a partition of {parent.qname!r}, which has no partition_by"
            )
        seen = {t.qname}
        up: Table | None = parent
        while up is not None and up.partition_of is not None:
            if up.qname in seen:
                raise ValueError(f"table {t.qname!r}: partition_of goes round in a circle")
            seen.add(up.qname)
            up = by_name.get(up.partition_of)
    defaults = [t.partition_of for t in tables if t.partition_bound == "DEFAULT"]
    twice = next((p for p, n in itertools.pairwise(sorted(defaults)) if p == n), None)
    if twice is not None:
        raise ValueError(f"table {twice!r} has more than one DEFAULT partition")


_NEXTVAL = re.compile(r"^nextval\('((?:[^']|'')+)'::regclass\)$")
_SERIAL_TYPES = {"smallint": "smallint", "integer": "integer", "bigint": "bigint"}


def _split_name(text: str) -> tuple[str, str]:
    """`app."My Seq"` -> ("app", "My Seq"), as Postgres reads a regclass literal."""
    parts: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == '"':
            j = i + 1
            buf = ""
            while j < len(text):
                if text[j] == '"' and text[j + 1 : j + 2] == '"':
                    buf, j = buf + '"', j + 2
                elif text[j] == '"':
                    break
                else:
                    buf, j = buf + text[j], j + 1
            parts.append(buf)
            i = j + 1
        else:
            j = text.find(".", i)
            j = len(text) if j < 0 else j
            parts.append(text[i:j].lower())
            i = j
        if i < len(text) and text[i] == ".":
            i += 1
    return (parts[0], parts[1]) if len(parts) == 2 else (DEFAULT_SCHEMA, parts[-1] if parts else "")


def _implied_sequences(
    tables: tuple[Table, ...], declared: tuple[Sequence, ...]
) -> tuple[Sequence, ...]:
    """`serial` shorthand: a `nextval('x_seq'::regclass)` default naming a sequence the document
    does not declare implies that sequence, owned by the column, exactly as `serial` creates it."""
    known = {(s.schema_, s.name) for s in declared}
    out: list[Sequence] = []
    for t in tables:
        for c in t.columns:
            m = _NEXTVAL.match(c.default or "")
            if not m or c.type not in _SERIAL_TYPES:
                continue
            schema, name = _split_name(m.group(1).replace("''", "'"))
            if (schema, name) in known:
                continue
            known.add((schema, name))
            owner = SequenceOwner(schema=t.schema_, table=t.name, column=c.name)
            out.append(Sequence(schema=schema, name=name, type=c.type, owned_by=owner))  # type: ignore[arg-type]
    return tuple(out)


SCHEMA_URL = "https://raw.githubusercontent.com/lockplane/lockplane/main/schema-json/schema.json"
PLAN_URL = "https://raw.githubusercontent.com/lockplane/lockplane/main/schema-json/plan.json"
