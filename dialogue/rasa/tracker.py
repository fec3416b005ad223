"""Reading a Rasa tracker: every value in it is whatever the webhook body said.

Slots are read defensively (wrong types, blank or over-long values count as absent and are never
echoed); ``customer_id`` counts only when the evidence slots identify that very customer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from rasa_sdk import Tracker
from sqlalchemy.orm import Session

from dialogue.domain import CancelReason, CustomerProfile, Intent
from dialogue.nlu import ORDER_ID_RE, normalize_order_number
from dialogue.state import DialogueState
from dialogue.store import repository

# Longest slot values read; anything longer is treated as absent.
MAX_EMAIL_CHARS = 254
MAX_NAME_CHARS = 64
MAX_CODE_CHARS = 32
# The ranked reply reads at most this many earlier utterances.
MAX_HISTORY = 50

History = tuple[tuple[str, str], ...]


def slot(tracker: Tracker, name: str) -> object:
    """A slot's raw value (None when the tracker's slots are not even a mapping)."""
    return tracker.slots.get(name) if isinstance(tracker.slots, dict) else None


def text_slot(tracker: Tracker, name: str, max_chars: int) -> str | None:
    """A non-blank string slot of at most ``max_chars``, stripped; else None."""
    value = slot(tracker, name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a zip code typed as a number
    if not isinstance(value, str) or not value.strip() or len(value) > max_chars:
        return None
    return value.strip()


def order_number_slot(tracker: Tracker, name: str = "order_number") -> str | None:
    """An order number as the store spells it ("#W1234567"), from "#W…", "W…" or bare digits."""
    value = text_slot(tracker, name, MAX_CODE_CHARS)
    if value is None:
        return None
    match = ORDER_ID_RE.fullmatch(value) or ORDER_ID_RE.fullmatch(f"W{value.lstrip('#')}")
    return normalize_order_number(match.group(1)) if match else None


def cancel_reason_slot(tracker: Tracker) -> CancelReason | None:
    value = text_slot(tracker, "cancel_reason", MAX_CODE_CHARS)
    known = {reason.value: reason for reason in CancelReason}
    return known.get(value) if value is not None else None


def claimed_customer(tracker: Tracker) -> int | None:
    """The ``customer_id`` slot as an id (an int, an integral float or a digit string)."""
    value = slot(tracker, "customer_id")
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Rasa float slots
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 18:
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def events(tracker: Tracker) -> list[Mapping[str, Any]]:
    """The tracker's events that are at least mappings."""
    found = tracker.events if isinstance(tracker.events, list) else []
    return [e for e in found if isinstance(e, dict)]


# ---- authentication --------------------------------------------------------------------------
def identify(session: Session, tracker: Tracker) -> tuple[bool, CustomerProfile | None]:
    """Whether the slots hold evidence (email, or first + last name + zip code), and the one
    customer it identifies (None: nobody, or more than one)."""
    email = text_slot(tracker, "email", MAX_EMAIL_CHARS)
    if email is not None:
        return True, repository.find_customer_by_email(session, email)
    first = text_slot(tracker, "first_name", MAX_NAME_CHARS)
    last = text_slot(tracker, "last_name", MAX_NAME_CHARS)
    zip_code = text_slot(tracker, "zip_code", MAX_CODE_CHARS)
    if first and last and zip_code:
        found = repository.find_customer_by_name_zip(
            session, first_name=first, last_name=last, zip_code=zip_code
        )
        return True, found
    return False, None


def verified_customer(session: Session, tracker: Tracker) -> CustomerProfile | None:
    """The customer ``customer_id`` names, if the evidence slots identify that very customer."""
    claimed = claimed_customer(tracker)
    if claimed is None:
        return None
    _, profile = identify(session, tracker)
    return profile if profile is not None and profile.id == claimed else None


def idempotency_key(tracker: Tracker, action: str, *params: str) -> str:
    """A key stable across retries of one webhook call, distinct across turns and requests.

    Hashed from the sender, the latest user message (its ``message_id``, else the count of user
    messages), the action and its parameters, so any sender id fits ``action_log``'s column.
    """
    users = [e for e in events(tracker) if e.get("event") == "user"]
    latest = tracker.latest_message if isinstance(tracker.latest_message, dict) else {}
    marker = latest.get("message_id") or (users[-1].get("message_id") if users else None)
    turn = marker if isinstance(marker, str) and marker else f"user-turn-{len(users)}"
    raw = "\x1f".join((str(tracker.sender_id), turn, action, *params))
    return f"rasa:{action}:{hashlib.sha256(raw.encode()).hexdigest()[:48]}"


# ---- the conversation ------------------------------------------------------------------------
def _intent_of(event: Mapping[str, Any]) -> Intent | None:
    parse = event.get("parse_data")
    named = parse.get("intent") if isinstance(parse, dict) else None
    name = named.get("name") if isinstance(named, dict) else None
    return next((i for i in Intent if i.value == name), None)


def conversation(tracker: Tracker, *, max_chars: int) -> tuple[History, str, Intent | None]:
    """The utterances before the latest user message ((speaker, text), speaker "customer" or
    "agent", oldest first), that message's text, and the last issue (Rasa intent
    ``refund_status`` or ``cancel_order``) the customer named before it."""
    turns: list[tuple[str, str, Intent | None]] = []
    for event in events(tracker):
        kind, text = event.get("event"), event.get("text")
        if kind in ("restart", "session_started"):
            turns = []  # a new contact: what came before is not this conversation
        elif kind in ("user", "bot") and isinstance(text, str):
            speaker = "customer" if kind == "user" else "agent"
            turns.append((speaker, text, _intent_of(event) if kind == "user" else None))
    users = [i for i, (speaker, _, _) in enumerate(turns) if speaker == "customer"]
    message: object = ""
    if users:
        message, before = turns[users[-1]][1], turns[: users[-1]]
    else:
        latest = tracker.latest_message if isinstance(tracker.latest_message, dict) else {}
        message, before = latest.get("text", ""), turns
    intent = next((i for _, _, i in reversed(before) if i is not None), None)
    history = tuple((speaker, text[:max_chars]) for speaker, text, _ in before[-MAX_HISTORY:])
    return history, message if isinstance(message, str) else "", intent


def dialogue_state(
    session: Session, tracker: Tracker, *, intent: Intent | None, turns: int
) -> DialogueState:
    """The tracker's slots as a DialogueState: only a verified customer, only their own order."""
    profile = verified_customer(session, tracker)
    number = order_number_slot(tracker)
    if profile is None:  # the order waits for authentication, as in the chat widget
        first = text_slot(tracker, "first_name", MAX_NAME_CHARS)
        last = text_slot(tracker, "last_name", MAX_NAME_CHARS)
        zip_code = text_slot(tracker, "zip_code", MAX_CODE_CHARS)
        named = (first, last) if first and last and zip_code is None else None
        return DialogueState(
            intent=intent, pending_order_ref=number, pending_name=named, turns=turns
        )
    owned = number is not None and (
        repository.owned_order_view(session, customer_id=profile.id, order_number=number)
        is not None
    )
    return DialogueState(
        intent=intent,
        customer_id=profile.id,
        order_number=number if owned else None,
        cancel_reason=cancel_reason_slot(tracker) if intent == Intent.CANCEL_ORDER else None,
        turns=turns,
    )
