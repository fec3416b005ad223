"""The ranker's personalization input: soft-token sequences per turn, and their checkpoint form.

A ranker trained with soft tokens embeds the vectors it was trained on (the artifact's arrays,
its mode and sequence length) in its checkpoint: a refit of ALS rotates the CF space, so the
model and its vectors travel together. Customers and items that arrived after the fit are folded
in when serving (:class:`dialogue.personalization.soft.SoftTokens`).

Soft tokens are read only once the customer has authenticated, in training as in serving (no
account data before authentication).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from dialogue.personalization.artifact import MODES, ArtifactError, PersonalizationArtifact
from dialogue.personalization.content import SentenceEncoder
from dialogue.personalization.soft import SoftTokens
from ranker.data import RankTurn

__all__ = ["pad_soft", "soft_from_meta", "soft_meta", "turn_order", "turn_soft"]


def turn_order(turn: RankTurn) -> str | None:
    """The order the tracker has identified at this turn (its ``order_id`` slot), if any."""
    value = turn.slots.get("order_id")
    return value if isinstance(value, str) and value else None


def turn_soft(source: SoftTokens, turn: RankTurn) -> Tensor:
    """(S, dim) sequence of a corpus turn, from the artifact's snapshot of the customer's orders;
    empty before authentication."""
    if "authenticated" not in turn.facts or turn.customer_id is None:
        return torch.zeros(0, source.dim)
    return source.for_customer(turn.customer_id, turn_order(turn))


def pad_soft(seqs: Sequence[Tensor], dim: int) -> Tensor:
    """(B, S, dim) zero-padded batch (all-zero rows are padding to the model)."""
    width = max(1, max((s.size(0) for s in seqs), default=0))
    out = torch.zeros(len(seqs), width, dim)
    for i, s in enumerate(seqs):
        out[i, : s.size(0)] = s
    return out


def soft_meta(source: SoftTokens) -> dict[str, Any]:
    """What a checkpoint stores to rebuild ``source``."""
    return {
        "mode": source.mode,
        "n_tokens": source.n_tokens,
        "artifact": source.artifact.to_state(),
    }


def soft_from_meta(meta: Any, *, dim: int) -> SoftTokens:
    """Rebuild the soft-token source a checkpoint stores.

    Raises:
        ArtifactError: The stored vectors are malformed or do not fit the model's width.
    """
    if not isinstance(meta, dict) or meta.get("mode") not in MODES:
        raise ArtifactError("malformed personalization entry")
    artifact = PersonalizationArtifact.from_state(meta.get("artifact"))
    if artifact.dim != dim:
        raise ArtifactError(f"the stored vectors are {artifact.dim} wide, the model reads {dim}")
    n_tokens = int(meta.get("n_tokens", 8))
    # Items the fit has not seen are folded in from their text (the encoder loads on first use).
    return SoftTokens(artifact, mode=meta["mode"], n_tokens=n_tokens, encoder=SentenceEncoder())
