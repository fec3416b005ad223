"""The seeded synthetic world: counts, determinism, status coverage, timelines and long tails."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from dialogue.domain import (
    CancelReason,
    Membership,
    OrderStatus,
    PaymentKind,
    RefundStatus,
    ReturnStatus,
)
from dialogue.policy import add_business_days
from dialogue.store import models as m
from dialogue.store.session import make_engine, make_session_factory, upgrade
from simulator import world_data as wd
from simulator.world import (
    WORLD_MODELS,
    WorldConfig,
    WorldError,
    WorldSummary,
    build_world_rows,
    seed_world,
    world_as_of,
    world_summary,
)

SMALL = WorldConfig(seed=11, customers=150, items=120)


def _seed(sessions: sessionmaker[Session], config: WorldConfig = SMALL) -> WorldSummary:
    with sessions() as s, s.begin():
        return seed_world(s, config)


def _dump(sessions: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    """Every world row of the store, table by table, ordered by primary key."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with sessions() as s:
        models: tuple[type[m.Base], ...] = (*WORLD_MODELS, m.WorldMeta)
        for model in models:
            table = model.__table__
            rows = s.execute(select(table).order_by(*model.__mapper__.primary_key)).all()
            out[model.__tablename__] = [tuple(row) for row in rows]
    return out


def _clear(sessions: sessionmaker[Session]) -> None:
    with sessions() as s, s.begin():
        for model in reversed(WORLD_MODELS):
            s.execute(delete(model))
        s.execute(delete(m.WorldMeta))


def test_seed_summary_matches_store(store_sessions: sessionmaker[Session]) -> None:
    summary = _seed(store_sessions)
    assert summary.source == "synthetic"
    assert summary.seed == SMALL.seed
    assert summary.as_of == SMALL.as_of
    assert summary.customers == 150
    assert summary.items == 120
    assert summary.categories >= 12
    with store_sessions() as s:
        assert world_summary(s) == summary
        assert world_as_of(s) == SMALL.as_of
        orders = s.scalars(select(m.Order)).all()
        refunds = s.scalars(select(m.Refund)).all()
        returns = s.scalars(select(m.Return)).all()
        meta = dict(s.execute(select(m.WorldMeta.key, m.WorldMeta.value)).all())
    assert dict(Counter(o.status for o in orders)) == {
        k: v for k, v in summary.orders_by_status.items() if v
    }
    assert sum(summary.refunds_by_status.values()) == len(refunds)
    assert sum(summary.returns_by_status.values()) == len(returns)
    assert meta == {
        "source": "synthetic",
        "seed": "11",
        "as_of": "2026-11-02T12:00:00",
        "version": "1",
    }


def test_same_config_same_world_different_seed_different_world(
    store_sessions: sessionmaker[Session],
) -> None:
    _seed(store_sessions)
    first = _dump(store_sessions)
    _clear(store_sessions)
    _seed(store_sessions)
    assert _dump(store_sessions) == first
    _clear(store_sessions)
    _seed(store_sessions, WorldConfig(seed=12, customers=150, items=120))
    second = _dump(store_sessions)
    assert second != first
    assert second["orders"] != first["orders"]


def test_rows_are_deterministic_without_a_database() -> None:
    assert build_world_rows(SMALL) == build_world_rows(SMALL)
    assert build_world_rows(SMALL) != build_world_rows(
        WorldConfig(seed=12, customers=150, items=120)
    )


def test_every_status_present(store_sessions: sessionmaker[Session]) -> None:
    summary = _seed(store_sessions)
    assert all(summary.orders_by_status[s.value] > 0 for s in OrderStatus)
    assert all(summary.returns_by_status[s.value] > 0 for s in ReturnStatus)
    assert all(summary.refunds_by_status[s.value] >= 3 for s in RefundStatus), summary


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_every_refund_status_several_times_with_200_customers(seed: int) -> None:
    rows = build_world_rows(WorldConfig(seed=seed, customers=200, items=120))
    refunds = Counter(r["status"] for r in rows["refunds"])
    assert all(refunds[s.value] >= 3 for s in RefundStatus), refunds
    orders = Counter(o["status"] for o in rows["orders"])
    assert all(orders[s.value] > 0 for s in OrderStatus), orders


def _subset_sums(amounts: list[Decimal]) -> set[Decimal]:
    return {
        sum(c, Decimal("0")) for n in range(1, len(amounts) + 1) for c in combinations(amounts, n)
    }


