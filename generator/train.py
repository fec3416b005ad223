"""Fitting the generator on the transcripts corpus (``csbot corpus export``).

Each rep turn is one example: the prompt (``generator.data``) and the rep's reply, delexicalized,
behind its act token; the loss is the reply tokens' cross-entropy. The two commonest acts
(asking to log in, closing) are capped so the rarer acts get the steps. Training stops at the
epochs or the wall-clock ceiling, whichever comes first; everything is seeded.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from dialogue.personalization.soft import SoftTokens
from generator.act_check import ActReader, accuracy, fit_act_reader
from generator.codec import Codec
from generator.config import GeneratorConfig, TrainConfig
from generator.data import Encoded, prompt_parts, target_text
from generator.model import DraftModel, build_model, load_tokenizer
from ranker.data import RankTurn
from ranker.personal import turn_soft

__all__ = ["Example", "TrainResult", "batch_tensors", "encode_turns", "train_generator"]

log = logging.getLogger(__name__)

ACT_CAP = 2500  # examples kept per act (request_auth and closing are 55 % of the corpus)


@dataclass(frozen=True)
class Example:
    encoded: Encoded
    soft: Tensor  # (S, soft_dim); (0, 0) without soft tokens


@dataclass(frozen=True)
class TrainResult:
    model: DraftModel
    steps: int
    examples: int
    seconds: float
    final_loss: float
    valid_loss: float
    stopped_early: bool
    reply_vocab: int
    act_reader: ActReader  # fitted on the same training turns (``generator.act_check``)
    act_reader_valid_accuracy: float

    def figures(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k not in ("model", "act_reader")}

    def meta(self) -> dict[str, Any]:
        """What the checkpoint's metadata needs from training: its figures and the act reader."""
        return {"training": self.figures(), "act_reader": self.act_reader.to_json()}


def select_turns(turns: Sequence[RankTurn], *, seed: int, cap: int = ACT_CAP) -> list[RankTurn]:
    """Shuffled (seeded) turns with a gold act, at most ``cap`` per act."""
    rng = random.Random(seed)
    shuffled = [t for t in turns if t.gold_act and t.gold_reply]
    rng.shuffle(shuffled)
    seen: Counter[str] = Counter()
    out = []
    for t in shuffled:
        assert t.gold_act is not None
        if seen[t.gold_act] < cap:
            seen[t.gold_act] += 1
            out.append(t)
    return out


def encode_turns(
    turns: Sequence[RankTurn],
    codec: Codec,
    cfg: GeneratorConfig,
    soft: SoftTokens | None,
) -> list[Example]:
    out = []
    for t in turns:
        assert t.gold_act is not None and t.gold_reply is not None
        parts = prompt_parts(t, use_profile=cfg.use_profile, max_utterances=cfg.max_utterances)
        encoded = codec.encode(parts, target_text(t.gold_act, t.gold_reply, t.slots))
        vectors = turn_soft(soft, t) if soft is not None else torch.zeros(0, 0)
        out.append(Example(encoded, vectors[: cfg.soft_tokens]))
    return out


