"""The generator's configuration: frozen dataclasses, the model's saved inside every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["BASES", "TINY", "GeneratorConfig", "TrainConfig"]

BASES = ("minilm", "scratch", "path")
"""Where the language model's weights come from: the packaged MiniLM's first layers turned into a
causal decoder (warm start), the same shape randomly initialised, or a local Hugging Face
causal-LM directory (``base_path``)."""


@dataclass(frozen=True)
class GeneratorConfig:
    """Shapes and inputs of :class:`generator.model.DraftModel`.

    The prompt, in order (an ``inputs_embeds`` prefix): the personalization soft tokens through
    the generator's own adapter, then the serialized profile and store facts, then the dialogue
    context (newest last, oldest dropped first), then the reply. The reply is delexicalized: it
    opens with its dialogue-act token and names slot values by placeholder tokens, which are
    filled from the store afterwards (``generator.data``).
    """

    base: str = "minilm"
    base_path: str | None = None  # a local causal-LM directory, for base="path"
    # Decoder layers: the first N of MiniLM's 6 (warm start) or N random ones (scratch).
    layers: int = 2
    # LoRA (peft) on a base="path" model: rank (0: full fine-tuning) and target module names.
    lora_rank: int = 0
    lora_alpha: int = 16
    lora_targets: tuple[str, ...] = ()
    max_prompt_tokens: int = 112  # profile + facts + context, after the soft tokens
    max_reply_tokens: int = 56  # act token + reply + end
    max_utterances: int = 4  # newest context utterances kept
    # Personalization: fused vector width (0: no soft tokens), the longest sequence, adapter width.
    soft_dim: int = 0
    soft_tokens: int = 8
    soft_hidden: int = 256
    use_profile: bool = True  # False: the profile line is left out of the prompt (ablation)

    def __post_init__(self) -> None:
        if self.base not in BASES:
            raise ValueError(f"base must be one of {BASES}, got {self.base!r}")
        if self.base == "path" and not self.base_path:
            raise ValueError('base="path" needs base_path')
        if not 1 <= self.layers <= 6 and self.base != "path":
            raise ValueError(f"layers must be between 1 and 6, got {self.layers}")
        if self.max_prompt_tokens < 8 or self.max_reply_tokens < 4:
            raise ValueError("max_prompt_tokens >= 8 and max_reply_tokens >= 4")
        if self.lora_rank < 0:
            raise ValueError("lora_rank must be >= 0")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["lora_targets"] = list(self.lora_targets)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GeneratorConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown generator config field(s): {unknown}")
        values = dict(data)
        if "lora_targets" in values:
            values["lora_targets"] = tuple(values["lora_targets"])
        return cls(**values)


TINY = GeneratorConfig(base="scratch", layers=1, max_prompt_tokens=48, max_reply_tokens=24)
"""A randomly initialised generator small enough for unit tests (hidden size stays MiniLM's)."""


@dataclass(frozen=True)
class TrainConfig:
    """How :func:`generator.train.train_generator` fits a generator."""

    epochs: int = 2
    batch_size: int = 16
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_steps: int = 50
    seed: int = 0
    # Wall-clock ceiling: training stops after the step that crosses it (the default model must
    # train on a 2-core CPU in at most 30 minutes).
    max_minutes: float = 25.0
    # A step ceiling (None: the epochs). Set, the learning rate decays over these steps alone,
    # whatever the clock says: ablations match another run's steps exactly.
    max_steps: int | None = None
    max_train_examples: int | None = None
