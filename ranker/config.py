"""The ranker's configuration: one frozen dataclass, saved inside every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["RankerConfig", "TINY", "TrainConfig"]


@dataclass(frozen=True)
class RankerConfig:
    """Shapes and switches of :class:`ranker.model.TemplateRanker`.

    The text encoder (MiniLM, 384-dim token states) is frozen: its token states are computed once
    per utterance and per template and cached; everything here sits on top of them.
    """

    encoder_dim: int = 384  # token-state width of the sentence encoder
    # MiniLM layers kept (its first N of 6, pretrained weights). Encoding the customer's message
    # and the agent's reply is the largest part of a turn's CPU; 2 layers cost a third of 6 and
    # automate as many contacts in the harness as 3 and 6 with the meaning reader (docs/ranker.md).
    encoder_layers: int = 2
    # MiniLM's weights in float32 or int8 (ranker.encoder.PRECISIONS; int8 runs on ONNX Runtime,
    # in training as in serving: the model learns the token states it will be served).
    encoder_precision: str = "int8"
    d_model: int = 128  # width of the ranker's own layers
    n_heads: int = 4
    candidate_queries: int = 4  # learned queries summarising each template's tokens
    ffn_mult: int = 4
    dropout: float = 0.1
    max_context_utterances: int = 8  # the newest utterances kept; older turns dropped
    max_utterance_tokens: int = 40  # tokens kept per utterance (the encoder's own window is 256)
    max_context_tokens: int = 160  # context tokens after concatenation; oldest dropped first
    max_template_tokens: int = 48
    n_slots: int = 16  # slot-name vocabulary size (templates.catalog.SLOTS)
    # Personalization (dialogue.personalization): width of a fused vector (0: no soft tokens),
    # the longest soft-token sequence and the adapter's hidden width.
    soft_dim: int = 0
    soft_tokens: int = 8
    soft_hidden: int = 256
    # Ablation switches.
    use_context_attention: bool = True  # False: candidates see a pooled context vector only
    use_profile: bool = True  # False: profile features are left out (tracker facts stay)
    use_soft_tokens: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RankerConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ranker config field(s): {unknown}")
        # Checkpoints written before the fields existed read six float32 encoder layers.
        return cls(**{"encoder_layers": 6, "encoder_precision": "float32", **data})


TINY = RankerConfig(
    d_model=32,
    n_heads=2,
    candidate_queries=2,
    max_context_tokens=64,
    encoder_layers=2,
    encoder_precision="float32",
)
"""A randomly initialised ranker small enough for unit tests."""


@dataclass(frozen=True)
class TrainConfig:
    """How :func:`ranker.train.train` fits a ranker."""

    epochs: int = 3
    batch_lists: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    list_loss_weight: float = 0.5
    seed: int = 0
    # Negatives per list beyond the applicable templates: other turns' replies of other acts.
    random_reply_negatives: int = 4
    # Template negatives kept per list (sampled; all acceptable ones are always kept).
    max_template_negatives: int = 24
    # Share of training lists whose gold-act templates are removed: lists with nothing
    # acceptable, which teach the list head (RankFormer's absolute feedback).
    drop_gold_share: float = 0.15
    max_minutes: float = 25.0
    max_train_examples: int | None = None