def batch_tensors(
    model: DraftModel, batch: Sequence[Example], index: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Embeddings, attention mask, position ids and targets of a batch.

    Soft tokens are left-padded to the batch's longest sequence (positions count real tokens
    only, so a prompt sits at the same positions as when serving, where nothing is padded); the
    token part is right-padded.

    Args:
        index: (V_full,) map from full token id to reply-vocabulary index (-100 elsewhere).
    """
    d = model.hidden_size
    S = max((e.soft.size(0) for e in batch), default=0) if model.adapter is not None else 0
    seqs = [e.encoded.prompt + e.encoded.reply for e in batch]
    T = max(len(s) for s in seqs)
    ids = torch.zeros(len(batch), T, dtype=torch.long)
    tok_mask = torch.zeros(len(batch), T, dtype=torch.long)
    targets = torch.full((len(batch), S + T), -100, dtype=torch.long)
    for i, (e, s) in enumerate(zip(batch, seqs, strict=True)):
        ids[i, : len(s)] = torch.tensor(s)
        tok_mask[i, : len(s)] = 1
        P = len(e.encoded.prompt)
        reply = torch.tensor(e.encoded.reply, dtype=torch.long)
        # The hidden state at position p predicts the token at p + 1.
        targets[i, S + P - 1 : S + P - 1 + len(reply)] = index[reply]
    embeds = model.embed_tokens(ids)  # (B, T, d)
    soft_mask = torch.zeros(len(batch), S, dtype=torch.long)
    if S > 0:
        raw = torch.zeros(len(batch), S, model.cfg.soft_dim)
        for i, e in enumerate(batch):
            n = e.soft.size(0)
            if n:
                raw[i, S - n :] = e.soft
                soft_mask[i, S - n :] = 1
        soft_embeds = model.adapter(raw) if model.adapter is not None else raw  # (B, S, d)
        embeds = torch.cat([soft_embeds, embeds], dim=1)  # (B, S + T, d)
    attention = torch.cat([soft_mask, tok_mask], dim=1)  # (B, S + T)
    positions = (attention.cumsum(dim=1) - 1).clamp(min=0)
    assert embeds.size(-1) == d
    return embeds, attention, positions, targets


def vocab_index(model: DraftModel, vocab_size: int) -> Tensor:
    index = torch.full((vocab_size,), -100, dtype=torch.long)
    index[model.reply_vocab] = torch.arange(model.reply_vocab.numel())
    return index


def _loss(model: DraftModel, batch: Sequence[Example], index: Tensor) -> Tensor:
    embeds, attention, positions, targets = batch_tensors(model, batch, index)
    return model(embeds, attention, targets, positions)


def _batches(examples: Sequence[Example], size: int, rng: random.Random) -> list[list[Example]]:
    """Shuffled batches of similar length (less padding): sort within pools of 50 batches."""
    order = list(examples)
    rng.shuffle(order)
    out: list[list[Example]] = []
    pool = size * 50
    for start in range(0, len(order), pool):
        chunk = sorted(
            order[start : start + pool],
            key=lambda e: len(e.encoded.prompt) + len(e.encoded.reply),
        )
        out += [chunk[i : i + size] for i in range(0, len(chunk), size)]
    rng.shuffle(out)
    return out


@torch.no_grad()
def mean_loss(model: DraftModel, examples: Sequence[Example], index: Tensor) -> float:
    model.eval()
    total, n = 0.0, 0
    for i in range(0, len(examples), 32):
        batch = examples[i : i + 32]
        total += float(_loss(model, batch, index)) * len(batch)
        n += len(batch)
    return total / max(n, 1)


def train_generator(
    train_turns: Sequence[RankTurn],
    valid_turns: Sequence[RankTurn],
    cfg: GeneratorConfig,
    tcfg: TrainConfig,
    *,
    soft: SoftTokens | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainResult:
    """Fit a generator; returns the model (eval mode) and its training figures."""
    torch.manual_seed(tcfg.seed)
    rng = random.Random(tcfg.seed)
    started = time.perf_counter()
    tok = load_tokenizer(cfg)
    codec = Codec(tok, cfg)
    selected = select_turns(train_turns, seed=tcfg.seed)
    if tcfg.max_train_examples is not None:
        selected = selected[: tcfg.max_train_examples]
    if not selected:
        raise ValueError("no training turns with a gold reply")
    examples = encode_turns(selected, codec, cfg, soft)
    valid = encode_turns(select_turns(valid_turns, seed=tcfg.seed)[:512], codec, cfg, soft)
    vocab = codec.reply_vocab(e.encoded.reply for e in examples)
    model = build_model(cfg, tok, vocab)
    index = vocab_index(model, len(tok))
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    per_epoch = math.ceil(len(examples) / tcfg.batch_size)
    total = max(1, per_epoch * tcfg.epochs)
    if tcfg.max_steps is not None:
        total = min(total, tcfg.max_steps)

    budget = tcfg.max_minutes * 60
    deadline = started + budget

    def schedule(step: int) -> float:
        # Warm-up, then linear decay over the epochs or the time left, whichever ends first.
        if step < tcfg.warmup_steps:
            return (step + 1) / tcfg.warmup_steps
        by_steps = (step - tcfg.warmup_steps) / max(1, total - tcfg.warmup_steps)
        if tcfg.max_steps is not None:
            return max(0.05, 1 - by_steps)
        by_time = (time.perf_counter() - started) / budget
        return max(0.05, 1 - max(by_steps, by_time))

    sched = torch.optim.lr_scheduler.LambdaLR(optim, schedule)
    step, last, stopped = 0, math.nan, False
    for epoch in range(tcfg.epochs):
        model.train()
        for batch in _batches(examples, tcfg.batch_size, rng):
            loss = _loss(model, batch, index)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optim.step()
            sched.step()
            step += 1
            last = loss.item()
            if progress is not None and step % 25 == 0:
                progress(f"epoch {epoch} step {step}/{total} loss {last:.3f}")
            if time.perf_counter() > deadline or step >= total:
                stopped = True
                break
        if stopped:
            break
    valid_loss = mean_loss(model, valid, index) if valid else math.nan
    model.eval()
    reader = fit_act_reader(selected, seed=tcfg.seed)
    return TrainResult(
        model=model,
        steps=step,
        examples=len(examples),
        seconds=round(time.perf_counter() - started, 1),
        final_loss=round(last, 4),
        valid_loss=round(valid_loss, 4),
        stopped_early=step < per_epoch * tcfg.epochs,
        reply_vocab=int(vocab.numel()),
        act_reader=reader,
        act_reader_valid_accuracy=round(accuracy(reader, valid_turns), 4),
    )
