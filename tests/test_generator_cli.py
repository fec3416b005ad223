"""``csbot train generator`` and ``csbot generator evaluate`` end to end on a small corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dialogue.cli import app

cli = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("gen-cli")
    corpus, out = folder / "corpus", folder / "generator.pt"
    args = ["train", "generator", "--corpus", str(corpus), "--out", str(out), "--dialogues", "40"]
    result = cli.invoke(app, [*args, "--tiny", "--epochs", "1", "--max-examples", "48"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-2])
    assert figures["examples"] == 48 and figures["steps"] == 3
    return corpus, out


def test_evaluate_writes_every_figure(trained: tuple[Path, Path], tmp_path: Path) -> None:
    corpus, out = trained
    js, md = tmp_path / "gen.json", tmp_path / "gen.md"
    args = ["generator", "evaluate", f"tiny={out}", "--corpus", str(corpus), "--limit", "12"]
    result = cli.invoke(app, [*args, "--json-out", str(js), "--md-out", str(md)])
    assert result.exit_code == 0, result.output
    (scores,) = json.loads(js.read_text())
    assert scores["name"] == "tiny" and scores["turns"] == 12
    for key in ("bleu", "rouge_l", "similarity", "act_accuracy", "grounding_failure"):
        assert scores[key] >= 0
    assert 0 <= scores["grounding_failure"] <= 1 and scores["rouge_l"] <= 1
    assert md.read_text().startswith("| model | turns | BLEU |")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generator", "evaluate", "/nonexistent.pt"], "no generator checkpoint"),
        (["generator", "evaluate", "x.pt", "--split", "dev"], "--split"),
        (
            ["train", "generator", "--base", "/no/such/dir", "--max-examples", "4"],
            "no Hugging Face",
        ),
    ],
    ids=["missing-checkpoint", "bad-split", "missing-base"],
)
def test_bad_arguments_are_clear_errors(
    trained: tuple[Path, Path], args: list[str], message: str
) -> None:
    corpus, _ = trained
    result = cli.invoke(app, [*args, "--corpus", str(corpus)])
    assert result.exit_code == 2
    assert message in result.output


def test_act_reader_refits_into_a_checkpoint(trained: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    import torch

    from generator.checkpoint import update_meta
    from generator.drafter import Drafter

    corpus, out = trained
    assert Drafter.load(out).act_reader is not None  # training stores one
    bare = tmp_path / "bare.pt"
    shutil.copy(out, bare)
    update_meta(bare, act_reader=None)
    assert Drafter.load(bare).act_reader is None
    weights = torch.load(bare, weights_only=True)["state_dict"]
    result = cli.invoke(app, ["generator", "act-reader", str(bare), "--corpus", str(corpus)])
    assert result.exit_code == 0, result.output
    assert "validation accuracy" in result.output
    reloaded = torch.load(bare, weights_only=True)
    assert Drafter.load(bare).act_reader is not None
    assert all(torch.equal(weights[k], v) for k, v in reloaded["state_dict"].items())
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"nope")
    result = cli.invoke(app, ["generator", "act-reader", str(garbage), "--corpus", str(corpus)])
    assert result.exit_code == 2 and "cannot read generator checkpoint" in result.output
