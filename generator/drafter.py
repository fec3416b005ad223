"""Serving the generator: n drafts for one turn, lexicalized from the store and grounded.

:class:`Drafter` loads a checkpoint once; :meth:`Drafter.drafts` builds the prompt from the turn
(``generator.data``), decodes with the constraints that live in code (an allowed act first, no
placeholder of an unfilled slot), fills the placeholders from the turn's slots and checks every
draft with :mod:`generator.grounding`. Callers decide what a grounded draft may do: the auto-mode
arms send only grounded drafts; agent-assist shows any, flagged.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor

from dialogue.domain import CustomerRecord
from dialogue.personalization.soft import SoftTokens
from generator.act_check import ActReader
from generator.checkpoint import GeneratorCheckpointError, load_generator
from generator.codec import Codec
from generator.data import lexicalize, prompt_parts
from generator.decode import build_constraints, decode, stepper_for
from generator.grounding import Grounding, StoreFacts, ground
from generator.model import DraftModel, Tokenizer
from ranker.data import RankTurn
from ranker.personal import soft_from_meta, turn_soft

__all__ = ["Draft", "Drafter", "Generator"]


@dataclass(frozen=True)
class Draft:
    """One generated reply."""

    act: str | None
    template_text: str  # delexicalized ("… order [order_id] …")
    text: str  # filled from the store's slot values
    logprob: float
    finished: bool
    grounding: Grounding

    @property
    def grounded(self) -> bool:
        return self.grounding.ok


class Generator(Protocol):
    """Anything that drafts replies for a turn (the trained :class:`Drafter`, a test fake)."""

    def drafts(
        self,
        turn: RankTurn,
        soft: Tensor | None,
        *,
        allowed_acts: Collection[str],
        store: StoreFacts,
        n: int = 1,
        method: str = "greedy",
    ) -> list[Draft]: ...


class Drafter:
    """The trained generator.

    Args:
        model: A :class:`DraftModel` in eval mode.
        tok: Its tokenizer.
        meta: The checkpoint's metadata (its soft-token vectors, when it has them).
        max_new_tokens: Longest draft (the act token and the end token included).
    """

    def __init__(
        self,
        model: DraftModel,
        tok: Tokenizer,
        *,
        meta: dict[str, Any] | None = None,
        max_new_tokens: int | None = None,
    ) -> None:
        self.model = model.eval()
        self.cfg = model.cfg
        self.codec = Codec(tok, model.cfg)
        self.meta = dict(meta or {})
        self.max_new_tokens = max_new_tokens or model.cfg.max_reply_tokens
        self.soft_tokens: SoftTokens | None = None
        if model.cfg.soft_dim > 0 and self.meta.get("personalization") is not None:
            self.soft_tokens = soft_from_meta(self.meta["personalization"], dim=model.cfg.soft_dim)
        self.act_reader: ActReader | None = None
        if self.meta.get("act_reader") is not None:
            self.act_reader = ActReader.from_json(self.meta["act_reader"])
        self._stepper = stepper_for(model)

    @classmethod
    def load(cls, path: Path) -> Drafter:
        """Load a checkpoint (raises ``GeneratorCheckpointError`` if missing or corrupt)."""
        model, tok, meta = load_generator(path)
        try:
            return cls(model, tok, meta=meta)
        except (KeyError, TypeError, ValueError) as exc:
            raise GeneratorCheckpointError(f"{path}: {exc}") from exc

    # ---- prompt ------------------------------------------------------------------------------
    def prompt_ids(self, turn: RankTurn) -> list[int]:
        parts = prompt_parts(
            turn, use_profile=self.cfg.use_profile, max_utterances=self.cfg.max_utterances
        )
        return self.codec.prompt_ids(parts)

    def soft_for_turn(self, turn: RankTurn) -> Tensor | None:
        """(1, S, dim) soft tokens of a corpus turn from the stored vectors (None: none)."""
        if self.soft_tokens is None:
            return None
        return turn_soft(self.soft_tokens, turn).unsqueeze(0)

    def soft_for_record(self, record: CustomerRecord, order_number: str | None) -> Tensor | None:
        """(1, S, dim) soft tokens of an authenticated customer's live record; None when the
        model reads no personalization."""
        if self.soft_tokens is None:
            return None
        return self.soft_tokens.for_record(record, order_number).unsqueeze(0)

    @torch.inference_mode()
    def prompt_embeds(self, ids: Sequence[int], soft: Tensor | None) -> Tensor:
        """(1, S + T, d): soft tokens (through the adapter) then the prompt's token embeddings."""
        tokens = self.model.embed_tokens(torch.tensor([list(ids)]))  # (1, T, d)
        if soft is not None and soft.dim() == 3 and soft.size(1) > 0:
            prefix = self.model.soft_embeds(soft[:, : self.cfg.soft_tokens])
            if prefix is not None:
                return torch.cat([prefix, tokens], dim=1)
        return tokens

    # ---- drafts ------------------------------------------------------------------------------
    def drafts(
        self,
        turn: RankTurn,
        soft: Tensor | None,
        *,
        allowed_acts: Collection[str],
        store: StoreFacts,
        n: int = 1,
        method: str = "greedy",
        seed: int = 0,
    ) -> list[Draft]:
        """Up to ``n`` drafts (best first for greedy/beam), each lexicalized and grounded.

        Args:
            turn: The turn (context, facts, slots, profile, tracker view).
            soft: (1, S, soft_dim) soft tokens (None or empty: none; from the stored vectors
                when None and the turn names a customer the vectors hold).
            allowed_acts: Acts the draft may perform (the candidate templates' acts).
            store: The store's facts for grounding (its ``act``/``reply_action`` are set per
                draft here).
        """
        if soft is None:
            soft = self.soft_for_turn(turn)
        filled = {k for k, v in turn.slots.items() if v not in (None, "", [])}
        banned = [i for s, i in self.codec.slot_ids.items() if s not in filled]
        constraints = build_constraints(
            self.model,
            allowed_act_ids=[
                self.codec.act_ids[a] for a in allowed_acts if a in self.codec.act_ids
            ],
            banned_ids=[*banned, *self.codec.never_ids],
            act_ids=self.codec.act_ids.values(),
            end_id=self.codec.end_id,
        )
        embeds = self.prompt_embeds(self.prompt_ids(turn), soft)
        decoded = decode(
            self.model,
            self._stepper,
            embeds,
            constraints,
            method=method,
            n=n,
            max_new_tokens=self.max_new_tokens,
            seed=seed,
        )
        out = []
        for d in decoded:
            text = self.codec.text(d.token_ids)
            filled_text, _ = lexicalize(text.text, turn.slots)
            grounding = ground(filled_text, replace(store, act=text.act), finished=d.finished)
            problem = self.act_problem(text.act, text.text)
            if problem is not None:
                grounding = Grounding((*grounding.problems, problem))
            out.append(
                Draft(
                    act=text.act,
                    template_text=text.text,
                    text=filled_text,
                    logprob=d.logprob,
                    finished=d.finished,
                    grounding=grounding,
                )
            )
        return out

    def act_problem(self, act: str | None, template_text: str) -> str | None:
        """Why the draft's words do not perform its act (None: they do).

        The act reader must read the delexicalized text as the act token's act; a checkpoint
        without a reader checks nothing, so its drafts are never grounded.
        """
        if act is None:
            return None  # a draft without an act token is already ungrounded
        if self.act_reader is None:
            return "act unchecked: the checkpoint has no act reader"
        reading = self.act_reader.read(template_text)
        if reading.act != act:
            return f"reads as {reading.act} ({reading.probability:.2f}), not {act}"
        return None
