"""Prompts and targets: one serialization for training, evaluation and serving.

A draft is written *delexicalized*: it opens with its dialogue-act token (``[act_cancel_done]``)
and names every store value by a placeholder token (``[order_id]``, ``[refund_amount]``), which
:func:`lexicalize` fills from the slot values the tracker read from the store. Training targets
are the expert reps' replies with their slot values put back into placeholders
(:func:`delexicalize`); values the rep wrote that are not among the turn's slots stay literal,
and :mod:`generator.grounding` checks every literal the model writes.

The prompt, in order (the soft tokens go in front of it as embeddings, ``generator.model``):
``[CLS] profile | facts | slots | state [SEP] customer: … rep: … customer: … [SEP]``. The
profile line is left out without authentication (no account data before it) and when the model
was trained without it; context utterances are delexicalized with the same slots, and the oldest
are dropped first when the prompt is past its window.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ranker.data import REP, RankTurn
from templates.catalog import ACTS, SLOTS

__all__ = [
    "ACT_TOKENS",
    "SLOT_TOKENS",
    "SPECIAL_TOKENS",
    "Encoded",
    "PromptParts",
    "act_of_token",
    "delexicalize",
    "detokenize",
    "lexicalize",
    "prompt_parts",
    "target_text",
]

ACT_TOKENS: Mapping[str, str] = {act: f"[act_{act}]" for act in sorted(ACTS)}
SLOT_TOKENS: Mapping[str, str] = {slot: f"[{slot}]" for slot in sorted(SLOTS)}
SPECIAL_TOKENS: tuple[str, ...] = (*ACT_TOKENS.values(), *SLOT_TOKENS.values())
_ACT_OF = {token: act for act, token in ACT_TOKENS.items()}
_PLACEHOLDER = re.compile(r"\[(" + "|".join(sorted(SLOTS)) + r")\]")


def act_of_token(token: str) -> str | None:
    """The act an act token stands for, or None."""
    return _ACT_OF.get(token)


@dataclass(frozen=True)
class PromptParts:
    """The prompt's text before tokenization: a head (profile, facts, slots, tracker state) that
    is always kept, and the context utterances, oldest first (the oldest are dropped first)."""

    head: str
    utterances: tuple[str, ...]


@dataclass(frozen=True)
class Encoded:
    """Token ids of one example: the prompt, and the reply (empty when serving)."""

    prompt: list[int]
    reply: list[int]


def _scalar_slots(slots: Mapping[str, Any]) -> dict[str, str]:
    return {k: v for k, v in slots.items() if isinstance(v, str) and v.strip() and k in SLOTS}


def delexicalize(text: str, slots: Mapping[str, Any]) -> str:
    """``text`` with each slot value replaced by its placeholder (longest values first, so "$12.50"
    inside a longer value is not split); a list of order options becomes ``[order_options]``."""
    out = _delex_options(text, slots.get("order_options"))
    values = sorted(_scalar_slots(slots).items(), key=lambda kv: len(kv[1]), reverse=True)
    for name, value in values:
        if name in ("membership",) and len(value) < 5:
            continue  # "gold" as a word is not the membership slot
        out = out.replace(value, SLOT_TOKENS[name])
    return out


def _delex_options(text: str, options: Any) -> str:
    """The span from the first option's order id to the end of the last option's last field."""
    if not isinstance(options, list) or not options:
        return text
    first = options[0].get("order_id") if isinstance(options[0], dict) else None
    last = options[-1] if isinstance(options[-1], dict) else None
    if not first or last is None or first not in text:
        return text
    start = text.index(first)
    end = start
    for value in last.values():
        if isinstance(value, str) and value:
            at = text.find(value, start)
            if at >= 0:
                end = max(end, at + len(value))
    if end <= start:
        return text
    closing = text[end : end + 1] if text[end : end + 1] in (")",) else ""
    return text[:start] + SLOT_TOKENS["order_options"] + text[end + len(closing) :]


def render_options(options: Any) -> str | None:
    """``[order_options]`` filled: "#W1 (items, placed <date>, <status>); #W2 (…)"."""
    if not isinstance(options, list) or not options:
        return None
    parts = []
    for o in options:
        if not isinstance(o, dict) or not o.get("order_id"):
            return None
        parts.append(
            f"{o['order_id']} ({o.get('item_summary', '')}, placed {o.get('order_date', '')}, "
            f"{o.get('status', '')})"
        )
    return "; ".join(parts)


def lexicalize(text: str, slots: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """Fill placeholders from ``slots``; returns the text and the placeholders with no value
    (left in place: such a draft is never sent)."""
    values = _scalar_slots(slots)
    options = render_options(slots.get("order_options"))
    if options is not None:
        values["order_options"] = options
    missing: list[str] = []

    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in values:
            return values[name]
        missing.append(name)
        return m.group(0)

    return _PLACEHOLDER.sub(fill, text), tuple(dict.fromkeys(missing))


def target_text(act: str, reply: str, slots: Mapping[str, Any]) -> str:
    """The training target: the act token, then the delexicalized reply."""
    return f"{ACT_TOKENS[act]} {delexicalize(reply, slots)}"


def _profile_line(profile: Mapping[str, Any] | None) -> str:
    if not profile:
        return ""
    return (
        f"profile: {profile.get('membership', 'unknown')} member, "
        f"{profile.get('tenure_days', 0)} days, {profile.get('orders', 0)} orders, "
        f"{profile.get('open_orders', 0)} open, {profile.get('refunds', 0)} refunds"
    )


def prompt_parts(
    turn: RankTurn, *, use_profile: bool = True, max_utterances: int = 4
) -> PromptParts:
    """The prompt's text for ``turn`` (a corpus turn or a live one)."""
    authenticated = "authenticated" in turn.facts
    tracker = turn.tracker or {}
    head = [
        _profile_line(turn.profile) if use_profile and authenticated else "",
        "facts: " + " ".join(sorted(turn.facts)) if turn.facts else "facts: none",
        "slots: " + " ".join(sorted(k for k, v in turn.slots.items() if v not in (None, "", []))),
        f"state: awaiting {tracker.get('awaiting') or 'nothing'}, "
        f"last {tracker.get('last_act') or 'nothing'}, intent {tracker.get('intent') or 'none'}",
    ]
    utterances = tuple(
        ("rep: " if speaker == REP else "customer: ") + delexicalize(text, turn.slots)
        for speaker, text in turn.context[-max_utterances:]
    )
    return PromptParts(head=" | ".join(h for h in head if h), utterances=utterances)