def test_timelines_and_amounts_are_consistent(store_sessions: sessionmaker[Session]) -> None:
    _seed(store_sessions)
    now = SMALL.as_of
    with store_sessions() as s:
        prices = dict(s.execute(select(m.CatalogItem.id, m.CatalogItem.price)).all())
        customers = s.scalars(select(m.Customer).options(selectinload(m.Customer.orders))).all()
        for customer in customers:
            assert customer.created_at < min(o.placed_at for o in customer.orders)
        orders = s.scalars(
            select(m.Order).options(
                selectinload(m.Order.items),
                selectinload(m.Order.shipments),
                selectinload(m.Order.returns),
                selectinload(m.Order.refunds).selectinload(m.Refund.payment_method),
                selectinload(m.Order.payment_method),
            )
        ).all()
        for order in orders:
            _check_order(order, now, prices)


def _check_order(order: m.Order, now: datetime, prices: dict[int, Decimal]) -> None:
    status = OrderStatus(order.status)
    assert re.fullmatch(r"#W\d{7}", order.order_number)
    assert order.items
    assert all(line.unit_price == prices[line.catalog_item_id] for line in order.items)
    assert order.total == sum(line.quantity * line.unit_price for line in order.items)
    assert order.payment_method.customer_id == order.customer_id
    assert order.placed_at < now
    assert order.placed_at <= order.updated_at <= now
    if status is OrderStatus.PENDING:
        assert now - order.placed_at <= timedelta(days=2)
    if status is OrderStatus.PROCESSING:
        assert timedelta(days=1) <= now - order.placed_at <= timedelta(days=4)
    if status in (OrderStatus.PENDING, OrderStatus.PROCESSING):
        assert not order.shipments and not order.refunds and order.cancelled_at is None
    if status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
        assert len(order.shipments) == 1 and order.cancelled_at is None
        shipment = order.shipments[0]
        assert order.placed_at < shipment.shipped_at < now
        if status is OrderStatus.SHIPPED:
            assert shipment.delivered_at is None
        else:
            assert shipment.delivered_at is not None
            assert shipment.shipped_at < shipment.delivered_at < now
    if status is OrderStatus.CANCELLED:
        assert not order.shipments and not order.returns
        assert order.cancelled_at is not None and order.placed_at < order.cancelled_at < now
        assert order.cancel_reason in {r.value for r in CancelReason}
        assert len(order.refunds) == 1 and order.refunds[0].amount == order.total
        assert order.refunds[0].initiated_at == order.cancelled_at
    if order.returns:
        assert status is OrderStatus.DELIVERED
    line_sums = _subset_sums([line.quantity * line.unit_price for line in order.items])
    for refund in order.refunds:
        _check_refund(refund, order, now)
        if refund.return_id is not None:
            assert refund.amount in line_sums
            (ret,) = [r for r in order.returns if r.id == refund.return_id]
            delivered_at = order.shipments[0].delivered_at
            assert delivered_at is not None and ret.requested_at > delivered_at
            assert ret.requested_at == refund.created_at < now
            if ret.status == ReturnStatus.RECEIVED:
                assert ret.received_at is not None
                assert refund.initiated_at == ret.received_at
                assert ret.requested_at < ret.received_at < now
            else:
                assert ret.received_at is None
                assert refund.status == RefundStatus.NOT_STARTED


def _check_refund(refund: m.Refund, order: m.Order, now: datetime) -> None:
    assert refund.payment_method_id == order.payment_method_id
    assert refund.payment_method.customer_id == order.customer_id
    assert refund.method == refund.payment_method.kind
    assert Decimal("0") < refund.amount <= order.total
    status = RefundStatus(refund.status)
    if status is RefundStatus.NOT_STARTED:
        assert refund.initiated_at is None and refund.completed_at is None
        return
    assert refund.initiated_at is not None and refund.expected_at is not None
    assert refund.created_at <= refund.initiated_at < now
    if refund.method == PaymentKind.GIFT_CARD:
        assert status is RefundStatus.COMPLETED
        assert refund.completed_at == refund.initiated_at
    else:
        expected = [add_business_days(refund.initiated_at, k) for k in (5, 6, 7)]
        assert refund.expected_at in expected
    if status is RefundStatus.COMPLETED:
        assert refund.completed_at is not None
        assert refund.initiated_at <= refund.completed_at <= refund.expected_at <= now
    elif status is RefundStatus.IN_PROGRESS:
        assert refund.completed_at is None and refund.failure_reason is None
        if refund.return_id is not None:
            assert refund.expected_at > now
        else:
            assert add_business_days(refund.initiated_at, 7) >= now
    else:
        assert refund.completed_at is None and refund.failure_reason


