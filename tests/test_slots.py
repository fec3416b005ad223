"""Template slot formatting: dialogue.slots."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from dialogue.domain import (
    CustomerProfile,
    Membership,
    OrderLine,
    OrderStatus,
    OrderView,
    PaymentKind,
    PaymentMethodView,
    RefundStatus,
    RefundView,
)
from dialogue.slots import (
    SlotValue,
    day,
    item_summary,
    money,
    order_option,
    order_slots,
    profile_slots,
    refund_method,
    refund_slots,
    refund_timing,
)

CARD = PaymentMethodView(id=1, kind=PaymentKind.CREDIT_CARD, label="Visa ending 4242")
GIFT = PaymentMethodView(id=2, kind=PaymentKind.GIFT_CARD, label="Gift card 0001")
PAYPAL = PaymentMethodView(id=3, kind=PaymentKind.PAYPAL, label="PayPal (jane@example.com)")


def make_line(title: str, price: str = "10.00") -> OrderLine:
    return OrderLine(
        title=title, category="misc", attributes=(), quantity=1, unit_price=Decimal(price)
    )


def make_refund(**overrides: Any) -> RefundView:
    values: dict[str, Any] = {
        "id": 1,
        "status": RefundStatus.IN_PROGRESS,
        "amount": Decimal("54.10"),
        "method": PaymentKind.CREDIT_CARD,
        "payment_label": "Visa ending 4242",
        "created_at": datetime(2026, 3, 2, 9, 0),
        "initiated_at": datetime(2026, 3, 2, 9, 5),
        "expected_at": None,
        "completed_at": None,
        "failure_reason": None,
    }
    values.update(overrides)
    return RefundView(**values)


def make_order(**overrides: Any) -> OrderView:
    values: dict[str, Any] = {
        "id": 1,
        "order_number": "#W1234567",
        "customer_id": 7,
        "status": OrderStatus.PENDING,
        "total": Decimal("1234.5"),
        "placed_at": datetime(2026, 11, 3, 15, 45),
        "payment": CARD,
        "lines": (make_line("Stainless Steel Water Bottle"),),
    }
    values.update(overrides)
    return OrderView(**values)


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (Decimal("1234.5"), "$1,234.50"),
        (Decimal("0"), "$0.00"),
        (Decimal("0.01"), "$0.01"),
        (Decimal("9.999"), "$10.00"),
        (Decimal("1000000"), "$1,000,000.00"),
        (Decimal("19.99"), "$19.99"),
    ],
    ids=["thousands", "zero", "cent", "rounds-up", "million", "plain"],
)
def test_money(amount: Decimal, expected: str) -> None:
    assert money(amount) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 11, 3, 15, 45), "November 3, 2026"),
        (datetime(2026, 1, 1), "January 1, 2026"),
        (datetime(2025, 12, 31, 23, 59), "December 31, 2025"),
        (datetime(2028, 2, 29), "February 29, 2028"),
        (datetime(2026, 5, 9), "May 9, 2026"),
    ],
    ids=["no-zero-pad", "new-year", "year-end", "leap-day", "short-month"],
)
def test_day(value: datetime, expected: str) -> None:
    assert day(value) == expected


@pytest.mark.parametrize(
    ("kind", "label", "expected"),
    [
        (PaymentKind.GIFT_CARD, "Gift card 0001", "your gift card"),
        (PaymentKind.CREDIT_CARD, "Visa ending 4242", "your Visa ending 4242"),
        (PaymentKind.PAYPAL, "PayPal (jane@example.com)", "your PayPal (jane@example.com)"),
    ],
    ids=["gift-card", "credit-card", "paypal"],
)
def test_refund_method(kind: PaymentKind, label: str, expected: str) -> None:
    assert refund_method(kind, label) == expected


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (PaymentKind.GIFT_CARD, "right away"),
        (PaymentKind.CREDIT_CARD, "within 5–7 business days"),
        (PaymentKind.PAYPAL, "within 5–7 business days"),
    ],
    ids=["gift-card", "credit-card", "paypal"],
)
def test_refund_timing(kind: PaymentKind, expected: str) -> None:
    assert refund_timing(kind) == expected


@pytest.mark.parametrize(
    ("titles", "expected"),
    [
        ((), "no items"),
        (("Blue Water Bottle",), "Blue Water Bottle"),
        (("Blue Water Bottle", "Desk Lamp"), "Blue Water Bottle and Desk Lamp"),
        (
            ("Blue Water Bottle", "Desk Lamp", "Wireless Headphones"),
            "Blue Water Bottle and 2 more items",
        ),
    ],
    ids=["0", "1", "2", "3"],
)
def test_item_summary(titles: tuple[str, ...], expected: str) -> None:
    order = make_order(lines=tuple(make_line(t) for t in titles))
    assert item_summary(order) == expected


def test_order_slots_pending_card_order_has_no_optional_dates() -> None:
    assert order_slots(make_order()) == {
        "order_id": "#W1234567",
        "item_summary": "Stainless Steel Water Bottle",
        "order_total": "$1,234.50",
        "order_date": "November 3, 2026",
        "refund_method": "your Visa ending 4242",
        "refund_timing": "within 5–7 business days",
        "refund_amount": "$1,234.50",
    }


@pytest.mark.parametrize(
    ("overrides", "extra"),
    [
        ({"shipped_at": datetime(2026, 11, 4, 8)}, {"shipped_date": "November 4, 2026"}),
        (
            {"shipped_at": datetime(2026, 11, 4), "delivered_at": datetime(2026, 11, 7)},
            {"shipped_date": "November 4, 2026", "delivered_date": "November 7, 2026"},
        ),
        ({"cancelled_at": datetime(2026, 11, 5, 1)}, {"cancelled_date": "November 5, 2026"}),
    ],
    ids=["shipped", "delivered", "cancelled"],
)
def test_order_slots_dates_only_where_the_store_holds_them(
    overrides: dict[str, Any], extra: dict[str, str]
) -> None:
    slots = order_slots(make_order(**overrides))
    base = order_slots(make_order())
    assert slots == {**base, **extra}


def test_order_slots_gift_card_order() -> None:
    slots = order_slots(make_order(payment=GIFT))
    assert slots["refund_method"] == "your gift card"
    assert slots["refund_timing"] == "right away"


def test_order_slots_refund_without_dates_overrides_amount_and_method() -> None:
    refund = make_refund(
        amount=Decimal("20"), method=PaymentKind.PAYPAL, payment_label="PayPal (j@x.com)"
    )
    slots = order_slots(make_order(refunds=(refund,)))
    assert slots["refund_amount"] == "$20.00"
    assert slots["refund_method"] == "your PayPal (j@x.com)"
    assert "expected_date" not in slots
    assert "refund_date" not in slots


def test_order_slots_refund_dates_from_latest_refund_only() -> None:
    old = make_refund(
        id=1,
        status=RefundStatus.FAILED,
        amount=Decimal("5"),
        expected_at=datetime(2026, 1, 2),
        failure_reason="card closed",
    )
    new = make_refund(
        id=2,
        status=RefundStatus.COMPLETED,
        amount=Decimal("1234.5"),
        expected_at=datetime(2026, 11, 12),
        completed_at=datetime(2026, 11, 10, 13),
    )
    slots = order_slots(make_order(status=OrderStatus.CANCELLED, refunds=(old, new)))
    expected: dict[str, SlotValue] = {
        "order_id": "#W1234567",
        "item_summary": "Stainless Steel Water Bottle",
        "order_total": "$1,234.50",
        "order_date": "November 3, 2026",
        "refund_method": "your Visa ending 4242",
        "refund_timing": "within 5–7 business days",
        "refund_amount": "$1,234.50",
        "expected_date": "November 12, 2026",
        "refund_date": "November 10, 2026",
    }
    assert slots == expected


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, {"refund_amount": "$54.10", "refund_method": "your Visa ending 4242"}),
        (
            {"expected_at": datetime(2026, 3, 11)},
            {
                "refund_amount": "$54.10",
                "refund_method": "your Visa ending 4242",
                "expected_date": "March 11, 2026",
            },
        ),
        (
            {"method": PaymentKind.GIFT_CARD, "completed_at": datetime(2026, 3, 2, 9, 6)},
            {
                "refund_amount": "$54.10",
                "refund_method": "your gift card",
                "refund_date": "March 2, 2026",
            },
        ),
    ],
    ids=["no-dates", "expected", "completed-gift"],
)
def test_refund_slots(overrides: dict[str, Any], expected: dict[str, str]) -> None:
    assert refund_slots(make_refund(**overrides)) == expected


@pytest.mark.parametrize(
    ("status", "titles", "expected_summary"),
    [
        (OrderStatus.PENDING, ("Desk Lamp",), "Desk Lamp"),
        (OrderStatus.SHIPPED, ("Desk Lamp", "Mug"), "Desk Lamp and Mug"),
        (OrderStatus.CANCELLED, (), "no items"),
    ],
    ids=["pending", "shipped", "cancelled-empty"],
)
def test_order_option(status: OrderStatus, titles: tuple[str, ...], expected_summary: str) -> None:
    order = make_order(
        order_number="#W7654321", status=status, lines=tuple(make_line(t) for t in titles)
    )
    assert order_option(order) == {
        "order_id": "#W7654321",
        "item_summary": expected_summary,
        "order_date": "November 3, 2026",
        "status": status.value,
    }


def test_order_option_values_are_plain_strings() -> None:
    option = order_option(make_order(status=OrderStatus.DELIVERED))
    assert type(option["status"]) is str
    assert option["status"] == "delivered"


@pytest.mark.parametrize("membership", list(Membership), ids=[m.value for m in Membership])
def test_profile_slots(membership: Membership) -> None:
    profile = CustomerProfile(
        id=1,
        external_id="c-1",
        first_name="Jane",
        last_name="Doe",
        email="jane@example.com",
        zip_code="94107",
        membership=membership,
        created_at=datetime(2024, 1, 1),
    )
    assert profile_slots(profile) == {"first_name": "Jane", "membership": membership.value}
