"""SQLAlchemy 2.0 table classes of the store.

Money is ``Numeric(10, 2)`` (``Decimal`` in Python); times are naive UTC ``DateTime`` values on the
world's clock (the simulated "now" is ``WorldMeta.as_of``). Status columns hold the string values
of the enums in :mod:`dialogue.domain`; they are plain strings (not database enums) so that both
SQLite and PostgreSQL store them the same way and migrations stay simple.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Money = Numeric(10, 2)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, Decimal: Money}


class WorldMeta(Base):
    """Where the store's data came from and the world's current time (one row per key)."""

    __tablename__ = "world_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    first_name: Mapped[str] = mapped_column(String(120))
    last_name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    zip_code: Mapped[str] = mapped_column(String(10), index=True)
    membership: Mapped[str] = mapped_column(String(16))  # guest | bronze | silver | gold
    created_at: Mapped[datetime] = mapped_column(DateTime)

    payment_methods: Mapped[list[PaymentMethod]] = relationship(back_populates="customer")
    orders: Mapped[list[Order]] = relationship(back_populates="customer")


class PaymentMethod(Base):
    __tablename__ = "payment_methods"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # gift_card | credit_card | paypal
    # What may be said about it, e.g. "Visa ending in 4242"; never the full number.
    label: Mapped[str] = mapped_column(String(80))

    customer: Mapped[Customer] = relationship(back_populates="payment_methods")


class CatalogItem(Base):
    __tablename__ = "catalog_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(64), index=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    price: Mapped[Decimal] = mapped_column(Money)
    description: Mapped[str] = mapped_column(Text, default="")


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The id customers see and type, e.g. "W1234567" (tau2 ids keep their leading "#").
    order_number: Mapped[str] = mapped_column(String(32), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    payment_method_id: Mapped[int] = mapped_column(ForeignKey("payment_methods.id"))
    status: Mapped[str] = mapped_column(String(16), index=True)
    total: Mapped[Decimal] = mapped_column(Money)
    placed_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    cancel_reason: Mapped[str | None] = mapped_column(String(64), default=None)

    customer: Mapped[Customer] = relationship(back_populates="orders")
    payment_method: Mapped[PaymentMethod] = relationship()
    items: Mapped[list[OrderItem]] = relationship(back_populates="order", order_by="OrderItem.id")
    shipments: Mapped[list[Shipment]] = relationship(back_populates="order")
    returns: Mapped[list[Return]] = relationship(back_populates="order")
    refunds: Mapped[list[Refund]] = relationship(back_populates="order", order_by="Refund.id")


class OrderItem(Base):
    __tablename__ = "order_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    catalog_item_id: Mapped[int] = mapped_column(ForeignKey("catalog_items.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    unit_price: Mapped[Decimal] = mapped_column(Money)

    order: Mapped[Order] = relationship(back_populates="items")
    catalog_item: Mapped[CatalogItem] = relationship()


class Shipment(Base):
    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    carrier: Mapped[str] = mapped_column(String(32))
    tracking_number: Mapped[str] = mapped_column(String(64))
    shipped_at: Mapped[datetime] = mapped_column(DateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)

    order: Mapped[Order] = relationship(back_populates="shipments")


class Return(Base):
    __tablename__ = "returns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # requested | received
    reason: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(DateTime)
    received_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)

    order: Mapped[Order] = relationship(back_populates="returns")


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    return_id: Mapped[int | None] = mapped_column(ForeignKey("returns.id"), default=None)
    payment_method_id: Mapped[int] = mapped_column(ForeignKey("payment_methods.id"))
    status: Mapped[str] = mapped_column(String(16))  # not_started|in_progress|completed|failed
    amount: Mapped[Decimal] = mapped_column(Money)
    # Kind of the payment method the money goes back to (gift_card | credit_card | paypal).
    method: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    initiated_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    expected_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    failure_reason: Mapped[str | None] = mapped_column(String(120), default=None)

    order: Mapped[Order] = relationship(back_populates="refunds")
    payment_method: Mapped[PaymentMethod] = relationship()


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Set once the customer has authenticated; None before.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    agent_name: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32), default="chat")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|handed_off|closed
    # The dialogue state after the last turn (dialogue.state.DialogueState.to_json()).
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    # The service's conversations (dialogue.api): "auto" (the bot answers) or "assist" (a rep
    # answers with the bot's suggestions; a handed-off conversation becomes one).
    mode: Mapped[str] = mapped_column(String(16), default="auto", server_default="auto")
    # SHA-256 of the customer's per-conversation session token; None for in-process runs.
    access_token_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    # The rep who took the conversation from the queue.
    assigned_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), default=None, index=True
    )

    turns: Mapped[list[Turn]] = relationship(back_populates="conversation", order_by="Turn.index")


class Turn(Base):
    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("conversation_id", "index", name="uq_turns_conv_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[str] = mapped_column(String(16))  # customer | agent | rep
    text: Mapped[str] = mapped_column(Text)
    act: Mapped[str | None] = mapped_column(String(64), default=None)
    template_id: Mapped[str | None] = mapped_column(String(128), default=None)
    scores: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime)

    conversation: Mapped[Conversation] = relationship(back_populates="turns")


class ActionLog(Base):
    """Every business action (side-effecting or read), keyed for idempotency."""

    __tablename__ = "action_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    action: Mapped[str] = mapped_column(String(32))  # cancel_order | lookup_refund
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), default=None)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    outcome: Mapped[str] = mapped_column(String(32))  # done | refused:<reason>
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Handoff(Base):
    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    reason: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)


Index("ix_orders_customer_placed", Order.customer_id, Order.placed_at)


# ---- the service's users: reps and experiment owners (dialogue.api) ------------------------------
class User(Base):
    """A rep or an experiment owner; customers are not users (they hold conversation tokens)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    # argon2id hash (argon2-cffi); the password itself is never stored.
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # rep | owner
    created_at: Mapped[datetime] = mapped_column(DateTime)


