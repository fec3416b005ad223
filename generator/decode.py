"""Decoding with a KV cache: greedy, beam search and sampling, n drafts per turn.

Two steppers run the model one token at a time over a key/value cache:

- :class:`BertStepper`, for the default MiniLM-shaped decoder: the same post-LayerNorm BERT
  arithmetic as transformers' ``BertLMHeadModel`` (tests check the logits agree), over
  preallocated key/value tensors. transformers' generic forward costs about 7 ms of Python and
  cache bookkeeping per token on this 2-core CPU, more than the arithmetic.
- :class:`HFStepper`, for any other causal LM: the model's own forward with ``past_key_values``.

Constraints live here, in code: the first token must be the act token of an act the caller
allows (the candidate acts the store's facts permit), act tokens never appear later, placeholder
tokens of slots the store did not fill are never produced, and neither are [UNK]/[PAD]/[CLS]/
[MASK]. A draft that reaches ``max_new_tokens`` without its end token is returned with
``finished=False`` (never sent).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from generator.model import DraftModel

__all__ = ["BertStepper", "Constraints", "Decoded", "HFStepper", "decode", "stepper_for"]

METHODS = ("greedy", "beam", "sample")


@dataclass(frozen=True)
class Decoded:
    """One decoded sequence (reply-vocabulary tokens mapped back to full ids)."""

    token_ids: tuple[int, ...]  # without the end token
    logprob: float  # sum over the generated tokens
    finished: bool  # the end token was produced within max_new_tokens


@dataclass(frozen=True)
class Constraints:
    """Masks over the reply vocabulary: (V,) bool, True = allowed."""

    first: Tensor  # allowed at step 0 (act tokens of the allowed acts)
    later: Tensor  # allowed afterwards
    end_index: int  # the end token's reply-vocabulary index


class Stepper(Protocol):
    def prefill(self, embeds: Tensor) -> Tensor:
        """(1, T, d) prompt embeddings → (1, V) logits of the first new token; resets the cache."""
        ...

    def step(self, ids: Tensor) -> Tensor:
        """(B,) full token ids → (B, V) logits; appends to the cache."""
        ...

    def select(self, rows: Tensor) -> None:
        """Keep cache rows ``rows`` (B',) (beam reordering, or expanding one prompt to n rows)."""
        ...


class HFStepper:
    """Any transformers causal LM, through its own cache (``past_key_values``)."""

    def __init__(self, model: DraftModel) -> None:
        self.model = model
        self.past: Any = None

    def prefill(self, embeds: Tensor) -> Tensor:
        out = self.model.body(inputs_embeds=embeds, use_cache=True)
        self.past = out.past_key_values
        return self.model.logits(out.last_hidden_state[:, -1])  # (1, V)

    def step(self, ids: Tensor) -> Tensor:
        embeds = self.model.embed_tokens(ids.unsqueeze(1))  # (B, 1, d)
        out = self.model.body(inputs_embeds=embeds, past_key_values=self.past, use_cache=True)
        self.past = out.past_key_values
        return self.model.logits(out.last_hidden_state[:, -1])  # (B, V)

    def select(self, rows: Tensor) -> None:
        self.past.reorder_cache(rows)


@dataclass(frozen=True)
class _LayerWeights:
    """One BERT layer's weights, query/key/value fused into one matrix (one read per step)."""

    qkv_w: Tensor  # (3C, C)
    qkv_b: Tensor
    out_w: Tensor
    out_b: Tensor
    ln1: tuple[Tensor, Tensor, float]
    up_w: Tensor
    up_b: Tensor
    down_w: Tensor
    down_b: Tensor
    ln2: tuple[Tensor, Tensor, float]


def _ln(module: Any) -> tuple[Tensor, Tensor, float]:
    return module.weight.detach(), module.bias.detach(), float(module.eps)


class BertStepper:
    """The MiniLM-shaped decoder (``BertLMHeadModel``, ``is_decoder=True``) over a preallocated
    key/value cache, computing exactly what transformers' forward computes.

    The weights are read once, when the stepper is built (a serving model does not change).
    """

    def __init__(self, model: DraftModel, *, max_len: int = 512) -> None:
        bert: Any = model.body  # transformers' BertModel (untyped attributes)
        cfg = bert.config
        if cfg.hidden_act != "gelu":
            raise ValueError(f"BertStepper computes exact GELU, the model uses {cfg.hidden_act!r}")
        self.model = model
        emb: Any = bert.embeddings
        self.word = emb.word_embeddings.weight.detach()
        self.positions = emb.position_embeddings.weight.detach()
        self.token_type = emb.token_type_embeddings.weight[0].detach()
        self.emb_ln = _ln(emb.LayerNorm)
        self.layers = [self._weights(layer) for layer in bert.encoder.layer]
        self.n_head = int(cfg.num_attention_heads)
        self.hidden = int(cfg.hidden_size)
        self.head_dim = self.hidden // self.n_head
        self.max_len = min(max_len, int(cfg.max_position_embeddings))
        head = model.head()
        self.transform: Any = head.transform
        self.weight = head.weight[model.reply_vocab].detach().contiguous()  # (V, d)
        self.bias = (
            head.bias[model.reply_vocab].detach().contiguous() if head.bias is not None else None
        )
        self.k: list[Tensor] = []
        self.v: list[Tensor] = []
        self.pos = 0

    @staticmethod
    def _weights(layer: Any) -> _LayerWeights:
        att = layer.attention
        q, k, v = att.self.query, att.self.key, att.self.value
        return _LayerWeights(
            qkv_w=torch.cat([q.weight, k.weight, v.weight]).detach().contiguous(),
            qkv_b=torch.cat([q.bias, k.bias, v.bias]).detach().contiguous(),
            out_w=att.output.dense.weight.detach(),
            out_b=att.output.dense.bias.detach(),
            ln1=_ln(att.output.LayerNorm),
            up_w=layer.intermediate.dense.weight.detach(),
            up_b=layer.intermediate.dense.bias.detach(),
            down_w=layer.output.dense.weight.detach(),
            down_b=layer.output.dense.bias.detach(),
            ln2=_ln(layer.output.LayerNorm),
        )

    def _layer(self, i: int, x: Tensor, *, causal: bool) -> Tensor:
        w = self.layers[i]
        B, T, C = x.size()  # batch, new tokens, hidden
        qkv = F.linear(x, w.qkv_w, w.qkv_b)  # (B, T, 3C)
        q, k, v = (
            t.view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, h, T, hs)
            for t in qkv.split(C, dim=-1)
        )
        end = self.pos + T
        self.k[i][:B, :, self.pos : end] = k
        self.v[i][:B, :, self.pos : end] = v
        y = F.scaled_dot_product_attention(
            q, self.k[i][:B, :, :end], self.v[i][:B, :, :end], is_causal=causal
        )  # (B, h, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)
        x = F.layer_norm(F.linear(y, w.out_w, w.out_b) + x, (C,), *w.ln1[:2], w.ln1[2])
        h = F.gelu(F.linear(x, w.up_w, w.up_b))  # (B, T, 4C)
        return F.layer_norm(F.linear(h, w.down_w, w.down_b) + x, (C,), *w.ln2[:2], w.ln2[2])

    def _run(self, x: Tensor, *, causal: bool) -> Tensor:
        T = x.size(1)
        x = x + self.positions[self.pos : self.pos + T] + self.token_type
        x = F.layer_norm(x, (self.hidden,), *self.emb_ln[:2], self.emb_ln[2])
        for i in range(len(self.layers)):
            x = self._layer(i, x, causal=causal)
        self.pos += T
        h = self.transform(x[:, -1]) if self.transform is not None else x[:, -1]
        return F.linear(h, self.weight, self.bias)  # (B, V)

    def prefill(self, embeds: Tensor) -> Tensor:
        T = embeds.size(1)
        if T >= self.max_len:
            raise ValueError(f"prompt of {T} tokens is past the model's {self.max_len} positions")
        shape = (1, self.n_head, self.max_len, self.head_dim)
        self.k = [torch.empty(shape) for _ in self.layers]
        self.v = [torch.empty(shape) for _ in self.layers]
        self.pos = 0
        return self._run(embeds, causal=True)

    def step(self, ids: Tensor) -> Tensor:
        if self.pos >= self.max_len:
            raise ValueError("the draft is past the model's positions")
        x = self.word[ids].unsqueeze(1)  # (B, 1, d)
        return self._run(x, causal=False)  # one new token attends to every cached one

    def select(self, rows: Tensor) -> None:
        if rows.numel() > self.k[0].size(0):  # expanding: grow the cache's batch
            self.k = [k[:1].expand(rows.numel(), -1, -1, -1).clone() for k in self.k]
            self.v = [v[:1].expand(rows.numel(), -1, -1, -1).clone() for v in self.v]
            return
        self.k = [k.index_select(0, rows) for k in self.k]
        self.v = [v.index_select(0, rows) for v in self.v]