def test_seeding_a_non_empty_store_raises(store_sessions: sessionmaker[Session]) -> None:
    _seed(store_sessions)
    with pytest.raises(WorldError, match="not empty"):
        _seed(store_sessions)


def test_bad_config_raises() -> None:
    with pytest.raises(WorldError, match="customer"):
        build_world_rows(WorldConfig(customers=0, items=50))
    with pytest.raises(WorldError, match="catalog items"):
        build_world_rows(WorldConfig(customers=10, items=5))


def test_unseeded_store_has_no_as_of(store_sessions: sessionmaker[Session]) -> None:
    with store_sessions() as s, pytest.raises(WorldError, match="run `csbot world seed` first"):
        world_as_of(s)


def test_long_tails(store_sessions: sessionmaker[Session]) -> None:
    _seed(store_sessions)
    with store_sessions() as s:
        per_customer = Counter(s.scalars(select(m.Order.customer_id)).all())
        per_item = Counter(s.scalars(select(m.OrderItem.catalog_item_id)).all())
    counts = list(per_customer.values())
    assert len(per_customer) == SMALL.customers  # everyone has at least one order
    assert max(counts) >= 5 * statistics.median(counts)
    assert max(per_item.values()) >= 5 * statistics.median(per_item.values())


def test_ids_continue_after_seeding(store_sessions: sessionmaker[Session]) -> None:
    """Explicit ids must not break later inserts (PostgreSQL sequences are moved on)."""
    _seed(store_sessions)
    with store_sessions() as s, s.begin():
        order = s.scalars(select(m.Order).where(m.Order.status == "pending").limit(1)).one()
        refund = m.Refund(
            order_id=order.id,
            payment_method_id=order.payment_method_id,
            status="in_progress",
            amount=order.total,
            method="credit_card",
            created_at=SMALL.as_of,
        )
        s.add(refund)
        s.flush()
        assert refund.id > 0


def test_rows_look_real() -> None:
    rows = build_world_rows(SMALL)
    customers, items = rows["customers"], rows["catalog_items"]
    assert len(wd.FIRST_NAMES) >= 150 and len(wd.LAST_NAMES) >= 150
    emails = [c["email"] for c in customers]
    assert len(set(emails)) == len(emails) and all(e == e.lower() for e in emails)
    assert all(re.fullmatch(r"cust_\d{6}", c["external_id"]) for c in customers)
    assert all(re.fullmatch(r"\d{5}", c["zip_code"]) for c in customers)
    assert {c["membership"] for c in customers} == {x.value for x in Membership}
    pms = rows["payment_methods"]
    assert len({p["external_id"] for p in pms}) == len(pms)
    assert {p["kind"] for p in pms} == {x.value for x in PaymentKind}
    per_customer = Counter(p["customer_id"] for p in pms)
    assert set(per_customer.values()) <= {1, 2, 3} and len(per_customer) == len(customers)
    labels = {p["kind"]: p["label"] for p in pms}
    assert re.fullmatch(r"gift card ending in \d{4}", labels["gift_card"])
    assert re.fullmatch(r"(Visa|Mastercard|Amex) ending in \d{4}", labels["credit_card"])
    assert labels["paypal"] == "PayPal account"
    assert all(re.fullmatch(r"SKU-\d{6}", i["sku"]) for i in items)
    assert len({i["title"] for i in items}) == len(items)
    assert all(i["price"] == i["price"].quantize(Decimal("0.01")) > 0 for i in items)
    assert all(isinstance(v, str) for i in items for v in i["attributes"].values())
    nouns = Counter(i["attributes"]["noun"] for i in items)
    assert max(nouns.values()) >= 2  # items share nouns, so references can be ambiguous


@pytest.fixture
def sqlite_sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'world.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def test_default_world_meets_the_floors(sqlite_sessions: sessionmaker[Session]) -> None:
    summary = _seed(sqlite_sessions, WorldConfig())
    assert summary.items >= 500
    assert summary.categories >= 12
    assert summary.customers >= 2000
    assert all(summary.orders_by_status[s.value] > 0 for s in OrderStatus)
    assert all(summary.refunds_by_status[s.value] > 0 for s in RefundStatus)
    assert all(summary.returns_by_status[s.value] > 0 for s in ReturnStatus)
    delivered = summary.orders_by_status["delivered"]
    assert 0.6 <= delivered / sum(summary.orders_by_status.values()) <= 0.8
    assert 0.08 <= sum(summary.returns_by_status.values()) / delivered <= 0.18
