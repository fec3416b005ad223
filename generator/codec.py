"""Token ids of prompts and replies, and drafts back to text (one codec for training and
serving)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from generator.config import GeneratorConfig
from generator.data import (
    ACT_TOKENS,
    SLOT_TOKENS,
    Encoded,
    PromptParts,
    act_of_token,
    detokenize,
)
from generator.model import Tokenizer, end_token_id

__all__ = ["Codec", "Text"]

# Tokens a reply never contains (unknown input maps to [UNK]; the model is never asked to say it).
_NEVER = ("unk_token", "pad_token", "cls_token", "mask_token", "bos_token")


@dataclass(frozen=True)
class Text:
    """A decoded reply: its act and its (still delexicalized) words."""

    act: str | None  # None: the first token was not an act token
    text: str


class Codec:
    """Tokenizes prompts and targets for one model; maps drafts back to text."""

    def __init__(self, tok: Tokenizer, cfg: GeneratorConfig) -> None:
        self.tok = tok
        self.cfg = cfg
        self.end_id = end_token_id(tok)
        self.act_ids = {act: int(tok.convert_tokens_to_ids(t)) for act, t in ACT_TOKENS.items()}
        self.slot_ids = {s: int(tok.convert_tokens_to_ids(t)) for s, t in SLOT_TOKENS.items()}
        self.never_ids = [
            int(getattr(tok, f"{name}_id"))
            for name in _NEVER
            if getattr(tok, f"{name}_id", None) is not None
            and getattr(tok, f"{name}_id") != self.end_id
        ]
        self.cls_id = tok.cls_token_id if tok.cls_token_id is not None else tok.bos_token_id

    def _ids(self, text: str) -> list[int]:
        return list(self.tok(text, add_special_tokens=False)["input_ids"])

    def prompt_ids(self, parts: PromptParts) -> list[int]:
        """[CLS] head [SEP] utterances [SEP], within ``max_prompt_tokens``: the head is cut to
        half the window at most; the oldest utterances go first (the newest message is cut from
        its start only when it alone is past the window)."""
        budget = self.cfg.max_prompt_tokens - 3
        head = self._ids(parts.head)[: budget // 2]
        room = budget - len(head)
        kept: list[int] = []
        for utterance in reversed(parts.utterances):
            ids = self._ids(utterance)
            if len(ids) > room - len(kept):
                if not kept:  # the newest message alone overflows: keep its end
                    kept = ids[-(room - len(kept)) :] if room > 0 else []
                break
            kept = ids + kept
        start = [self.cls_id] if self.cls_id is not None else []
        return [*start, *head, self.end_id, *kept, self.end_id]

    def reply_ids(self, target: str) -> list[int]:
        """The target's ids plus the end token, within ``max_reply_tokens`` (a longer target is
        cut and loses its end token: the model learns nothing says "stop" there)."""
        ids = self._ids(target)
        limit = self.cfg.max_reply_tokens
        return ids[:limit] if len(ids) >= limit else [*ids, self.end_id]

    def encode(self, parts: PromptParts, target: str | None) -> Encoded:
        return Encoded(self.prompt_ids(parts), self.reply_ids(target) if target else [])

    def reply_vocab(self, replies: Iterable[Sequence[int]]) -> Tensor:
        """The ids the head scores: every id in ``replies`` plus end, act and placeholder ids."""
        ids = {self.end_id, *self.act_ids.values(), *self.slot_ids.values()}
        for reply in replies:
            ids.update(reply)
        ids -= set(self.never_ids)
        return torch.tensor(sorted(ids), dtype=torch.long)

    def text(self, token_ids: Sequence[int]) -> Text:
        """Decoded ids (act token first) → act and detokenized, still delexicalized text."""
        pieces = self.tok.convert_ids_to_tokens(list(token_ids))
        act = act_of_token(pieces[0]) if pieces else None
        body = pieces[1:] if act is not None else pieces
        if not _is_wordpiece(self.tok):
            return Text(act, self.tok.convert_tokens_to_string(body).strip())
        return Text(act, detokenize(body))


def _is_wordpiece(tok: Tokenizer) -> bool:
    return type(tok).__name__.startswith("Bert")
