"""Business policy: dialogue.policy (pure functions over domain objects)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from itertools import product
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
from dialogue.policy import (
    CancelEligibility,
    cancel_eligibility,
    has_member_priority,
    may_cancel,
    order_facts,
    refund_expected_by,
    refund_fact,
    refund_is_immediate,
)

OWNER_ID = 7
OTHER_ID = 8
ORDER_NUMBER = "#W1234567"
OTHER_ORDER_NUMBER = "#W7654321"


def make_refund(status: RefundStatus, refund_id: int = 1) -> RefundView:
    return RefundView(
        id=refund_id,
        status=status,
        amount=Decimal("19.99"),
        method=PaymentKind.CREDIT_CARD,
        payment_label="Visa ending 4242",
        created_at=datetime(2026, 3, 2, 9, 0),
        initiated_at=None,
        expected_at=None,
        completed_at=None,
        failure_reason="card closed" if status == RefundStatus.FAILED else None,
    )


def make_order(**overrides: Any) -> OrderView:
    values: dict[str, Any] = {
        "id": 1,
        "order_number": ORDER_NUMBER,
        "customer_id": OWNER_ID,
        "status": OrderStatus.PENDING,
        "total": Decimal("19.99"),
        "placed_at": datetime(2026, 3, 1, 12, 0),
        "payment": PaymentMethodView(id=1, kind=PaymentKind.CREDIT_CARD, label="Visa ending 4242"),
        "lines": (
            OrderLine(
                title="Desk Lamp",
                category="lamp",
                attributes=(("color", "white"),),
                quantity=1,
                unit_price=Decimal("19.99"),
            ),
        ),
    }
    values.update(overrides)
    return OrderView(**values)


def make_profile(membership: Membership) -> CustomerProfile:
    return CustomerProfile(
        id=OWNER_ID,
        external_id="c-7",
        first_name="Jane",
        last_name="Doe",
        email="jane@example.com",
        zip_code="94107",
        membership=membership,
        created_at=datetime(2024, 1, 1),
    )


ELIGIBILITY = {
    OrderStatus.PENDING: CancelEligibility.CANCELLABLE,
    OrderStatus.PROCESSING: CancelEligibility.CANCELLABLE,
    OrderStatus.SHIPPED: CancelEligibility.SHIPPED,
    OrderStatus.DELIVERED: CancelEligibility.DELIVERED,
    OrderStatus.CANCELLED: CancelEligibility.ALREADY_CANCELLED,
}


def test_eligibility_table_covers_every_status() -> None:
    assert set(ELIGIBILITY) == set(OrderStatus)


@pytest.mark.parametrize(
    ("status", "expected"), list(ELIGIBILITY.items()), ids=[s.value for s in ELIGIBILITY]
)
def test_cancel_eligibility(status: OrderStatus, expected: CancelEligibility) -> None:
    assert cancel_eligibility(make_order(status=status)) is expected


CUSTOMERS = {"owner": OWNER_ID, "other": OTHER_ID, "none": None}
CONFIRMATIONS = {"this": ORDER_NUMBER, "another": OTHER_ORDER_NUMBER, "none": None, "empty": ""}
MAY_CANCEL_CASES = list(
    product(CUSTOMERS, (True, False), CONFIRMATIONS, [s.value for s in OrderStatus])
)


@pytest.mark.parametrize(
    ("customer", "reason_known", "confirmed", "status"),
    MAY_CANCEL_CASES,
    ids=[f"{c}-{'reason' if r else 'noreason'}-confirm_{k}-{s}" for c, r, k, s in MAY_CANCEL_CASES],
)
def test_may_cancel_truth_table(
    customer: str, reason_known: bool, confirmed: str, status: str
) -> None:
    order = make_order(status=OrderStatus(status))
    expected = (
        customer == "owner"
        and reason_known
        and confirmed == "this"
        and status in ("pending", "processing")
    )
    actual = may_cancel(
        order,
        customer_id=CUSTOMERS[customer],
        reason_known=reason_known,
        confirmed_order=CONFIRMATIONS[confirmed],
    )
    assert actual is expected


def test_may_cancel_the_single_true_row_per_status() -> None:
    allowed = {
        status
        for status in OrderStatus
        if may_cancel(
            make_order(status=status),
            customer_id=OWNER_ID,
            reason_known=True,
            confirmed_order=ORDER_NUMBER,
        )
    }
    assert allowed == {OrderStatus.PENDING, OrderStatus.PROCESSING}


def test_may_cancel_confirmation_must_match_exactly() -> None:
    order = make_order()
    for near_miss in ("#w1234567", "W1234567", "1234567", " #W1234567", "#W12345670"):
        assert not may_cancel(
            order, customer_id=OWNER_ID, reason_known=True, confirmed_order=near_miss
        ), near_miss


@pytest.mark.parametrize(
    ("kind", "expected"),
    [(PaymentKind.GIFT_CARD, True), (PaymentKind.CREDIT_CARD, False), (PaymentKind.PAYPAL, False)],
    ids=["gift-card", "credit-card", "paypal"],
)
def test_refund_is_immediate(kind: PaymentKind, expected: bool) -> None:
    assert refund_is_immediate(kind) is expected


@pytest.mark.parametrize(
    "start",
    [datetime(2026, 1, 2, 14, 35), datetime(2026, 1, 3), datetime(2026, 6, 30, 23, 59, 59)],
    ids=["friday", "saturday", "end-of-day"],
)
def test_refund_expected_by_gift_card_is_none(start: datetime) -> None:
    assert refund_expected_by(PaymentKind.GIFT_CARD, start) is None


@pytest.mark.parametrize(
    ("kind", "start", "expected"),
    [
        # Friday 2 January 2026 + 7 business days: Mon 5 .. Fri 9, Mon 12, Tue 13.
        (
            PaymentKind.CREDIT_CARD,
            datetime(2026, 1, 2, 14, 35, 12, 500),
            datetime(2026, 1, 13, 14, 35, 12, 500),
        ),
        (PaymentKind.PAYPAL, datetime(2026, 1, 2, 9, 0), datetime(2026, 1, 13, 9, 0)),
        # Monday 5 January 2026: Wednesday of the following week.
        (PaymentKind.CREDIT_CARD, datetime(2026, 1, 5, 0, 0), datetime(2026, 1, 14, 0, 0)),
        # Wednesday 24 December 2025: across the year end (no holiday calendar).
        (PaymentKind.CREDIT_CARD, datetime(2025, 12, 24, 18), datetime(2026, 1, 2, 18)),
        # Weekend starts count weekdays after the start: Mon 5 is the first, Tue 13 the seventh.
        (PaymentKind.CREDIT_CARD, datetime(2026, 1, 3, 10, 15), datetime(2026, 1, 13, 10, 15)),
        (PaymentKind.PAYPAL, datetime(2026, 1, 4, 23, 59), datetime(2026, 1, 13, 23, 59)),
        # Leap year: Thursday 24 February 2028 + 7 business days = Monday 6 March 2028.
        (PaymentKind.CREDIT_CARD, datetime(2028, 2, 24, 8), datetime(2028, 3, 6, 8)),
    ],
    ids=["friday-card", "friday-paypal", "monday", "year-end", "saturday", "sunday", "leap-year"],
)
def test_refund_expected_by_business_days(
    kind: PaymentKind, start: datetime, expected: datetime
) -> None:
    result = refund_expected_by(kind, start)
    assert result == expected
    assert type(result) is datetime
    assert result.weekday() < 5


REFUND_FACTS = {
    RefundStatus.NOT_STARTED: "refund_not_started",
    RefundStatus.IN_PROGRESS: "refund_in_progress",
    RefundStatus.COMPLETED: "refund_completed",
    RefundStatus.FAILED: "refund_failed",
}


def test_refund_fact_table_covers_every_status() -> None:
    assert set(REFUND_FACTS) == set(RefundStatus)


def test_refund_fact_without_refund() -> None:
    assert refund_fact(make_order()) == "refund_none"


@pytest.mark.parametrize(
    ("status", "expected"), list(REFUND_FACTS.items()), ids=[s.value for s in REFUND_FACTS]
)
def test_refund_fact_single_refund(status: RefundStatus, expected: str) -> None:
    assert refund_fact(make_order(refunds=(make_refund(status),))) == expected


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ((RefundStatus.FAILED, RefundStatus.COMPLETED), "refund_completed"),
        ((RefundStatus.COMPLETED, RefundStatus.FAILED), "refund_failed"),
        ((RefundStatus.COMPLETED, RefundStatus.NOT_STARTED), "refund_not_started"),
        (
            (RefundStatus.FAILED, RefundStatus.FAILED, RefundStatus.IN_PROGRESS),
            "refund_in_progress",
        ),
    ],
    ids=["failed-then-completed", "completed-then-failed", "then-not-started", "three"],
)
def test_refund_fact_latest_refund_wins(statuses: tuple[RefundStatus, ...], expected: str) -> None:
    refunds = tuple(make_refund(s, refund_id=i) for i, s in enumerate(statuses, start=1))
    assert refund_fact(make_order(refunds=refunds)) == expected


ORDER_STATUS_FACT = {
    OrderStatus.PENDING: "order_cancellable",
    OrderStatus.PROCESSING: "order_cancellable",
    OrderStatus.SHIPPED: "order_shipped",
    OrderStatus.DELIVERED: "order_delivered",
    OrderStatus.CANCELLED: "order_cancelled",
}
REFUND_CHOICES: dict[str, RefundStatus | None] = {
    "none": None,
    **{s.value: s for s in RefundStatus},
}
ORDER_FACT_CASES = list(product(ORDER_STATUS_FACT, REFUND_CHOICES))


@pytest.mark.parametrize(
    ("status", "refund"),
    ORDER_FACT_CASES,
    ids=[f"{s.value}-refund_{r}" for s, r in ORDER_FACT_CASES],
)
def test_order_facts(status: OrderStatus, refund: str) -> None:
    refund_status = REFUND_CHOICES[refund]
    refunds = () if refund_status is None else (make_refund(refund_status),)
    order = make_order(status=status, refunds=refunds)
    refund_name = "refund_none" if refund_status is None else REFUND_FACTS[refund_status]
    assert order_facts(order) == frozenset(
        {"order_identified", ORDER_STATUS_FACT[status], refund_name}
    )


@pytest.mark.parametrize(
    ("status", "refunds", "expected"),
    [
        (
            OrderStatus.PENDING,
            (),
            frozenset({"order_identified", "order_cancellable", "refund_none"}),
        ),
        (
            OrderStatus.CANCELLED,
            (make_refund(RefundStatus.FAILED),),
            frozenset({"order_identified", "order_cancelled", "refund_failed"}),
        ),
        (
            OrderStatus.DELIVERED,
            (make_refund(RefundStatus.FAILED, 1), make_refund(RefundStatus.COMPLETED, 2)),
            frozenset({"order_identified", "order_delivered", "refund_completed"}),
        ),
    ],
    ids=["pending", "cancelled-failed", "delivered-latest-completed"],
)
def test_order_facts_examples(
    status: OrderStatus, refunds: tuple[RefundView, ...], expected: frozenset[str]
) -> None:
    assert order_facts(make_order(status=status, refunds=refunds)) == expected


PRIORITY = {
    Membership.GUEST: False,
    Membership.BRONZE: False,
    Membership.SILVER: True,
    Membership.GOLD: True,
}


def test_priority_table_covers_every_membership() -> None:
    assert set(PRIORITY) == set(Membership)


@pytest.mark.parametrize(
    ("membership", "expected"), list(PRIORITY.items()), ids=[m.value for m in PRIORITY]
)
def test_has_member_priority(membership: Membership, expected: bool) -> None:
    assert has_member_priority(make_profile(membership)) is expected
