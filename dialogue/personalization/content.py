"""Content vectors: the packaged all-MiniLM-L6-v2 sentence embedding of each item's text.

Sentence embeddings are the model's own recipe: the mean of the last layer's token states,
L2-normalised. The encoder is the ranker's frozen :class:`ranker.encoder.TextEncoder` at full
depth (6 layers), loaded from site-packages only.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ranker.encoder import TextEncoder

__all__ = ["CONTENT_DIM", "SentenceEncoder", "embed_texts"]

CONTENT_DIM = 384


class SentenceEncoder:
    """all-MiniLM-L6-v2 sentence embeddings (mean-pooled, unit length), loaded on first use."""

    def __init__(self, *, max_tokens: int = 128, encoder: TextEncoder | None = None) -> None:
        self._encoder = encoder
        self._max_tokens = max_tokens
        self._lock = threading.Lock()

    @property
    def encoder(self) -> TextEncoder:
        with self._lock:
            if self._encoder is None:
                from ranker.encoder import TextEncoder

                self._encoder = TextEncoder(layers=6, max_tokens=self._max_tokens, cache_size=4096)
            return self._encoder

    def __call__(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        return embed_texts(self.encoder, texts, batch_size=batch_size)


def embed_texts(encoder: TextEncoder, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
    """(len(texts), 384) float32 unit vectors; a blank text gives a zero row (no content)."""
    out = np.zeros((len(texts), CONTENT_DIM), dtype=np.float32)
    todo = [i for i, t in enumerate(texts) if t and t.strip()]
    if not todo:
        return out
    states = encoder.encode([texts[i] for i in todo], batch_size=batch_size)
    for i, s in zip(todo, states, strict=True):
        vec = s.float().mean(dim=0).numpy()
        norm = float(np.linalg.norm(vec))
        if np.isfinite(norm) and norm > 0:
            out[i] = vec / norm
    return out
