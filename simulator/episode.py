"""One contact: a simulated customer talks to an arm; the store is checked and everything saved.

The contact runs inside the caller's transaction (the harness commits a batch of contacts at a
time): its conversation, turns, any hand-off, the agent's actions, the contact and its outcome are
all written together, so a contact is either wholly in the store or not at all. Each agent turn
runs in a savepoint: a turn that raises is rolled back and handed off, as the service's failsafe
does, and the contact goes on being judged.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from dialogue.agent import Agent, AgentReply, TurnContext, TurnOutcome
from dialogue.conversation import FAILSAFE_TEXT
from dialogue.domain import CustomerRecord
from dialogue.state import DialogueState
from dialogue.store import models, repository
from dialogue.text import clean_message
from simulator.customer import SimulatedCustomer, Verdict
from simulator.phrases import PhraseBank
from simulator.population import Goal, Persona

logger = logging.getLogger(__name__)

# Core statements built once: the ORM's bulk-insert path costs ~0.5 ms a statement, more than the
# rest of a contact's bookkeeping together.
CONVERSATIONS: Any = models.Conversation.__table__
TURNS: Any = models.Turn.__table__
HANDOFFS: Any = models.Handoff.__table__
INSERT_CONVERSATION = CONVERSATIONS.insert().returning(CONVERSATIONS.c.id)
UPDATE_CONVERSATION = CONVERSATIONS.update().where(
    CONVERSATIONS.c.id == bindparam("conversation_id")
)
MAX_CUSTOMER_MESSAGES = 20
TURN_SECONDS = 40  # simulated time between a customer's messages
MAX_MESSAGE_CHARS = 2000
Snapshot = dict[str, tuple[str, int]]


@dataclass(frozen=True)
class PlannedContact:
    """A contact the schedule holds: who, when, which issue, in which arm."""

    key: str
    customer_id: int
    issue_type: str
    started_at: datetime
    arm: str
    depth: int = 0  # 0 for a primary contact, n for its n-th re-contact


@dataclass(frozen=True)
class EpisodeResult:
    conversation_id: int
    turns: int
    verdict: Verdict
    wrong_action: bool
    problems: tuple[str, ...]


def snapshot(session: Session, customer_id: int) -> Snapshot:
    """Each of the customer's orders: (status, number of refunds), read from the store."""
    refunds = (
        select(func.count(models.Refund.id))
        .where(models.Refund.order_id == models.Order.id)
        .scalar_subquery()
    )
    rows = session.execute(
        select(models.Order.order_number, models.Order.status, refunds).where(
            models.Order.customer_id == customer_id
        )
    ).all()
    return {number: (status, int(count)) for number, status, count in rows}


def store_problems(goal: Goal, before: Snapshot, after: Snapshot) -> tuple[list[str], bool]:
    """(wrong changes, goal's change made) between two snapshots of the customer's orders."""
    wrong: list[str] = []
    made = False
    for number, (status, refunds) in before.items():
        new_status, new_refunds = after.get(number, ("missing", 0))
        if (new_status, new_refunds) == (status, refunds):
            continue
        if number == goal.order_number and goal.wants_cancellation:
            if (new_status, new_refunds) == ("cancelled", refunds + 1):
                made = True
                continue
        wrong.append(f"{number}: {status}->{new_status}, refunds {refunds}->{new_refunds}")
    wrong += [f"{number}: appeared" for number in set(after) - set(before)]
    return wrong, made


def _respond(
    session: Session, agent: Agent, state: DialogueState, raw: str, ctx: TurnContext
) -> TurnOutcome:
    """One agent turn in a savepoint; a turn that raises is rolled back and handed off.

    The savepoint is issued on the DBAPI connection rather than with ``begin_nested`` (which
    flushes and tracks state at several times the cost of the rest of the turn); on the rare
    failure the ORM's identity map is cleared, as its view of the rolled-back rows is stale.
    """
    message = clean_message(raw, max_chars=MAX_MESSAGE_CHARS)
    cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cursor.execute("SAVEPOINT csbot_turn")
    try:
        outcome = agent.respond(session, state, message, ctx)
        session.flush()  # writes the agent left pending belong to this turn's savepoint
    except Exception:
        logger.exception("agent %s failed in conversation %s", agent.name, ctx.conversation_id)
        cursor.execute("ROLLBACK TO SAVEPOINT csbot_turn")
        cursor.execute("RELEASE SAVEPOINT csbot_turn")
        session.expunge_all()
        repository.forget_customer(session, state.customer_id or -1)
        reply = AgentReply(text=FAILSAFE_TEXT, act="handoff", template_id=None, action="handoff")
        return TurnOutcome(reply=reply, state=state.update(handed_off=True, ended=True))
    cursor.execute("RELEASE SAVEPOINT csbot_turn")
    return outcome


def _changes(dbapi: Any) -> int:
    """Rows changed so far on this DBAPI connection (SQLite); -1 where the driver cannot say."""
    value = getattr(dbapi, "total_changes", None)
    return value if isinstance(value, int) else -1


