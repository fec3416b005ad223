"""The rule-based agent: a flowchart over the same templates, NLU and actions as the neural arms.

It is the control arm of every experiment and should be an honest one: authenticate, identify the
order (by id, "my last order", or by description when that option is on), answer or cancel with
an explicit confirmation, close; hand off where the flowchart has no branch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from dialogue import nlu
from dialogue.actions import ActionRefused, OrderNotFound, cancel_order, lookup_refund
from dialogue.agent import TurnContext, TurnOutcome
from dialogue.domain import CancelReason, CustomerRecord, Intent, OrderView
from dialogue.nlu import is_affirmation, is_denial
from dialogue.policy import (
    MAX_AUTH_FAILURES,
    CancelEligibility,
    cancel_eligibility,
    has_member_priority,
    order_facts,
    refund_fact,
)
from dialogue.responder import TemplateResponder
from dialogue.rules_orders import DescribeOrders, OrderIdentifier
from dialogue.slots import SlotValue, order_slots, profile_slots
from dialogue.state import Awaiting, DialogueState
from dialogue.store import repository
from dialogue.text import CustomerMessage, InputProblem
from templates import Catalog, load_catalog

PROBLEM_ACTS = {
    InputProblem.EMPTY: "empty_message",
    InputProblem.TOO_LONG: "message_too_long",
    InputProblem.UNREADABLE: "unsupported_input",
}
INTENTS = {"refund_status": Intent.REFUND_STATUS, "cancel_order": Intent.CANCEL_ORDER}


@dataclass(frozen=True)
class RulesConfig:
    """Options of the rule-based agent (explicit, so experiments can name a variant)."""

    # Resolve "the blue water bottle" against the customer's orders; off = order ids only.
    match_descriptions: bool = True
    max_clarifications: int = 3
    max_order_misses: int = 3
    # Out-of-scope requests are handed off only above this classifier confidence.
    out_of_scope_confidence: float = 0.6
    # Switching from one flow to the other needs at least this classifier confidence.
    intent_switch_confidence: float = 0.6


class RulesAgent:
    """Flowchart agent for refund status and cancellation."""

    def __init__(
        self,
        config: RulesConfig | None = None,
        *,
        catalog: Catalog | None = None,
        classifier: nlu.IntentClassifier | None = None,
        name: str = "rules",
        execute_cancel: bool = True,
        read_meaning: bool = False,
        describe: DescribeOrders | None = None,
    ) -> None:
        self.config = config or RulesConfig()
        # False makes the agent a tracker for the neural pipeline: it proposes ``cancel_done``
        # (with the ``cancel_confirmed`` fact) without cancelling; the pipeline cancels only if
        # its ranker sends that reply.
        self.execute_cancel = execute_cancel
        # True only inside the simulated human rep: take the customer's meaning from
        # ``ctx.customer_meaning`` instead of the intent classifier (the rest of the parse,
        # ids, emails, names, stays the NLU's).
        self.read_meaning = read_meaning
        self.catalog = catalog or load_catalog()
        self.classifier = classifier or nlu.default_classifier()
        self.name = name
        self._say = TemplateResponder(self.catalog).say
        self._orders = OrderIdentifier(
            self._say,
            match_descriptions=self.config.match_descriptions,
            max_order_misses=self.config.max_order_misses,
            # How descriptions find orders: the word matcher by default; the neural pipeline
            # passes the embedding resolver (dialogue.personalization.orders).
            describe=describe,
        )

    # ---- the flowchart -------------------------------------------------------------------
    def respond(
        self, session: Session, state: DialogueState, message: CustomerMessage, ctx: TurnContext
    ) -> TurnOutcome:
        """One turn of the flowchart."""
        state = state.update(turns=state.turns + 1)
        if message.problem is not None:
            return self._say(PROBLEM_ACTS[message.problem], state, ctx)
        parse = nlu.parse(message.text, self.classifier)
        if self.read_meaning and ctx.customer_meaning is not None:
            parse = replace(parse, intent=ctx.customer_meaning, confidence=1.0)
        has_details = bool(parse.email or parse.zip_code or parse.order_numbers or parse.name)
        answering_auth = state.awaiting in (Awaiting.AUTH, Awaiting.AUTH_ZIP) and (
            has_details or parse.bare_name is not None
        )
        if parse.intent == "human" and not answering_auth:
            return self._say("handoff_requested", state, ctx)
        if (
            parse.intent == "out_of_scope"
            and parse.confidence >= self.config.out_of_scope_confidence
            and not has_details
        ):
            return self._say("out_of_scope", state, ctx)
        new_intent = INTENTS.get(parse.intent)
        if new_intent is not None and state.intent not in (None, new_intent):
            if parse.confidence < self.config.intent_switch_confidence:
                new_intent = None  # a weak guess never switches a running flow
        if new_intent is None and state.intent is None and parse.cancel_reason is not None:
            new_intent = Intent.CANCEL_ORDER  # "I ordered it by mistake" only ever means cancel
        if state.awaiting == Awaiting.ANYTHING_ELSE and new_intent is None:
            if is_denial(parse) or parse.intent == "goodbye":
                return self._say("closing", state, ctx)
            if is_affirmation(parse):
                return self._ask_intent(state, ctx, self._first_name_of(session, state))
        if parse.intent == "goodbye" and state.intent is None and state.customer_id is None:
            return self._say("closing", state, ctx)
        if new_intent is not None and new_intent != state.intent:
            if state.intent is not None:  # switching flows: the old flow's order is not implied
                state = state.forget_order()
            state = state.update(intent=new_intent, awaiting=None)
        just_authenticated = False
        if state.customer_id is None:
            state = self._remember_before_auth(state, parse)
            authenticated = self._authenticate(session, state, parse, ctx)
            if isinstance(authenticated, TurnOutcome):
                return authenticated
            state, just_authenticated = authenticated, True
        assert state.customer_id is not None
        record = repository.customer_record(session, state.customer_id)
        if record is None:  # the customer row vanished: never guess
            return self._say("handoff", state, ctx)
        if state.intent is None:
            state = self._orders.note_without_intent(
                state, parse, record, just_authenticated, ctx.now
            )
            if (
                just_authenticated
                or state.order_number
                or parse.intent in ("greet", "affirm", "inform")
            ):
                return self._ask_intent(state, ctx, record.profile.first_name)
            return self._clarify(state, ctx)
        identified = self._orders.identify(state, parse, record, ctx, just_authenticated)
        if isinstance(identified, TurnOutcome):
            return identified
        state, order = identified
        if state.intent == Intent.REFUND_STATUS:
            return self._refund_status(session, state, order, record, ctx)
        return self._cancellation(session, state, parse, order, record, ctx)

    @staticmethod
    def _first_name_of(session: Session, state: DialogueState) -> str | None:
        if state.customer_id is None:
            return None
        profile = repository.get_customer(session, state.customer_id)
        return profile.first_name if profile else None

    def _ask_intent(
        self, state: DialogueState, ctx: TurnContext, first_name: str | None = None
    ) -> TurnOutcome:
        if first_name is None:
            return self._say("greeting", state, ctx, awaiting=Awaiting.INTENT)
        return self._say(
            "greeting_named", state, ctx, slots={"first_name": first_name}, awaiting=Awaiting.INTENT
        )

    def _clarify(self, state: DialogueState, ctx: TurnContext) -> TurnOutcome:
        if state.clarifications + 1 >= self.config.max_clarifications:
            return self._say("handoff", state, ctx)
        return self._say("clarify", state, ctx, clarifications=state.clarifications + 1)

    # ---- authentication ------------------------------------------------------------------
    @staticmethod
    def _remember_before_auth(state: DialogueState, parse: nlu.Parse) -> DialogueState:
        """Keep what the customer said about their order for after authentication (no lookup)."""
        if parse.order_numbers:
            state = state.update(pending_order_ref=parse.order_numbers[0])
        if parse.cancel_reason is not None and state.intent != Intent.REFUND_STATUS:
            state = state.update(cancel_reason=parse.cancel_reason)
        return state

    def _authenticate(
        self, session: Session, state: DialogueState, parse: nlu.Parse, ctx: TurnContext
    ) -> TurnOutcome | DialogueState:
        """Authenticate from this message: the new state on success, else the reply to send."""
        asked = state.awaiting in (Awaiting.AUTH, Awaiting.AUTH_ZIP)
        name = parse.name or (parse.bare_name if asked else None) or state.pending_name
        attempted = False
        profile = None
        if parse.email:
            attempted = True
            profile = repository.find_customer_by_email(session, parse.email)
        elif name and parse.zip_code:
            attempted = True
            profile = repository.find_customer_by_name_zip(
                session, first_name=name[0], last_name=name[1], zip_code=parse.zip_code
            )
        elif name:
            return self._say(
                "request_auth_zip", state, ctx, pending_name=name, awaiting=Awaiting.AUTH_ZIP
            )
        if profile is not None:
            return state.update(customer_id=profile.id, pending_name=None, awaiting=None)
        if attempted:
            failures = state.auth_failures + 1
            if failures >= MAX_AUTH_FAILURES:
                return self._say("handoff", state, ctx, auth_failures=failures)
            return self._say(
                "auth_failed",
                state,
                ctx,
                auth_failures=failures,
                pending_name=None,
                awaiting=Awaiting.AUTH,
            )
        if state.intent is None and parse.intent in ("greet", "unknown", "inform", "affirm"):
            if parse.intent == "unknown" and state.last_act is not None:
                return self._clarify(state, ctx)
            return self._say("greeting", state, ctx, awaiting=Awaiting.INTENT)
        return self._say("request_auth", state, ctx, awaiting=Awaiting.AUTH)

    # ---- answers -------------------------------------------------------------------------
    def _refund_status(
        self,
        session: Session,
        state: DialogueState,
        order: OrderView,
        record: CustomerRecord,
        ctx: TurnContext,
    ) -> TurnOutcome:
        try:
            looked_up = lookup_refund(
                session,
                customer_id=record.profile.id,
                order_number=order.order_number,
                idempotency_key=ctx.idempotency_key("lookup_refund"),
                conversation_id=ctx.conversation_id,
                now=ctx.now,
            ).order
        except OrderNotFound:
            return self._orders.miss(state, order.order_number, ctx)
        act = refund_fact(looked_up)
        return self._say(
            act,
            state,
            ctx,
            facts=order_facts(looked_up),
            slots=order_slots(looked_up),
            resolved=(*state.resolved, f"refund_status:{order.order_number}"),
            awaiting=Awaiting.ANYTHING_ELSE,
        )

    def _cancellation(
        self,
        session: Session,
        state: DialogueState,
        parse: nlu.Parse,
        order: OrderView,
        record: CustomerRecord,
        ctx: TurnContext,
    ) -> TurnOutcome:
        facts = order_facts(order)
        if has_member_priority(record.profile):
            facts |= {"member_priority"}
        slots: dict[str, SlotValue] = {**order_slots(order), **profile_slots(record.profile)}
        done = (*state.resolved, f"cancel_order:{order.order_number}")
        eligibility = cancel_eligibility(order)
        if eligibility != CancelEligibility.CANCELLABLE:
            act = {
                CancelEligibility.SHIPPED: "cannot_cancel_shipped",
                CancelEligibility.DELIVERED: "cannot_cancel_delivered",
                CancelEligibility.ALREADY_CANCELLED: "already_cancelled",
            }[eligibility]
            if act == "cannot_cancel_shipped" and "member_priority" in facts:
                act = "cannot_cancel_shipped_member"
            return self._say(
                act,
                state,
                ctx,
                facts=facts,
                slots=slots,
                resolved=done,
                awaiting=Awaiting.ANYTHING_ELSE,
            )
        if (
            state.awaiting == Awaiting.CANCEL_CONFIRMATION
            and state.confirmation_for == order.order_number
        ):
            if is_affirmation(parse):
                return self._execute_cancel(session, state, order, record, ctx, facts, slots, done)
            if is_denial(parse):
                return self._say(
                    "cancel_kept",
                    state,
                    ctx,
                    facts=facts,
                    slots=slots,
                    resolved=done,
                    confirmation_for=None,
                    awaiting=Awaiting.ANYTHING_ELSE,
                )
        reason = state.cancel_reason or parse.cancel_reason
        if reason is None and state.awaiting == Awaiting.CANCEL_REASON:
            reason = CancelReason.OTHER
        if reason is None:
            return self._say(
                "request_cancel_reason",
                state,
                ctx,
                facts=facts,
                slots=slots,
                awaiting=Awaiting.CANCEL_REASON,
            )
        return self._say(
            "request_cancel_confirmation",
            state,
            ctx,
            facts=facts | {"cancel_reason_known"},
            slots=slots,
            cancel_reason=reason,
            confirmation_for=order.order_number,
            awaiting=Awaiting.CANCEL_CONFIRMATION,
        )

    def _execute_cancel(
        self,
        session: Session,
        state: DialogueState,
        order: OrderView,
        record: CustomerRecord,
        ctx: TurnContext,
        facts: frozenset[str],
        slots: dict[str, SlotValue],
        done: tuple[str, ...],
    ) -> TurnOutcome:
        if self.execute_cancel:
            try:
                cancel_order(
                    session,
                    customer_id=record.profile.id,
                    order_number=order.order_number,
                    reason=state.cancel_reason,
                    confirmed_order=state.confirmation_for,
                    idempotency_key=ctx.idempotency_key("cancel_order"),
                    conversation_id=ctx.conversation_id,
                    now=ctx.now,
                )
            except (ActionRefused, OrderNotFound):
                return self._say("handoff", state, ctx)
        return self._say(
            "cancel_done",
            state,
            ctx,
            facts=facts | {"cancel_reason_known", "cancel_confirmed"},
            slots=slots,
            resolved=done,
            confirmation_for=None,
            awaiting=Awaiting.ANYTHING_ELSE,
        )
