"""The agent interface every arm implements (rule-based now; ranker and generator later)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from dialogue.slots import SlotValue
from dialogue.state import DialogueState
from dialogue.text import CustomerMessage

LIST_SCORE_KEY = "__list__"
"""Where a neural arm's reply scores carry the list head's P(some candidate is acceptable)."""


@dataclass(frozen=True)
class TurnContext:
    """Where a turn happens: its conversation, its position and the world's clock."""

    conversation_id: int
    turn_index: int
    now: datetime
    # Chooses among a template's phrasings; the harness sets a key stable across runs (the
    # conversation id depends on the order contacts were stored in), the service leaves it None.
    phrasing_key: int | None = None
    # The conversation so far, oldest first, without this turn's message: (speaker, text) with
    # speaker "customer" or "agent". Arms that read the dialogue context (the ranker) use it.
    history: tuple[tuple[str, str], ...] = ()
    # What the message means (an NLU intent). The harness sets the simulated customer's own
    # meaning, which only the simulated human rep reads (a human understands what a customer
    # means); no arm does. The neural agent drops it and sets its own meaning reader's reading
    # for its tracker (dialogue.pipeline).
    customer_meaning: str | None = None

    @property
    def variant(self) -> int:
        """Which phrasing to use this turn."""
        base = self.conversation_id if self.phrasing_key is None else self.phrasing_key
        return base * 7 + self.turn_index

    def idempotency_key(self, action: str) -> str:
        """A key unique to this action in this turn (a retried turn reuses it)."""
        return f"conv{self.conversation_id}:turn{self.turn_index}:{action}"


@dataclass(frozen=True)
class AgentReply:
    """What the agent says, and what it did."""

    text: str
    act: str
    template_id: str | None
    # The bound action that ran with this reply: cancel_order | handoff | end_conversation.
    action: str | None = None
    # Model scores per candidate template id (neural arms); None for the rule-based arm.
    scores: Mapping[str, float] | None = None
    # The slot values the reply was rendered with (store-formatted): what it states, for judges
    # and for the transcripts corpus. None where the arm does not say.
    slots: Mapping[str, SlotValue] | None = None
    # True for a reply that no catalog template fits (a human rep's extra behaviour).
    off_catalog: bool = False
    # The template facts the reply was chosen under (the tracker's view of this turn); None where
    # the arm does not say. The ranker's candidates are the templates these facts allow.
    facts: frozenset[str] | None = None
    # True for a generated draft: its words are the model's own, so a reader (the simulated
    # customer) reads the act and the facts from the text, not from ``act`` and ``slots``.
    generated: bool = False


@dataclass(frozen=True)
class TurnOutcome:
    reply: AgentReply
    state: DialogueState


class Agent(Protocol):
    """An arm: reads the state and the message, may act through dialogue.actions, replies."""

    name: str

    def respond(
        self, session: Session, state: DialogueState, message: CustomerMessage, ctx: TurnContext
    ) -> TurnOutcome:
        """Produce this turn's reply and the next state; writes go through ``session``."""
        ...
