"""``csbot train ranker`` and ``csbot ranker evaluate`` from the command line: a tiny model on a
small exported corpus, and clear errors for a corrupt corpus or checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dialogue.cli import app
from ranker.config import TINY
from ranker.meaning import LABELS
from ranker.scorer import NeuralRanker

cli = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    folder = tmp_path_factory.mktemp("cli")
    corpus, out = folder / "corpus", folder / "ranker.pt"
    args = ["train", "ranker", "--corpus", str(corpus), "--out", str(out), "--dialogues", "40"]
    result = cli.invoke(app, [*args, "--tiny", "--epochs", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    return corpus, out, result.output


def test_train_ranker_exports_a_corpus_and_writes_a_loadable_checkpoint(
    trained: tuple[Path, Path, str],
) -> None:
    corpus, out, output = trained
    assert (corpus / "train.jsonl").is_file() and (corpus / "test.jsonl").is_file()
    assert "exporting a 40-dialogue transcripts corpus" in output
    assert f"checkpoint: {out}" in output
    ranker = NeuralRanker.load(out)
    assert ranker.cfg == TINY and ranker.encoder.layers == TINY.encoder_layers
    assert ranker.meta["examples"] > 0
    # The meaning reader is fitted with it, on the corpus's intent annotation.
    assert ranker.meaning is not None and "opening" in ranker.meaning.situations
    assert ranker.meta["meaning_validation"]["opening"]["train_examples"] > 0
    assert "meaning reader (validation)" in output


def test_train_ranker_refuses_an_unknown_encoder_precision(tmp_path: Path) -> None:
    out = tmp_path / "ranker.pt"
    args = ["train", "ranker", "--corpus", str(tmp_path / "none"), "--out", str(out), "--tiny"]
    result = cli.invoke(app, [*args, "--encoder-precision", "int4"])
    assert result.exit_code != 0
    assert "--encoder-precision must be one of float32, int8" in result.output
    assert not out.exists() and not (tmp_path / "none").exists()  # nothing exported first


def test_train_ranker_on_a_corrupt_corpus_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text("{not json\n")
    out = tmp_path / "ranker.pt"
    result = cli.invoke(
        app, ["train", "ranker", "--corpus", str(tmp_path), "--out", str(out), "--tiny"]
    )
    assert result.exit_code != 0
    assert "train.jsonl" in result.output
    assert not out.exists()


def test_evaluate_with_a_corrupt_checkpoint_is_a_clear_error(
    trained: tuple[Path, Path, str], tmp_path: Path
) -> None:
    corpus = trained[0]
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    args = ["ranker", "evaluate", "--corpus", str(corpus), "--checkpoint", str(bad)]
    result = cli.invoke(app, [*args, "--no-baselines", "--json-out", str(tmp_path / "r.json")])
    assert result.exit_code != 0
    assert "bad.pt" in result.output
    assert not (tmp_path / "r.json").exists()


def test_evaluate_writes_the_figures_and_the_meaning_readers(
    trained: tuple[Path, Path, str], tmp_path: Path
) -> None:
    corpus, out, _ = trained
    json_out, md_out = tmp_path / "r.json", tmp_path / "r.md"
    args = ["ranker", "evaluate", "--corpus", str(corpus), "--checkpoint", str(out)]
    result = cli.invoke(
        app, [*args, "--no-baselines", "--json-out", str(json_out), "--md-out", str(md_out)]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(json_out.read_text())
    assert [r["name"] for r in payload["results"]] == ["ranker"]
    opening = payload["meaning"]["opening"]
    assert opening["examples"] > 0
    assert sum(opening[label]["of"] for label in LABELS["opening"]) == opening["examples"]
    text = md_out.read_text()
    assert text.startswith("# Ranker evaluation (generated)")
    assert "| opening | cancel_order |" in text
