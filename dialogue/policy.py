"""Business policy as pure functions (no store, no clock of their own).

Drawn from the ABCD agent guidelines and the tau2-bench retail policy: cancel only orders that
have not shipped, with a reason and an explicit yes; refunds go back to the original payment method
(gift card at once, card or PayPal in 5–7 business days); refund status is said exactly as the store
holds it, and failed refunds go to a human.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import numpy as np

from dialogue.domain import (
    CustomerProfile,
    Membership,
    OrderStatus,
    OrderView,
    PaymentKind,
    RefundStatus,
)

CANCELLABLE_STATUSES = frozenset({OrderStatus.PENDING, OrderStatus.PROCESSING})
# Card and PayPal refunds land within this many business days (the customer is told "5–7").
REFUND_BUSINESS_DAYS_MAX = 7
PRIORITY_MEMBERSHIPS = frozenset({Membership.SILVER, Membership.GOLD})
# Authentication attempts before the agent hands the contact to a human.
MAX_AUTH_FAILURES = 3


class CancelEligibility(StrEnum):
    CANCELLABLE = "cancellable"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    ALREADY_CANCELLED = "already_cancelled"


def cancel_eligibility(order: OrderView) -> CancelEligibility:
    """Whether this order may be cancelled, and if not, why."""
    if order.status in CANCELLABLE_STATUSES:
        return CancelEligibility.CANCELLABLE
    if order.status == OrderStatus.SHIPPED:
        return CancelEligibility.SHIPPED
    if order.status == OrderStatus.DELIVERED:
        return CancelEligibility.DELIVERED
    return CancelEligibility.ALREADY_CANCELLED


def may_cancel(
    order: OrderView,
    *,
    customer_id: int | None,
    reason_known: bool,
    confirmed_order: str | None,
) -> bool:
    """The one gate in front of ``cancel_order``.

    True only for an order owned by the authenticated customer, in a cancellable status, with a
    reason recorded, after an explicit yes to a confirmation request about *this* order.
    """
    return (
        customer_id is not None
        and order.customer_id == customer_id
        and cancel_eligibility(order) == CancelEligibility.CANCELLABLE
        and reason_known
        and confirmed_order == order.order_number
    )


def refund_is_immediate(kind: PaymentKind) -> bool:
    return kind == PaymentKind.GIFT_CARD


def add_business_days(moment: datetime, days: int) -> datetime:
    """``moment`` moved to the ``days``-th weekday after it (weekends skipped, time kept)."""
    day = np.busday_offset(np.datetime64(moment.date(), "D"), days, roll="backward")
    return datetime.combine(day.astype(date), moment.time())


def refund_expected_by(kind: PaymentKind, start: datetime) -> datetime | None:
    """When a refund started at ``start`` should land; None for gift cards (at once)."""
    if refund_is_immediate(kind):
        return None
    return add_business_days(start, REFUND_BUSINESS_DAYS_MAX)


def refund_fact(order: OrderView) -> str:
    """The template fact naming what may be said about this order's refund."""
    refund = order.latest_refund
    if refund is None:
        return "refund_none"
    return {
        RefundStatus.NOT_STARTED: "refund_not_started",
        RefundStatus.IN_PROGRESS: "refund_in_progress",
        RefundStatus.COMPLETED: "refund_completed",
        RefundStatus.FAILED: "refund_failed",
    }[refund.status]


def has_member_priority(profile: CustomerProfile) -> bool:
    """Silver and gold members get a prepaid return label for shipped orders (ABCD guideline)."""
    return profile.membership in PRIORITY_MEMBERSHIPS


def order_facts(order: OrderView) -> frozenset[str]:
    """Template facts that hold for an identified order."""
    eligibility = cancel_eligibility(order)
    facts = {"order_identified", refund_fact(order)}
    facts.add(
        {
            CancelEligibility.CANCELLABLE: "order_cancellable",
            CancelEligibility.SHIPPED: "order_shipped",
            CancelEligibility.DELIVERED: "order_delivered",
            CancelEligibility.ALREADY_CANCELLED: "order_cancelled",
        }[eligibility]
    )
    return frozenset(facts)
