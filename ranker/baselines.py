"""Baselines trained and measured on the same data and candidate lists as the ranker.

- :class:`TfidfRanker`: TF-IDF cosine between the recent context and each template's text.
- :class:`BiEncoderRanker`: frozen MiniLM sentence embeddings of the context (with the tracker's
  facts as text) and of each template, with a trained linear map on each side (a bi-encoder:
  no interaction between context and candidate before the dot product).
- :class:`CrossEncoderRanker`: MiniLM fine-tuned as a full cross-encoder over
  ``facts + context [SEP] candidate``: every candidate re-reads the whole context, the accuracy
  reference the ranker's speed is measured against.

All rank exactly the candidates :func:`ranker.data.candidate_entries` allows.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from torch import Tensor, nn
from torch.nn import functional as F

from ranker.data import RankTurn, candidate_entries
from ranker.encoder import TextEncoder, minilm_path, template_text
from ranker.scorer import Ranked, Ranking
from templates import TemplateEntry

__all__ = ["BiEncoderRanker", "CrossEncoderRanker", "TfidfRanker", "turn_text"]


def turn_text(turn: RankTurn, *, utterances: int = 4, with_facts: bool = True) -> str:
    """The recent context as one text (newest last), optionally led by the tracker's facts."""
    said = " | ".join(
        ("customer: " if speaker == 0 else "agent: ") + text
        for speaker, text in turn.context[-utterances:]
    )
    if not with_facts:
        return said
    awaiting = (turn.tracker or {}).get("awaiting") or "nothing"
    return f"facts: {' '.join(sorted(turn.facts))}; awaiting {awaiting} || {said}"


def _ranking(entries: Sequence[TemplateEntry], scores: Tensor) -> Ranking:
    order = torch.argsort(scores, descending=True, stable=True).tolist()
    ranked = tuple(Ranked(entries[i], float(scores[i])) for i in order)
    return Ranking(ranked=ranked, list_prob=float(torch.sigmoid(scores.max())))


class TfidfRanker:
    """TF-IDF cosine between the last utterances and each candidate template's words."""

    def __init__(self, entries: Sequence[TemplateEntry], train: Sequence[RankTurn]) -> None:
        self.entries = list(entries)
        corpus = [turn_text(t, with_facts=False) for t in train] + [
            template_text(e.source) for e in self.entries
        ]
        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
        self.vectorizer.fit(corpus)
        self._templates = self.vectorizer.transform([template_text(e.source) for e in entries])
        self._row = {e.id: i for i, e in enumerate(self.entries)}

    def rank(self, turn: RankTurn, soft: Tensor | None = None) -> Ranking:
        entries = candidate_entries(self.entries, turn.facts, turn.slots)
        if not entries:
            return Ranking((), 0.0)
        query = self.vectorizer.transform([turn_text(turn, utterances=2, with_facts=False)])
        rows = [self._row[e.id] for e in entries]
        sims = (self._templates[rows] @ query.T).toarray().ravel()
        return _ranking(entries, torch.tensor(sims, dtype=torch.float32))


class BiEncoderRanker(nn.Module):
    """Frozen MiniLM embeddings + a trained linear map per side; score = scaled cosine."""

    def __init__(self, entries: Sequence[TemplateEntry], encoder: TextEncoder) -> None:
        super().__init__()
        self.entries = list(entries)
        self.encoder = encoder
        self.ctx_map = nn.Linear(384, 256)
        self.cand_map = nn.Linear(384, 256)
        self.scale = nn.Parameter(torch.tensor(10.0))
        self._templates = encoder.pooled([template_text(e.source) for e in self.entries])
        self._row = {e.id: i for i, e in enumerate(self.entries)}

    def _scores(self, ctx: Tensor, cand: Tensor) -> Tensor:
        a = F.normalize(self.ctx_map(ctx), dim=-1)  # (B, 256)
        b = F.normalize(self.cand_map(cand), dim=-1)  # (N, 256)
        return self.scale * (a @ b.T)  # (B, N)

    def fit(
        self,
        train: Sequence[RankTurn],
        *,
        epochs: int = 3,
        seed: int = 0,
        lr: float = 2e-3,
        exclude_acts: frozenset[str] = frozenset(),
    ) -> None:
        """Listwise training over each turn's candidates (gold-act templates acceptable);
        templates of ``exclude_acts`` are never seen in training."""
        torch.manual_seed(seed)
        rng = random.Random(seed)
        usable = [
            t
            for t in train
            if t.gold_act not in exclude_acts and any(e.act == t.gold_act for e in self._cands(t))
        ]
        ctx = self.encoder.pooled([turn_text(t) for t in usable])  # (T, 384)
        opt = torch.optim.AdamW(self.parameters(), lr=lr)
        self.train()
        for _ in range(epochs):
            order = list(range(len(usable)))
            rng.shuffle(order)
            for start in range(0, len(order), 64):
                idx = order[start : start + 64]
                scores = self._scores(ctx[idx], self._templates)  # (B, N_catalog)
                mask = torch.ones_like(scores, dtype=torch.bool)  # True = not a candidate
                pos = torch.zeros_like(mask)
                for b, i in enumerate(idx):
                    for e in self._cands(usable[i]):
                        if e.act in exclude_acts:
                            continue
                        mask[b, self._row[e.id]] = False
                        pos[b, self._row[e.id]] = e.act == usable[i].gold_act
                scores = scores.masked_fill(mask, float("-inf"))
                loss = (
                    torch.logsumexp(scores, 1)
                    - torch.logsumexp(scores.masked_fill(~pos, float("-inf")), 1)
                ).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        self.eval()

    def _cands(self, turn: RankTurn) -> list[TemplateEntry]:
        return candidate_entries(self.entries, turn.facts, turn.slots)

    @torch.inference_mode()
    def rank(self, turn: RankTurn, soft: Tensor | None = None) -> Ranking:
        entries = self._cands(turn)
        if not entries:
            return Ranking((), 0.0)
        ctx = self.encoder.pooled([turn_text(turn)])
        rows = torch.tensor([self._row[e.id] for e in entries])
        return _ranking(entries, self._scores(ctx, self._templates[rows])[0])


