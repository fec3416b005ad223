"""The cross-attention template ranker with a list-value head (RankFormer-style).

Inputs are token states of the frozen MiniLM (``ranker.encoder``): the context's utterances, each
encoded once, and every template, encoded once when the catalog loads. On top of them:

- a memory of context tokens (+ speaker and turn-age embeddings), profile/tracker feature tokens
  and personalization soft tokens;
- a candidate encoder: a few learned queries summarise each template's tokens (context-free, so
  it is computed once per catalog) and a slot signal (which slots the candidate fills, and whether
  each value was mentioned in the context) is added;
- cross-attention: candidate query tokens attend over the memory;
- a score head per candidate;
- a list token that attends over the scored candidates and predicts the list's value: the
  probability that some candidate is acceptable (trained on absolute labels, so lists where
  nothing fits teach too).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from dialogue.personalization.adapter import SoftTokenAdapter, soft_padding
from ranker.config import RankerConfig
from ranker.features import vocabulary

__all__ = ["Memory", "TemplateRanker"]


@dataclass(frozen=True)
class Memory:
    """What candidates attend over: (B, M, d) tokens and a (B, M) padding mask (True = pad)."""

    tokens: Tensor
    pad: Tensor
    pooled: Tensor  # (B, d) mean of the context tokens (the no-attention ablation reads this)


class CandidateEncoder(nn.Module):
    """Template token states -> Q summary tokens per template (no context: cacheable)."""

    def __init__(self, cfg: RankerConfig) -> None:
        super().__init__()
        self.proj = nn.Linear(cfg.encoder_dim, cfg.d_model)
        self.queries = nn.Parameter(torch.randn(cfg.candidate_queries, cfg.d_model) * 0.02)
        self.attn = nn.MultiheadAttention(cfg.d_model, cfg.n_heads, batch_first=True)
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(self, states: Tensor, pad: Tensor) -> Tensor:
        N = states.size(0)  # candidates
        x = self.proj(states)  # (N, T, d)
        q = self.queries.unsqueeze(0).expand(N, -1, -1)  # (N, Q, d)
        out, _ = self.attn(q, x, x, key_padding_mask=pad, need_weights=False)  # (N, Q, d)
        return self.norm(out + q)  # (N, Q, d)


class CrossBlock(nn.Module):
    """Candidate tokens attend over the memory, then a feed-forward on each pooled candidate."""

    def __init__(self, cfg: RankerConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.attn = nn.MultiheadAttention(d, cfg.n_heads, dropout=cfg.dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(d)
        self.ffn = nn.Sequential(
            nn.Linear(d, cfg.ffn_mult * d),
            nn.GELU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.ffn_mult * d, d),
        )
        self.norm2 = nn.LayerNorm(d)

    def forward(self, cand: Tensor, memory: Memory) -> Tensor:
        B, N, Q, d = cand.shape  # batch, candidates, queries per candidate, width
        q = cand.reshape(B, N * Q, d)  # (B, N*Q, d)
        att, _ = self.attn(
            q, memory.tokens, memory.tokens, key_padding_mask=memory.pad, need_weights=False
        )  # (B, N*Q, d)
        x = self.norm1(q + att).reshape(B, N, Q, d).mean(dim=2)  # (B, N, d)
        return self.norm2(x + self.ffn(x))  # (B, N, d)


class ListHead(nn.Module):
    """A list token attends over the scored candidates -> logit of P(some candidate acceptable)."""

    def __init__(self, cfg: RankerConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.token = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.score_proj = nn.Linear(1, d)
        self.attn = nn.MultiheadAttention(d, cfg.n_heads, batch_first=True)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Sequential(nn.Linear(d + 1, d), nn.GELU(), nn.Linear(d, 1))

    def forward(self, items: Tensor, scores: Tensor, pad: Tensor) -> Tensor:
        B = items.size(0)
        x = items + self.score_proj(scores.unsqueeze(-1))  # (B, N, d)
        q = self.token.expand(B, -1, -1)  # (B, 1, d)
        out, _ = self.attn(q, x, x, key_padding_mask=pad, need_weights=False)  # (B, 1, d)
        top = scores.masked_fill(pad, float("-inf")).max(dim=1).values  # (B,)
        top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
        h = torch.cat([self.norm(out.squeeze(1) + q.squeeze(1)), top.unsqueeze(-1)], dim=-1)
        return self.head(h).squeeze(-1)  # (B,)


class TemplateRanker(nn.Module):
    """Scores candidates and their list; see the module docstring."""

    def __init__(self, cfg: RankerConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.cfg = cfg
        self.ctx_proj = nn.Linear(cfg.encoder_dim, d)
        self.speaker = nn.Embedding(2, d)  # 0 customer, 1 rep
        self.age = nn.Embedding(cfg.max_context_utterances, d)  # utterances back from the newest
        self.features = nn.Embedding(len(vocabulary()), d, padding_idx=0)
        self.soft_proj = (
            SoftTokenAdapter(cfg.soft_dim, d, hidden=cfg.soft_hidden, max_tokens=cfg.soft_tokens)
            if cfg.soft_dim > 0
            else None
        )
        self.candidates = CandidateEncoder(cfg)
        self.slots = nn.Embedding(2 * cfg.n_slots + 1, d, padding_idx=0)
        self.cross = CrossBlock(cfg)
        self.pooled_ctx = nn.Linear(d, d)  # the no-attention ablation's context path
        self.score_head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, 1))
        self.list_head = ListHead(cfg)

    def memory(
        self,
        ctx_states: Tensor,
        ctx_pad: Tensor,
        ctx_speaker: Tensor,
        ctx_age: Tensor,
        feature_ids: Tensor,
        soft: Tensor | None = None,
    ) -> Memory:
        """Build the memory candidates attend over.

        Args:
            ctx_states: (B, C, 384) context token states, oldest first.
            ctx_pad: (B, C) True at padding.
            ctx_speaker: (B, C) 0 customer / 1 rep per token.
            ctx_age: (B, C) utterances back from the newest (0 = the newest).
            feature_ids: (B, F) feature vocabulary ids, 0 = padding.
            soft: (B, S, soft_dim) fused personalization vectors (all-zero rows are padding), or
                None; the adapter projects them into soft tokens.
        """
        ctx = self.ctx_proj(ctx_states) + self.speaker(ctx_speaker) + self.age(ctx_age)  # (B,C,d)
        live = (~ctx_pad).unsqueeze(-1).float()  # (B, C, 1)
        pooled = (ctx * live).sum(1) / live.sum(1).clamp(min=1.0)  # (B, d)
        parts, pads = [], []
        if self.cfg.use_context_attention:
            parts.append(ctx)
            pads.append(ctx_pad)
        feats = self.features(feature_ids)  # (B, F, d)
        parts.append(feats)
        pads.append(feature_ids == 0)
        if soft is not None and soft.size(1) > 0 and self.soft_proj is not None:
            if self.cfg.use_soft_tokens:
                soft = soft[:, : self.cfg.soft_tokens]
                parts.append(self.soft_proj(soft))  # (B, S, d)
                pads.append(soft_padding(soft))
        tokens = torch.cat(parts, dim=1)  # (B, M, d)
        pad = torch.cat(pads, dim=1)  # (B, M)
        # A row with nothing to attend to would give NaNs: let it see one (zero) token.
        empty = pad.all(dim=1)
        if bool(empty.any()):
            pad = pad.clone()
            pad[empty, 0] = False
        return Memory(tokens=tokens, pad=pad, pooled=pooled)

    def encode_candidates(self, states: Tensor, pad: Tensor) -> Tensor:
        """(N, T, 384) template token states, (N, T) pad mask -> (N, Q, d); cache per catalog."""
        return self.candidates(states, pad)

    def forward(
        self, memory: Memory, cand: Tensor, slot_ids: Tensor, cand_pad: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Score every candidate and the list.

        Args:
            memory: From :meth:`memory`.
            cand: (B, N, Q, d) candidate summaries (rows of :meth:`encode_candidates`).
            slot_ids: (B, N, S) slot signal ids, 0 = padding.
            cand_pad: (B, N) True at padded candidates.

        Returns:
            ``(scores, list_logit)``: (B, N) scores (-inf at padding) and (B,) list logits.
        """
        slot_signal = self.slots(slot_ids).sum(dim=2)  # (B, N, d)
        cand = cand + slot_signal.unsqueeze(2)  # (B, N, Q, d)
        items = self.cross(cand, memory)  # (B, N, d)
        if not self.cfg.use_context_attention:
            items = items + self.pooled_ctx(memory.pooled).unsqueeze(1)  # (B, N, d)
        scores = self.score_head(items).squeeze(-1)  # (B, N)
        list_logit = self.list_head(items, scores, cand_pad)  # (B,)
        return scores.masked_fill(cand_pad, float("-inf")), list_logit
