"""Order identification for the rule-based agent: by id, by "my most recent order", by choice
from a list, or by description — always among the authenticated customer's own orders."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from dialogue import nlu
from dialogue.agent import TurnContext, TurnOutcome
from dialogue.domain import CustomerRecord, OrderView
from dialogue.slots import order_option
from dialogue.state import Awaiting, DialogueState

MAX_DISAMBIGUATION_OPTIONS = 5
Say = Callable[..., TurnOutcome]
# (description, the customer's own orders, now) -> the orders it fits, best first; () for none.
DescribeOrders = Callable[[str, Sequence[OrderView], datetime], tuple[OrderView, ...]]


def match_by_words(text: str, orders: Sequence[OrderView], now: datetime) -> tuple[OrderView, ...]:
    """The word matcher (:func:`dialogue.nlu.match_orders_by_description`); ``now`` unused."""
    return nlu.match_orders_by_description(text, orders)


class OrderIdentifier:
    """Finds the order a customer means, or says what it needs to find it."""

    def __init__(
        self,
        say: Say,
        *,
        match_descriptions: bool,
        max_order_misses: int,
        describe: DescribeOrders | None = None,
    ) -> None:
        self._say = say
        self.match_descriptions = match_descriptions
        self.max_order_misses = max_order_misses
        self.describe = describe or match_by_words

    def note_without_intent(
        self,
        state: DialogueState,
        parse: nlu.Parse,
        record: CustomerRecord,
        just_authenticated: bool,
        now: datetime,
    ) -> DialogueState:
        """An order named before the customer said what they want is kept for the flow to come."""
        named = [record.order(n) for n in parse.order_numbers]
        found = [o for o in named if o is not None]
        if not found and self.match_descriptions and not just_authenticated:
            found = list(self.describe(parse.description_text, record.orders, now))
        if len(found) == 1:
            return state.update(order_number=found[0].order_number)
        return state

    def identify(
        self,
        state: DialogueState,
        parse: nlu.Parse,
        record: CustomerRecord,
        ctx: TurnContext,
        just_authenticated: bool = False,
    ) -> tuple[DialogueState, OrderView] | TurnOutcome:
        named = [n for n in parse.order_numbers if n != state.order_number]
        if not named and state.pending_order_ref is not None and state.order_number is None:
            named = [state.pending_order_ref]
        state = state.update(pending_order_ref=None)
        if named:
            order = record.order(named[0])
            if order is None:
                return self.miss(state, named[0], ctx)
            return self.chosen(state, order, parse)
        if state.order_number is not None:
            current = record.order(state.order_number)
            if current is not None:
                return state, current
        pool = record.orders
        if state.awaiting == Awaiting.ORDER_CHOICE and state.candidate_orders:
            pool = tuple(o for o in record.orders if o.order_number in state.candidate_orders)
            if parse.ordinal is not None and parse.ordinal < len(state.candidate_orders):
                chosen = record.order(state.candidate_orders[parse.ordinal])
                if chosen is not None:
                    return self.chosen(state, chosen, parse)
        matches: tuple[OrderView, ...] = ()
        if parse.mentions_last_order and pool:
            matches = (pool[0],)
        elif self.match_descriptions and not (just_authenticated and parse.bare_name):
            matches = self.describe(parse.description_text, pool, ctx.now)
        if len(matches) == 1:
            return self.chosen(state, matches[0], parse)
        if len(matches) > 1:
            shown = matches[:MAX_DISAMBIGUATION_OPTIONS]
            return self._say(
                "disambiguate_order",
                state,
                ctx,
                facts=frozenset({"multiple_candidate_orders"}),
                slots={"order_options": [order_option(o) for o in shown]},
                candidate_orders=tuple(o.order_number for o in shown),
                awaiting=Awaiting.ORDER_CHOICE,
            )
        if parse.unrecognized_order_refs:
            return self.miss(state, parse.unrecognized_order_refs[0], ctx)
        if len(record.orders) == 1:
            return self.chosen(state, record.orders[0], parse)
        if not record.orders:
            return self._say("no_eligible_orders", state, ctx, awaiting=Awaiting.ANYTHING_ELSE)
        if state.awaiting in (Awaiting.ORDER, Awaiting.ORDER_CHOICE):
            misses = state.order_misses + 1
            if misses >= self.max_order_misses:
                return self._say("handoff", state, ctx)
            state = state.update(order_misses=misses)
        return self._say("request_order", state, ctx, awaiting=Awaiting.ORDER)

    @staticmethod
    def chosen(
        state: DialogueState, order: OrderView, parse: nlu.Parse
    ) -> tuple[DialogueState, OrderView]:
        """Make ``order`` the current one; a reason given before any order was chosen is kept."""
        reason = parse.cancel_reason or (
            state.cancel_reason if state.order_number is None else None
        )
        state = state.forget_order().update(
            order_number=order.order_number, awaiting=None, cancel_reason=reason
        )
        return state, order

    def miss(self, state: DialogueState, ref: str, ctx: TurnContext) -> TurnOutcome:
        misses = state.order_misses + 1
        if misses >= self.max_order_misses:
            return self._say("handoff", state, ctx)
        return self._say(
            "order_not_found",
            state,
            ctx,
            slots={"order_ref": ref[:40]},
            order_misses=misses,
            awaiting=Awaiting.ORDER,
        )
