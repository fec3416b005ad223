"""When the neural agent lets the meaning reader (``ranker.meaning``) speak to the tracker.

The reader reads three situations: an opening with no issue tracked, a cancellation awaiting the
customer's yes, and an issue tracked (the message may switch to the other). Its reading is used
only where the tracker, reading the text alone, left room for it (``misread``); the tracker
still authenticates, identifies the order and gates the cancellation (``dialogue.pipeline``).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from dialogue.agent import TurnContext, TurnOutcome
from dialogue.rules import RulesAgent
from dialogue.state import DialogueState
from dialogue.text import CustomerMessage

__all__ = ["READINGS", "dry_run", "misread", "situation"]

# The readings the agent acts on, per situation (ranker.meaning): "out_of_scope" and "other"
# never change what the tracker does.
READINGS: Mapping[str, frozenset[str]] = {
    "opening": frozenset({"cancel_order", "refund_status"}),
    "confirmation": frozenset({"affirm", "deny"}),
    "switch": frozenset({"cancel_order", "refund_status"}),
}


def situation(state: DialogueState) -> str:
    """Where the meaning reader reads: a pending confirmation, no issue tracked yet, or an issue
    tracked (a message may switch to the other)."""
    if state.confirming:
        return "confirmation"
    if state.intent is None:
        return "opening"
    return "switch"


def misread(situation: str, label: str, before: DialogueState, base: TurnOutcome) -> bool:
    """Whether the tracker's own reading leaves room for the reader's ``label``: in an opening,
    no issue (or an out-of-scope hand-off); at a confirmation, neither a yes nor a no; with an
    issue tracked, no switch to the other issue the reader read. Every other hand-off (a request
    for a human, the failed-login limit, a vanished record) stands."""
    if base.state.handed_off and base.reply.act != "out_of_scope":
        return False
    if situation == "opening":
        return base.state.intent is None
    if situation == "switch":
        tracked = before.intent.value if before.intent is not None else None
        return label != tracked and base.state.intent == before.intent
    return base.reply.act not in ("cancel_done", "cancel_kept")


def dry_run(
    agent: RulesAgent,
    session: Session,
    state: DialogueState,
    message: CustomerMessage,
    ctx: TurnContext,
) -> TurnOutcome:
    """What ``agent`` would propose, with whatever it writes rolled back."""
    nested = session.begin_nested()
    try:
        return agent.respond(session, state, message, ctx)
    finally:
        nested.rollback()
