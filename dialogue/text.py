"""Customer-message hygiene: decode, normalise and classify unusable input before any NLU runs."""

from __future__ import annotations

import html
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

# Stored copy of an over-long message: enough to audit, not enough to flood the store.
STORED_PREFIX_CHARS = 4000


class InputProblem(StrEnum):
    EMPTY = "empty"
    TOO_LONG = "too_long"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class CustomerMessage:
    """A customer's message after hygiene.

    Attributes:
        text: normalised text the NLU reads ("" when there is a problem).
        stored: what is persisted as the customer's turn.
        problem: why the message cannot be processed, or None.
    """

    text: str
    stored: str
    problem: InputProblem | None = None


def _decode(raw: str | bytes) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    # A str can still carry lone surrogates (e.g. from a JSON "\udc80"); make it encodable.
    return raw.encode("utf-8", errors="replace").decode("utf-8")


def _strip_controls(text: str) -> str:
    return "".join(ch if ch in "\n\t" or unicodedata.category(ch)[0] != "C" else " " for ch in text)


def clean_message(raw: str | bytes, *, max_chars: int) -> CustomerMessage:
    """Decode and normalise a raw message and say whether it can be processed.

    Args:
        raw: the message as received (invalid UTF-8 bytes are replaced, never raised on).
        max_chars: the largest message processed; longer ones get ``InputProblem.TOO_LONG``.

    Returns:
        The cleaned message; ``problem`` is set for empty, over-long or unreadable input.
    """
    text = _strip_controls(unicodedata.normalize("NFKC", _decode(raw)))
    text = " ".join(text.split())
    if not text:
        return CustomerMessage(text="", stored="", problem=InputProblem.EMPTY)
    if len(text) > max_chars:
        stored = f"{text[:STORED_PREFIX_CHARS]} [truncated: {len(text)} characters in all]"
        return CustomerMessage(text="", stored=stored, problem=InputProblem.TOO_LONG)
    readable = sum(1 for ch in text if ch.isalnum() and ch != "\ufffd")
    if readable == 0 or text.count("\ufffd") > len(text) // 2:
        return CustomerMessage(text="", stored=text, problem=InputProblem.UNREADABLE)
    return CustomerMessage(text=text, stored=text)


def shown_text(speaker: str, text: str) -> str:
    """A stored turn as plain text for a reader. The agent's replies are rendered HTML-escaped
    (templates.render) and stored so (the models read them that way); people and the JSON API
    read plain text, which pages insert as text, never as markup."""
    return html.unescape(text) if speaker == "agent" else text
