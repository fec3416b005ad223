"""The reps' assist desk: the queue, a conversation with its suggestions, the rep's reply, and
the agent-assist metrics of Lu et al. (2019).

A rep answers the customer's pending message(s), the customer turns since the last reply. The
suggestions are the assistant's top 4 (and its draft) for those messages, computed in a
rolled-back savepoint; when the rep sends, they are computed again in the reply's transaction, so
what is logged and gated is what was offered for the conversation as it stands. A chosen
suggestion passes the auto-mode gates and runs its bound action
(:meth:`dialogue.pipeline.NeuralAgent.rep_turn`); every reply is logged with what was offered.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dialogue.agent import TurnContext, TurnOutcome
from dialogue.assisting import AssistResult, RepChoiceRefused, Suggestion
from dialogue.conversation import ConversationClosed, ConversationNotFound
from dialogue.domain import CustomerRecord
from dialogue.rules import RulesAgent
from dialogue.service.assist_metrics import Metrics, assist_metrics
from dialogue.service.chat import in_queue
from dialogue.state import DialogueState
from dialogue.store import models, repository
from dialogue.text import CustomerMessage, clean_message
from generator.drafter import Draft

SUGGESTIONS = 4


class Assistant(Protocol):
    """What the desk needs of an agent (:class:`dialogue.pipeline.NeuralAgent` has both)."""

    def assist_turn(
        self,
        session: Session,
        state: DialogueState,
        message: CustomerMessage,
        ctx: TurnContext,
        *,
        k: int = 4,
    ) -> AssistResult: ...

    def rep_turn(
        self,
        session: Session,
        state: DialogueState,
        message: CustomerMessage,
        ctx: TurnContext,
        *,
        template_id: str | None = None,
        act: str | None = None,
    ) -> TurnOutcome: ...


class DeskConflict(Exception):
    """The reply cannot be sent as asked (nothing to answer, a suggestion no longer offered, a
    refused action, a conversation that is not the reps')."""


@dataclass(frozen=True)
class Offer:
    """What the desk offers for the pending message(s)."""

    pending: bool
    suggestions: tuple[Suggestion, ...]
    list_probability: float | None
    draft: Draft | None
    note: str | None
    # The tracker's state after the pending message(s) (None: nothing was tracked).
    tracked: DialogueState | None = None


@dataclass(frozen=True)
class DeskView:
    conversation: models.Conversation
    turns: Sequence[models.Turn]
    assigned_to: str | None
    record: CustomerRecord | None
    state: DialogueState
    offer: Offer


@dataclass(frozen=True)
class RepChoice:
    source: str  # suggestion | draft | own
    text: str
    template_id: str | None = None


@dataclass(frozen=True)
class Sent:
    index: int
    kind: str  # accepted | edited | own
    action: str | None
    status: str


@dataclass(frozen=True)
class QueueEntry:
    conversation: models.Conversation
    waiting: bool
    last_customer_text: str | None
    customer_name: str | None
    last_activity_at: datetime
    assigned_to: str | None
    turns: int


class AssistDesk:
    """The reps' side of the service.

    Args:
        sessions: The store.
        assistant: Suggests and gates replies (a :class:`NeuralAgent`); None: the rep types
            every reply and a tracker (the rule-based agent, never acting) follows the dialogue.
        max_message_chars: As for customers' messages.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        assistant: Assistant | None,
        *,
        max_message_chars: int = 2000,
    ) -> None:
        self.sessions = sessions
        self.assistant = assistant
        self.max_message_chars = max_message_chars
        self._tracker = RulesAgent(execute_cancel=False, name="desk-tracker")

    # ---- reading ---------------------------------------------------------------------------
    def queue(self) -> list[QueueEntry]:
        """The service's handed-off and assisted conversations not closed: waiting ones first,
        oldest first."""
        with self.sessions() as session:
            rows = session.scalars(
                select(models.Conversation)
                .where(
                    # The service's own conversations (simulated contacts carry no token).
                    models.Conversation.access_token_hash.is_not(None),
                    (models.Conversation.status == "handed_off")
                    | (
                        (models.Conversation.mode == "assist")
                        & (models.Conversation.status == "open")
                    ),
                )
                .order_by(models.Conversation.id)
                .limit(500)
            ).all()
            entries = [self._entry(session, row) for row in rows]
        return sorted(entries, key=lambda e: (not e.waiting, e.last_activity_at))

    def _entry(self, session: Session, row: models.Conversation) -> QueueEntry:
        turns = _turns(session, row.id)
        pending = _pending(turns)
        last_customer = next((t.text for t in reversed(turns) if t.speaker == "customer"), None)
        return QueueEntry(
            conversation=row,
            waiting=bool(pending),
            last_customer_text=last_customer,
            customer_name=_name(session, row.customer_id),
            last_activity_at=turns[-1].created_at if turns else row.started_at,
            assigned_to=_username(session, row.assigned_user_id),
            turns=len(turns),
        )

    def view(self, conversation_id: int) -> DeskView:
        """The conversation, the customer (once authenticated) and what answers it.

        Raises:
            ConversationNotFound: no such conversation.
        """
        with self.sessions() as session:  # closed without commit: the offer keeps nothing
            row = session.get(models.Conversation, conversation_id)
            if row is None:
                raise ConversationNotFound(conversation_id)
            turns = _turns(session, conversation_id)
            offer = self._offer(session, row, turns, _desk_state(row))
            # What the rep sees is the dialogue as the pending message(s) leave it: a customer
            # who just sent their email is shown authenticated, with their profile.
            state = offer.tracked or _desk_state(row)
            record = (
                repository.customer_record(session, state.customer_id)
                if state.customer_id is not None
                else None
            )
            assigned = _username(session, row.assigned_user_id)
        return DeskView(row, turns, assigned, record, state, offer)

    def _offer(
        self,
        session: Session,
        row: models.Conversation,
        turns: Sequence[models.Turn],
        state: DialogueState,
    ) -> Offer:
        pending = _pending(turns)
        if not pending or row.status == "closed":
            return Offer(False, (), None, None, None)
        if self.assistant is None:
            return Offer(True, (), None, None, "no ranker is loaded: `csbot train ranker`")
        message, ctx = self._turn(session, row, turns, pending)
        if message.problem is not None:
            return Offer(True, (), None, None, f"the customer's message is {message.problem}")
        result = self.assistant.assist_turn(session, state, message, ctx, k=SUGGESTIONS)
        # Templates render HTML-escaped (templates.render); the desk's texts are plain text.
        plain = tuple(replace(s, text=html.unescape(s.text)) for s in result.suggestions)
        return Offer(True, plain, result.list_prob, result.draft, None, result.tracked)

    def _turn(
        self,
        session: Session,
        row: models.Conversation,
        turns: Sequence[models.Turn],
        pending: Sequence[models.Turn],
    ) -> tuple[CustomerMessage, TurnContext]:
        message = clean_message(" ".join(t.text for t in pending), max_chars=self.max_message_chars)
        answered = turns[: len(turns) - len(pending)]
        ctx = TurnContext(
            conversation_id=row.id,
            turn_index=len(turns),
            now=repository.world_now(session),
            history=tuple(
                ("customer" if t.speaker == "customer" else "agent", t.text) for t in answered
            ),
        )
        return message, ctx

    # ---- writing ---------------------------------------------------------------------------
    def reply(self, conversation_id: int, user_id: int, choice: RepChoice) -> Sent:
        """Send the rep's reply: gate and run its action, record the turn and the choice.

        Raises:
            ConversationNotFound: no such conversation.
            ConversationClosed: it was closed.
            DeskConflict: see the class.
        """
        text = choice.text.strip()
        if not text:
            raise DeskConflict("a reply needs some text")
        with self.sessions() as session, session.begin():
            row = self._queued(session, conversation_id)
            turns = _turns(session, conversation_id)
            state = _desk_state(row)
            pending = _pending(turns)
            if choice.source != "own" and not pending:
                raise DeskConflict("there is no customer message to answer")
            offer = self._offer(session, row, turns, state)
            outcome, kind, rank = self._choose(session, row, turns, state, offer, choice, text)
            now = repository.world_now(session)
            turn = models.Turn(
                conversation_id=conversation_id,
                index=len(turns),
                speaker="rep",
                text=text,
                act=outcome.reply.act if outcome is not None and kind != "own" else None,
                template_id=choice.template_id if choice.source == "suggestion" else None,
                created_at=now,
            )
            session.add(turn)
            session.flush()
            if outcome is not None:
                row.state = outcome.state.to_json()
                row.customer_id = outcome.state.customer_id
            action = outcome.reply.action if outcome is not None and kind != "own" else None
            if action == "end_conversation":
                row.status, row.ended_at = "closed", now
            row.mode, row.assigned_user_id = "assist", user_id
            session.add(
                models.AssistChoice(
                    conversation_id=conversation_id,
                    turn_id=turn.id,
                    user_id=user_id,
                    kind=kind,
                    source=None if kind == "own" else choice.source,
                    rank=rank,
                    template_id=turn.template_id,
                    offered=[
                        {"template_id": s.template_id, "act": s.act, "score": round(s.score, 4)}
                        for s in offer.suggestions
                    ],
                    draft_offered=offer.draft is not None,
                    created_at=datetime.now(UTC).replace(tzinfo=None),
                )
            )
            return Sent(turn.index, kind, action, row.status)

    def _choose(
        self,
        session: Session,
        row: models.Conversation,
        turns: Sequence[models.Turn],
        state: DialogueState,
        offer: Offer,
        choice: RepChoice,
        text: str,
    ) -> tuple[TurnOutcome | None, str, int | None]:
        """The turn's outcome, the kind of choice and the chosen suggestion's rank."""
        pending = _pending(turns)
        if not pending:
            return None, "own", None  # a follow-up with nothing to answer moves no state
        message, ctx = self._turn(session, row, turns, pending)
        if choice.source == "own":
            return self._track(session, state, message, ctx), "own", None
        if self.assistant is None:
            raise DeskConflict("no suggestions are offered: send your own reply")
        try:
            if choice.source == "suggestion":
                ranks = {s.template_id: n for n, s in enumerate(offer.suggestions, start=1)}
                if choice.template_id not in ranks:
                    raise DeskConflict("that suggestion is no longer offered: reload")
                offered = offer.suggestions[ranks[choice.template_id] - 1]
                outcome = self.assistant.rep_turn(
                    session, state, message, ctx, template_id=choice.template_id
                )
                kind = "accepted" if text == offered.text.strip() else "edited"
                return outcome, kind, ranks[choice.template_id]
            if offer.draft is None or offer.draft.act is None:
                raise DeskConflict("no draft is offered: reload")
            outcome = self.assistant.rep_turn(session, state, message, ctx, act=offer.draft.act)
            return outcome, "accepted" if text == offer.draft.text.strip() else "edited", None
        except RepChoiceRefused as exc:
            raise DeskConflict(str(exc)) from None

    def _track(
        self, session: Session, state: DialogueState, message: CustomerMessage, ctx: TurnContext
    ) -> TurnOutcome:
        if self.assistant is not None:
            return self.assistant.rep_turn(session, state, message, ctx)
        nested = session.begin_nested()  # the tracker never acts; keep nothing but its state
        try:
            outcome = self._tracker.respond(session, state, message, ctx)
        finally:
            nested.rollback()
        kept = state if outcome.reply.action == "cancel_order" else outcome.state
        return TurnOutcome(reply=outcome.reply, state=kept)

    def close(self, conversation_id: int, user_id: int) -> None:
        """Close a conversation from the queue (the customer is told by the widget).

        Raises:
            ConversationNotFound, ConversationClosed, DeskConflict: as for :meth:`reply`.
        """
        with self.sessions() as session, session.begin():
            row = self._queued(session, conversation_id)
            row.status = "closed"
            row.ended_at = repository.world_now(session)
            row.assigned_user_id = user_id

    @staticmethod
    def _queued(session: Session, conversation_id: int) -> models.Conversation:
        row = session.get(models.Conversation, conversation_id, with_for_update=True)
        if row is None:
            raise ConversationNotFound(conversation_id)
        if row.status == "closed":
            raise ConversationClosed(conversation_id)
        if row.access_token_hash is None:
            raise DeskConflict("a simulated or terminal conversation has no customer to answer")
        if not in_queue(row):
            raise DeskConflict("the bot is answering this conversation (auto mode)")
        return row

    def metrics(self) -> Metrics:
        """Turn acceptance (top 1 and top 4), response coverage and edit rate over every reply."""
        with self.sessions() as session:
            return assist_metrics(session)


def _turns(session: Session, conversation_id: int) -> list[models.Turn]:
    return list(
        session.scalars(
            select(models.Turn)
            .where(models.Turn.conversation_id == conversation_id)
            .order_by(models.Turn.index)
        ).all()
    )


def _pending(turns: Sequence[models.Turn]) -> list[models.Turn]:
    """The customer's turns since the last reply (by the bot or a rep)."""
    pending: list[models.Turn] = []
    for turn in reversed(turns):
        if turn.speaker != "customer":
            break
        pending.append(turn)
    return pending[::-1]


def _desk_state(row: models.Conversation) -> DialogueState:
    """The dialogue state a rep continues from: a hand-off ended the bot's part, not the talk."""
    return DialogueState.from_json(row.state).update(handed_off=False, ended=False)


def _name(session: Session, customer_id: int | None) -> str | None:
    if customer_id is None:
        return None
    row = session.get(models.Customer, customer_id)
    return f"{row.first_name} {row.last_name}" if row is not None else None


def _username(session: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    return session.scalar(select(models.User.username).where(models.User.id == user_id))
