"""Serving the ranker: score one turn's candidate templates and the list.

Template encodings are computed once, when the catalog loads; each turn encodes only utterances
the encoder has not seen (its cache keeps earlier turns), builds the memory and runs the
cross-attention over the candidates its facts allow.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor

from dialogue.domain import CustomerRecord
from dialogue.personalization.artifact import ArtifactError
from dialogue.personalization.soft import SoftTokens
from ranker.checkpoint import CheckpointError, load_checkpoint
from ranker.data import (
    RankTurn,
    candidate_entries,
    context_text,
    context_window,
    memory_tensors,
    slot_signal,
)
from ranker.encoder import SERVING_RUNTIME, TextEncoder, check_encoder, template_text
from ranker.meaning import MeaningReader, Reading
from ranker.model import TemplateRanker
from ranker.onnx_scoring import ScoringGraph, ScoringUnavailable, scoring_supported
from ranker.personal import soft_from_meta, turn_soft
from templates import Catalog, TemplateEntry, load_catalog

logger = logging.getLogger(__name__)

__all__ = ["NeuralRanker", "Ranked", "Ranker", "Ranking"]


@dataclass(frozen=True)
class Ranked:
    entry: TemplateEntry
    score: float


@dataclass(frozen=True)
class Ranking:
    """One turn's candidates, best first, and P(some candidate is acceptable)."""

    ranked: tuple[Ranked, ...]
    list_prob: float

    def top_acts(self, k: int = 4) -> list[Ranked]:
        """The best template of each of the ``k`` best acts (what agent-assist shows)."""
        seen: set[str] = set()
        out: list[Ranked] = []
        for r in self.ranked:
            if r.entry.act not in seen:
                seen.add(r.entry.act)
                out.append(r)
                if len(out) == k:
                    break
        return out


def release_free_memory() -> bool:
    """Hand the heap's freed pages back to the OS (glibc ``malloc_trim``); False where there is
    no glibc. Loading the encoder and encoding the catalog free about 15 MB that glibc would
    otherwise keep resident in the serving process."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return False
    trim(0)
    return True


class Ranker(Protocol):
    """Anything that ranks a turn's candidates (the neural ranker, a baseline, a test fake)."""

    def rank(self, turn: RankTurn, soft: Tensor | None = None) -> Ranking: ...


