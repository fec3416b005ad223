"""Customers' conversations in the service: a session token each, auto mode or a rep's queue.

In auto mode a message goes through :class:`dialogue.conversation.ConversationRunner` (the turn,
the reply and any action are committed together before the reply returns). Once the bot hands
off (or in a conversation started in assist mode) the conversation waits in the reps' queue: a
message is committed as the customer's turn and answered later by a rep
(:mod:`dialogue.service.desk`).
"""

from __future__ import annotations

import threading
from collections import deque
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dialogue.agent import AgentReply
from dialogue.conversation import (
    ConversationClosed,
    ConversationError,
    ConversationNotFound,
    ConversationRunner,
    ConversationView,
)
from dialogue.service.accounts import new_token, token_digest, tokens_match
from dialogue.store import models
from dialogue.text import InputProblem, clean_message

MODES = ("auto", "assist")


@dataclass(frozen=True)
class Started:
    conversation_id: int
    token: str
    status: str
    mode: str


@dataclass(frozen=True)
class Sent:
    index: int  # the customer's turn
    reply: AgentReply | None  # None: a rep answers later
    status: str
    mode: str


@dataclass(frozen=True)
class SeenTurn:
    index: int
    speaker: str
    text: str
    created_at: datetime


class TurnGate:
    """At most ``slots`` turns at once in this process; the others wait in arrival order.

    A turn is mostly Python (the GIL lets one thread run at a time): dozens of request threads
    thinking at once only share one core worse (each turn costs more CPU and the unlucky ones
    wait seconds). Queued here, they take their turn first come, first served, and the slot
    is handed to the next waiter directly (no newcomer overtakes it).
    """

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots}")
        self._mutex = threading.Lock()
        self._free = slots
        self._waiting: deque[threading.Lock] = deque()

    def __enter__(self) -> None:
        with self._mutex:
            if self._free > 0:
                self._free -= 1
                return
            baton = threading.Lock()
            baton.acquire()
            self._waiting.append(baton)
        baton.acquire()  # released by the turn that hands its slot over

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().release()
            else:
                self._free += 1


class _ForARep(ConversationError):
    """The conversation is in the reps' queue: the message is stored for a rep, not answered."""


class EmptyMessage(ConversationError):
    """A message with nothing in it, sent where a rep (not the bot) answers."""


def in_queue(conversation: ConversationView) -> bool:
    """Whether a rep answers this conversation (it was handed off, or runs in assist mode)."""
    return conversation.status == "handed_off" or (
        conversation.mode == "assist" and conversation.status == "open"
    )


class CustomerChats:
    """Start, authorize and continue customers' conversations."""

    def __init__(
        self, runner: ConversationRunner, *, mode: str = "auto", turn_slots: int | None = None
    ) -> None:
        """
        Args:
            runner: Runs the auto-mode agent.
            mode: The mode new conversations start in.
            turn_slots: At most this many turns at once in this process (:class:`TurnGate`);
                None: no limit.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.runner = runner
        self.gate: AbstractContextManager[None] = (
            TurnGate(turn_slots) if turn_slots is not None else nullcontext()
        )
        self.sessions: sessionmaker[Session] = runner.sessions
        # Reads that decide nothing a write depends on: without SQLite's write lock where the
        # runner has snapshots (every turn and queued message re-checks under the lock).
        self.reads: sessionmaker[Session] = runner.snapshots or runner.sessions
        self.mode = mode

    def start(self) -> Started:
        token = new_token()
        conversation_id = self.runner.start(mode=self.mode, access_token_hash=token_digest(token))
        return Started(conversation_id, token, "open", self.mode)

    def authorized(self, session: Session, conversation_id: int, token: str | None) -> bool:
        """Whether ``token`` opens this conversation (a wrong token and a missing conversation
        look the same to the caller)."""
        row = session.get(models.Conversation, conversation_id)
        return row is not None and token is not None and self._opens(row, token)

    @staticmethod
    def _opens(row: ConversationView, token: str) -> bool:
        return tokens_match(token, row.access_token_hash)

    def send(self, conversation_id: int, text: str, *, token: str | None = None) -> Sent:
        """The customer's message: answered now in auto mode, queued for a rep otherwise.

        Args:
            token: Given, the message is sent only if this token opens the conversation (the
                service's customers); None: a trusted caller.

        Raises:
            ConversationNotFound: no such conversation (or ``token`` does not open it).
            ConversationClosed: it was closed.
        """

        def admit(row: ConversationView) -> None:  # in the turn's own first read
            if token is not None and not self._opens(row, token):
                raise ConversationNotFound(conversation_id)
            if row.status == "closed":
                raise ConversationClosed(conversation_id)
            if in_queue(row):
                raise _ForARep(conversation_id)

        try:
            with self.gate:
                turn = self.runner.take_turn(conversation_id, text, admit=admit)
        except _ForARep:
            return self._queue_message(conversation_id, text)
        return Sent(turn.index, turn.reply, turn.status, turn.mode)

    def _queue_message(self, conversation_id: int, text: str) -> Sent:
        message = clean_message(text, max_chars=self.runner.max_message_chars)
        if message.problem == InputProblem.EMPTY:
            raise EmptyMessage(conversation_id)  # nothing for a rep to read: nothing stored
        with self.sessions() as session, session.begin():
            row = session.get(models.Conversation, conversation_id, with_for_update=True)
            if row is None:
                raise ConversationNotFound(conversation_id)
            if row.status == "closed":
                raise ConversationClosed(conversation_id)
            index = _next_index(session, conversation_id)
            session.add(
                models.Turn(
                    conversation_id=conversation_id,
                    index=index,
                    speaker="customer",
                    text=message.stored,
                    created_at=self.runner.clock(session),
                )
            )
            if row.mode != "assist":  # handed off by the bot: a rep answers from now on
                row.mode = "assist"
            return Sent(index, None, row.status, row.mode)

    def transcript(
        self, conversation_id: int, *, after: int = -1
    ) -> tuple[models.Conversation, list[SeenTurn]]:
        """The conversation and its turns after index ``after`` (speaker and text only).

        Raises:
            ConversationNotFound: no such conversation.
        """
        with self.reads() as session:
            row = session.get(models.Conversation, conversation_id)
            if row is None:
                raise ConversationNotFound(conversation_id)
            turns = session.scalars(
                select(models.Turn)
                .where(models.Turn.conversation_id == conversation_id, models.Turn.index > after)
                .order_by(models.Turn.index)
            ).all()
            return row, [SeenTurn(t.index, t.speaker, t.text, t.created_at) for t in turns]


def _next_index(session: Session, conversation_id: int) -> int:
    count = session.scalar(
        select(func.count()).where(models.Turn.conversation_id == conversation_id)
    )
    return int(count or 0)
