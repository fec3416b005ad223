"""Slot values for templates, formatted from store facts only.

Every value a reply states (amount, date, status, order id, method) is built here from a domain
object the store returned, so no reply can state a fact the store does not hold.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from dialogue.domain import CustomerProfile, OrderView, PaymentKind, RefundView
from dialogue.policy import refund_is_immediate

OrderOption = dict[str, str]
SlotValue = str | list[OrderOption]


def money(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def day(value: datetime) -> str:
    return f"{value:%B} {value.day}, {value.year}"


def refund_method(kind: PaymentKind, label: str) -> str:
    if kind == PaymentKind.GIFT_CARD:
        return "your gift card"
    return f"your {label}"


def refund_timing(kind: PaymentKind) -> str:
    return "right away" if refund_is_immediate(kind) else "within 5–7 business days"


def item_summary(order: OrderView) -> str:
    """ "Blue Water Bottle" / "Blue Water Bottle and Desk Lamp" / "… and 2 more items"."""
    titles = [line.title for line in order.lines]
    if not titles:
        return "no items"
    if len(titles) == 1:
        return titles[0]
    if len(titles) == 2:
        return f"{titles[0]} and {titles[1]}"
    return f"{titles[0]} and {len(titles) - 1} more items"


def order_slots(order: OrderView) -> dict[str, SlotValue]:
    """Slots describing one order."""
    slots: dict[str, SlotValue] = {
        "order_id": order.order_number,
        "item_summary": item_summary(order),
        "order_total": money(order.total),
        "order_date": day(order.placed_at),
        "refund_method": refund_method(order.payment.kind, order.payment.label),
        "refund_timing": refund_timing(order.payment.kind),
        "refund_amount": money(order.total),
    }
    if order.shipped_at:
        slots["shipped_date"] = day(order.shipped_at)
    if order.delivered_at:
        slots["delivered_date"] = day(order.delivered_at)
    if order.cancelled_at:
        slots["cancelled_date"] = day(order.cancelled_at)
    refund = order.latest_refund
    if refund is not None:
        slots.update(refund_slots(refund))
    return slots


def refund_slots(refund: RefundView) -> dict[str, SlotValue]:
    """Slots describing a refund; dates only where the store holds them."""
    slots: dict[str, SlotValue] = {
        "refund_amount": money(refund.amount),
        "refund_method": refund_method(refund.method, refund.payment_label),
    }
    if refund.expected_at:
        slots["expected_date"] = day(refund.expected_at)
    if refund.completed_at:
        slots["refund_date"] = day(refund.completed_at)
    return slots


def order_option(order: OrderView) -> OrderOption:
    return {
        "order_id": order.order_number,
        "item_summary": item_summary(order),
        "order_date": day(order.placed_at),
        "status": order.status.value,
    }


def profile_slots(profile: CustomerProfile) -> dict[str, SlotValue]:
    return {"first_name": profile.first_name, "membership": profile.membership.value}
