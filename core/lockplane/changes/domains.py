"""Domains: create, drop, and the ALTER DOMAIN forms that keep every column of the domain valid.

A domain's NOT NULL and checks bind every column of that type in every table, so tightening one
scans those tables: SET NOT NULL and VALIDATE CONSTRAINT hold SHARE on each of them (writes wait)
while they check the stored values. A new check is added NOT VALID first (no scan, no table lock)
and validated in a transaction of its own. `tables` are the existing tables with a column of the
domain, as SQL names them; the diff supplies them because the domain does not know its users.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from ..model import Domain, DomainCheck
from ..plan import Hazard, LockMode
from ..sqlnames import Ident, obj
from .base import Change, ObjectChange, Phase, hazard
from .ddl import collation
from .online import NothingToUndo
from .usertypes import create_key, drop_key


def _name(d: Domain) -> sql.Composable:
    return obj(d.schema_, d.name)


def _check_sql(c: DomainCheck) -> sql.Composable:
    return sql.SQL("CONSTRAINT {} CHECK ({})").format(Ident(c.name), sql.SQL(c.expression))


def _scan(domain: str, users: tuple[str, ...]) -> Hazard:
    """The SHARE locks a scan of a domain's columns holds on the tables using it."""
    return hazard(
        "LP311", f"Scanning domain {domain} holds SHARE on {', '.join(users)}: writes wait"
    )


@dataclass(frozen=True)
class CreateDomain(ObjectChange):
    """Among the composite and range types, at its dependency graph `depth` (usertypes.py)."""

    after: Domain
    depth: int = 0
    phase = Phase.CREATE_TYPE
    sign = "+"
    kind = "domain"

    @property
    def subject(self) -> Any:
        return self.after

    def key(self) -> tuple[str, ...]:
        return create_key(self.depth, self.after.schema_, self.after.name)

    def statements(self) -> list[sql.Composable]:
        d = self.after
        parts: list[sql.Composable] = [
            sql.SQL("CREATE DOMAIN {} AS {}").format(_name(d), sql.SQL(d.type))
        ]
        if d.collation:
            parts.append(sql.SQL("COLLATE {}").format(collation(d.collation)))
        if d.not_null:
            parts.append(sql.SQL("NOT NULL"))
        parts += [_check_sql(c) for c in d.check_constraints if not c.not_valid]
        out: list[sql.Composable] = [sql.SQL(" ").join(parts)]
        if d.default is not None:  # apart, so that squawk does not take it for a constraint
            out.append(
                sql.SQL("ALTER DOMAIN {} SET DEFAULT {}").format(_name(d), sql.SQL(d.default))
            )
        out += [  # CREATE DOMAIN cannot say NOT VALID; nothing holds the type yet to check
            sql.SQL("ALTER DOMAIN {} ADD {} NOT VALID").format(_name(d), _check_sql(c))
            for c in d.check_constraints
            if c.not_valid
        ]
        return out

    def reverse(self) -> Change:
        return DropDomain(self.after, self.depth)

    def description(self) -> str:
        return f"Create domain {self.after.qname}"

    def hazards(self) -> list[Hazard]:
        d = self.after
        rules = (["NOT NULL"] if d.not_null else []) + [c.name for c in d.check_constraints]
        if not rules:
            return []
        return [hazard("LP507", f"Domain {d.qname} carries constraints ({', '.join(rules)})")]

    def notes(self) -> list[str]:
        return ["Creating a type is always safe"]


@dataclass(frozen=True)
class DropDomain(ObjectChange):
    """Among the composite and range types, the deepest first (usertypes.py)."""

    before: Domain
    depth: int = 0
    phase = Phase.DROP_TYPE
    sign = "-"
    kind = "domain"

    @property
    def subject(self) -> Any:
        return self.before

    def key(self) -> tuple[str, ...]:
        return drop_key(self.depth, self.before.schema_, self.before.name)

    def statements(self) -> list[sql.Composable]:
        return [sql.SQL("DROP DOMAIN {}").format(_name(self.before))]

    def reverse(self) -> Change:
        return CreateDomain(self.before, self.depth)

    def description(self) -> str:
        return f"Drop domain {self.before.qname}"

    def hazards(self) -> list[Hazard]:
        return [hazard("LP108", f"Code that names type {self.before.qname} will fail")]

    def notes(self) -> list[str]:
        return ["No column uses the type by the time it is dropped"]


