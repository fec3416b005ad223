"""The simulated customers' phrase bank and their typing noise.

The bank is the simulator's own (:mod:`simulator.phrases_data`), kept apart from the agent's NLU
training phrases so that the simulator measures the agent instead of echoing its training set.
When the shared reference data is present, the openers are widened with real outside phrasings:

* Bitext customer support: intent ``cancel_order`` -> ``"cancel_order"``, ``track_refund`` ->
  ``"refund_status"``. An order number (a tagged ``order_id`` entity, or an ``{{Order Number}}``
  style placeholder) becomes ``{order_ref}`` and the utterance goes to ``openers_with_order``.
* BANKING77: label ``Refund_not_showing_up`` -> ``"refund_status"``.

:func:`add_noise` adds typing noise that never touches the tokens an agent must read exactly
(order ids, emails, zip codes and other numbers).
"""

from __future__ import annotations

import csv
import random
import re
import string
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from simulator import phrases_data as data

PHRASE_BANK_VERSION = "1"

ISSUES: tuple[str, ...] = ("refund_status", "cancel_order")
OUT_OF_SCOPE_KINDS: tuple[str, ...] = (
    "change_address",
    "dispute_charge",
    "change_payment",
    "product_question",
)
REASON_KINDS: tuple[str, ...] = (
    "no_longer_needed",
    "ordered_by_mistake",
    "better_price",
    "too_slow",
    "other",
)
SOURCES: tuple[str, ...] = ("project", "bitext", "banking77")
ORDER_REF = "{order_ref}"

# Outside phrasings longer than this are dropped (long stories make poor openers).
MAX_PUBLIC_CHARS = 300
# Bitext intents used, and the issue each maps to. ``get_refund`` is left out on purpose: its
# rows ask how to obtain a refund ("how do I ask for a rebate", "where can I get my money back"),
# none reads as a question about an existing refund's status, so they are not refund_status.
BITEXT_INTENTS: Mapping[str, str] = MappingProxyType(
    {"cancel_order": "cancel_order", "track_refund": "refund_status"}
)
BANKING77_LABELS: Mapping[str, str] = MappingProxyType({"Refund_not_showing_up": "refund_status"})

_ORDER_PLACEHOLDER = re.compile(
    r"\{\{\s*(?:order|purchase)\s*(?:number|id|no\.?)\s*\}\}", re.IGNORECASE
)
_LONG_NUMBER = re.compile(r"[0-9]{5,}")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class PhraseBank:
    """Everything a simulated customer may say, by dialogue situation.

    Templates use ``str.format`` placeholders (see :mod:`simulator.phrases_data`); every other
    brace is kept out of the bank, so filling a template cannot fail.

    Attributes:
        openers: Issue -> first messages with no details (``refund_status``, ``cancel_order``).
        openers_with_order: Issue -> first messages naming the order, with ``{order_ref}``.
        out_of_scope: Request kind -> requests the agent cannot serve.
        auth_email: Answers giving an email, with ``{email}``.
        auth_name_zip: Answers with ``{first_name}``, ``{last_name}`` and ``{zip_code}``.
        auth_name_only: Answers with ``{first_name}`` and ``{last_name}``.
        zip_only: Answers with ``{zip_code}``.
        order_by_id: Answers naming the order, with ``{order_id}``.
        order_by_description: Answers describing the order, with ``{description}`` (which
            carries its own article, e.g. "the blue water bottle").
        order_last: Answers pointing at the most recent order.
        reasons: Cancellation reason kind -> reasons.
        confirm_yes: Confirmations.
        confirm_no: Refusals of a confirmation.
        closing: Answers to "anything else?" that end the contact.
        ask_human: Requests for a human agent.
        question_back: Questions given back instead of an answer.
        switch_intent: Issue switched *to* -> mid-conversation switches; may hold ``{order_ref}``.
        wrong_order_reply: Replies that the order the agent found is not the one meant.
        silence: What a customer who went quiet sends (may be the empty string).
        sources: Number of phrases from each source (``project``, ``bitext``, ``banking77``).
    """

    openers: Mapping[str, tuple[str, ...]]
    openers_with_order: Mapping[str, tuple[str, ...]]
    out_of_scope: Mapping[str, tuple[str, ...]]
    auth_email: tuple[str, ...]
    auth_name_zip: tuple[str, ...]
    auth_name_only: tuple[str, ...]
    zip_only: tuple[str, ...]
    order_by_id: tuple[str, ...]
    order_by_description: tuple[str, ...]
    order_last: tuple[str, ...]
    reasons: Mapping[str, tuple[str, ...]]
    confirm_yes: tuple[str, ...]
    confirm_no: tuple[str, ...]
    closing: tuple[str, ...]
    ask_human: tuple[str, ...]
    question_back: tuple[str, ...]
    switch_intent: Mapping[str, tuple[str, ...]]
    wrong_order_reply: tuple[str, ...]
    silence: tuple[str, ...]
    sources: Mapping[str, int]


