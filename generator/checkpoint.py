"""Saving and loading generator checkpoints; a missing or corrupt file is a clear error.

A checkpoint holds the config, the reply vocabulary, the weights and metadata (the soft-token
vectors the model was trained on, training figures). For ``base="path"`` models it holds only
the trained parameters (LoRA adapters, the new token rows, the soft-token adapter) and names the
base directory, which must still be there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from generator.config import GeneratorConfig
from generator.model import DraftModel, ModelUnavailable, Tokenizer, build_model, load_tokenizer

__all__ = [
    "CHECKPOINT_FORMAT",
    "GeneratorCheckpointError",
    "load_generator",
    "save_generator",
    "update_meta",
]

CHECKPOINT_FORMAT = "csbot-generator/1"


class GeneratorCheckpointError(RuntimeError):
    """The checkpoint is missing, unreadable, from another format, or does not fit the model."""


def _weights(model: DraftModel) -> dict[str, torch.Tensor]:
    state = model.state_dict()
    if model.cfg.base != "path" or model.cfg.lora_rank == 0:
        return state
    trained = {name for name, p in model.named_parameters() if p.requires_grad}
    return {k: v for k, v in state.items() if k in trained or k == "reply_vocab"}


def save_generator(path: Path, model: DraftModel, *, meta: dict[str, Any]) -> None:
    """Write the checkpoint atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": model.cfg.to_json(),
        "state_dict": _weights(model),
        "meta": meta,
    }
    _write(path, payload)


def _write(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def update_meta(path: Path, **meta: Any) -> None:
    """Set metadata entries of a saved checkpoint (atomically; the weights are untouched)."""
    load_generator(path)  # a clear error for a missing, corrupt or foreign file
    payload = torch.load(path, map_location="cpu", weights_only=True)
    payload["meta"] = {**dict(payload.get("meta") or {}), **meta}
    _write(path, payload)


def load_generator(path: Path) -> tuple[DraftModel, Tokenizer, dict[str, Any]]:
    """The model (eval mode), its tokenizer and metadata.

    Raises:
        GeneratorCheckpointError: With the path and what is wrong.
    """
    if not path.is_file():
        raise GeneratorCheckpointError(
            f"no generator checkpoint at {path}; run `csbot train generator`"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
        raise GeneratorCheckpointError(f"cannot read generator checkpoint {path}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise GeneratorCheckpointError(f"{path} is not a {CHECKPOINT_FORMAT} checkpoint")
    try:
        cfg = GeneratorConfig.from_json(payload["config"])
        state = payload["state_dict"]
        tok = load_tokenizer(cfg)
        model = build_model(cfg, tok, state["reply_vocab"])
        strict = cfg.base != "path" or cfg.lora_rank == 0
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or (strict and missing):
            raise ValueError(f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    except ModelUnavailable as exc:
        raise GeneratorCheckpointError(f"{path}: {exc}") from exc
    except (KeyError, TypeError, ValueError, RuntimeError, AssertionError) as exc:
        raise GeneratorCheckpointError(f"{path} does not fit the generator: {exc}") from exc
    model.eval()
    return model, tok, dict(payload.get("meta") or {})
