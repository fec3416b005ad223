"""Listwise training of the template ranker on the transcripts corpus.

Each training list is one rep turn: the catalog templates its facts allow (those of the gold act
are acceptable), sometimes the rep's actual reply (acceptable: this is how the ranker learns from
replies no template fits), and other turns' replies of other acts (random negatives; the
applicable templates of other acts are the same-flow hard negatives). In a share of lists every
acceptable candidate is removed, so the list head sees lists whose value is 0.

Templates of ``held_out_acts`` are kept out of training entirely: they are "added after
training", and the evaluation measures turns only they can answer.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from dialogue.personalization.soft import SoftTokens
from ranker.checkpoint import save_checkpoint
from ranker.config import RankerConfig, TrainConfig
from ranker.data import (
    RankTurn,
    candidate_entries,
    context_text,
    context_window,
    memory_tensors,
    pad_lists,
    slot_signal,
)
from ranker.encoder import TextEncoder, check_encoder, template_text
from ranker.model import TemplateRanker
from ranker.personal import pad_soft, soft_meta, turn_soft
from templates import TemplateEntry

__all__ = ["DEFAULT_HELD_OUT_ACTS", "TrainResult", "encode_texts", "train_ranker"]

log = logging.getLogger(__name__)

# Acts whose templates the default model never sees in training (the new-template evaluation).
DEFAULT_HELD_OUT_ACTS = ("refund_not_started", "already_cancelled", "refund_failed")


@dataclass(frozen=True)
class TrainResult:
    steps: int
    epochs_run: float
    seconds: float
    final_loss: float
    examples: int


def encode_texts(
    encoder: TextEncoder, texts: Sequence[str], *, progress: Callable[[int], None] | None = None
) -> dict[str, Tensor]:
    """fp16 token states of every distinct text (the frozen encoder's output, computed once)."""
    unique = sorted(set(texts), key=len)
    out: dict[str, Tensor] = {}
    for start in range(0, len(unique), 256):
        chunk = unique[start : start + 256]
        for text, states in zip(chunk, encoder.encode(chunk), strict=True):
            out[text] = states.half()
        if progress:
            progress(len(chunk))
    return out


def turn_texts(turns: Sequence[RankTurn], cfg: RankerConfig) -> list[str]:
    """The utterances a set of turns reads (kept context) and the gold replies."""
    texts: list[str] = []
    for turn in turns:
        texts += [text for _, _, text in context_window(turn.context, cfg)]
        if turn.gold_reply:
            texts.append(turn.gold_reply)
    return texts


def _reply_slots(turn: RankTurn) -> list[str]:
    text = (turn.gold_reply or "").lower()
    return [k for k, v in turn.slots.items() if isinstance(v, str) and v and v.lower() in text]


def build_list(
    turn: RankTurn,
    entries: Sequence[TemplateEntry],
    pool: Sequence[RankTurn],
    rng: random.Random,
    tc: TrainConfig,
) -> tuple[list[str], list[list[int]], list[float]]:
    """One training list: candidate keys ("t:<id>" or "r:<text>"), slot ids and labels."""
    ctx = context_text(turn)
    keys: list[str] = []
    slots: list[list[int]] = []
    labels: list[float] = []
    drop_gold = rng.random() < tc.drop_gold_share
    applicable = candidate_entries(entries, turn.facts, turn.slots)
    negatives = [e for e in applicable if e.act != turn.gold_act]
    if len(negatives) > tc.max_template_negatives:
        kept = set(e.id for e in rng.sample(negatives, tc.max_template_negatives))
        applicable = [e for e in applicable if e.act == turn.gold_act or e.id in kept]
    for entry in applicable:
        good = entry.act == turn.gold_act
        if good and drop_gold:
            continue
        keys.append(f"t:{entry.id}")
        slots.append(slot_signal(entry.slots, turn.slots, ctx))
        labels.append(float(good))
    if not drop_gold and turn.gold_reply and rng.random() < 0.5:
        keys.append(f"r:{turn.gold_reply}")
        slots.append(slot_signal(_reply_slots(turn), turn.slots, ctx))
        labels.append(1.0)
    for _ in range(tc.random_reply_negatives):
        other = pool[rng.randrange(len(pool))]
        if other.gold_act != turn.gold_act and other.gold_reply:
            keys.append(f"r:{other.gold_reply}")
            slots.append(slot_signal(_reply_slots(other), turn.slots, ctx))
            labels.append(0.0)
    return keys, slots, labels


def candidate_states(
    keys: Sequence[str],
    template_states: Mapping[str, Tensor],
    states_of: Mapping[str, Tensor],
    cfg: RankerConfig,
) -> tuple[Tensor, Tensor]:
    """(U, T, 384) padded token states of candidate keys and their (U, T) pad mask."""
    rows = [
        (template_states[k[2:]] if k.startswith("t:") else states_of[k[2:]])[
            : cfg.max_template_tokens
        ]
        for k in keys
    ]
    T = max(r.size(0) for r in rows)
    states = torch.zeros(len(rows), T, cfg.encoder_dim)
    pad = torch.ones(len(rows), T, dtype=torch.bool)
    for i, r in enumerate(rows):
        states[i, : r.size(0)] = r.float()
        pad[i, : r.size(0)] = False
    return states, pad


def list_losses(
    scores: Tensor, list_logit: Tensor, labels: Tensor, pad: Tensor
) -> tuple[Tensor, Tensor]:
    """Listwise loss (-log of the softmax mass on acceptable candidates) and the list BCE."""
    positive = (labels > 0) & ~pad  # (B, N)
    has = positive.any(dim=1)  # (B,)
    log_all = torch.logsumexp(scores, dim=1)  # (B,)
    log_pos = torch.logsumexp(scores.masked_fill(~positive, float("-inf")), dim=1)  # (B,)
    rank = (log_all - log_pos)[has].mean() if bool(has.any()) else scores.sum() * 0.0
    value = F.binary_cross_entropy_with_logits(list_logit, has.float())
    return rank, value


def train_ranker(
    turns: Sequence[RankTurn],
    entries: Sequence[TemplateEntry],
    *,
    encoder: TextEncoder,
    cfg: RankerConfig,
    tc: TrainConfig,
    out: Path,
    held_out_acts: Sequence[str] = DEFAULT_HELD_OUT_ACTS,
    states_of: dict[str, Tensor] | None = None,
    on_step: Callable[[int, float], None] | None = None,
    extra_meta: Mapping[str, Any] | None = None,
    soft: SoftTokens | None = None,
) -> TrainResult:
    """Fit a ranker and save its checkpoint to ``out``.

    Args:
        turns: Training turns (the corpus's train split).
        entries: The full catalog; templates of ``held_out_acts`` are left out of training.
        encoder: The frozen text encoder.
        cfg: Model shape.
        tc: Training options (seeded).
        out: Checkpoint path.
        held_out_acts: Acts whose templates count as added after training.
        states_of: Pre-computed utterance states (text -> fp16 tensor); computed if None.
        on_step: Progress callback (step, loss).
        extra_meta: Saved with the checkpoint's metadata (the meaning reader, say).
        soft: Personalization soft tokens to read (``cfg.soft_dim`` must be their width); the
            checkpoint then embeds them.

    Raises:
        ValueError: No training turns, or ``encoder`` keeps other layers than ``cfg`` says.
    """
    check_encoder(encoder, cfg)
    if (soft.dim if soft is not None else 0) != cfg.soft_dim:
        raise ValueError(f"cfg.soft_dim is {cfg.soft_dim}; the soft tokens are "
                         f"{soft.dim if soft is not None else 0} wide")  # fmt: skip
    started = time.perf_counter()
    torch.manual_seed(tc.seed)
    rng = random.Random(tc.seed)
    turns = list(turns)[: tc.max_train_examples] if tc.max_train_examples else list(turns)
    if not turns:
        raise ValueError("no training turns")
    train_entries = [e for e in entries if e.act not in set(held_out_acts)]
    if states_of is None:
        states_of = encode_texts(encoder, turn_texts(turns, cfg))
    template_states = {
        e.id: s.half()
        for e, s in zip(
            train_entries, encoder.encode([template_text(e.source) for e in train_entries]),
            strict=True,
        )
    }  # fmt: skip
    model = TemplateRanker(cfg)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    steps_per_epoch = math.ceil(len(turns) / tc.batch_lists)
    total = steps_per_epoch * tc.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=tc.lr, total_steps=total)
    step, loss_value = 0, float("nan")
    deadline = started + tc.max_minutes * 60
    for _ in range(tc.epochs):
        order = list(range(len(turns)))
        rng.shuffle(order)
        for start in range(0, len(order), tc.batch_lists):
            batch = [turns[i] for i in order[start : start + tc.batch_lists]]
            lists = [build_list(t, train_entries, turns, rng, tc) for t in batch]
            soft_batch = pad_soft([turn_soft(soft, t) for t in batch], soft.dim) if soft else None
            loss = _step(model, batch, lists, template_states, states_of, cfg, tc, soft_batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            loss_value = float(loss.detach())
            if on_step:
                on_step(step, loss_value)
            if time.perf_counter() > deadline:
                break
        if time.perf_counter() > deadline:
            log.warning("training stopped at the time limit after %d steps", step)
            break
    model.eval()
    save_checkpoint(
        out,
        model,
        cfg,
        meta={
            "train": asdict(tc),
            "held_out_acts": list(held_out_acts),
            "trained_templates": sorted(template_states),
            "examples": len(turns),
            "steps": step,
            **({"personalization": soft_meta(soft)} if soft is not None else {}),
            **(extra_meta or {}),
        },
    )
    seconds = time.perf_counter() - started
    return TrainResult(step, step / steps_per_epoch, seconds, loss_value, len(turns))


def _step(
    model: TemplateRanker,
    batch: Sequence[RankTurn],
    lists: Sequence[tuple[list[str], list[list[int]], list[float]]],
    template_states: Mapping[str, Tensor],
    states_of: Mapping[str, Tensor],
    cfg: RankerConfig,
    tc: TrainConfig,
    soft: Tensor | None = None,
) -> Tensor:
    table: dict[str, int] = {}
    for keys, _, _ in lists:
        for k in keys:
            table.setdefault(k, len(table))
    states, pad = candidate_states(list(table), template_states, states_of, cfg)
    cand_table = model.encode_candidates(states, pad)  # (U, Q, d)
    index = pad_lists([[table[k] for k in keys] for keys, _, _ in lists])  # (B, N)
    cand_pad = pad_lists([[1] * len(keys) for keys, _, _ in lists]) == 0  # (B, N)
    labels = torch.zeros(index.shape)
    slot_rows = [s for _, slots, _ in lists for s in slots]
    S = max(1, max((len(s) for s in slot_rows), default=0))
    slot_ids = torch.zeros(*index.shape, S, dtype=torch.long)  # (B, N, S)
    for i, (_, slots, labs) in enumerate(lists):
        labels[i, : len(labs)] = torch.tensor(labs)
        for j, s in enumerate(slots):
            slot_ids[i, j, : len(s)] = torch.tensor(s, dtype=torch.long)
    ctx, ctx_pad, spk, age, feats = memory_tensors(batch, states_of, cfg)
    memory = model.memory(ctx, ctx_pad, spk, age, feats, soft)
    cand = cand_table[index]  # (B, N, Q, d)
    scores, list_logit = model(memory, cand, slot_ids, cand_pad)
    rank, value = list_losses(scores, list_logit, labels, cand_pad)
    return rank + tc.list_loss_weight * value
