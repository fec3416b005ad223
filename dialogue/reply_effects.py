"""What a sent reply does to the dialogue state when it is not the tracker's own proposal.

The neural agent (``dialogue.pipeline``) may send another reply than the tracker proposed (the
ranker's choice, or a draft speaking for a template's act). What the tracker learned is kept;
what the reply asks or settles is the reply's.
"""

from __future__ import annotations

from collections.abc import Mapping

from dialogue.domain import Intent
from dialogue.state import Awaiting, DialogueState
from templates import ACT_INTENT, TemplateEntry

__all__ = ["ANSWERS", "AWAITING", "auth_facts", "effects"]

# What a reply asks the customer for, when the ranker's choice is not the tracker's proposal.
AWAITING: Mapping[str, Awaiting | None] = {
    "greeting": Awaiting.INTENT,
    "greeting_named": Awaiting.INTENT,
    "request_auth": Awaiting.AUTH,
    "auth_failed": Awaiting.AUTH,
    "request_auth_zip": Awaiting.AUTH_ZIP,
    "request_order": Awaiting.ORDER,
    "order_not_found": Awaiting.ORDER,
    "disambiguate_order": Awaiting.ORDER_CHOICE,
    "request_cancel_reason": Awaiting.CANCEL_REASON,
    "request_cancel_confirmation": Awaiting.CANCEL_CONFIRMATION,
}
ANSWERS = frozenset({
    "refund_not_started", "refund_in_progress", "refund_completed", "refund_none",
    "cannot_cancel_shipped", "cannot_cancel_shipped_member", "cannot_cancel_delivered",
    "already_cancelled", "cancel_kept", "anything_else", "no_eligible_orders", "auth_success",
})  # fmt: skip


def auth_facts(state: DialogueState) -> frozenset[str]:
    return frozenset({"authenticated" if state.customer_id is not None else "not_authenticated"})


def effects(tracked: DialogueState, before: DialogueState, entry: TemplateEntry) -> DialogueState:
    """The next state when the sent reply is not the tracker's proposal.

    What the tracker learned (identity, order, intent, counters) is kept; what the proposal's reply
    would have asked or settled is not: the open question becomes the one this reply asks, an
    unasked confirmation is never pending (so a later "yes" cancels nothing), and nothing is
    marked resolved.
    """
    awaiting = AWAITING.get(entry.act, before.awaiting)
    if entry.act in ANSWERS:
        awaiting = Awaiting.ANYTHING_ELSE
    state = tracked.update(
        last_act=entry.act,
        awaiting=awaiting,
        confirmation_for=None,
        resolved=before.resolved,
        handed_off=before.handed_off,
        ended=before.ended,
    )
    flow = ACT_INTENT.get(entry.act)
    if flow in (Intent.REFUND_STATUS.value, Intent.CANCEL_ORDER.value):
        state = state.update(intent=Intent(flow))  # the reply's flow is the one now running
    if entry.action == "handoff":
        state = state.update(handed_off=True, ended=True, awaiting=None)
    elif entry.action == "end_conversation":
        state = state.update(ended=True, awaiting=None)
    return state
