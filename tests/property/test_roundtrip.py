"""Property-based round trips: random schemas and random edits, planned, applied, rolled back.

200 examples per server, in four deterministic shards (`@seed`) so xdist can spread them; no
example database is kept between runs (`database=None`). A failure is shrunk by hypothesis and
its minimal example is appended to `acceptance/cases/property_found.yaml` as a strict `xfail`
acceptance case, so it keeps being checked after the property run that found it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from acceptance.catalog import load_cases
from hypothesis import HealthCheck, given, seed, settings
from servers import create_database, drop_database

from .roundtrip import Planner, Pool, Recorder, RoundTripFailed, run_example
from .schemagen import Schema, schema_pairs

SHARDS = 4
EXAMPLES_PER_SHARD = 50
FOUND_CASES = Path(__file__).parent.parent / "acceptance" / "cases" / "property_found.yaml"


@pytest.fixture(scope="session")
def pool(pg_url: str) -> Iterator[Pool]:
    """Three databases this worker reuses for every example on this server."""
    urls = [create_database(pg_url, prefix="lp_prop") for _ in range(3)]
    yield Pool(*urls)
    for url in urls:
        drop_database(pg_url, url)


def check_round_trips(
    pool: Pool,
    *,
    shard: int,
    examples: int,
    recorder: Recorder,
    planner: Planner | None = None,
) -> None:
    """Run `examples` random pairs; on failure record the shrunk example, then re-raise."""

    @seed(shard)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        report_multiple_bugs=False,  # one bug, shrunk, replayed last: that is what is recorded
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(pair=schema_pairs())
    def round_trip(pair: tuple[Schema, Schema]) -> None:
        old, new = pair
        try:
            run_example(pool, old.ddl(), new.ddl(), planner)
        except RoundTripFailed as failure:
            recorder.failed(failure)
            raise

    try:
        round_trip()
    finally:
        recorder.commit()


@pytest.mark.parametrize("shard", range(SHARDS))
def test_plan_reaches_target_and_rolls_back(pool: Pool, shard: int, tmp_path: Path) -> None:
    recorder = Recorder(FOUND_CASES, tmp_path / "pending.json")
    check_round_trips(pool, shard=shard, examples=EXAMPLES_PER_SHARD, recorder=recorder)


def test_a_failure_is_shrunk_and_recorded(pool: Pool, tmp_path: Path) -> None:
    """A planner that loses its last step must be caught, shrunk and written as a small case."""
    from lockplane import make_plan

    def lossy(old: Any, new: Any, **kwargs: Any) -> Any:
        plan = make_plan(old, new, **kwargs)
        return plan.model_copy(update={"steps": plan.steps[:-1]})

    cases = tmp_path / "found.yaml"
    recorder = Recorder(cases, tmp_path / "pending.json")
    with pytest.raises(RoundTripFailed):
        check_round_trips(pool, shard=0, examples=50, recorder=recorder, planner=lossy)

    found = yaml.safe_load(cases.read_text())
    assert len(found) == 1, "only the final, shrunk example is recorded"
    case = found[0]
    statements = case["old"].count(";") + case["new"].count(";")
    assert statements <= 2, f"not shrunk: {case}"
    assert case["xfail"].startswith("after apply, A differs from B"), case["xfail"]
    assert load_cases(tmp_path) == [(f"found::{case['name']}", case)]  # a valid acceptance case