class NeuralRanker:
    """The trained cross-attention ranker over a catalog.

    Args:
        model: A trained :class:`TemplateRanker` (eval mode).
        encoder: The frozen text encoder.
        catalog: The templates to rank (may hold templates added after training).
    """

    def __init__(
        self,
        model: TemplateRanker,
        encoder: TextEncoder,
        catalog: Catalog,
        *,
        threshold: float = 0.5,
        meta: dict[str, Any] | None = None,
        meaning: MeaningReader | None = None,
        soft_tokens: SoftTokens | None = None,
    ) -> None:
        self.model = model.eval()
        # The personalization vectors the model was trained with (None: it reads none).
        self.soft_tokens = soft_tokens if model.cfg.soft_dim > 0 else None
        self.meta: dict[str, Any] = dict(meta or {})
        # What the customer means (ranker.meaning), fitted with the model; None: no reading.
        self.meaning = meaning
        # The auto-send threshold chosen on the validation split when the model was trained.
        self.threshold = threshold
        self.cfg = model.cfg
        check_encoder(encoder, self.cfg)
        self.encoder = encoder
        self.entries: list[TemplateEntry] = sorted(catalog.entries, key=lambda e: e.id)
        self._row = {e.id: i for i, e in enumerate(self.entries)}
        self._candidates = self._encode_catalog()
        # The scoring pass on ONNX Runtime (ranker.onnx_scoring): ``load`` sets it for serving.
        self.scoring: ScoringGraph | None = None

    @classmethod
    def load(cls, path: Path, catalog: Catalog | None = None) -> NeuralRanker:
        """Load a checkpoint to rank, its encoder on :data:`ranker.encoder.SERVING_RUNTIME`
        (raises ``CheckpointError`` if missing or corrupt)."""
        model, meta = load_checkpoint(path)
        encoder = TextEncoder(
            max_tokens=model.cfg.max_utterance_tokens,
            layers=model.cfg.encoder_layers,
            runtime=SERVING_RUNTIME,
            precision=model.cfg.encoder_precision,
        )
        threshold = float(meta.get("threshold", 0.5))
        meaning: MeaningReader | None = None
        if meta.get("meaning") is not None:
            try:
                meaning = MeaningReader.from_json(meta["meaning"])
            except (KeyError, TypeError, ValueError) as exc:
                raise CheckpointError(f"{path} holds a malformed meaning reader: {exc}") from exc
            if meaning.encoder_layers != model.cfg.encoder_layers:
                raise CheckpointError(
                    f"{path}: the meaning reader was fitted on {meaning.encoder_layers} encoder "
                    f"layers, the ranker reads {model.cfg.encoder_layers}"
                )
        soft_tokens: SoftTokens | None = None
        if model.cfg.soft_dim > 0:
            try:
                soft_tokens = soft_from_meta(meta.get("personalization"), dim=model.cfg.soft_dim)
            except ArtifactError as exc:
                raise CheckpointError(f"{path}: {exc}") from exc
            meta = {k: v for k, v in meta.items() if k != "personalization"}  # held once
        ranker = cls(
            model,
            encoder,
            catalog or load_catalog(),
            threshold=threshold,
            meta=meta,
            meaning=meaning,
            soft_tokens=soft_tokens,
        )
        if scoring_supported(model):
            try:
                scoring = ScoringGraph(path)
                scoring.check(model)
                ranker.scoring = scoring
            except ScoringUnavailable as exc:  # torch computes the same scores, more slowly
                logger.warning("%s: scoring with torch (%s)", path, exc)
        release_free_memory()  # loading and the catalog's encoding left freed heap behind
        return ranker

    def soft_for_record(self, record: CustomerRecord, order_number: str | None) -> Tensor | None:
        """(1, S, soft_dim) soft tokens of an authenticated customer's live record (orders and
        items after the fit are folded in); None when the model reads no personalization."""
        if self.soft_tokens is None:
            return None
        return self.soft_tokens.for_record(record, order_number).unsqueeze(0)

    def read_meaning(self, situation: str, text: str) -> Reading | None:
        """What ``text`` means in ``situation`` (``ranker.meaning``), or None without a reader.
        The message's token states are cached, so ranking the turn afterwards re-uses them."""
        if self.meaning is None:
            return None
        return self.meaning.read(situation, text, self.encoder)

    def prefetch(self, texts: list[str]) -> Future[None] | None:
        """Encode texts the next turn's context will hold (the reply just sent) in the
        background, so that the next :meth:`rank` encodes only the customer's new message.
        Returns the background job (None if there was nothing to encode)."""
        return self.encoder.prefetch(texts)

    @torch.inference_mode()
    def _encode_catalog(self) -> Tensor:
        # Small batches: the catalog is encoded once, and padding a large batch is a memory peak.
        return self._encode_texts([template_text(e.source) for e in self.entries])

    def _encode_texts(self, texts: Sequence[str]) -> Tensor:
        """(N, Q, d) candidate summaries of template-like texts."""
        states = self.encoder.encode(list(texts), batch_size=8)
        T = max(s.size(0) for s in states)
        padded = torch.zeros(len(states), min(T, self.cfg.max_template_tokens), 384)
        pad = torch.ones(padded.shape[:2], dtype=torch.bool)
        for i, s in enumerate(states):
            s = s[: self.cfg.max_template_tokens]
            padded[i, : s.size(0)] = s
            pad[i, : s.size(0)] = False
        return self.model.encode_candidates(padded, pad)  # (N_catalog, Q, d)

    @torch.inference_mode()
    def rank(
        self,
        turn: RankTurn,
        soft: Tensor | None = None,
        *,
        drop_acts: frozenset[str] = frozenset(),
    ) -> Ranking:
        """Score the templates ``turn``'s facts and slots allow; no candidate -> empty ranking.

        Args:
            turn: The turn.
            soft: (1, S, soft_dim) personalization vectors; None reads the turn's customer from
                the vectors the model was trained with (see :meth:`soft_for_record` for a
                customer's live record).
            drop_acts: Acts whose templates are left out (the list-head evaluation).
        """
        return self.rank_with(turn, soft, drop_acts=drop_acts)

    @torch.inference_mode()
    def rank_with(
        self,
        turn: RankTurn,
        soft: Tensor | None = None,
        *,
        extra: Sequence[TemplateEntry] = (),
        drop_acts: frozenset[str] = frozenset(),
    ) -> Ranking:
        """:meth:`rank`, with ``extra`` free-text candidates (generated drafts, written as
        template sources) scored beside the templates. Their safety is the caller's to check:
        they are scored, not filtered."""
        entries = [
            e
            for e in candidate_entries(self.entries, turn.facts, turn.slots)
            if e.act not in drop_acts
        ]
        if not entries and not extra:
            return Ranking(ranked=(), list_prob=0.0)
        texts = [text for _, _, text in context_window(turn.context, self.cfg)]
        states_of = dict(zip(texts, self.encoder.encode(texts), strict=True))
        ctx, ctx_pad, spk, age, feats = memory_tensors([turn], states_of, self.cfg)
        if soft is None and self.soft_tokens is not None:
            soft = turn_soft(self.soft_tokens, turn).unsqueeze(0)
        rows = torch.tensor([self._row[e.id] for e in entries], dtype=torch.long)
        cand = self._candidates[rows]  # (N, Q, d)
        if extra:
            cand = torch.cat([cand, self._encode_texts([template_text(e.source) for e in extra])])
            entries = [*entries, *extra]
        cand = cand.unsqueeze(0)  # (1, N, Q, d)
        said = context_text(turn)
        slot_rows = [slot_signal(e.slots, turn.slots, said) for e in entries]
        S = max(1, max(len(s) for s in slot_rows))
        slot_ids = torch.tensor([[*s, *[0] * (S - len(s))] for s in slot_rows]).unsqueeze(0)
        cand_pad = torch.zeros(1, len(entries), dtype=torch.bool)
        if self.scoring is not None:  # the same pass, without soft tokens (scoring_supported)
            scores, logit = self.scoring(ctx, ctx_pad, spk, age, feats, cand, slot_ids, cand_pad)
        else:
            memory = self.model.memory(ctx, ctx_pad, spk, age, feats, soft)
            scores, logit = self.model(memory, cand, slot_ids, cand_pad)  # (1, N)
        order = torch.argsort(scores[0], descending=True, stable=True).tolist()
        values = scores[0].tolist()  # one conversion, not one per candidate
        ranked = tuple(Ranked(entries[i], values[i]) for i in order)
        return Ranking(ranked=ranked, list_prob=float(torch.sigmoid(logit[0])))
