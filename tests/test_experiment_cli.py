"""`csbot experiment` and `csbot corpus`: clear errors before anything runs; the happy path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from dialogue.cli import app
from dialogue.store import models
from dialogue.store.session import make_engine, make_session_factory, upgrade
from tests.conftest import copy_sqlite

cli = CliRunner()


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CSBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CSBOT_WORLD_CUSTOMERS", "120")
    monkeypatch.setenv("CSBOT_WORLD_ITEMS", "60")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arms", "nope", "--contacts", "10"], "unknown arm 'nope'"),
        (["--arms", "rules", "--contacts", "0"], "contacts must be between"),
        (["--arms", "rules,,rules", "--contacts", "5"], "empty arm"),
        (["--contacts", "5"], "give --arms and --contacts"),
        (["--arms", "rules:x", "--contacts", "5"], "not a number"),
    ],
    ids=["unknown-arm", "zero-contacts", "empty-arm", "no-arms", "bad-weight"],
)
def test_bad_experiment_options_fail_before_anything_runs(
    isolated: Path, args: list[str], message: str
) -> None:
    result = cli.invoke(app, ["experiment", "run", "--no-progress", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert not (isolated / "data" / "experiments").exists()  # no store was even created


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "cannot read spec"), ('{"arms": ["rules"]}', "malformed experiment spec")],
    ids=["not-json", "no-contacts"],
)
def test_bad_spec_file_is_a_clear_error(isolated: Path, content: str, message: str) -> None:
    spec = isolated / "spec.json"
    spec.write_text(content)
    result = cli.invoke(app, ["experiment", "run", "--spec", str(spec)])
    assert result.exit_code == 2 and message in result.output


def test_store_without_a_world_is_refused(isolated: Path) -> None:
    url = f"sqlite:///{isolated / 'empty.sqlite3'}"
    upgrade(url)
    args = ["experiment", "run", "--arms", "rules", "--contacts", "5", "--database-url", url]
    result = cli.invoke(app, args)
    assert result.exit_code == 2 and "holds no world" in result.output


def test_run_report_and_resume_on_a_store(isolated: Path, small_world_file: Path) -> None:
    (isolated / "w").mkdir()
    url = copy_sqlite(small_world_file, isolated / "w")
    args = ["experiment", "run", "--arms", "A=rules,B=rules_no_descriptions", "--contacts", "60"]
    args += ["--seed", "3", "--database-url", url, "--out", str(isolated / "reports")]
    first = cli.invoke(app, [*args, "--no-progress"])
    assert first.exit_code == 0, first.output
    assert "B vs A" in first.output and "report: " in first.output
    key = first.output.split("experiment: ")[-1].split()[0]
    html = next((isolated / "reports").rglob("experiment-*.html"))
    assert 'src="data:image/png;base64,' in html.read_text()
    again = cli.invoke(app, [*args, "--no-progress"])  # same spec: resumes, runs nothing new
    assert again.exit_code == 0, again.output
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        experiments = session.scalar(select(func.count(models.Experiment.id)))
        contacts = session.scalar(select(func.count(models.ExperimentContact.id)))
        keys = session.scalars(select(models.ExperimentContact.key)).all()
    engine.dispose()
    assert experiments == 1 and contacts == len(set(keys)) >= 60
    report = cli.invoke(app, ["experiment", "report", key, "--database-url", url])
    assert report.exit_code == 0, report.output
    figures = json.loads(next((isolated / "data" / "reports").rglob("*.json")).read_text())
    assert figures["srm"]["mismatch"] is False
    missing = cli.invoke(app, ["experiment", "report", "nope", "--database-url", url])
    assert missing.exit_code == 2 and "no experiment 'nope'" in missing.output


def test_default_store_is_per_experiment_and_seeded(isolated: Path) -> None:
    args = ["experiment", "run", "--arms", "rules", "--contacts", "30", "--no-progress"]
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    stores = list((isolated / "data" / "experiments").glob("*.sqlite3"))
    assert len(stores) == 1
    key = result.output.split("experiment: ")[-1].split()[0]
    assert stores[0].name.startswith(key)
    assert cli.invoke(app, ["experiment", "report", key]).exit_code == 0
    assert cli.invoke(app, ["experiment", "report", "0000"]).exit_code == 2


def test_corpus_export_command(isolated: Path) -> None:
    out = isolated / "corpus"
    args = ["corpus", "export", "--dialogues", "40", "--out", str(out), "--no-progress"]
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {
        "train.jsonl",
        "valid.jsonl",
        "test.jsonl",
        "manifest.json",
    }
    assert json.loads((out / "manifest.json").read_text())["dialogues"] == 40
