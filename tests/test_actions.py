"""Business actions on both backends: scoped to the customer, gated by policy, transactional,
idempotent by key, and logged."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dialogue.actions import (
    ActionRefused,
    IdempotencyConflict,
    OrderNotFound,
    cancel_order,
    lookup_refund,
)
from dialogue.domain import CancelReason, RefundStatus
from dialogue.store import models
from simulator.world import WorldConfig, seed_world

NOW = datetime(2026, 11, 2, 12, 0)


@pytest.fixture
def world(store_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with store_sessions() as session, session.begin():
        seed_world(session, WorldConfig(seed=3, customers=60, items=40))
    return store_sessions


def _order(sessions: sessionmaker[Session], status: str) -> tuple[int, str, str]:
    """(customer id, order number, payment kind) of the first order in ``status``."""
    with sessions() as session:
        row = session.execute(
            select(models.Order.customer_id, models.Order.order_number, models.PaymentMethod.kind)
            .join(models.PaymentMethod, models.Order.payment_method_id == models.PaymentMethod.id)
            .where(models.Order.status == status)
            .order_by(models.Order.id)
        ).first()
    assert row is not None, f"the test world has no {status} order"
    return row[0], row[1], row[2]


def _state(sessions: sessionmaker[Session], number: str) -> tuple[str, int, int]:
    """(order status, refunds on the order, action-log rows) for one order."""
    with sessions() as session:
        order = session.scalars(
            select(models.Order).where(models.Order.order_number == number)
        ).one()
        refunds = session.scalar(select(func.count()).where(models.Refund.order_id == order.id))
        logs = session.scalar(select(func.count()).select_from(models.ActionLog))
        return order.status, int(refunds or 0), int(logs or 0)


def _cancel(
    sessions: sessionmaker[Session],
    customer_id: int,
    number: str,
    *,
    key: str = "k1",
    reason: CancelReason | None = CancelReason.NO_LONGER_NEEDED,
    confirmed: str | None = "same",
) -> object:
    with sessions() as session, session.begin():
        return cancel_order(
            session,
            customer_id=customer_id,
            order_number=number,
            reason=reason,
            confirmed_order=number if confirmed == "same" else confirmed,
            idempotency_key=key,
            conversation_id=None,
            now=NOW,
        )


@pytest.mark.parametrize("status", ["pending", "processing"])
def test_cancel_cancels_and_starts_the_refund(world: sessionmaker[Session], status: str) -> None:
    customer_id, number, kind = _order(world, status)
    _, refunds_before, _ = _state(world, number)
    result = _cancel(world, customer_id, number)
    assert _state(world, number) == ("cancelled", refunds_before + 1, 1)
    expected = RefundStatus.COMPLETED if kind == "gift_card" else RefundStatus.IN_PROGRESS
    assert result.refund_status == expected  # type: ignore[attr-defined]
    with world() as session:
        order = session.scalars(
            select(models.Order).where(models.Order.order_number == number)
        ).one()
        refund = order.refunds[-1]
        assert (refund.amount, refund.method, refund.payment_method_id) == (
            order.total,
            kind,
            order.payment_method_id,
        )
        assert order.cancel_reason == "no_longer_needed" and order.cancelled_at == NOW


def test_same_key_replays_without_a_second_side_effect(world: sessionmaker[Session]) -> None:
    customer_id, number, _ = _order(world, "pending")
    first = _cancel(world, customer_id, number, key="once")
    after_first = _state(world, number)
    second = _cancel(world, customer_id, number, key="once")
    assert _state(world, number) == after_first
    assert second.replayed and not first.replayed  # type: ignore[attr-defined]
    assert second.refund_amount == first.refund_amount  # type: ignore[attr-defined]


def test_key_reused_for_another_request_conflicts(world: sessionmaker[Session]) -> None:
    customer_id, number, _ = _order(world, "pending")
    _cancel(world, customer_id, number, key="k")
    with pytest.raises(IdempotencyConflict):
        _cancel(world, customer_id, number, key="k", reason=CancelReason.ORDERED_BY_MISTAKE)


@pytest.mark.parametrize(
    ("status", "reason", "confirmed", "why"),
    [
        ("shipped", CancelReason.OTHER, "same", "shipped"),
        ("delivered", CancelReason.OTHER, "same", "delivered"),
        ("cancelled", CancelReason.OTHER, "same", "already_cancelled"),
        ("pending", None, "same", "no_reason"),
        ("pending", CancelReason.OTHER, None, "not_confirmed"),
        ("pending", CancelReason.OTHER, "#W0000000", "not_confirmed"),
    ],
    ids=[
        "shipped",
        "delivered",
        "cancelled",
        "no-reason",
        "no-confirmation",
        "confirmed-other-order",
    ],
)
def test_policy_refusals_change_nothing_but_are_logged(
    world: sessionmaker[Session],
    status: str,
    reason: CancelReason | None,
    confirmed: str | None,
    why: str,
) -> None:
    customer_id, number, _ = _order(world, status)
    before_status, before_refunds, _ = _state(world, number)
    with world() as session, session.begin():  # the agent catches the refusal inside its turn
        with pytest.raises(ActionRefused) as refused:
            cancel_order(
                session,
                customer_id=customer_id,
                order_number=number,
                reason=reason,
                confirmed_order=number if confirmed == "same" else confirmed,
                idempotency_key="k1",
                conversation_id=None,
                now=NOW,
            )
    assert refused.value.reason == why
    assert _state(world, number) == (before_status, before_refunds, 1)
    with world() as session:
        assert session.scalar(select(models.ActionLog.outcome)) == f"refused:{why}"


def test_another_customers_order_is_not_found_and_untouched(world: sessionmaker[Session]) -> None:
    owner_id, number, _ = _order(world, "pending")
    with world() as session:
        other_id = session.scalar(
            select(models.Customer.id)
            .where(models.Customer.id != owner_id)
            .order_by(models.Customer.id)
        )
    assert other_id is not None
    before = _state(world, number)
    with pytest.raises(OrderNotFound):
        _cancel(world, other_id, number)
    with pytest.raises(OrderNotFound), world() as session:
        lookup_refund(
            session,
            customer_id=other_id,
            order_number=number,
            idempotency_key="l",
            conversation_id=None,
            now=NOW,
        )
    assert _state(world, number) == before


def test_lookup_refund_reads_and_logs(world: sessionmaker[Session]) -> None:
    with world() as session:
        row = session.execute(
            select(models.Order.customer_id, models.Order.order_number, models.Refund.status)
            .join(models.Refund)
            .order_by(models.Refund.id)
        ).first()
    assert row is not None
    with world() as session, session.begin():
        found = lookup_refund(
            session,
            customer_id=row[0],
            order_number=row[1],
            idempotency_key="look",
            conversation_id=None,
            now=NOW,
        )
    assert found.order.refunds[0].status.value == row[2]
    with world() as session:
        log = session.scalars(select(models.ActionLog)).one()
        assert (log.action, log.outcome, log.customer_id) == ("lookup_refund", "done", row[0])


def test_failed_cancel_rolls_back_everything(world: sessionmaker[Session]) -> None:
    """An error after the action's writes (here: the caller's transaction fails) leaves no trace."""
    customer_id, number, _ = _order(world, "pending")
    before = _state(world, number)
    with pytest.raises(RuntimeError), world() as session, session.begin():
        cancel_order(
            session,
            customer_id=customer_id,
            order_number=number,
            reason=CancelReason.OTHER,
            confirmed_order=number,
            idempotency_key="x",
            conversation_id=None,
            now=NOW,
        )
        raise RuntimeError("the turn failed after the action")
    assert _state(world, number) == before
