"""Conversations in the store: start one, send a customer message, get the agent's reply.

Each turn is one transaction: the customer's message, the agent's reply, any action it ran,
the new dialogue state and any hand-off are committed together before the reply is returned, so a
reply the customer saw is always in the store. If the agent fails, its writes are rolled back and
the customer's message is still recorded, with a hand-off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dialogue.agent import Agent, AgentReply, TurnContext
from dialogue.state import DialogueState
from dialogue.store import models
from dialogue.store.repository import world_now
from dialogue.text import clean_message

logger = logging.getLogger(__name__)

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


class ConversationRunner:
    """Runs an agent over stored conversations."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        agent: Agent,
        *,
        max_message_chars: int = 2000,
        clock: Clock = world_now,
    ) -> None:
        self.sessions = sessions
        self.agent = agent
        self.max_message_chars = max_message_chars
        self.clock = clock

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
        message = clean_message(raw, max_chars=self.max_message_chars)
        try:
            with self.sessions() as session, session.begin():
                conversation = self._open_conversation(session, conversation_id)
                index = self._next_index(session, conversation_id)
                now = self.clock(session)
                ctx = TurnContext(
                    conversation_id=conversation_id,
                    turn_index=index,
                    now=now,
                    history=self._history(session, conversation_id),
                )
                state = DialogueState.from_json(conversation.state)
                outcome = self.agent.respond(session, state, message, ctx)
                self._record(session, conversation, index, message.stored, outcome.reply, now)
                conversation.state = outcome.state.to_json()
                conversation.customer_id = outcome.state.customer_id
                if outcome.state.handed_off:
                    conversation.status = "handed_off"
                    conversation.ended_at = now
                    session.add(
                        models.Handoff(
                            conversation_id=conversation_id,
                            reason=outcome.reply.act,
                            created_at=now,
                        )
                    )
                elif outcome.state.ended:
                    conversation.status = "closed"
                    conversation.ended_at = now
                return outcome.reply
        except ConversationError:
            raise
        except Exception:
            logger.exception("agent %s failed in conversation %s", self.agent.name, conversation_id)
            return self._failsafe(conversation_id, message.stored)

    @staticmethod
    def _open_conversation(session: Session, conversation_id: int) -> models.Conversation:
        conversation = session.get(models.Conversation, conversation_id, with_for_update=True)
        if conversation is None:
            raise ConversationNotFound(conversation_id)
        if conversation.status != "open":
            raise ConversationClosed(conversation_id)
        return conversation

    @staticmethod
    def _next_index(session: Session, conversation_id: int) -> int:
        count = session.scalar(
            select(func.count()).where(models.Turn.conversation_id == conversation_id)
        )
        return int(count or 0)

    @staticmethod
    def _history(session: Session, conversation_id: int) -> tuple[tuple[str, str], ...]:
        rows = session.execute(
            select(models.Turn.speaker, models.Turn.text)
            .where(models.Turn.conversation_id == conversation_id)
            .order_by(models.Turn.index)
        ).all()
        return tuple((str(speaker), str(text)) for speaker, text in rows)

    @staticmethod
    def _record(
        session: Session,
        conversation: models.Conversation,
        index: int,
        customer_text: str,
        reply: AgentReply,
        now: datetime,
    ) -> None:
        session.add(
            models.Turn(
                conversation_id=conversation.id,
                index=index,
                speaker="customer",
                text=customer_text,
                created_at=now,
            )
        )
        session.add(
            models.Turn(
                conversation_id=conversation.id,
                index=index + 1,
                speaker="agent",
                text=reply.text,
                act=reply.act,
                template_id=reply.template_id,
                scores=dict(reply.scores) if reply.scores is not None else None,
                created_at=now,
            )
        )

    def _failsafe(self, conversation_id: int, customer_text: str) -> AgentReply:
        """Record the customer's message and a hand-off after the agent failed."""
        reply = AgentReply(text=FAILSAFE_TEXT, act="handoff", template_id=None, action="handoff")
        with self.sessions() as session, session.begin():
            conversation = self._open_conversation(session, conversation_id)
            now = self.clock(session)
            index = self._next_index(session, conversation_id)
            self._record(session, conversation, index, customer_text, reply, now)
            state = DialogueState.from_json(conversation.state)
            conversation.state = state.update(handed_off=True, ended=True).to_json()
            conversation.status = "handed_off"
            conversation.ended_at = now
            session.add(
                models.Handoff(
                    conversation_id=conversation_id, reason="agent_error", created_at=now
                )
            )
        return reply