@dataclass(frozen=True)
class SetDomainDefault(ObjectChange):
    """Only inserts that omit a column of the domain (and have no column default) see it."""

    before: Domain
    after: Domain
    phase = Phase.ALTER_DOMAIN
    sign = "~"
    kind = "domain"

    @property
    def subject(self) -> Any:
        return self.after

    def key(self) -> tuple[str, ...]:
        return (self.after.schema_, self.after.name, "default")

    def statements(self) -> list[sql.Composable]:
        if self.after.default is None:
            return [sql.SQL("ALTER DOMAIN {} DROP DEFAULT").format(_name(self.after))]
        return [
            sql.SQL("ALTER DOMAIN {} SET DEFAULT {}").format(
                _name(self.after), sql.SQL(self.after.default)
            )
        ]

    def reverse(self) -> Change:
        return SetDomainDefault(self.after, self.before)

    def description(self) -> str:
        if self.after.default is None:
            return f"Drop the default of domain {self.after.qname}"
        return f"Set the default of domain {self.after.qname} to {self.after.default}"

    def detail(self) -> str:
        return f"default {self.before.default} → {self.after.default}"

    def hazards(self) -> list[Hazard]:
        if self.after.default is None:
            msg = f"The default of domain {self.after.qname} ({self.before.default}) is dropped"
            return [hazard("LP406", msg)]
        return []

    def notes(self) -> list[str]:
        return ["A domain default applies to future inserts only; no row is touched"]


@dataclass(frozen=True)
class SetDomainNotNull(ObjectChange):
    before: Domain
    after: Domain
    users: tuple[str, ...] = ()
    phase = Phase.ALTER_DOMAIN
    sign = "~"
    kind = "domain"

    @property
    def subject(self) -> Any:
        return self.after

    def key(self) -> tuple[str, ...]:
        return (self.after.schema_, self.after.name, "not null")

    def statements(self) -> list[sql.Composable]:
        verb = "SET" if self.after.not_null else "DROP"
        return [sql.SQL("ALTER DOMAIN {} {} NOT NULL").format(_name(self.after), sql.SQL(verb))]

    def reverse(self) -> Change:
        return SetDomainNotNull(self.after, self.before, self.users)

    def description(self) -> str:
        verb = "Set" if self.after.not_null else "Drop"
        return f"{verb} NOT NULL on domain {self.after.qname}"

    def detail(self) -> str:
        return "NOT NULL" if self.after.not_null else "nullable"

    def lock(self) -> LockMode | None:
        return "SHARE" if self.after.not_null and self.users else None

    def tables(self) -> tuple[str, ...]:
        return self.users if self.lock() else ()

    def hazards(self) -> list[Hazard]:
        q = self.after.qname
        if self.after.not_null:
            if not self.users:
                return []
            return [
                hazard("LP202", f"SET NOT NULL on domain {q} fails if a column of it holds NULL"),
                _scan(q, self.users),
            ]
        return [hazard("LP402", f"Readers of columns of domain {q} must now expect NULL values")]

    def notes(self) -> list[str]:
        if self.after.not_null and self.users:
            return ["Every column of the domain is scanned under SHARE: writes wait meanwhile"]
        return ["No stored value is checked"]