def stepper_for(model: DraftModel) -> Stepper:
    """The fast stepper for the default architecture, the generic one otherwise."""
    from transformers import BertLMHeadModel

    if isinstance(model.lm, BertLMHeadModel):
        cfg = model.cfg
        return BertStepper(model, max_len=cfg.max_prompt_tokens + cfg.soft_tokens + 2 * 64)
    return HFStepper(model)


def _masked(logits: Tensor, allowed: Tensor) -> Tensor:
    return logits.masked_fill(~allowed, float("-inf"))


@torch.inference_mode()
def decode(
    model: DraftModel,
    stepper: Stepper,
    prompt: Tensor,
    constraints: Constraints,
    *,
    method: str = "greedy",
    n: int = 1,
    beam_width: int = 4,
    max_new_tokens: int = 48,
    temperature: float = 0.8,
    top_p: float = 0.9,
    seed: int = 0,
) -> list[Decoded]:
    """Decode up to ``n`` drafts for one prompt (best first for greedy and beam).

    Args:
        model: The draft model (eval mode).
        stepper: Its stepper (:func:`stepper_for`).
        prompt: (1, T, d) prompt embeddings (soft tokens + prompt tokens).
        constraints: What may be produced.
        method: "greedy" (one draft), "beam" (the n best of ``max(n, beam_width)`` beams) or
            "sample" (n independent samples, nucleus ``top_p`` at ``temperature``, seeded).
        max_new_tokens: Tokens generated at most (the end token included).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if n < 1 or max_new_tokens < 1:
        raise ValueError("n and max_new_tokens must be >= 1")
    if not bool(constraints.first.any()):
        return []  # nothing may be said: no act is allowed
    vocab = model.reply_vocab
    first = F.log_softmax(_masked(stepper.prefill(prompt), constraints.first), dim=-1)  # (1, V)
    if method == "beam":
        return _beam(stepper, first, constraints, vocab, max(n, beam_width), n, max_new_tokens)
    if method == "greedy":
        return [_greedy(stepper, first, constraints, vocab, max_new_tokens)]
    rows = n
    generator = torch.Generator().manual_seed(seed)
    if rows > 1:
        stepper.select(torch.zeros(rows, dtype=torch.long))
    logp = first.expand(rows, -1)
    seqs: list[list[int]] = [[] for _ in range(rows)]
    scores = [0.0] * rows
    done = [False] * rows
    for t in range(max_new_tokens):
        choice = _nucleus(logp, temperature, top_p, generator)
        picked = logp.gather(1, choice.unsqueeze(1)).squeeze(1).tolist()
        for r, (c, lp) in enumerate(zip(choice.tolist(), picked, strict=True)):
            if done[r]:
                continue
            scores[r] += lp
            if c == constraints.end_index:
                done[r] = True
            else:
                seqs[r].append(c)
        if all(done) or t == max_new_tokens - 1:
            break
        ids = vocab[choice]  # (rows,) full ids; finished rows keep stepping (cheap, discarded)
        logp = F.log_softmax(_masked(stepper.step(ids), constraints.later), dim=-1)
    return [
        Decoded(tuple(vocab[s].tolist()) if s else (), scores[r], done[r])
        for r, s in enumerate(seqs)
    ]


def _greedy(
    stepper: Stepper, first: Tensor, constraints: Constraints, vocab: Tensor, max_new_tokens: int
) -> Decoded:
    """One greedy draft: few tensor operations per token (each costs tens of microseconds on
    this CPU, a visible share of a 4 ms step)."""
    later = torch.zeros(constraints.later.shape).masked_fill(~constraints.later, float("-inf"))
    logp = first[0]  # (V,) log-probabilities, masked
    seq: list[int] = []
    score = 0.0
    for t in range(max_new_tokens):
        c = int(logp.argmax())
        score += float(logp[c])
        if c == constraints.end_index:
            return Decoded(tuple(vocab[seq].tolist()) if seq else (), score, True)
        seq.append(c)
        if t == max_new_tokens - 1:
            break
        logits = stepper.step(vocab[c : c + 1])[0] + later  # (V,)
        logp = logits - torch.logsumexp(logits, dim=0)
    return Decoded(tuple(vocab[seq].tolist()), score, False)


def _nucleus(logp: Tensor, temperature: float, top_p: float, generator: torch.Generator) -> Tensor:
    probs = F.softmax(logp / max(temperature, 1e-4), dim=-1)  # (B, V)
    sorted_p, order = probs.sort(dim=-1, descending=True)
    keep = sorted_p.cumsum(dim=-1) - sorted_p < top_p  # always keeps the most likely token
    sorted_p = sorted_p * keep
    picked = torch.multinomial(sorted_p / sorted_p.sum(-1, keepdim=True), 1, generator=generator)
    return order.gather(1, picked).squeeze(1)


def _beam(
    stepper: Stepper,
    first: Tensor,
    constraints: Constraints,
    vocab: Tensor,
    width: int,
    n: int,
    max_new_tokens: int,
) -> list[Decoded]:
    """Beam search with length-normalised final scores (mean log-probability per token)."""
    k = min(width, int(torch.isfinite(first).sum()))
    top = first[0].topk(k)
    beams: list[tuple[list[int], float]] = [([int(i)], float(s)) for s, i in zip(*top, strict=True)]
    finished: list[tuple[list[int], float]] = []
    stepper.select(torch.zeros(len(beams), dtype=torch.long))
    live = beams
    for _ in range(max_new_tokens - 1):
        ids = vocab[torch.tensor([seq[-1] for seq, _ in live])]
        logp = F.log_softmax(_masked(stepper.step(ids), constraints.later), dim=-1)  # (B, V)
        base = torch.tensor([s for _, s in live]).unsqueeze(1)
        total = (logp + base).view(-1)
        cand = total.topk(min(2 * width, int(torch.isfinite(total).sum())))
        nxt: list[tuple[list[int], float]] = []
        rows: list[int] = []
        V = logp.size(1)
        for s, flat in zip(cand.values.tolist(), cand.indices.tolist(), strict=True):
            row, tok = divmod(flat, V)
            seq = live[row][0]
            if tok == constraints.end_index:
                finished.append((seq, s))
            else:
                nxt.append(([*seq, tok], s))
                rows.append(row)
            if len(nxt) == width:
                break
        if len(finished) >= n and (
            not nxt or max(_norm(f) for f in finished) >= max(s / (len(q) + 1) for q, s in nxt)
        ):
            break
        if not nxt:
            break
        stepper.select(torch.tensor(rows))
        live = nxt
    done = sorted(finished, key=_norm, reverse=True)[:n]
    out = [Decoded(tuple(vocab[torch.tensor(s)].tolist()), sc, True) for s, sc in done]
    if len(out) < n:  # not enough ended: the best unfinished beams, marked so
        rest = sorted(live, key=_norm, reverse=True)[: n - len(out)]
        out += [Decoded(tuple(vocab[torch.tensor(s)].tolist()), sc, False) for s, sc in rest]
    return out


def _norm(item: tuple[Sequence[int], float]) -> float:
    seq, score = item
    return score / (len(seq) + 1)


def build_constraints(
    model: DraftModel,
    *,
    allowed_act_ids: Collection[int],
    banned_ids: Collection[int],
    act_ids: Collection[int],
    end_id: int,
) -> Constraints:
    """Masks over the reply vocabulary from full-vocabulary token ids."""
    vocab = model.reply_vocab.tolist()
    index = {tok: i for i, tok in enumerate(vocab)}
    V = len(vocab)
    first = torch.zeros(V, dtype=torch.bool)
    for t in allowed_act_ids:
        if t in index:
            first[index[t]] = True
    later = torch.ones(V, dtype=torch.bool)
    for t in (*act_ids, *banned_ids):
        if t in index:
            later[index[t]] = False
    if end_id not in index:
        raise ValueError("the end token is not in the reply vocabulary")
    return Constraints(first=first, later=later, end_index=index[end_id])
