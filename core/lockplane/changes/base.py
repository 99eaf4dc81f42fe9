"""What every change knows about itself: its SQL, its inverse, its lock and its hazards.

A change holds the objects it acts on (`before` for what it removes, `after` for what it creates),
so its inverse can always be built without looking anything up: the rollback is derived from
these objects, never from the SQL text. `phase` orders changes in a plan (see planner.py); `key`
orders changes within a phase so plans are deterministic.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from psycopg import sql

from ..plan import Hazard, LockMode, Step
from ..rules import hazard
from ..sqlnames import obj, render


def data_loss(rule: str, what: str) -> list[Hazard]:
    """Dropping data: blocks apply without --allow-destructive, and the rollback cannot bring it back."""
    return [
        hazard(rule, f"Drops {what} and all the data in it"),
        hazard("LP107", f"The rollback recreates {what} empty; its data is not restored"),
    ]


@dataclass(frozen=True)
class Change(ABC):
    phase: ClassVar[int]
    sign: ClassVar[str]  # "+", "-" or "~", for diff summaries
    # False: Postgres refuses it in a transaction block (CONCURRENTLY), so its step runs alone in
    # autocommit; such a change is one statement, and so is its inverse.
    transactional: ClassVar[bool] = True
    # True: a long scan under a weak lock (VALIDATE CONSTRAINT) that must not share a transaction
    # with the steps before it, or it would hold their strong locks (ADD ... NOT VALID's) meanwhile.
    own_transaction: ClassVar[bool] = False

    @abstractmethod
    def key(self) -> tuple[str, ...]:
        """Where this change sorts within its phase."""

    @abstractmethod
    def statements(self) -> list[sql.Composable]: ...

    @abstractmethod
    def reverse(self) -> Change: ...

    @abstractmethod
    def description(self) -> str: ...

    @property
    @abstractmethod
    def kind(self) -> str:
        """The kind of object changed, for summaries: table, column, index, ..."""

    @property
    @abstractmethod
    def target(self) -> str:
        """The object changed, as a user would name it."""

    def detail(self) -> str:
        """What changed about the object, for `~` summaries."""
        return ""

    def lock(self) -> LockMode | None:
        """The strongest lock taken on an existing table; None when only new objects are touched."""
        return None

    def hazards(self) -> list[Hazard]:
        return []

    def tables(self) -> tuple[str, ...]:
        """The existing tables this change locks, as SQL names them (for blocker checks)."""
        table = getattr(self, "table", None)
        if self.lock() is None or table is None:
            return ()
        return (obj(table.schema_, table.name).as_string(None),)

    def notes(self) -> list[str]:
        """Why a hazard-free change is safe, for the validation report."""
        return []

    def one_way(self) -> bool:
        """True when nothing can undo this change (an extension update with no path back): its
        step carries no reverse, and the rollback of its plan refuses, naming it."""
        return False

    def to_step(self) -> Step:
        statements = self.statements()
        if self.one_way():
            return Step(
                description=self.description(),
                sql=render(statements),
                one_way=True,
                reverse_tables=(),
                lock=self.lock(),
                tables=self.tables(),
                hazards=tuple(self.hazards()),
                notes=tuple(self.notes()),
            )
        inverse = self.reverse()
        if not self.transactional:  # invariants of the change classes, not of user input
            assert len(statements) == 1, f"{self.description()}: one statement when it runs alone"
            assert not inverse.transactional, f"{self.description()}: its inverse runs alone too"
        return Step(
            description=self.description(),
            sql=render(statements),
            reverse_sql=render(inverse.statements()),
            transactional=self.transactional,
            own_transaction=self.own_transaction,
            lock=self.lock(),
            tables=self.tables(),
            hazards=tuple(self.hazards()),
            notes=tuple(self.notes()),
            reverse_description=inverse.description(),
            reverse_lock=inverse.lock(),
            reverse_tables=inverse.tables(),
            reverse_hazards=tuple(inverse.hazards()),
        )


@dataclass(frozen=True)
class NothingToUndo(Change):
    """The inverse of a step that leaves nothing to take back: VALIDATE CONSTRAINT only checks
    rows, and an index attached to a parent's goes when the rollback drops the parent's.

    It is a step of its own whose SQL is a comment, rather than a hole in the rollback: a rollback
    is itself a plan whose reverse is the original one (proving a rollback on the shadow runs that
    reverse), and that reverse must still run. The comment is fixed text (`why`, never a name:
    names can hold newlines, which would end a comment). It sits where the step it undoes sits,
    in a transaction of its own when that one has one.
    """

    done: Change
    why: str = "VALIDATE CONSTRAINT only checked existing rows"
    note: str = "Runs nothing: validating changed no data and no definition"
    sign = "~"

    @property
    def own_transaction(self) -> bool:  # type: ignore[override]
        return self.done.own_transaction

    @property
    def phase(self) -> int:  # type: ignore[override]
        return self.done.phase

    def key(self) -> tuple[str, ...]:
        return self.done.key()

    @property
    def kind(self) -> str:
        return self.done.kind

    @property
    def target(self) -> str:
        return self.done.target

    def statements(self) -> list[sql.Composable]:
        return [sql.SQL("-- nothing to undo: " + self.why)]

    def reverse(self) -> Change:
        return self.done

    def description(self) -> str:
        return f"Nothing to undo for: {self.done.description()}"

    def notes(self) -> list[str]:
        return [self.note]


class ObjectChange(Change):
    """A change to one schema-level object (enum, sequence, extension, table...): its place in
    the plan and its name both come from that object."""

    @property
    @abstractmethod
    def subject(self) -> Any:
        """The object acted on: `after` for creates, `before` for drops."""

    def key(self) -> tuple[str, ...]:
        return (getattr(self.subject, "schema_", ""), self.subject.name)

    @property
    def target(self) -> str:
        return getattr(self.subject, "qname", self.subject.name)


class Phase:
    """Plan order: creates before the things that use them, drops of dependents before what they
    depend on, adds before drops. The reverse plan is this order reversed, which keeps it valid."""

    CREATE_SCHEMA = 10
    CREATE_EXTENSION = 20
    ALTER_EXTENSION = 22
    CREATE_ENUM = 30
    RENAME_ENUM_VALUE = 33
    ALTER_ENUM = 35
    ALTER_DOMAIN = 37
    VALIDATE_DOMAIN = 38
    CREATE_TYPE = 39
    CREATE_SEQUENCE = 40
    ALTER_SEQUENCE = 45
    DROP_POLICY = 46
    DROP_TRIGGER = 47
    DROP_VIEW = 48
    DROP_FOREIGN_KEY = 50
    DISOWN_SEQUENCE = 55
    DETACH_PARTITION = 57
    DROP_INDEX = 60
    DROP_CONSTRAINT = 65
    CREATE_FUNCTION = 67
    CREATE_TABLE = 70
    CREATE_PARTITION = 72
    ATTACH_PARTITION = 74
    ADD_COLUMN = 80
    ALTER_COLUMN = 85
    CREATE_FUNCTION_LATE = 87
    CREATE_VIEW = 88
    ADD_CONSTRAINT = 90
    ADD_DOMAIN_CHECK_LATE = 92  # a domain check calling a function this plan creates
    VALIDATE_DOMAIN_CHECK_LATE = 94
    CREATE_INDEX = 100
    ADD_FOREIGN_KEY = 110
    CREATE_TRIGGER = 112
    ENABLE_RLS = 114
    CREATE_POLICY = 116
    OWN_SEQUENCE = 120
    COMMENT = 130
    GRANT = 135
    DROP_COLUMN = 140
    DROP_TABLE = 150
    DROP_FUNCTION = 155
    DROP_SEQUENCE = 160
    DROP_TYPE = 162
    DROP_ENUM = 170
    DROP_EXTENSION = 180
    DROP_SCHEMA = 190
