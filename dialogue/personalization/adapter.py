"""The adapter: an MLP that projects fused personalization vectors into a model's hidden size.

REGEN prepends the projected vectors to the language model's input as soft tokens; the ranker
reads them beside the context in its memory. Each model owns its adapter (its hidden size
differs); both read the same :class:`~dialogue.personalization.soft.SoftTokens` sequences.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["SoftTokenAdapter", "soft_padding"]


def soft_padding(soft: Tensor) -> Tensor:
    """(B, S) bool: True where a row is padding (all zeros: nothing to read)."""
    return soft.abs().sum(dim=-1) == 0


class SoftTokenAdapter(nn.Module):
    """(B, S, in_dim) fused vectors → (B, S, out_dim) soft tokens.

    Args:
        in_dim: Width of a fused vector (CF factors + 384).
        out_dim: The model's hidden size.
        hidden: Width of the MLP's hidden layer.
        max_tokens: Positions learned (the customer token first, then items).
    """

    def __init__(self, in_dim: int, out_dim: int, *, hidden: int = 256, max_tokens: int = 8):
        super().__init__()
        self.in_dim, self.out_dim, self.max_tokens = in_dim, out_dim, max_tokens
        self.mlp = nn.Sequential(
            nn.LayerNorm(in_dim),
            nn.Linear(in_dim, hidden),
            nn.GELU(),
            nn.Linear(hidden, out_dim),
        )
        self.position = nn.Embedding(max_tokens, out_dim)

    def forward(self, soft: Tensor) -> Tensor:
        if soft.dim() != 3 or soft.size(-1) != self.in_dim:
            raise ValueError(f"soft tokens must be (B, S, {self.in_dim}), got {tuple(soft.shape)}")
        soft = torch.nan_to_num(soft[:, : self.max_tokens], nan=0.0, posinf=0.0, neginf=0.0)
        positions = torch.arange(soft.size(1), device=soft.device)
        out: Tensor = self.mlp(soft) + self.position(positions)
        return out.masked_fill(soft_padding(soft).unsqueeze(-1), 0.0)