@dataclass(frozen=True)
class _PublicPhrases:
    """Outside phrasings read from the shared data: issue -> ((source, text), ...)."""

    openers: Mapping[str, tuple[tuple[str, str], ...]]
    openers_with_order: Mapping[str, tuple[tuple[str, str], ...]]


def _frozen(mapping: Mapping[str, Iterable[str]]) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({key: tuple(values) for key, values in mapping.items()})


def _dedup_key(text: str) -> str:
    return _SPACES.sub(" ", text).strip().casefold()


def _project_count() -> int:
    groups: list[Iterable[str]] = [
        *data.OPENERS.values(),
        *data.OPENERS_WITH_ORDER.values(),
        *data.OUT_OF_SCOPE.values(),
        *data.REASONS.values(),
        *data.SWITCH_INTENT.values(),
    ]
    groups += [
        data.AUTH_EMAIL,
        data.AUTH_NAME_ZIP,
        data.AUTH_NAME_ONLY,
        data.ZIP_ONLY,
        data.ORDER_BY_ID,
        data.ORDER_BY_DESCRIPTION,
        data.ORDER_LAST,
        data.CONFIRM_YES,
        data.CONFIRM_NO,
        data.CLOSING,
        data.ASK_HUMAN,
        data.QUESTION_BACK,
        data.WRONG_ORDER_REPLY,
        data.SILENCE,
    ]
    return sum(len(tuple(group)) for group in groups)


# ---- public data -------------------------------------------------------------------------------
def _clean_public(text: str) -> str | None:
    """A usable outside phrasing (whitespace normalised), or None to drop it.

    Drops: over-long text, any brace except a mapped ``{order_ref}`` (so ``str.format`` cannot
    break and no unmapped Bitext placeholder leaks), and long digit runs (unmapped order numbers
    that no simulated world holds).
    """
    cleaned = _SPACES.sub(" ", text).strip()
    if not cleaned:
        return None
    rest = cleaned.replace(ORDER_REF, "")
    if "{" in rest or "}" in rest or _LONG_NUMBER.search(rest):
        return None
    return cleaned


def _map_bitext_order(row: Mapping[str, str | None]) -> str | None:
    """The instruction with its order number replaced by ``{order_ref}``; None if unmappable."""
    text = row.get("instruction") or ""
    if len(text) > MAX_PUBLIC_CHARS:
        return None
    text = _ORDER_PLACEHOLDER.sub(ORDER_REF, text)
    if (row.get("entity_type") or "") != "order_id":
        return text
    try:
        start, end = int(row.get("start_offset") or ""), int(row.get("end_offset") or "")
    except ValueError:
        start = end = -1
    span = text[start:end] if 0 <= start < end <= len(text) else ""
    if span.lstrip("#").isdigit():
        return text[:start] + ORDER_REF + text[end:]
    runs = _LONG_NUMBER.findall(text)
    if len(runs) == 1:  # offsets off: the one long number is the order number
        return text.replace(runs[0], ORDER_REF)
    return None