class CrossEncoderRanker:
    """MiniLM fine-tuned as a cross-encoder over ``facts + context [SEP] candidate``.

    Args:
        entries: The catalog.
        max_length: Tokens per pair; the oldest context is truncated first.
        path: The MiniLM directory (the packaged one by default).
    """

    def __init__(
        self, entries: Sequence[TemplateEntry], *, max_length: int = 160, path: Path | None = None
    ) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        where = str(path or minilm_path())
        self.tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=True)
        self.tokenizer.truncation_side = "left"
        self.model = AutoModelForSequenceClassification.from_pretrained(
            where, num_labels=1, local_files_only=True
        )
        self.entries = list(entries)
        self.max_length = max_length
        self._text = {e.id: template_text(e.source) for e in self.entries}

    def _logits(self, contexts: Sequence[str], candidates: Sequence[str]) -> Tensor:
        batch = self.tokenizer(
            list(contexts),
            list(candidates),
            truncation="only_first",
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
        )
        return self.model(**batch).logits.squeeze(-1)  # (pairs,)

    def fit(
        self,
        train: Sequence[RankTurn],
        *,
        max_minutes: float = 10.0,
        list_size: int = 8,
        lists_per_step: int = 4,
        lr: float = 3e-5,
        seed: int = 0,
        exclude_acts: frozenset[str] = frozenset(),
        on_step: Callable[[int, float], None] | None = None,
    ) -> int:
        """Listwise fine-tuning (one acceptable template vs sampled others) until the time limit.

        Returns:
            The number of optimizer steps taken.
        """
        torch.manual_seed(seed)
        rng = random.Random(seed)
        opt = torch.optim.AdamW(self.model.parameters(), lr=lr)
        self.model.train()
        deadline = time.perf_counter() + max_minutes * 60
        pool = [
            t
            for t in train
            if t.gold_act not in exclude_acts and any(e.act == t.gold_act for e in self._cands(t))
        ]
        step = 0
        while time.perf_counter() < deadline:
            contexts: list[str] = []
            cands: list[str] = []
            for turn in rng.sample(pool, lists_per_step):
                entries = [e for e in self._cands(turn) if e.act not in exclude_acts]
                good = [e for e in entries if e.act == turn.gold_act]
                bad = [e for e in entries if e.act != turn.gold_act]
                chosen = [rng.choice(good)] + rng.sample(bad, min(len(bad), list_size - 1))
                chosen += [chosen[-1]] * (list_size - len(chosen))  # pad with a repeat
                text = turn_text(turn)
                contexts += [text] * list_size
                cands += [self._text[e.id] for e in chosen]
            logits = self._logits(contexts, cands).view(lists_per_step, list_size)
            loss = F.cross_entropy(logits, torch.zeros(lists_per_step, dtype=torch.long))
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if on_step:
                on_step(step, float(loss.detach()))
        self.model.eval()
        return step

    def _cands(self, turn: RankTurn) -> list[TemplateEntry]:
        return candidate_entries(self.entries, turn.facts, turn.slots)

    @torch.inference_mode()
    def rank(self, turn: RankTurn, soft: Tensor | None = None) -> Ranking:
        entries = self._cands(turn)
        if not entries:
            return Ranking((), 0.0)
        text = turn_text(turn)
        scores = torch.cat(
            [
                self._logits([text] * len(chunk), [self._text[e.id] for e in chunk])
                for chunk in (entries[i : i + 64] for i in range(0, len(entries), 64))
            ]
        )
        return _ranking(entries, scores)
