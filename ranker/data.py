"""Turns, candidate lists and tensors: one featurizer for training, evaluation and serving.

A :class:`RankTurn` is one rep turn of the transcripts corpus (``csbot corpus export``) or of a
live conversation: the context, the profile, the tracker's view and facts, and the slot values the
reply may use. Its candidates are the catalog templates whose preconditions hold under its facts
and whose slots it can fill (:func:`candidate_entries`), the same rule in training and serving.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ranker.config import RankerConfig
from ranker.features import MAX_FEATURE_TOKENS, feature_ids
from templates import TemplateEntry
from templates.catalog import SLOTS

__all__ = [
    "Batch",
    "CorpusError",
    "RankTurn",
    "SLOT_INDEX",
    "candidate_entries",
    "context_window",
    "load_turns",
    "slot_signal",
]

SLOT_INDEX: Mapping[str, int] = {name: i for i, name in enumerate(sorted(SLOTS))}
CUSTOMER, REP = 0, 1


class CorpusError(ValueError):
    """A corpus file is missing, from another corpus version, or has a malformed line."""


@dataclass(frozen=True)
class RankTurn:
    """One turn to rank replies for."""

    context: tuple[tuple[int, str], ...]  # (speaker, text), oldest first; the newest is last
    facts: frozenset[str]
    slots: Mapping[str, Any] = field(default_factory=dict)
    profile: Mapping[str, Any] | None = None
    tracker: Mapping[str, Any] | None = None
    gold_act: str | None = None
    gold_reply: str | None = None
    customer_id: int | None = None
    off_catalog: bool = False
    issue_type: str | None = None  # the transcript's contact reason
    meaning: str | None = None  # what the newest customer message meant, as the rep understood


def load_turns(path: Path, *, limit: int | None = None) -> list[RankTurn]:
    """Read one split file of the corpus.

    Raises:
        CorpusError: The file is missing, or a line lacks the fields (corpus version 2).
    """
    if not path.is_file():
        raise CorpusError(f"no corpus split at {path}; run `csbot corpus export` first")
    turns: list[RankTurn] = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if limit is not None and len(turns) >= limit:
                break
            try:
                row = json.loads(line)
                turns.append(
                    RankTurn(
                        context=tuple(
                            (CUSTOMER if c["speaker"] == "customer" else REP, str(c["text"]))
                            for c in row["context"]
                        ),
                        facts=frozenset(row["facts"]),
                        slots=row["slots"],
                        profile=row["profile"],
                        tracker=row["tracker"],
                        gold_act=row["gold_act"],
                        gold_reply=row["gold_reply"],
                        customer_id=int(row["customer_id"]),
                        off_catalog=bool(row["off_catalog"]),
                        issue_type=_optional_str(row.get("issue_type")),
                        meaning=_optional_str(row.get("meaning")),
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise CorpusError(
                    f"{path}:{n}: not a version-2 corpus line ({exc!r}); re-export the corpus"
                ) from exc
    return turns


def _optional_str(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def candidate_entries(
    entries: Sequence[TemplateEntry], facts: frozenset[str], slots: Mapping[str, Any]
) -> list[TemplateEntry]:
    """The templates that may be sent: preconditions hold and every required slot has a value."""
    have = {k for k, v in slots.items() if v not in (None, "", [])}
    return [e for e in entries if e.applicable(facts) and set(e.slots) <= have]


def context_window(
    context: Sequence[tuple[int, str]], cfg: RankerConfig
) -> list[tuple[int, int, str]]:
    """The newest utterances kept: (speaker, age, text), oldest first; age 0 is the newest."""
    kept = list(context)[-cfg.max_context_utterances :]
    n = len(kept)
    return [(speaker, n - 1 - i, text) for i, (speaker, text) in enumerate(kept)]


def slot_signal(slot_names: Sequence[str], slots: Mapping[str, Any], said_text: str) -> list[int]:
    """Per-candidate slot ids: each filled slot, and whether its value was said in the context."""
    ids = []
    for name in slot_names:
        index = SLOT_INDEX.get(name)
        if index is None:
            continue
        value = slots.get(name)
        said = isinstance(value, str) and bool(value) and value.lower() in said_text
        ids.append(1 + 2 * index + int(said))
    return ids


@dataclass
class Batch:
    """Tensors of B lists (see :meth:`ranker.model.TemplateRanker.memory` for shapes)."""

    ctx_states: Tensor
    ctx_pad: Tensor
    ctx_speaker: Tensor
    ctx_age: Tensor
    feature_ids: Tensor
    slot_ids: Tensor  # (B, N, S)
    cand_pad: Tensor  # (B, N)
    cand_index: Tensor  # (B, N) rows into the batch's candidate table
    labels: Tensor  # (B, N) 1.0 acceptable
    soft: Tensor | None = None


def memory_tensors(
    turns: Sequence[RankTurn],
    states_of: Mapping[str, Tensor],
    cfg: RankerConfig,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Context and feature tensors of a batch of turns (utterance states looked up by text).

    The context keeps the newest utterances whose tokens fit ``max_context_tokens``: the oldest
    turns are dropped first, and the newest utterance is always kept (truncated if it must be).
    """
    rows: list[tuple[Tensor, list[int], list[int]]] = []
    for turn in turns:
        pieces: list[tuple[Tensor, int, int]] = []
        budget = cfg.max_context_tokens
        for speaker, back, text in reversed(context_window(turn.context, cfg)):
            states = states_of[text][: cfg.max_utterance_tokens]
            if states.size(0) > budget:
                if pieces:
                    break
                states = states[:budget]
            pieces.append((states, speaker, back))
            budget -= states.size(0)
        pieces.reverse()
        if pieces:
            stacked = torch.cat([p[0] for p in pieces]).float()
            speakers = [p[1] for p in pieces for _ in range(p[0].size(0))]
            ages = [p[2] for p in pieces for _ in range(p[0].size(0))]
        else:
            stacked, speakers, ages = torch.zeros(0, cfg.encoder_dim), [], []
        rows.append((stacked, speakers, ages))
    B, C = len(rows), max(1, max(r[0].size(0) for r in rows))
    ctx = torch.zeros(B, C, cfg.encoder_dim)
    pad = torch.ones(B, C, dtype=torch.bool)
    spk = torch.zeros(B, C, dtype=torch.long)
    age = torch.zeros(B, C, dtype=torch.long)
    feats = torch.zeros(B, MAX_FEATURE_TOKENS, dtype=torch.long)
    for i, (states, speakers, ages) in enumerate(rows):
        n = states.size(0)
        ctx[i, :n] = states
        pad[i, :n] = False
        spk[i, :n] = torch.tensor(speakers, dtype=torch.long)
        age[i, :n] = torch.tensor(ages, dtype=torch.long)
        ids = feature_ids(turns[i].profile, turns[i].tracker, turns[i].facts,
                          use_profile=cfg.use_profile)  # fmt: skip
        feats[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return ctx, pad, spk, age, feats


def context_text(turn: RankTurn) -> str:
    """The context lowercased, for the slot signal's "was this value said" test."""
    return " ".join(text for _, text in turn.context).lower()


def pad_lists(lists: Sequence[Sequence[int]], fill: int = 0) -> Tensor:
    """(len(lists), longest) long tensor, right-padded with ``fill``."""
    width = max(1, max((len(x) for x in lists), default=0))
    out = torch.full((len(lists), width), fill, dtype=torch.long)
    for i, row in enumerate(lists):
        if row:
            out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out
