"""``csbot personalize fit`` and ``csbot personalize orders``, and ``csbot train ranker
--personalization`` refusing vectors of another world."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dialogue.cli import app
from dialogue.personalization.artifact import PersonalizationArtifact
from tests.conftest import copy_sqlite

cli = CliRunner()


@pytest.fixture(scope="module")
def fitted(small_world_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fit")
    url = copy_sqlite(small_world_file, folder)
    out = folder / "p.npz"
    result = cli.invoke(
        app, ["personalize", "fit", "--database-url", url, "--out", str(out), "--factors", "8"]
    )
    assert result.exit_code == 0, result.output
    assert "fitted 300 customers x 150 items" in result.output
    return out


def test_fit_writes_a_loadable_artifact(fitted: Path) -> None:
    artifact = PersonalizationArtifact.load(fitted)
    assert artifact.factors == 8 and artifact.dim == 8 + 384
    assert len(artifact.skus) == 150 and artifact.orders


def test_fit_on_a_store_without_a_world_is_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    result = cli.invoke(app, ["personalize", "fit", "--database-url", url, "--out",
                              str(tmp_path / "p.npz")])  # fmt: skip
    assert result.exit_code == 2
    assert "world seed" in result.output
    assert not (tmp_path / "p.npz").exists()


def _corpus(folder: Path, fingerprint: str) -> Path:
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"world_fingerprint": fingerprint}))
    for split in ("train", "valid", "test"):
        (folder / f"{split}.jsonl").write_text("")
    return folder


def test_training_refuses_vectors_of_another_world(fitted: Path, tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "corpus", "0000000000000000")
    result = cli.invoke(app, ["train", "ranker", "--corpus", str(corpus), "--out",
                              str(tmp_path / "r.pt"), "--tiny", "--personalization",
                              str(fitted)])  # fmt: skip
    assert result.exit_code == 2
    assert "another world" in result.output
    assert not (tmp_path / "r.pt").exists()


def test_training_refuses_an_unknown_soft_mode(fitted: Path, tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "corpus", PersonalizationArtifact.load(fitted).fingerprint)
    result = cli.invoke(app, ["train", "ranker", "--corpus", str(corpus), "--out",
                              str(tmp_path / "r.pt"), "--tiny", "--personalization",
                              str(fitted), "--soft-mode", "everything"])  # fmt: skip
    assert result.exit_code == 2
    assert "--soft-mode" in result.output


def test_orders_measures_every_resolver(tmp_path: Path) -> None:
    out_json, out_md = tmp_path / "orders.json", tmp_path / "orders.md"
    result = cli.invoke(app, ["personalize", "orders", "--limit", "20", "--json-out",
                              str(out_json), "--md-out", str(out_md)])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(out_json.read_text())
    simulator = report["sets"]["simulator"]
    assert simulator["cases"] == 20
    assert set(simulator["resolvers"]) == {
        "string (rule-based)", "string + time", "content", "content + words",
        "content + words + time",
    }  # fmt: skip
    for figures in simulator["resolvers"].values():
        assert figures["n"] == 20
        unresolved = figures["wrong"] + figures["asked"] + figures["missed"]
        assert figures["accuracy"] == pytest.approx((20 - unresolved) / 20)
        assert figures["ci95"][0] <= figures["accuracy"] <= figures["ci95"][1]
    # The simulator names orders by their own words: both resolvers find most of them.
    assert simulator["resolvers"]["string (rule-based)"]["accuracy"] >= 0.8
    assert simulator["resolvers"]["content + words + time"]["accuracy"] >= 0.8
    assert "## simulator (20 cases)" in out_md.read_text()
    assert "simulator string (rule-based)" in " ".join(result.output.split())
