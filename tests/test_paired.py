"""``csbot experiment paired``: two runs of one spec compared on paired first contacts."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from dialogue.cli import app
from dialogue.store import models
from dialogue.store.session import make_engine, make_session_factory
from simulator.paired import PairedError, compare_runs
from tests.conftest import copy_sqlite

cli = CliRunner()
ARGS = ["experiment", "run", "--arms", "A=rules,B=rules_no_descriptions", "--contacts", "60"]


def _run(folder: Path, world: Path, seed: int = 3) -> Path:
    folder.mkdir()
    url = copy_sqlite(world, folder)
    result = cli.invoke(app, [*ARGS, "--seed", str(seed), "--database-url", url,
                              "--out", str(folder / "reports"), "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    return Path(url.removeprefix("sqlite:///"))


@pytest.fixture
def runs(
    tmp_path: Path, small_world_file: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    monkeypatch.setenv("CSBOT_DATA_DIR", str(tmp_path / "data"))
    return _run(tmp_path / "a", small_world_file), _run(tmp_path / "b", small_world_file)


def _flip(store: Path, arm: str, automated: bool, n: int) -> None:
    """Mark ``n`` first contacts of ``arm`` that are ``automated`` as the opposite."""
    engine = make_engine(f"sqlite:///{store}")
    with make_session_factory(engine)() as session, session.begin():
        ids = session.scalars(
            select(models.ExperimentOutcome.id)
            .join(models.ExperimentContact)
            .where(
                models.ExperimentContact.arm == arm,
                models.ExperimentContact.is_recontact.is_(False),
                models.ExperimentOutcome.automated.is_(automated),
            )
            .order_by(models.ExperimentOutcome.id)
            .limit(n)
        ).all()
        session.execute(
            update(models.ExperimentOutcome)
            .where(models.ExperimentOutcome.id.in_(ids))
            .values(automated=not automated)
        )
    engine.dispose()


def test_identical_runs_have_no_discordant_pairs(runs: tuple[Path, Path]) -> None:
    result = compare_runs(*runs, "B")
    assert result.pairs > 0 and result.only_a == result.only_b == 0
    assert result.difference == 0 and result.p_value == 1.0
    assert result.automated_a == result.automated_b


def test_discordant_pairs_give_the_difference_and_mcnemar(runs: tuple[Path, Path]) -> None:
    _flip(runs[1], "B", automated=True, n=3)  # three contacts automated in A only
    result = compare_runs(*runs, "B")
    assert (result.only_a, result.only_b) == (3, 0)
    assert result.difference == pytest.approx(-3 / result.pairs)
    assert result.p_value == pytest.approx(0.25)  # exact: 2 * (1/2)^3
    low, high = result.ci95
    assert low < result.difference < high
    output = cli.invoke(app, ["experiment", "paired", str(runs[0]), str(runs[1]), "--arm", "B"])
    assert output.exit_code == 0, output.output
    assert "only A 3, only B 0" in output.output and "McNemar p = 0.25" in output.output


def test_runs_of_different_specs_or_missing_arms_are_refused(
    runs: tuple[Path, Path], tmp_path: Path, small_world_file: Path
) -> None:
    other = _run(tmp_path / "other", small_world_file, seed=4)
    with pytest.raises(PairedError, match="same spec"):
        compare_runs(runs[0], other, "B")
    with pytest.raises(PairedError, match="no first contact"):
        compare_runs(*runs, "C")
    with pytest.raises(PairedError, match="no experiment store"):
        compare_runs(tmp_path / "nothing.sqlite3", runs[1], "B")
    result = cli.invoke(app, ["experiment", "paired", str(runs[0]), str(other), "--arm", "B"])
    assert result.exit_code == 2 and "same spec" in result.output
