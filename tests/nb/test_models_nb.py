"""`%lockplane plan --to-models VAR`: SQLAlchemy models in the user's namespace as the desired
schema, built by `metadata.create_all` on the shadow, through a real in-process IPython shell."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

from lockplane import Plan, apply_plan
from lockplane_nb.errors import CellError

from .test_magics import connect, run

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture
def models(ip: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The sample app's first models, imported in the notebook as a user would."""
    monkeypatch.syspath_prepend(str(DATA))
    result, out = run(ip, "from sqlalchemy_app.models_v1 import Base")
    assert result.error_in_exec is None, out
    return sys.modules["sqlalchemy_app.models_v1"]


def test_plan_to_models_in_a_variable_then_apply(
    ip: Any, models: Any, fresh_db: Callable[[], str]
) -> None:
    db, shadow = fresh_db(), fresh_db()
    connect(ip, db, shadow)
    result, out = run(ip, "%lockplane plan --to-models Base -o p")
    assert result.error_in_exec is None, out
    plan = ip.user_ns["p"]
    assert isinstance(plan, Plan)
    assert "Create enum order_status" in [s.description for s in plan.steps]
    apply_plan(plan, db, shadow_url=shadow)
    ip.user_ns["meta"] = models.Base.metadata  # a MetaData works as well as its base
    result, out = run(ip, "%lockplane plan --to-models meta")
    assert result.error_in_exec is None and result.result.is_empty, out


@pytest.mark.parametrize(
    ("cell", "error", "message"),
    [
        ("%lockplane plan --to-models Missing", UsageError, "Missing: no such variable"),
        ("%lockplane plan --to-models Base --to x.sql", UsageError, "give the desired schema once"),
        ("%%lockplane plan --to-models Base\nCREATE TABLE t ()", UsageError, "schema once"),
        ("%lockplane plan --to-models not_models", CellError, "neither a declarative base"),
    ],
)
def test_to_models_mistakes_are_one_line(
    ip: Any, models: Any, fresh_db: Callable[[], str], cell: str, error: type, message: str
) -> None:
    connect(ip, fresh_db(), fresh_db())
    ip.user_ns["not_models"] = 42
    result, out = run(ip, cell)
    assert isinstance(result.error_in_exec, error), out
    assert message in str(result.error_in_exec) and "Traceback" not in out