_SPACE_BEFORE = re.compile(r" ([.,!?;:%)\]])")
_SPACE_AFTER = re.compile(r"([($#\[]) ")
_APOSTROPHE = re.compile(r" ' (s|t|re|ve|ll|m|d)\b")
_HYPHEN = re.compile(r"(\w) - (\w)")
_SENTENCE = re.compile(r"(^|[.!?]\s+)([a-z])")
_PRONOUN_I = re.compile(r"\bi\b")


def detokenize(pieces: Sequence[str]) -> str:
    """WordPiece tokens (uncased) → readable text: joined word pieces, punctuation spacing,
    contractions, sentence-initial capitals and "I". Placeholders pass through untouched."""
    words: list[str] = []
    for piece in pieces:
        if piece.startswith("##") and words:
            words[-1] += piece[2:]
        else:
            words.append(piece)
    text = " ".join(words)
    text = _APOSTROPHE.sub(r"'\1", text)
    text = text.replace(" n't", "n't")
    text = _HYPHEN.sub(r"\1-\2", text)
    text = _SPACE_BEFORE.sub(r"\1", text)
    text = _SPACE_AFTER.sub(r"\1", text)
    text = _PRONOUN_I.sub("I", text)
    return _SENTENCE.sub(lambda m: m.group(1) + m.group(2).upper(), text).strip()
