"""csbot's business actions and its ranked reply as Rasa custom actions (rasa-sdk).

``csbot actions`` serves them with rasa-sdk's own Sanic app; a Rasa assistant calls its
``/webhook``. Each action runs in a worker thread, in one store transaction, and answers with one
message and ``SlotSet`` events; bad input gets a clear reply, never an exception. Reading the
tracker lives in :mod:`dialogue.rasa.tracker`, the ranked reply's agent in
:mod:`dialogue.rasa.suggestions`.

Slots (the Rasa domain's side of the contract)::

    read   email | first_name + last_name + zip_code   authentication evidence
    both   customer_id             set by action_authenticate; cleared when it does not hold
    both   order_number            "#W1234567" (also "W1234567", "1234567")
    read   cancel_reason           a dialogue.domain.CancelReason value
    both   cancel_confirmed_order  the order the customer said yes to; consumed by a cancel attempt
    set    order_status, refund_status, refund_amount

Authentication: Rasa slots are whatever the webhook body says, so ``customer_id`` alone is never
trusted. Every action that reads account data identifies the customer again from the evidence
slots and proceeds only when that customer is the one ``customer_id`` names; otherwise it asks the
customer to authenticate and clears ``customer_id``. A forged id without the evidence reads
nothing, and a failed attempt says only "couldn't verify", whatever failed. The server binds to
loopback by default: whoever can post to it speaks for Rasa.

Idempotency: a key hashed from the sender, the latest user message (its ``message_id``, else the
count of user messages), the action and its parameters; a retried webhook replays the first
result (dialogue.actions), a new turn is a new request.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from abc import ABCMeta, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import ActionExecutor, CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from dialogue.actions import (
    ActionRefused,
    IdempotencyConflict,
    OrderNotFound,
    cancel_order,
    lookup_refund,
)
from dialogue.agent import TurnContext
from dialogue.config import Settings
from dialogue.domain import CustomerProfile, OrderView
from dialogue.policy import has_member_priority, order_facts, refund_fact
from dialogue.rasa.suggestions import RankedReplyPayload, default_reply_agent, suggest
from dialogue.rasa.tracker import (
    cancel_reason_slot,
    conversation,
    dialogue_state,
    idempotency_key,
    identify,
    order_number_slot,
    verified_customer,
)
from dialogue.rules import RulesAgent
from dialogue.slots import (
    SlotValue,
    money,
    order_slots,
    profile_slots,
    refund_method,
    refund_timing,
)
from dialogue.store import models, repository
from dialogue.text import clean_message
from templates import Catalog, load_catalog

if TYPE_CHECKING:
    from sanic import Sanic

    from dialogue.pipeline import NeuralAgent

logger = logging.getLogger(__name__)

EventType = dict[str, Any]  # a rasa_sdk event (rasa_sdk.events builds them)

STORE_DOWN = "Sorry, I can't reach our order records right now. Please try again in a moment."
REPLAY_CLASH = (
    "That request clashes with an earlier one in this conversation, so I haven't changed "
    "anything. Could you tell me again what you'd like to do?"
)


@dataclass(frozen=True)
class ActionStore:
    """Where the actions read and write, the catalog they speak from, and input limits."""

    sessions: sessionmaker[Session]
    catalog: Catalog = field(default_factory=load_catalog)
    max_message_chars: int = 2000

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ActionStore:
        """The configured store (``CSBOT_DATABASE_URL`` or the embedded SQLite file)."""
        from dialogue.store.session import make_engine, make_session_factory

        settings = settings or Settings()
        engine = make_engine(settings.resolved_database_url())
        return cls(make_session_factory(engine), max_message_chars=settings.max_message_chars)


@cache
def default_store() -> ActionStore:
    """The store of actions built without one (rasa-sdk's own ``--actions`` loader)."""
    return ActionStore.from_settings()


@dataclass(frozen=True)
class Outcome:
    """What an action says and the events it returns."""

    text: str
    events: list[EventType] = field(default_factory=list)
    custom: RankedReplyPayload | None = None


def _owned_view(session: Session, profile: CustomerProfile, number: str) -> OrderView:
    view = repository.owned_order_view(session, customer_id=profile.id, order_number=number)
    if view is None:  # cancel_order found it a moment ago, in this transaction
        raise LookupError(f"order {number} vanished")
    return view


def _say(
    catalog: Catalog,
    act: str,
    *,
    authenticated: bool,
    facts: frozenset[str] = frozenset(),
    slots: Mapping[str, SlotValue] | None = None,
) -> str:
    """The first phrasing of ``act`` whose preconditions hold (one voice for every action)."""
    held = facts | {"authenticated" if authenticated else "not_authenticated"}
    entry = next(e for e in catalog.by_act(act) if e.applicable(held))
    return catalog.render(entry.id, dict(slots or {}))


# ---- the actions -----------------------------------------------------------------------------
class StoreAction(Action, metaclass=ABCMeta):  # type: ignore[misc]  # rasa_sdk is untyped
    """A csbot action: decides in a worker thread inside one store transaction, then speaks."""

    def __init__(self, store: ActionStore | None = None) -> None:
        self._store = store

    @property
    def store(self) -> ActionStore:
        return self._store or default_store()

    @abstractmethod
    def name(self) -> str: ...

    @abstractmethod
    def decide(self, session: Session, tracker: Tracker) -> Outcome:
        """This action's outcome; writes go through ``session`` (committed on return)."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        # The store and the models block: keep them off the server's event loop.
        outcome = await asyncio.to_thread(self._decide_in_store, tracker)
        dispatcher.utter_message(text=outcome.text, json_message=outcome.custom)
        return outcome.events

    def _decide_in_store(self, tracker: Tracker) -> Outcome:
        try:
            with self.store.sessions() as session, session.begin():
                return self.decide(session, tracker)
        except (SQLAlchemyError, LookupError):  # a store that is down or holds no world
            logger.exception("%s failed for sender %r", self.name(), tracker.sender_id)
            return Outcome(STORE_DOWN)

    def _ask_to_authenticate(self) -> Outcome:
        # Clearing the slot drops a forged or stale id, so later turns cannot lean on it.
        text = _say(self.store.catalog, "request_auth", authenticated=False)
        return Outcome(text, [SlotSet("customer_id", None)])


class ActionAuthenticate(StoreAction):
    """Finds the customer by email, or by full name and zip code; sets ``customer_id``."""

    def name(self) -> str:
        return "action_authenticate"

    def decide(self, session: Session, tracker: Tracker) -> Outcome:
        attempted, profile = identify(session, tracker)
        if not attempted:
            return self._ask_to_authenticate()
        if profile is None:  # the same words for an unknown email and a wrong zip code
            text = _say(self.store.catalog, "auth_failed", authenticated=False)
            return Outcome(text, [SlotSet("customer_id", None)])
        slots = {"first_name": profile.first_name}
        text = _say(self.store.catalog, "auth_success", authenticated=True, slots=slots)
        return Outcome(text, [SlotSet("customer_id", profile.id)])


class ActionLookupRefund(StoreAction):
    """States the refund status of one of the authenticated customer's orders."""

    def name(self) -> str:
        return "action_lookup_refund"

    def decide(self, session: Session, tracker: Tracker) -> Outcome:
        catalog = self.store.catalog
        profile = verified_customer(session, tracker)
        if profile is None:
            return self._ask_to_authenticate()
        number = order_number_slot(tracker)
        if number is None:
            return Outcome(_say(catalog, "request_order", authenticated=True))
        try:
            view = lookup_refund(
                session,
                customer_id=profile.id,
                order_number=number,
                idempotency_key=idempotency_key(tracker, "lookup_refund", number),
                conversation_id=None,
                now=repository.world_now(session),
            ).order
        except OrderNotFound:  # another customer's order reads exactly like a missing one
            text = _say(catalog, "order_not_found", authenticated=True, slots={"order_ref": number})
            return Outcome(text, [SlotSet("order_number", None)])
        act = refund_fact(view)
        text = _say(
            catalog, act, authenticated=True, facts=order_facts(view), slots=order_slots(view)
        )
        refund = view.latest_refund
        return Outcome(
            text,
            [
                SlotSet("order_number", number),
                SlotSet("order_status", view.status.value),
                SlotSet("refund_status", act.removeprefix("refund_")),
                SlotSet("refund_amount", money(refund.amount) if refund else None),
            ],
        )


# What to say to each refusal of dialogue.actions.cancel_order (a new one hands off).
REFUSAL_ACTS = {
    "shipped": "cannot_cancel_shipped",
    "delivered": "cannot_cancel_delivered",
    "already_cancelled": "already_cancelled",
    "no_reason": "request_cancel_reason",
    "not_confirmed": "request_cancel_confirmation",
}


class ActionCancelOrder(StoreAction):
    """Cancels an order through dialogue.actions.cancel_order (ownership, status, reason, and the
    explicit yes in ``cancel_confirmed_order`` are checked there)."""

    def name(self) -> str:
        return "action_cancel_order"

    def decide(self, session: Session, tracker: Tracker) -> Outcome:
        catalog = self.store.catalog
        profile = verified_customer(session, tracker)
        if profile is None:
            return self._ask_to_authenticate()
        number = order_number_slot(tracker)
        if number is None:
            return Outcome(_say(catalog, "request_order", authenticated=True))
        reason = cancel_reason_slot(tracker)
        confirmed = order_number_slot(tracker, "cancel_confirmed_order")
        key = idempotency_key(tracker, "cancel_order", number, reason or "", confirmed or "")
        # A confirmation is consumed by the attempt it was given for, whatever the outcome.
        consumed = SlotSet("cancel_confirmed_order", None)
        try:
            result = cancel_order(
                session,
                customer_id=profile.id,
                order_number=number,
                reason=reason,
                confirmed_order=confirmed,
                idempotency_key=key,
                conversation_id=None,
                now=repository.world_now(session),
            )
        except OrderNotFound:
            text = _say(catalog, "order_not_found", authenticated=True, slots={"order_ref": number})
            return Outcome(text, [SlotSet("order_number", None), consumed])
        except IdempotencyConflict:
            return Outcome(REPLAY_CLASH, [consumed])
        except ActionRefused as refused:
            view = _owned_view(session, profile, number)
            facts = order_facts(view) | {"cancel_reason_known"} if reason else order_facts(view)
            act = REFUSAL_ACTS.get(refused.reason, "handoff")
            if act == "cannot_cancel_shipped" and has_member_priority(profile):
                act, facts = "cannot_cancel_shipped_member", facts | {"member_priority"}
            slots = {**order_slots(view), **profile_slots(profile)}
            text = _say(catalog, act, authenticated=True, facts=facts, slots=slots)
            status = SlotSet("order_status", view.status.value)
            return Outcome(text, [SlotSet("order_number", number), status, consumed])
        # The refund's words come from the result, so a replay says exactly what the first did.
        view = _owned_view(session, profile, number)
        slots = {
            **order_slots(view),
            "refund_amount": money(result.refund_amount),
            "refund_method": refund_method(result.refund_method, view.payment.label),
            "refund_timing": refund_timing(result.refund_method),
        }
        done = frozenset(
            {"order_identified", "order_cancellable", "cancel_reason_known", "cancel_confirmed"}
        )
        text = _say(catalog, "cancel_done", authenticated=True, facts=done, slots=slots)
        return Outcome(
            text,
            [
                SlotSet("order_number", number),
                SlotSet("order_status", "cancelled"),
                SlotSet("refund_status", result.refund_status.value),
                SlotSet("refund_amount", money(result.refund_amount)),
                consumed,
            ],
        )


class ActionRankedReply(StoreAction):
    """Says the best of the agent's suggestions for the conversation in the tracker, with the
    suggestions and their scores in ``custom``. Writes nothing: the agent runs in a savepoint
    that is rolled back.

    Args:
        store: The store (default: the configured one).
        agent: Chooses the reply (default, loaded on first use: ``default_reply_agent()``).
    """

    def __init__(
        self, store: ActionStore | None = None, *, agent: NeuralAgent | RulesAgent | None = None
    ) -> None:
        super().__init__(store)
        self._agent = agent
        self._loading = threading.Lock()

    def name(self) -> str:
        return "action_ranked_reply"

    @property
    def agent(self) -> NeuralAgent | RulesAgent:
        with self._loading:  # one load, however many requests arrive while it runs
            if self._agent is None:
                self._agent = default_reply_agent()
            return self._agent

    def decide(self, session: Session, tracker: Tracker) -> Outcome:
        limit = self.store.max_message_chars
        history, text, intent = conversation(tracker, max_chars=limit)
        turns = sum(speaker == "customer" for speaker, _ in history)
        state = dialogue_state(session, tracker, intent=intent, turns=turns)
        message = clean_message(text, max_chars=limit)
        now = repository.world_now(session)
        scratch = session.begin_nested()
        try:
            # The agents log their reads against a conversation (a foreign key): a scratch row
            # in the rolled-back savepoint gives them one, and nothing they write survives.
            row = models.Conversation(agent_name="rasa", channel="rasa", started_at=now)
            session.add(row)
            session.flush()
            ctx = TurnContext(
                conversation_id=row.id, turn_index=turns, now=now, phrasing_key=0, history=history
            )
            payload = suggest(self.agent, session, state, message, ctx)
        finally:
            scratch.rollback()
        if not payload["suggestions"]:
            text = _say(self.store.catalog, "handoff", authenticated=state.customer_id is not None)
            return Outcome(text, custom=payload)
        return Outcome(payload["suggestions"][0]["text"], custom=payload)


# ---- the server ------------------------------------------------------------------------------
def action_executor(
    store: ActionStore, *, agent: NeuralAgent | RulesAgent | None = None
) -> ActionExecutor:
    """rasa-sdk's executor with csbot's four actions, all on ``store``."""
    executor = ActionExecutor()
    for action in (
        ActionAuthenticate(store),
        ActionLookupRefund(store),
        ActionCancelOrder(store),
        ActionRankedReply(store, agent=agent),
    ):
        executor.register_action(action)
    return executor


def create_action_app(
    store: ActionStore, *, agent: NeuralAgent | RulesAgent | None = None
) -> Sanic[Any, Any]:
    """rasa-sdk's action server app (``/health``, ``/actions``, ``/webhook``) for csbot."""
    from rasa_sdk.endpoint import create_app

    # No CORS: Rasa calls the action server, browsers never should.
    app: Sanic[Any, Any] = create_app(action_executor(store, agent=agent), cors_origins=None)
    return app


def serve(store: ActionStore, *, host: str, port: int) -> None:
    """Run the action server in this process until interrupted."""
    app = create_action_app(store)
    app.run(host=host, port=port, single_process=True, access_log=False, motd=False)
