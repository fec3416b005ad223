"""Conversations in the store: start one, send a customer message, get the agent's reply.

Each turn is one transaction: the customer's message, the agent's reply, any action it ran,
the new dialogue state and any hand-off are committed together before the reply is returned, so a
reply the customer saw is always in the store. If the agent fails, its writes are rolled back and
the customer's message is still recorded, with a hand-off.

Where the store has one writer at a time (SQLite), holding its write lock while the agent thinks
would let one turn think at a time. Given ``snapshots`` (sessions that read without the lock and
cannot write) the runner first computes the turn on a snapshot, then takes the write lock only to
check that nothing it read has changed (the conversation, the customer's orders and refunds) and
store it. A turn whose agent writes (an action), or whose check fails, is computed again under the
lock, exactly as without snapshots. A stored reply is thus true of a consistent state of the store
that no later write contradicted before the reply was committed. Two kinds of writes do not send a
turn under the lock: the log row of a read-only action (``dialogue.actions.lookup_refund``) is
kept on the snapshot and written with the turn, and a turn that answers a cancellation's
confirmation question (it may cancel) skips the snapshot and runs under the lock at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from dialogue.actions import defer_logs, deferred_logs
from dialogue.agent import Agent, AgentReply, TurnContext, TurnOutcome
from dialogue.state import DialogueState
from dialogue.store import models
from dialogue.store.repository import attach_record_cache, world_now
from dialogue.text import CustomerMessage, clean_message

logger = logging.getLogger(__name__)

_TURNS = cast(Table, models.Turn.__table__)
_CONVERSATIONS = cast(Table, models.Conversation.__table__)
# A turn's statements, built once: constructing a SELECT costs about as much CPU as running it
# on SQLite (benchmarks/turn_cpu.py). The conversation's row is read and written with Core: an ORM
# entity, its flush and its unit of work cost a turn about 0.5 ms more.
_CONVERSATION = (
    select(
        _CONVERSATIONS.c.id,
        _CONVERSATIONS.c.status,
        _CONVERSATIONS.c.mode,
        _CONVERSATIONS.c.state,
        _CONVERSATIONS.c.access_token_hash,
        _CONVERSATIONS.c.ended_at,
    )
    .where(_CONVERSATIONS.c.id == bindparam("conversation_id"))
    .with_for_update()
)
_UPDATE_CONVERSATION = update(_CONVERSATIONS).where(
    _CONVERSATIONS.c.id == bindparam("conversation_id")
)
_TURN_COUNT = select(func.count()).where(
    models.Turn.conversation_id == bindparam("conversation_id")
)
_HISTORY = (
    select(models.Turn.speaker, models.Turn.text)
    .where(models.Turn.conversation_id == bindparam("conversation_id"))
    .order_by(models.Turn.index)
)
_INSERT_TURNS = insert(_TURNS)
_FINGERPRINT = (
    select(
        models.Order.id,
        models.Order.status,
        models.Order.updated_at,
        models.Refund.id,
        models.Refund.status,
    )
    .outerjoin(models.Refund, models.Refund.order_id == models.Order.id)
    .where(models.Order.customer_id == bindparam("customer_id"))
    .order_by(models.Order.id, models.Refund.id)
)

FAILSAFE_TEXT = (
    "I'm sorry, something went wrong on my side. I'm passing your conversation to a colleague "
    "who will pick it up from here."
)


class ConversationError(Exception):
    """Base of the conversation errors."""


class ConversationNotFound(ConversationError):
    pass


class ConversationClosed(ConversationError):
    pass


Clock = Callable[[Session], datetime]


class ConversationView(Protocol):
    """What a check of a conversation reads: a turn's :class:`OpenConversation` or an ORM row."""

    @property
    def status(self) -> str: ...

    @property
    def mode(self) -> str: ...

    @property
    def access_token_hash(self) -> str | None: ...


# Checks a conversation's row before its turn (raises a ConversationError to refuse the turn).
Admit = Callable[[ConversationView], None]


@dataclass(frozen=True)
class OpenConversation:
    """A conversation's row as its turn reads it; ``ConversationRunner._apply`` writes it back."""

    id: int
    status: str
    mode: str
    state: dict[str, Any]
    access_token_hash: str | None
    ended_at: datetime | None


@dataclass(frozen=True)
class StoredTurn:
    """A committed turn: the reply, where it is and the conversation's status after it."""

    reply: AgentReply
    index: int  # the customer's message; the reply is index + 1
    status: str
    mode: str


@dataclass(frozen=True)
class _Proposal:
    """A turn computed on a snapshot, and what it read that a concurrent turn could change."""

    index: int
    now: datetime
    state: dict[str, Any]  # the conversation's stored state it started from
    orders: tuple[Any, ...]  # the customer's orders and refunds it read (_orders_fingerprint)
    outcome: TurnOutcome
    logs: tuple[models.ActionLog, ...]  # read-only actions' log rows, written with the turn