def record_snapshot(record: CustomerRecord) -> Snapshot:
    """The same view as :func:`snapshot`, from a record the store returned."""
    return {o.order_number: (o.status.value, len(o.refunds)) for o in record.orders}


def run_episode(
    session: Session,
    agent: Agent,
    contact: PlannedContact,
    *,
    goal: Goal,
    persona: Persona,
    bank: PhraseBank,
    rng: random.Random,
    silent_per_turn: float,
    phrasing_key: int,
    on_turn: Callable[[str, AgentReply, DialogueState, DialogueState], None] | None = None,
) -> EpisodeResult:
    """Play one contact through ``agent`` and judge it; writes go through ``session``."""
    record = repository.customer_record(session, contact.customer_id)
    if record is None:
        raise LookupError(f"customer {contact.customer_id} is not in the store")
    customer = SimulatedCustomer(
        goal=goal,
        persona=persona,
        record=record,
        bank=bank,
        rng=rng,
        silent_per_turn=silent_per_turn,
    )
    before = record_snapshot(record)  # the record cache is never older than the store
    dbapi = session.connection().connection.dbapi_connection
    agent_changes = 0
    connection = session.connection()
    conversation_id = connection.execute(
        INSERT_CONVERSATION,
        {
            "agent_name": agent.name,
            "channel": "simulation",
            "status": "open",
            "state": {},
            "started_at": contact.started_at,
        },
    ).scalar_one()
    state = DialogueState()
    turns: list[dict[str, object]] = []
    text: str | None = customer.opening()
    now = contact.started_at
    reply: AgentReply | None = None
    while text is not None and customer.messages <= MAX_CUSTOMER_MESSAGES:
        index = len(turns)
        ctx = TurnContext(
            conversation_id=conversation_id,
            turn_index=index,
            now=now,
            phrasing_key=phrasing_key,
            history=tuple((str(t["speaker"]), str(t["text"])) for t in turns),
            customer_meaning=customer.meaning,
        )
        changes = _changes(dbapi)
        outcome = _respond(session, agent, state, text, ctx)
        agent_changes += _changes(dbapi) - changes if changes >= 0 else 1
        if on_turn is not None:
            on_turn(text, outcome.reply, state, outcome.state)  # the state before and after
        reply, state = outcome.reply, outcome.state
        turns += [
            {"index": index, "speaker": "customer", "text": text[:MAX_MESSAGE_CHARS]},
            {
                "index": index + 1,
                "speaker": "agent",
                "text": reply.text,
                "act": reply.act,
                "template_id": reply.template_id,
                "scores": dict(reply.scores) if reply.scores is not None else None,
            },
        ]
        text = customer.reply_to(reply)
        if state.ended:
            break
        now += timedelta(seconds=TURN_SECONDS)
    if text is not None and not state.ended and not customer.verdict.goal_met:
        customer.verdict.abandoned = True  # ran out of turns
    # Read the customer's orders back unless the database says the agent changed no row at all
    # (SQLite counts every row a connection changes, however it was written).
    after = snapshot(session, contact.customer_id) if agent_changes else before
    wrong, made = store_problems(goal, before, after)
    if agent_changes:
        logged = session.scalars(
            select(models.ActionLog.customer_id).where(
                models.ActionLog.conversation_id == conversation_id
            )
        ).all()
        if set(logged) - {contact.customer_id}:
            wrong.append("an action touched another customer")
    verdict = customer.verdict
    problems = list(verdict.problems) + wrong
    if goal.wants_cancellation and verdict.goal_met and not made:
        verdict.goal_met = False  # said "cancelled", the store disagrees
        verdict.wrong_fact = True
        problems.append(f"told cancel_done, {goal.order_number} is not cancelled in the store")
    if verdict.claimed_cancel and not made and not goal.wants_cancellation:
        verdict.wrong_fact = True  # "cancelled" about an order that was not cancellable
        problems.append(f"told cancel_done, {goal.order_number} could not be cancelled")
    for row in turns:
        row.update(conversation_id=conversation_id, created_at=now)
        row.setdefault("act", None)
        row.setdefault("template_id", None)
        row.setdefault("scores", None)
    connection.execute(TURNS.insert(), turns)
    status = "handed_off" if state.handed_off or verdict.handed_off else "closed"
    connection.execute(
        UPDATE_CONVERSATION,
        {
            "conversation_id": conversation_id,
            "customer_id": state.customer_id,
            "state": state.to_json(),
            "status": status,
            "ended_at": now,
        },
    )
    if status == "handed_off":
        connection.execute(
            HANDOFFS.insert(),
            {
                "conversation_id": conversation_id,
                "reason": reply.act if reply is not None else "handoff",
                "created_at": now,
            },
        )
        verdict.handed_off = True
    return EpisodeResult(
        conversation_id=conversation_id,
        turns=customer.messages,
        verdict=verdict,
        wrong_action=bool(wrong),
        problems=tuple(problems),
    )
