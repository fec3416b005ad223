"""Saving and loading ranker checkpoints; a missing or corrupt file is a clear error, never a
silently random model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ranker.config import RankerConfig
from ranker.features import vocabulary
from ranker.model import TemplateRanker

__all__ = ["CHECKPOINT_FORMAT", "CheckpointError", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_FORMAT = "csbot-ranker/1"


class CheckpointError(RuntimeError):
    """The checkpoint is missing, unreadable, from another format, or does not fit the model."""


def save_checkpoint(
    path: Path, model: TemplateRanker, cfg: RankerConfig, *, meta: dict[str, Any]
) -> None:
    """Write the weights, the config and training metadata (atomically: temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": cfg.to_json(),
        "feature_vocabulary": list(vocabulary()),
        "state_dict": model.state_dict(),
        "meta": meta,
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> tuple[TemplateRanker, dict[str, Any]]:
    """Load a ranker in eval mode and its metadata.

    Raises:
        CheckpointError: With the path and what is wrong.
    """
    if not path.is_file():
        raise CheckpointError(f"no ranker checkpoint at {path}; run `csbot train ranker`")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
        raise CheckpointError(f"cannot read ranker checkpoint {path}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a {CHECKPOINT_FORMAT} checkpoint")
    if payload.get("feature_vocabulary") != list(vocabulary()):
        raise CheckpointError(f"{path} was trained with another feature vocabulary; retrain")
    try:
        cfg = RankerConfig.from_json(payload["config"])
        model = TemplateRanker(cfg)
        model.load_state_dict(payload["state_dict"], strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError, AssertionError) as exc:
        raise CheckpointError(f"{path} does not fit the ranker: {exc}") from exc
    model.eval()
    return model, dict(payload.get("meta") or {})
