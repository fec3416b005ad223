"""Helpers for dialogue tests: pick customers and orders from a seeded world, run turns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dialogue.agent import AgentReply
from dialogue.conversation import ConversationRunner
from dialogue.domain import CustomerRecord, OrderView
from dialogue.rules import RulesAgent, RulesConfig
from dialogue.store import models, repository


@dataclass(frozen=True)
class Pick:
    record: CustomerRecord
    order: OrderView

    @property
    def email(self) -> str:
        return self.record.profile.email


def pick(
    sessions: sessionmaker[Session],
    predicate: Callable[[CustomerRecord, OrderView], bool],
    *,
    min_orders: int = 2,
) -> Pick:
    """The first (lowest id) customer with ≥ ``min_orders`` orders and an order matching."""
    with sessions() as session:
        for customer_id in repository.customers_with_orders(session):
            record = repository.customer_record(session, customer_id)
            if record is None or len(record.orders) < min_orders:
                continue
            for order in record.orders:
                if predicate(record, order):
                    return Pick(record=record, order=order)
    raise LookupError("no customer in the test world fits")


def runner(sessions: sessionmaker[Session], **config: bool) -> ConversationRunner:
    return ConversationRunner(sessions, RulesAgent(RulesConfig(**config)))


def talk(run: ConversationRunner, messages: Sequence[str | bytes]) -> tuple[int, list[AgentReply]]:
    conversation_id = run.start()
    return conversation_id, [run.send(conversation_id, m) for m in messages]


def acts(replies: Sequence[AgentReply]) -> list[str]:
    return [r.act for r in replies]


def store_fingerprint(sessions: sessionmaker[Session]) -> tuple[object, ...]:
    """Everything an action could change: order statuses, refunds and the action log."""
    with sessions() as session:
        statuses = tuple(
            session.execute(
                select(models.Order.status, func.count())
                .group_by(models.Order.status)
                .order_by(models.Order.status)
            ).all()
        )
        refunds = session.scalar(select(func.count()).select_from(models.Refund))
        actions = session.scalar(select(func.count()).select_from(models.ActionLog))
    return statuses, refunds, actions
