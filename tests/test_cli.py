"""The csbot command line, run in-process with Typer's runner against temporary stores."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from dialogue.cli import app
from dialogue.store import models
from dialogue.store.session import make_engine, make_session_factory

cli = CliRunner()


def _count(url: str, table: type[models.Base]) -> int:
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        count = session.scalar(select(func.count()).select_from(table))
    engine.dispose()
    return int(count or 0)


def test_world_seed_then_refuses_to_seed_twice_without_reset(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.sqlite3'}"
    args = ["world", "seed", "--database-url", url, "--customers", "40", "--items", "30"]
    first = cli.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "customers: 40" in first.output
    again = cli.invoke(app, args)
    assert again.exit_code == 2
    assert "--reset" in again.output
    reset = cli.invoke(app, [*args, "--reset", "--seed", "9"])
    assert reset.exit_code == 0, reset.output
    assert _count(url, models.Customer) == 40


def test_world_summary_on_an_empty_store_is_a_clear_error(tmp_path: Path) -> None:
    result = cli.invoke(
        app, ["world", "summary", "--database-url", f"sqlite:///{tmp_path / 'e.sqlite3'}"]
    )
    assert result.exit_code == 2
    assert "error:" in result.output


def test_import_tau2(tmp_path: Path, shared_data: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.sqlite3'}"
    result = cli.invoke(
        app,
        [
            "world",
            "import-tau2",
            str(shared_data / "tau2_bench_retail" / "db.json"),
            "--database-url",
            url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert _count(url, models.Customer) == 500 and _count(url, models.Order) == 1000


def test_import_tau2_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.sqlite3'}"
    result = cli.invoke(
        app, ["world", "import-tau2", str(tmp_path / "nope.json"), "--database-url", url]
    )
    assert result.exit_code == 2
    assert "error:" in result.output


def test_chat_reads_the_terminal_until_the_conversation_ends(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    assert (
        cli.invoke(
            app, ["world", "seed", "--database-url", url, "--customers", "30", "--items", "20"]
        ).exit_code
        == 0
    )
    result = cli.invoke(app, ["chat", "--database-url", url], input="hello\nI want a human\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("bot> ") == 2
    assert "[conversation handed off]" in result.output
    assert _count(url, models.Turn) == 4


def test_demo_runs_scripted_dialogues_and_prints_a_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CSBOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CSBOT_WORLD_CUSTOMERS", "150")
    monkeypatch.setenv("CSBOT_WORLD_ITEMS", "80")
    result = cli.invoke(app, ["demo", "--dialogues", "20", "--show", "1"])
    assert result.exit_code == 0, result.output
    assert "dialogues: 20" in result.output
    assert "completion_rate: " in result.output
    assert (tmp_path / "demo.sqlite3").exists()
