"""Ranker checkpoints: an exact round trip, and every kind of bad file is a CheckpointError that
says what is wrong (never a silently random model)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from ranker.checkpoint import CHECKPOINT_FORMAT, CheckpointError, load_checkpoint, save_checkpoint
from ranker.config import TINY, RankerConfig
from ranker.features import MAX_FEATURE_TOKENS, vocabulary
from ranker.model import TemplateRanker

META = {"threshold": 0.42, "steps": 7, "held_out_acts": ["refund_failed"]}


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs with torch on one thread (conftest.one_torch_thread)."""


def _model(cfg: RankerConfig = TINY, seed: int = 0) -> TemplateRanker:
    torch.manual_seed(seed)
    return TemplateRanker(cfg).eval()


def _outputs(model: TemplateRanker) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(5)
    ctx = torch.randn(2, 4, 384, generator=g)
    pad = torch.tensor([[False] * 4, [False, False, True, True]])
    speaker = torch.tensor([[0, 1, 0, 1], [1, 0, 0, 0]])
    age = torch.tensor([[3, 2, 1, 0], [1, 0, 0, 0]])
    feats = torch.zeros(2, MAX_FEATURE_TOKENS, dtype=torch.long)
    feats[:, :3] = torch.tensor([1, 8, 40])
    with torch.no_grad():
        memory = model.memory(ctx, pad, speaker, age, feats)
        table = model.encode_candidates(
            torch.randn(3, 5, 384, generator=g), torch.zeros(3, 5, dtype=torch.bool)
        )
        cand = table.unsqueeze(0).expand(2, -1, -1, -1)
        slots = torch.zeros(2, 3, 1, dtype=torch.long)
        return model(memory, cand, slots, torch.tensor([[False] * 3, [False, False, True]]))


def _payload(model: TemplateRanker, cfg: RankerConfig, **changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "config": cfg.to_json(),
        "feature_vocabulary": list(vocabulary()),
        "state_dict": model.state_dict(),
        "meta": {},
    }
    payload.update(changes)
    return payload


# ---- round trip --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cfg",
    [TINY, dataclasses.replace(TINY, soft_dim=8, use_context_attention=False)],
    ids=["tiny", "soft-no-attention"],
)
def test_round_trip_gives_identical_outputs(tmp_path: Path, cfg: RankerConfig) -> None:
    model = _model(cfg)
    path = tmp_path / "sub" / "ranker.pt"
    save_checkpoint(path, model, cfg, meta=META)
    loaded, meta = load_checkpoint(path)
    assert meta == META
    assert loaded.cfg == cfg
    assert not loaded.training  # loaded in eval mode
    scores, logit = _outputs(model)
    scores2, logit2 = _outputs(loaded)
    assert torch.equal(scores, scores2) and torch.equal(logit, logit2)
    assert sorted(p.name for p in path.parent.iterdir()) == ["ranker.pt"]  # no temp file left


def test_round_trip_differs_from_a_fresh_random_model(tmp_path: Path) -> None:
    path = tmp_path / "ranker.pt"
    save_checkpoint(path, _model(seed=0), TINY, meta={})
    loaded, meta = load_checkpoint(path)
    assert meta == {}
    assert not torch.equal(_outputs(loaded)[0], _outputs(_model(seed=1))[0])


def test_saving_again_replaces_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "ranker.pt"
    save_checkpoint(path, _model(seed=0), TINY, meta={"run": 1})
    second = _model(seed=3)
    save_checkpoint(path, second, TINY, meta={"run": 2})
    loaded, meta = load_checkpoint(path)
    assert meta == {"run": 2}
    assert torch.equal(_outputs(loaded)[0], _outputs(second)[0])


def test_missing_meta_loads_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "ranker.pt"
    model = _model()
    payload = _payload(model, TINY)
    del payload["meta"]
    torch.save(payload, path)
    assert load_checkpoint(path)[1] == {}


