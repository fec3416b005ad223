"""The harness on each store: SQLite and PostgreSQL give the same figures, serially and on Ray."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from dialogue.store.session import make_engine, make_session_factory
from simulator.experiment import finish, run_experiment
from simulator.spec import ExperimentSpec, parse_arms
from simulator.world import WorldConfig, seed_world
from tests.conftest import SMALL_WORLD, _truncate_all, copy_sqlite


def _figures(url: str, spec: ExperimentSpec, out: Path, workers: int = 1) -> dict[str, Any]:
    experiment_id = run_experiment(url, spec, workers=workers)
    engine = make_engine(url)
    try:
        figures = finish(make_session_factory(engine), experiment_id, out).figures.to_dict()
    finally:
        engine.dispose()
    figures.pop("experiment")
    return figures


def _seed(engine: Engine) -> None:
    with make_session_factory(engine)() as session, session.begin():
        seed_world(session, WorldConfig(**SMALL_WORLD))


def test_each_store_gives_the_reference_figures(
    store_url: str, store_engine: Engine, small_world_file: Path, tmp_path: Path
) -> None:
    spec = ExperimentSpec(arms=parse_arms("rules,rules_no_descriptions"), contacts=200, seed=10)
    (tmp_path / "ref").mkdir()
    reference = _figures(copy_sqlite(small_world_file, tmp_path / "ref"), spec, tmp_path / "r0")
    _seed(store_engine)
    assert _figures(store_url, spec, tmp_path / "r1") == reference
    _truncate_all(store_engine)
    _seed(store_engine)
    assert _figures(store_url, spec, tmp_path / "r2", workers=2) == reference