class UserSession(Base):
    """A signed-in user's bearer token (stored as its SHA-256, never in clear)."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)  # wall clock, UTC
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class AssistChoice(Base):
    """What a rep did with the suggestions for one reply (the agent-assist metrics' log)."""

    __tablename__ = "assist_choices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    # The rep turn this choice produced.
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # accepted (a suggestion or the draft, unedited) | edited (one of them, edited) | own
    kind: Mapped[str] = mapped_column(String(16))
    # suggestion | draft | None (own text)
    source: Mapped[str | None] = mapped_column(String(16), default=None)
    # 1-based rank of the chosen suggestion; None for the draft or own text.
    rank: Mapped[int | None] = mapped_column(Integer, default=None)
    template_id: Mapped[str | None] = mapped_column(String(128), default=None)
    # What was offered: [{"template_id", "act", "score"}...] best first, and whether a draft was.
    offered: Mapped[list[Any]] = mapped_column(JSON, default=list)
    draft_offered: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)  # wall clock, UTC


# ---- automation-rate experiments (simulator.harness) ------------------------------------------
class Experiment(Base):
    """One A/B(/n) experiment: its spec, its progress and, once finished, its report."""

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Hash of the spec: a run of the same spec resumes the unfinished experiment with this key.
    key: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # simulator.harness.ExperimentSpec.to_json(): arms, contacts, seed, population, instrument.
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Customer ids eligible for each issue type when the experiment was created: the schedule is
    # drawn from these, so a resumed run draws the same contacts whatever the world became.
    population: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | finished
    created_at: Mapped[datetime] = mapped_column(DateTime)  # wall clock, UTC
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    # Every figure of the report (simulator.stats.ExperimentFigures.to_dict()), once finished.
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    report_path: Mapped[str | None] = mapped_column(Text, default=None)


class ExperimentAssignment(Base):
    """A customer's arm in an experiment (stable hash of experiment key and customer id)."""

    __tablename__ = "experiment_assignments"
    __table_args__ = (
        UniqueConstraint("experiment_id", "customer_id", name="uq_assignments_exp_customer"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    arm: Mapped[str] = mapped_column(String(64))


class ExperimentContact(Base):
    """One simulated contact: who, which arm, which goal, when, and its conversation."""

    __tablename__ = "experiment_contacts"
    __table_args__ = (UniqueConstraint("experiment_id", "key", name="uq_contacts_exp_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"), index=True)
    key: Mapped[str] = mapped_column(String(32))  # "c000123", "c000123.r1" (its re-contact)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    arm: Mapped[str] = mapped_column(String(64))
    issue_type: Mapped[str] = mapped_column(String(32))
    is_recontact: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime] = mapped_column(DateTime)  # simulated clock
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    # simulator.customer.Goal / Persona as JSON: what the customer wanted and how they talk.
    goal: Mapped[dict[str, Any]] = mapped_column(JSON)
    persona: Mapped[dict[str, Any]] = mapped_column(JSON)


class ExperimentOutcome(Base):
    """How a contact went, judged against the store (simulator.outcomes.ContactOutcome)."""

    __tablename__ = "experiment_outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("experiment_contacts.id"), unique=True)
    turns: Mapped[int] = mapped_column(Integer)
    handed_off: Mapped[bool] = mapped_column()
    goal_met: Mapped[bool] = mapped_column()
    wrong_action: Mapped[bool] = mapped_column()
    wrong_fact: Mapped[bool] = mapped_column()
    abandoned: Mapped[bool] = mapped_column()
    recontacted_24h: Mapped[bool] = mapped_column()
    automated: Mapped[bool] = mapped_column()
    # What the judge found wrong, for reading transcripts ("told refund_completed, store: …").
    problems: Mapped[list[str]] = mapped_column(JSON, default=list)
