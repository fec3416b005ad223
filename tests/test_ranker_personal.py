"""The ranker reads personalization soft tokens: training with them, the checkpoint carrying the
vectors it was trained on, serving (snapshot and live record), and bad checkpoints."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from dialogue.personalization.artifact import PersonalizationArtifact
from dialogue.personalization.history import OrderItems
from dialogue.personalization.soft import SoftTokens
from ranker.checkpoint import CheckpointError
from ranker.config import TINY, TrainConfig
from ranker.data import RankTurn
from ranker.encoder import TextEncoder
from ranker.personal import pad_soft, turn_order, turn_soft
from ranker.scorer import NeuralRanker
from ranker.train import train_ranker
from tests.test_ranker_train import ENTRIES, _hand_made_turns

TC = TrainConfig(epochs=1, batch_lists=16, seed=0)


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread: None) -> None:
    """torch on one thread here (conftest.one_torch_thread)."""


def _artifact(n_customers: int = 80, n_items: int = 12, k: int = 4) -> PersonalizationArtifact:
    rng = np.random.default_rng(0)
    skus = [f"SKU{j}" for j in range(n_items)]
    content = rng.normal(size=(n_items, 384)).astype(np.float32)
    content /= np.linalg.norm(content, axis=1, keepdims=True)
    orders = {
        c: [OrderItems(f"#W{c:03d}{n}", datetime(2026, 1, 1 + n), (skus[(c + n) % n_items],))
            for n in range(2)]
        for c in range(n_customers)
    }  # fmt: skip
    return PersonalizationArtifact(
        fingerprint="test-world",
        customers=np.arange(n_customers, dtype=np.int64),
        customer_factors=rng.normal(size=(n_customers, k)).astype(np.float32),
        skus=np.asarray(skus, dtype=np.str_),
        item_factors=rng.normal(size=(n_items, k)).astype(np.float32),
        item_content=content,
        item_has_text=np.ones(n_items, dtype=bool),
        orders=orders,
    )


@pytest.fixture(scope="module")
def soft() -> SoftTokens:
    return SoftTokens(_artifact(), n_tokens=4)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, soft: SoftTokens) -> Path:
    path = tmp_path_factory.mktemp("personal") / "ranker.pt"
    cfg = replace(TINY, soft_dim=soft.dim, soft_tokens=4)
    encoder = TextEncoder(layers=cfg.encoder_layers)
    train_ranker(_hand_made_turns(), ENTRIES, encoder=encoder, cfg=cfg, tc=TC, out=path, soft=soft)
    return path


def _authenticated_turn() -> RankTurn:
    turn = next(t for t in _hand_made_turns() if "authenticated" in t.facts and t.slots)
    return replace(turn, slots={**turn.slots, "order_id": f"#W{turn.customer_id:03d}1"})


def test_turn_soft_needs_authentication(soft: SoftTokens) -> None:
    turn = _authenticated_turn()
    assert turn_order(turn) == f"#W{turn.customer_id:03d}1"
    seq = turn_soft(soft, turn)
    assert seq.shape == (3, soft.dim)  # the customer, then the order's item, then the other
    anonymous = replace(turn, facts=frozenset({"not_authenticated"}))
    assert turn_soft(soft, anonymous).shape == (0, soft.dim)
    batch = pad_soft([seq, turn_soft(soft, anonymous)], soft.dim)
    assert batch.shape == (2, 3, soft.dim) and not batch[1].any()


def test_the_checkpoint_carries_the_vectors_and_serving_reads_them(checkpoint: Path) -> None:
    ranker = NeuralRanker.load(checkpoint)
    assert ranker.soft_tokens is not None and ranker.cfg.soft_dim == ranker.soft_tokens.dim
    assert ranker.soft_tokens.artifact.fingerprint == "test-world"
    assert "personalization" not in ranker.meta  # held once, by the soft-token source
    turn = _authenticated_turn()
    personal = ranker.rank(turn)
    blind = ranker.rank(turn, torch.zeros(1, 0, 0))
    assert [r.score for r in personal.ranked] != [r.score for r in blind.ranked]
    anonymous = replace(turn, facts=frozenset({"not_authenticated"}))
    torch.testing.assert_close(
        torch.tensor([r.score for r in ranker.rank(anonymous).ranked]),
        torch.tensor([r.score for r in ranker.rank(anonymous, torch.zeros(1, 0, 0)).ranked]),
    )


def test_a_width_that_does_not_fit_the_config_is_refused(soft: SoftTokens, tmp_path: Path) -> None:
    encoder = TextEncoder(layers=TINY.encoder_layers)
    with pytest.raises(ValueError, match="soft_dim"):
        train_ranker(_hand_made_turns()[:4], ENTRIES, encoder=encoder, cfg=TINY, tc=TC,
                     out=tmp_path / "x.pt", soft=soft)  # fmt: skip


def _rewrite(src: Path, dest: Path, change: Any) -> Path:
    payload = torch.load(src, map_location="cpu", weights_only=True)
    change(payload["meta"])
    torch.save(payload, dest)
    return dest


@pytest.mark.parametrize(
    "change",
    [
        lambda meta: meta.pop("personalization"),
        lambda meta: meta["personalization"].update(mode="everything"),
        lambda meta: meta["personalization"]["artifact"]["item_factors"].fill_(float("nan")),
        lambda meta: meta["personalization"]["artifact"].update(header="{}"),
    ],
    ids=["missing", "bad-mode", "nan", "bad-header"],
)
def test_a_checkpoint_with_bad_vectors_is_refused(
    checkpoint: Path, tmp_path: Path, change: Any
) -> None:
    bad = _rewrite(checkpoint, tmp_path / "bad.pt", change)
    with pytest.raises(CheckpointError, match="bad.pt"):
        NeuralRanker.load(bad)