@dataclass(frozen=True)
class AddDomainCheck(Change):
    """ADD CONSTRAINT ... NOT VALID: new values are checked at once, stored ones are not.
    `validate`: a plain ADD that checks stored values too (the rollback of a dropped valid check,
    which must come back valid)."""

    domain: Domain
    check: DomainCheck
    validate: bool = False
    users: tuple[str, ...] = ()
    phase = Phase.ALTER_DOMAIN
    sign = "+"
    kind = "domain check"

    def key(self) -> tuple[str, ...]:  # after the drops: a changed check is dropped, then added
        return (self.domain.schema_, self.domain.name, "b-add", self.check.name)

    @property
    def target(self) -> str:
        return f"{self.check.name} on {self.domain.qname}"

    def statements(self) -> list[sql.Composable]:
        stmt = sql.SQL("ALTER DOMAIN {} ADD {}").format(_name(self.domain), _check_sql(self.check))
        return [stmt if self.validate else sql.SQL("{} NOT VALID").format(stmt)]

    def reverse(self) -> Change:
        check = self.check.model_copy(update={"not_valid": not self.validate})
        return DropDomainCheck(self.domain, check, self.users)

    def description(self) -> str:
        how = "" if self.validate else " (NOT VALID)"
        return f"Add check {self.check.name} to domain {self.domain.qname}{how}"

    def lock(self) -> LockMode | None:
        return "SHARE" if self.validate and self.users else None

    def tables(self) -> tuple[str, ...]:
        return self.users if self.lock() else ()

    def hazards(self) -> list[Hazard]:
        q = self.domain.qname
        out = [hazard("LP507", f"Domain {q} gets check constraint {self.check.name}")]
        if self.lock():
            msg = f"Check {self.check.name} fails if a stored value of domain {q} violates it"
            out += [hazard("LP204", msg), _scan(q, self.users)]
        return out

    def notes(self) -> list[str]:
        if self.validate:
            return ["Every column of the domain is scanned under SHARE: writes wait meanwhile"]
        return ["NOT VALID: no stored value is checked and no table is locked"]


@dataclass(frozen=True)
class ValidateDomainCheck(Change):
    """VALIDATE CONSTRAINT on a domain holds SHARE on every table using it while it scans."""

    domain: Domain
    check: DomainCheck
    users: tuple[str, ...] = ()
    phase = Phase.VALIDATE_DOMAIN
    sign = "~"
    kind = "domain check"
    own_transaction = True

    def key(self) -> tuple[str, ...]:
        return (self.domain.schema_, self.domain.name, self.check.name, "validate")

    @property
    def target(self) -> str:
        return f"{self.check.name} on {self.domain.qname}"

    def statements(self) -> list[sql.Composable]:
        return [
            sql.SQL("ALTER DOMAIN {} VALIDATE CONSTRAINT {}").format(
                _name(self.domain), Ident(self.check.name)
            )
        ]

    def reverse(self) -> Change:
        return NothingToUndo(self)  # type: ignore[arg-type]

    def description(self) -> str:
        return f"Validate check {self.check.name} on domain {self.domain.qname}"

    def lock(self) -> LockMode | None:
        return "SHARE" if self.users else None

    def tables(self) -> tuple[str, ...]:
        return self.users

    def hazards(self) -> list[Hazard]:
        if not self.users:
            return []
        msg = f"Check {self.check.name} fails if a stored value of domain {self.domain.qname} violates it"
        return [hazard("LP204", msg), _scan(self.domain.qname, self.users)]

    def notes(self) -> list[str]:
        return ["Every column of the domain is scanned under SHARE: writes wait meanwhile"]


@dataclass(frozen=True)
class DropDomainCheck(Change):
    domain: Domain
    check: DomainCheck
    users: tuple[str, ...] = ()
    phase = Phase.ALTER_DOMAIN
    sign = "-"
    kind = "domain check"

    def key(self) -> tuple[str, ...]:
        return (self.domain.schema_, self.domain.name, "a-drop", self.check.name)

    @property
    def target(self) -> str:
        return f"{self.check.name} on {self.domain.qname}"

    def statements(self) -> list[sql.Composable]:
        return [
            sql.SQL("ALTER DOMAIN {} DROP CONSTRAINT {}").format(
                _name(self.domain), Ident(self.check.name)
            )
        ]

    def reverse(self) -> Change:
        return AddDomainCheck(self.domain, self.check, not self.check.not_valid, self.users)

    def description(self) -> str:
        return f"Drop check {self.check.name} from domain {self.domain.qname}"

    def hazards(self) -> list[Hazard]:
        msg = f"Domain {self.domain.qname} stops enforcing check {self.check.name}"
        return [hazard("LP106", msg)]

    def notes(self) -> list[str]:
        return ["Dropping a constraint only relaxes what the domain accepts"]


@dataclass(frozen=True)
class AddDomainCheckLate(AddDomainCheck):
    """A check that calls a function this plan creates (or creates again): added once the
    function exists, after tables, columns, functions and views."""

    phase = Phase.ADD_DOMAIN_CHECK_LATE


@dataclass(frozen=True)
class ValidateDomainCheckLate(ValidateDomainCheck):
    phase = Phase.VALIDATE_DOMAIN_CHECK_LATE