class ConversationRunner:
    """Runs an agent over stored conversations."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        agent: Agent,
        *,
        max_message_chars: int = 2000,
        clock: Clock = world_now,
        snapshots: sessionmaker[Session] | None = None,
    ) -> None:
        """
        Args:
            sessions: Sessions on the store; each turn's write transaction is one of them.
            agent: The arm that answers.
            max_message_chars: Longer messages get the agent's "too long" reply.
            clock: The world's time for a turn.
            snapshots: Read-only sessions that take no write lock (SQLite); given, a turn is
                computed on one first and the write lock is taken only to store it.
        """
        self.sessions = sessions
        self.agent = agent
        self.max_message_chars = max_message_chars
        self.clock = clock
        self.snapshots = snapshots

    def start(
        self, *, channel: str = "chat", mode: str = "auto", access_token_hash: str | None = None
    ) -> int:
        """Open a conversation and return its id.

        Args:
            channel: where it happens (chat, simulation, …).
            mode: "auto" (the agent answers) or "assist" (a rep answers; the service's queue).
            access_token_hash: the stored form of the customer's session token (the service).
        """
        with self.sessions() as session, session.begin():
            conversation = models.Conversation(
                agent_name=self.agent.name,
                channel=channel,
                mode=mode,
                access_token_hash=access_token_hash,
                status="open",
                state=DialogueState().to_json(),
                started_at=self.clock(session),
            )
            session.add(conversation)
            session.flush()
            return conversation.id

    def send(self, conversation_id: int, raw: str | bytes) -> AgentReply:
        """Process one customer message and return the agent's reply (already committed).

        Raises:
            ConversationNotFound: no such conversation.
            ConversationClosed: it was closed or handed off.
        """
        return self.take_turn(conversation_id, raw).reply

    def take_turn(
        self, conversation_id: int, raw: str | bytes, *, admit: Admit | None = None
    ) -> StoredTurn:
        """:meth:`send`, returning where the turn was stored and the conversation's status.

        Args:
            admit: Called with the conversation's row in the turn's first read, before its
                status is checked; raises a :class:`ConversationError` to refuse the turn
                (nothing is written).
        """
        message = clean_message(raw, max_chars=self.max_message_chars)
        try:
            if self.snapshots is not None:
                proposal = self._propose(conversation_id, message, admit)
                if proposal is not None:
                    stored = self._store(conversation_id, message, proposal)
                    if stored is not None:
                        return stored
            return self._send_locked(conversation_id, message, admit)
        except ConversationError:
            raise
        except Exception:
            logger.exception("agent %s failed in conversation %s", self.agent.name, conversation_id)
            return self._failsafe(conversation_id, message.stored)

    def _send_locked(
        self, conversation_id: int, message: CustomerMessage, admit: Admit | None = None
    ) -> StoredTurn:
        """The whole turn in one write transaction."""
        with self.sessions() as session, session.begin():
            attach_record_cache(session)  # this turn's reads of a customer's record, once
            conversation = self._open_conversation(session, conversation_id, admit)
            history = self._history(session, conversation_id)
            index = len(history)  # the turns so far: the next turn's index
            now = self.clock(session)
            outcome = self._respond(session, conversation, history, now, message)
            return self._apply(session, conversation, index, message.stored, outcome, now)

    def _propose(
        self, conversation_id: int, message: CustomerMessage, admit: Admit | None = None
    ) -> _Proposal | None:
        """The turn computed on a snapshot (no write lock); None where it may cancel (it answers
        a confirmation question), where the agent wrote (the snapshot refuses writes) or failed:
        the turn is then run under the lock."""
        assert self.snapshots is not None
        session = self.snapshots()
        try:
            attach_record_cache(session)
            defer_logs(session)  # a lookup's log row is written with the turn
            conversation = self._open_conversation(session, conversation_id, admit)
            if DialogueState.from_json(conversation.state).confirming:
                return None  # it may cancel: computed here, it would be computed again
            history = self._history(session, conversation_id)
            index = len(history)  # the turns so far: the next turn's index
            now = self.clock(session)
            state = dict(conversation.state)
            try:
                outcome = self._respond(session, conversation, history, now, message)
                orders = _orders_fingerprint(session, outcome.state.customer_id)
            except Exception:  # noqa: BLE001 - an action's write, or a failure the lock will see
                logger.debug(
                    "turn %s of conversation %s runs under the lock", index, conversation_id
                )
                return None
            return _Proposal(
                index=index,
                now=now,
                state=state,
                orders=orders,
                outcome=outcome,
                logs=tuple(deferred_logs(session)),
            )
        finally:
            session.rollback()
            session.close()

    def _store(
        self, conversation_id: int, message: CustomerMessage, proposal: _Proposal
    ) -> StoredTurn | None:
        """Commit a proposed turn if nothing it read has changed since; None if something has."""
        customer_id = proposal.outcome.state.customer_id
        with self.sessions() as session, session.begin():
            conversation = self._open_conversation(session, conversation_id)
            if (
                conversation.state != proposal.state
                or self._next_index(session, conversation_id) != proposal.index
                or _orders_fingerprint(session, customer_id) != proposal.orders
            ):
                return None  # nothing was written: this transaction commits nothing
            session.add_all(proposal.logs)
            return self._apply(
                session,
                conversation,
                proposal.index,
                message.stored,
                proposal.outcome,
                proposal.now,
            )

    def _respond(
        self,
        session: Session,
        conversation: OpenConversation,
        history: tuple[tuple[str, str], ...],
        now: datetime,
        message: CustomerMessage,
    ) -> TurnOutcome:
        ctx = TurnContext(
            conversation_id=conversation.id,
            turn_index=len(history),
            now=now,
            history=history,
        )
        state = DialogueState.from_json(conversation.state)
        return self.agent.respond(session, state, message, ctx)

    def _apply(
        self,
        session: Session,
        conversation: OpenConversation,
        index: int,
        customer_text: str,
        outcome: TurnOutcome,
        now: datetime,
    ) -> StoredTurn:
        """Write the turn: both messages, the new state, the status and any hand-off."""
        self._record(session, conversation, index, customer_text, outcome.reply, now)
        status, mode, ended_at = conversation.status, conversation.mode, conversation.ended_at
        if outcome.state.handed_off:
            status, ended_at = "handed_off", now
            if conversation.access_token_hash is not None:
                mode = "assist"  # a service customer: a rep answers from now on
            session.add(
                models.Handoff(
                    conversation_id=conversation.id, reason=outcome.reply.act, created_at=now
                )
            )
        elif outcome.state.ended:
            status, ended_at = "closed", now
        _write_conversation(
            session,
            conversation.id,
            state=outcome.state.to_json(),
            customer_id=outcome.state.customer_id,
            status=status,
            mode=mode,
            ended_at=ended_at,
        )
        return StoredTurn(outcome.reply, index, status, mode)

    @staticmethod
    def _open_conversation(
        session: Session, conversation_id: int, admit: Admit | None = None
    ) -> OpenConversation:
        row = session.execute(_CONVERSATION, {"conversation_id": conversation_id}).one_or_none()
        if row is None:
            raise ConversationNotFound(conversation_id)
        conversation = OpenConversation(
            id=row.id,
            status=row.status,
            mode=row.mode,
            state=row.state or {},
            access_token_hash=row.access_token_hash,
            ended_at=row.ended_at,
        )
        if admit is not None:
            admit(conversation)
        if conversation.status != "open":
            raise ConversationClosed(conversation_id)
        return conversation

    @staticmethod
    def _next_index(session: Session, conversation_id: int) -> int:
        return int(session.scalar(_TURN_COUNT, {"conversation_id": conversation_id}) or 0)

    @staticmethod
    def _history(session: Session, conversation_id: int) -> tuple[tuple[str, str], ...]:
        rows = session.execute(_HISTORY, {"conversation_id": conversation_id}).all()
        return tuple((str(speaker), str(text)) for speaker, text in rows)

    @staticmethod
    def _record(
        session: Session,
        conversation: OpenConversation,
        index: int,
        customer_text: str,
        reply: AgentReply,
        now: datetime,
    ) -> None:
        # Both messages in one Core INSERT (no ORM objects: nothing reads them back here).
        turn = dict(conversation_id=conversation.id, created_at=now)
        session.execute(
            _INSERT_TURNS,
            [
                turn
                | dict(
                    index=index,
                    speaker="customer",
                    text=customer_text,
                    act=None,
                    template_id=None,
                    scores=None,
                ),
                turn
                | dict(
                    index=index + 1,
                    speaker="agent",
                    text=reply.text,
                    act=reply.act,
                    template_id=reply.template_id,
                    scores=dict(reply.scores) if reply.scores is not None else None,
                ),
            ],
        )

    def _failsafe(self, conversation_id: int, customer_text: str) -> StoredTurn:
        """Record the customer's message and a hand-off after the agent failed."""
        reply = AgentReply(text=FAILSAFE_TEXT, act="handoff", template_id=None, action="handoff")
        with self.sessions() as session, session.begin():
            conversation = self._open_conversation(session, conversation_id)
            now = self.clock(session)
            index = self._next_index(session, conversation_id)
            self._record(session, conversation, index, customer_text, reply, now)
            state = DialogueState.from_json(conversation.state)
            _write_conversation(
                session,
                conversation_id,
                state=state.update(handed_off=True, ended=True).to_json(),
                status="handed_off",
                ended_at=now,
            )
            session.add(
                models.Handoff(
                    conversation_id=conversation_id, reason="agent_error", created_at=now
                )
            )
            return StoredTurn(reply, index, "handed_off", conversation.mode)


def _write_conversation(session: Session, conversation_id: int, **values: Any) -> None:
    """Set columns of a conversation's row (Core: no entity was loaded to flush)."""
    session.execute(_UPDATE_CONVERSATION, {"conversation_id": conversation_id, **values})


def _orders_fingerprint(session: Session, customer_id: int | None) -> tuple[Any, ...]:
    """The customer's orders and refunds as far as a turn's facts go (what an action changes)."""
    if customer_id is None:
        return ()
    rows = session.execute(_FINGERPRINT, {"customer_id": customer_id}).all()
    return tuple(tuple(row) for row in rows)