# ---- bad files ---------------------------------------------------------------------------------
def test_missing_path(tmp_path: Path) -> None:
    path = tmp_path / "nothing.pt"
    with pytest.raises(CheckpointError, match=r"no ranker checkpoint at .*nothing\.pt"):
        load_checkpoint(path)


def test_a_directory_is_not_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no ranker checkpoint at"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize(
    "content",
    [os.urandom(256), b"", b"PK\x03\x04 not really a zip", b'{"format": "csbot-ranker/1"}'],
    ids=["random-bytes", "empty-file", "fake-zip", "json"],
)
def test_unreadable_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "ranker.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"cannot read ranker checkpoint .*ranker\.pt"):
        load_checkpoint(path)


def test_a_truncated_checkpoint_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "ranker.pt"
    save_checkpoint(path, _model(), TINY, meta={})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cannot read ranker checkpoint"):
        load_checkpoint(path)


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    """weights_only loading: a checkpoint carrying arbitrary objects is not unpickled."""
    path = tmp_path / "ranker.pt"
    model = _model()
    torch.save(_payload(model, TINY, meta={"path": Path("/etc/passwd")}), path)
    with pytest.raises(CheckpointError, match="cannot read ranker checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "payload",
    [
        {"format": "csbot-ranker/0"},
        {"format": "other-model/1"},
        {"format": None},
        {},
        [1, 2, 3],
        "csbot-ranker/1",
    ],
    ids=["old-format", "other-format", "no-format-value", "empty-dict", "a-list", "a-string"],
)
def test_another_format(tmp_path: Path, payload: Any) -> None:
    path = tmp_path / "ranker.pt"
    if isinstance(payload, dict):
        payload = _payload(_model(), TINY) | payload if payload else {}
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=f"is not a {CHECKPOINT_FORMAT} checkpoint"):
        load_checkpoint(path)


def test_another_feature_vocabulary(tmp_path: Path) -> None:
    path = tmp_path / "ranker.pt"
    vocab = [*vocabulary(), "signal=new_one"]
    torch.save(_payload(_model(), TINY, feature_vocabulary=vocab), path)
    with pytest.raises(CheckpointError, match="another feature vocabulary; retrain"):
        load_checkpoint(path)


def test_a_state_dict_that_does_not_fit_the_config(tmp_path: Path) -> None:
    """Saved from a d_model=16 model, but the config claims TINY (d_model=32)."""
    path = tmp_path / "ranker.pt"
    small = _model(dataclasses.replace(TINY, d_model=16))
    save_checkpoint(path, small, TINY, meta={})
    with pytest.raises(
        CheckpointError, match=r"(?s)does not fit the ranker: .*size mismatch for ctx_proj.weight"
    ):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "change",
    ["missing-key", "extra-key", "no-state-dict"],
    ids=str,
)
def test_a_state_dict_with_missing_or_extra_weights(tmp_path: Path, change: str) -> None:
    path = tmp_path / "ranker.pt"
    model = _model()
    state = dict(model.state_dict())
    if change == "missing-key":
        del state["score_head.0.weight"]
    elif change == "extra-key":
        state["surprise.weight"] = torch.zeros(2)
    payload = _payload(model, TINY, state_dict=state)
    if change == "no-state-dict":
        del payload["state_dict"]
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="does not fit the ranker"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "config",
    [
        TINY.to_json() | {"mystery": 1},
        None,
        [1, 2],
        TINY.to_json() | {"d_model": 30, "n_heads": 4},
    ],
    ids=["unknown-field", "null", "a-list", "heads-do-not-divide"],
)
def test_a_bad_config(tmp_path: Path, config: Any) -> None:
    path = tmp_path / "ranker.pt"
    torch.save(_payload(_model(), TINY, config=config), path)
    with pytest.raises(CheckpointError, match="does not fit the ranker"):
        load_checkpoint(path)


def test_error_messages_name_the_path(tmp_path: Path) -> None:
    path = tmp_path / "weird name.pt"
    path.write_bytes(b"junk")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, RuntimeError)