def _read_csv(path: Path) -> list[dict[str, str | None]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def _bitext_rows(shared: Path) -> list[tuple[str, str]]:
    """(issue, text) pairs from every Bitext CSV in the shared data, in file order."""
    rows: list[tuple[str, str]] = []
    folder = shared / "bitext_customer_support"
    paths = sorted(folder.rglob("*.csv")) if folder.is_dir() else []
    for path in paths:
        for row in _read_csv(path):
            issue = BITEXT_INTENTS.get((row.get("intent") or "").strip())
            mapped = _map_bitext_order(row) if issue else None
            cleaned = _clean_public(mapped) if mapped is not None else None
            if issue and cleaned:
                rows.append((issue, cleaned))
    return rows


def _banking77_rows(shared: Path) -> list[tuple[str, str]]:
    """(issue, text) pairs from the BANKING77 training split, in file order."""
    rows: list[tuple[str, str]] = []
    for row in _read_csv(shared / "banking77" / "train.csv"):
        issue = BANKING77_LABELS.get((row.get("category") or "").strip())
        text = row.get("text") or ""
        cleaned = _clean_public(text) if issue and len(text) <= MAX_PUBLIC_CHARS else None
        if issue and cleaned and ORDER_REF not in cleaned:
            rows.append((issue, cleaned))
    return rows


@lru_cache(maxsize=8)
def _public_phrases(shared: str) -> _PublicPhrases:
    """Outside phrasings under ``shared`` (a resolved folder path), read once per path."""
    folder = Path(shared)
    tagged = [("bitext", *row) for row in _bitext_rows(folder)]
    tagged += [("banking77", *row) for row in _banking77_rows(folder)]
    plain: dict[str, list[tuple[str, str]]] = {issue: [] for issue in ISSUES}
    with_order: dict[str, list[tuple[str, str]]] = {issue: [] for issue in ISSUES}
    for source, issue, text in tagged:
        (with_order if ORDER_REF in text else plain)[issue].append((source, text))
    return _PublicPhrases(
        openers=MappingProxyType({k: tuple(v) for k, v in plain.items()}),
        openers_with_order=MappingProxyType({k: tuple(v) for k, v in with_order.items()}),
    )


def _widen(
    own: Mapping[str, tuple[str, ...]],
    outside: Mapping[str, tuple[tuple[str, str], ...]],
    counts: dict[str, int],
) -> Mapping[str, tuple[str, ...]]:
    """``own`` plus the outside phrasings not already there (case-insensitively), counted."""
    widened: dict[str, tuple[str, ...]] = {}
    for issue, phrases in own.items():
        seen = {_dedup_key(p) for p in phrases}
        added: list[str] = []
        for source, text in outside.get(issue, ()):
            key = _dedup_key(text)
            if key not in seen:
                seen.add(key)
                added.append(text)
                counts[source] += 1
        widened[issue] = (*phrases, *added)
    return MappingProxyType(widened)


@lru_cache(maxsize=8)
def _bank(shared: str | None) -> PhraseBank:
    counts = {"project": _project_count(), "bitext": 0, "banking77": 0}
    openers = _frozen(data.OPENERS)
    openers_with_order = _frozen(data.OPENERS_WITH_ORDER)
    if shared is not None:
        public = _public_phrases(shared)
        openers = _widen(openers, public.openers, counts)
        openers_with_order = _widen(openers_with_order, public.openers_with_order, counts)
    return PhraseBank(
        openers=openers,
        openers_with_order=openers_with_order,
        out_of_scope=_frozen(data.OUT_OF_SCOPE),
        auth_email=data.AUTH_EMAIL,
        auth_name_zip=data.AUTH_NAME_ZIP,
        auth_name_only=data.AUTH_NAME_ONLY,
        zip_only=data.ZIP_ONLY,
        order_by_id=data.ORDER_BY_ID,
        order_by_description=data.ORDER_BY_DESCRIPTION,
        order_last=data.ORDER_LAST,
        reasons=_frozen(data.REASONS),
        confirm_yes=data.CONFIRM_YES,
        confirm_no=data.CONFIRM_NO,
        closing=data.CLOSING,
        ask_human=data.ASK_HUMAN,
        question_back=data.QUESTION_BACK,
        switch_intent=_frozen(data.SWITCH_INTENT),
        wrong_order_reply=data.WRONG_ORDER_REPLY,
        silence=data.SILENCE,
        sources=MappingProxyType(counts),
    )


def load_phrase_bank(shared_data: Path | None = None) -> PhraseBank:
    """The simulated customers' phrase bank, widened with outside phrasings when available.

    Args:
        shared_data: A reference data folder such as ``/work/shared/data``. When it exists, the
            openers (and, where an order number maps to ``{order_ref}``, the openers with an
            order) gain the Bitext and BANKING77 phrasings it holds; missing datasets are simply
            skipped. ``None`` or a missing folder gives the project's bank alone.

    Returns:
        The bank; ``sources`` counts the phrases per source (``bitext`` and ``banking77`` are 0
        when nothing outside was added). Results are cached per folder.
    """
    if shared_data is None or not shared_data.is_dir():
        return _bank(None)
    return _bank(str(shared_data.resolve()))


# ---- typing noise ------------------------------------------------------------------------------
# Protected spans, leftmost first: emails, order ids (#W + 7 digits, or a bare W + 7 digits not
# glued to a word), and every run of digits (7-digit order numbers, 5-digit zip codes, amounts).
_PROTECTED = re.compile(
    r"[A-Za-z0-9_%+-][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
    r"|#[Ww][0-9]{7}(?![0-9])"
    r"|(?<![A-Za-z0-9#])[Ww][0-9]{7}(?![0-9])"
    r"|[0-9]+",
    re.ASCII,
)
_WORD = re.compile(r"[A-Za-z]+", re.ASCII)
_INNER_PUNCT = frozenset("'’-")  # dropped without a gap inside a word: "don't" -> "dont"
_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS: Mapping[str, str] = MappingProxyType(
    {
        ch: "".join(
            _KEYBOARD_ROWS[r][c]
            for r in range(max(0, row - 1), min(3, row + 2))
            for c in range(col - 1, col + 2)
            if 0 <= c < len(_KEYBOARD_ROWS[r]) and (r, c) != (row, col)
        )
        for row, keys in enumerate(_KEYBOARD_ROWS)
        for col, ch in enumerate(keys)
    }
)
MIN_TYPO_LETTERS = 4  # words of 3 letters or fewer are never changed


def protected_tokens(text: str) -> tuple[str, ...]:
    """The tokens :func:`add_noise` never alters: emails, order ids and digit runs, in order."""
    return tuple(m.group() for m in _PROTECTED.finditer(text))


def _typo(word: str, rng: random.Random) -> str:
    """One typo in ``word`` (ASCII letters, at least 4): swap, drop, double or neighbour key."""
    kind = rng.choice(("swap", "drop", "double", "neighbour"))
    if kind == "swap":
        spots = [i for i in range(len(word) - 1) if word[i] != word[i + 1]]
        if spots:
            i = rng.choice(spots)
            return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        kind = "drop"  # "aaaa": a swap would change nothing
    i = rng.randrange(len(word))
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "double":
        return word[: i + 1] + word[i:]
    key = rng.choice(_NEIGHBOURS[word[i].lower()])
    return word[:i] + (key.upper() if word[i].isupper() else key) + word[i + 1 :]


def _lower(text: str) -> str:
    # A non-ASCII letter whose lowercase holds ASCII (the Kelvin sign, dotted capital I) is left
    # alone: turning it into an ASCII letter could glue it onto a protected email or order id.
    return "".join(
        ch.lower() if ch.isascii() or not any(c.isascii() for c in ch.lower()) else ch
        for ch in text
    )


def _is_punctuation(ch: str) -> bool:
    return ch in string.punctuation or unicodedata.category(ch).startswith("P")


def _strip_punctuation(piece: str) -> str:
    """``piece`` (text between protected tokens) without punctuation.

    A run of apostrophes/hyphens between two letters of the piece vanishes ("don't" -> "dont");
    any other run becomes a space, so nothing gets glued together (a protected token included).
    """
    out: list[str] = []
    i = 0
    while i < len(piece):
        if not _is_punctuation(piece[i]):
            out.append(piece[i])
            i += 1
            continue
        j = i
        while j < len(piece) and _is_punctuation(piece[j]):
            j += 1
        inside = 0 < i and j < len(piece)
        letters = inside and all(c.isascii() and c.isalpha() for c in (piece[i - 1], piece[j]))
        inner = set(piece[i:j]) <= _INNER_PUNCT
        out.append("" if inside and letters and inner else " ")
        i = j
    return "".join(out)


def add_noise(
    text: str,
    rng: random.Random,
    *,
    typo_rate: float,
    lowercase: bool,
    drop_punctuation: bool,
) -> str:
    """Typing noise on a customer message.

    Each word of 4 or more ASCII letters gets one typo with probability ``typo_rate`` (two
    adjacent letters swapped, a letter dropped, a letter doubled, or a neighbouring key hit).
    Protected tokens are never altered, nor glued to their neighbours: email addresses, order
    ids (``#W`` + 7 digits, also ``W`` + 7 digits) and every run of digits (bare 7-digit order
    numbers, 5-digit zip codes). Words of 3 letters or fewer never get typos.

    Args:
        text: The message.
        rng: The source of randomness; the same state gives the same output. It is not drawn
            from when ``typo_rate`` is 0.
        typo_rate: Probability, in [0, 1], that an eligible word gets a typo.
        lowercase: Lowercase everything outside the protected tokens.
        drop_punctuation: Remove punctuation outside the protected tokens (runs of spaces left
            behind collapse to one, and the ends are stripped).

    Returns:
        The noisy message; ``text`` itself when ``typo_rate`` is 0 and both flags are off.

    Raises:
        ValueError: ``typo_rate`` is outside [0, 1].
    """
    if not 0.0 <= typo_rate <= 1.0:
        raise ValueError(f"typo_rate must be in [0, 1], got {typo_rate}")
    pieces: list[tuple[str, bool]] = []  # (text, protected)
    last = 0
    for match in _PROTECTED.finditer(text):
        pieces += [(text[last : match.start()], False), (match.group(), True)]
        last = match.end()
    pieces.append((text[last:], False))

    def typo(match: re.Match[str]) -> str:
        word = match.group()
        if len(word) < MIN_TYPO_LETTERS or rng.random() >= typo_rate:
            return word
        return _typo(word, rng)

    out: list[str] = []
    for piece, protected in pieces:
        if protected or not piece:
            out.append(piece)
            continue
        if typo_rate > 0.0:
            piece = _WORD.sub(typo, piece)
        if lowercase:
            piece = _lower(piece)
        if drop_punctuation:
            piece = _strip_punctuation(piece)
        out.append(piece)
    result = "".join(out)
    if drop_punctuation:
        result = re.sub(r" {2,}", " ", result).strip()
    return result
