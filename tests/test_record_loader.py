"""The Core record loader (``repository.load_records``) builds exactly the records the ORM did.

The reference is the previous construction, kept here only: ORM rows through ``_order_query()``
(``selectinload`` chains) turned into views by ``_order_view`` and ``repository._profile``.
Every customer of a seeded world, plus hand-made edge cases (two shipments, a refund tied to a
return, an order with no items, non-string item attributes...), must come out equal, field types
and Decimal scales included, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from dialogue.domain import (
    CustomerRecord,
    OrderLine,
    OrderStatus,
    OrderView,
    PaymentKind,
    PaymentMethodView,
    RefundStatus,
    RefundView,
    ReturnStatus,
)
from dialogue.store import models, repository
from simulator.world import WorldConfig, seed_world

WORLD = WorldConfig(seed=5, customers=120, items=60)
T0 = datetime(2026, 9, 1, 9, 30)
UNKNOWN_ID = 987_654


# ---- the ORM construction the loader replaced (the reference) ---------------------------------
def _payment(row: models.PaymentMethod) -> PaymentMethodView:
    return PaymentMethodView(id=row.id, kind=PaymentKind(row.kind), label=row.label)


def _refund_of(row: models.Refund, returns: dict[int, models.Return]) -> RefundView:
    ret = returns.get(row.return_id) if row.return_id is not None else None
    return RefundView(
        id=row.id,
        status=RefundStatus(row.status),
        amount=row.amount,
        method=PaymentKind(row.method),
        payment_label=row.payment_method.label,
        created_at=row.created_at,
        initiated_at=row.initiated_at,
        expected_at=row.expected_at,
        completed_at=row.completed_at,
        failure_reason=row.failure_reason,
        return_status=ReturnStatus(ret.status) if ret is not None else None,
        return_received_at=ret.received_at if ret is not None else None,
    )


def _order_view(row: models.Order) -> OrderView:
    """A loaded order row (items, shipments, returns, refunds) as an OrderView."""
    shipment = row.shipments[-1] if row.shipments else None
    returns = {r.id: r for r in row.returns}
    return OrderView(
        id=row.id,
        order_number=row.order_number,
        customer_id=row.customer_id,
        status=OrderStatus(row.status),
        total=row.total,
        placed_at=row.placed_at,
        payment=_payment(row.payment_method),
        lines=tuple(
            OrderLine(
                title=line.catalog_item.title,
                category=line.catalog_item.category,
                attributes=tuple(
                    sorted((str(k), str(v)) for k, v in line.catalog_item.attributes.items())
                ),
                quantity=line.quantity,
                unit_price=line.unit_price,
                sku=line.catalog_item.sku,
            )
            for line in row.items
        ),
        shipped_at=shipment.shipped_at if shipment else None,
        delivered_at=shipment.delivered_at if shipment else None,
        cancelled_at=row.cancelled_at,
        refunds=tuple(_refund_of(r, returns) for r in row.refunds),
    )


def _order_query() -> Any:
    return select(models.Order).options(
        selectinload(models.Order.items).selectinload(models.OrderItem.catalog_item),
        selectinload(models.Order.shipments),
        selectinload(models.Order.returns),
        selectinload(models.Order.refunds).selectinload(models.Refund.payment_method),
        selectinload(models.Order.payment_method),
    )


def orm_record(session: Session, customer_id: int) -> CustomerRecord | None:
    """The record as the ORM path built it before the Core loader."""
    customer = session.get(models.Customer, customer_id)
    if customer is None:
        return None
    query = _order_query().where(models.Order.customer_id == customer_id)
    views = [_order_view(row) for row in session.scalars(query).all()]
    views.sort(key=lambda o: (o.placed_at, o.id), reverse=True)
    return CustomerRecord(profile=repository._profile(customer), orders=tuple(views))


def shape(value: Any) -> Any:
    """Each leaf's type and repr (Decimal scale, tzinfo, enum or str), each container's type."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__name__,
            {f.name: shape(getattr(value, f.name)) for f in dataclasses.fields(value)},
        )
    if isinstance(value, tuple | list):
        return (type(value).__name__, [shape(v) for v in value])
    return (type(value).__name__, repr(value))


def assert_same(new: CustomerRecord | None, old: CustomerRecord | None) -> None:
    assert new == old
    assert shape(new) == shape(old)


# ---- a world with edge cases -------------------------------------------------------------------
@dataclasses.dataclass
class EdgeIds:
    customer: int  # orders covering the edge cases below
    no_orders: list[int]  # customers with no order at all
    two_shipments: int  # order ids
    with_return: int
    no_items: int
    attributes: int


def _add(session: Session, row: models.Base) -> Any:
    session.add(row)
    session.flush()
    return row


def _customer(session: Session, n: int, membership: str = "gold") -> models.Customer:
    customer: models.Customer = _add(
        session,
        models.Customer(
            external_id=f"edge_{n}",
            first_name="Edge",
            last_name=f"Case{n}",
            email=f"edge{n}@example.com",
            zip_code="02134",
            membership=membership,
            created_at=T0 - timedelta(days=400, microseconds=250),
        ),
    )
    return customer


def _order(
    session: Session, customer: models.Customer, pm: models.PaymentMethod, n: int, **kw: Any
) -> models.Order:
    """Order number ``n`` of the customer, placed ``n`` days after T0 unless ``placed_at`` says."""
    values: dict[str, Any] = {
        "status": "delivered",
        "total": Decimal("30.00"),
        "placed_at": T0 + timedelta(days=n),
        "updated_at": T0 + timedelta(days=n),
    }
    values.update(kw)
    order: models.Order = _add(
        session,
        models.Order(
            order_number=f"#E{customer.id:04d}{n:02d}",
            customer_id=customer.id,
            payment_method_id=pm.id,
            **values,
        ),
    )
    return order


def _refund(
    session: Session, order: models.Order, pm: models.PaymentMethod, **kw: Any
) -> models.Refund:
    values: dict[str, Any] = {
        "status": "completed",
        "amount": Decimal("10.50"),
        "method": pm.kind,
        "created_at": T0 + timedelta(days=20),
        "initiated_at": T0 + timedelta(days=20),
        "expected_at": T0 + timedelta(days=27),
        "completed_at": T0 + timedelta(days=26),
    }
    values.update(kw)
    refund: models.Refund = _add(
        session, models.Refund(order_id=order.id, payment_method_id=pm.id, **values)
    )
    return refund


def add_edge_cases(session: Session) -> EdgeIds:
    customer = _customer(session, 1)
    card: models.PaymentMethod = _add(
        session,
        models.PaymentMethod(
            external_id="edge_pm_1", customer_id=customer.id, kind="credit_card", label="Visa 4242"
        ),
    )
    gift: models.PaymentMethod = _add(
        session,
        models.PaymentMethod(
            external_id="edge_pm_2", customer_id=customer.id, kind="gift_card", label="Gift card"
        ),
    )
    plain: models.CatalogItem = _add(
        session,
        models.CatalogItem(
            sku="EDGE-PLAIN", title="Plain Mug", category="kitchen", price=Decimal("7.10")
        ),
    )
    fancy: models.CatalogItem = _add(
        session,
        models.CatalogItem(
            sku="EDGE-FANCY",
            title="Trail Boot",
            category="shoes",
            attributes={"size": 10, "waterproof": True, "color": "brown", "noun": "boot"},
            price=Decimal("89.90"),
        ),
    )

    # Two shipments: the view takes the later one (the undelivered re-shipment).
    shipped = _order(session, customer, card, 1, status="shipped")
    _add(
        session,
        models.OrderItem(
            order_id=shipped.id, catalog_item_id=plain.id, quantity=1, unit_price=Decimal("7.10")
        ),
    )
    for days, delivered in ((2, T0 + timedelta(days=5)), (8, None)):
        _add(
            session,
            models.Shipment(
                order_id=shipped.id,
                carrier="UPS",
                tracking_number=f"1Z{days}",
                shipped_at=T0 + timedelta(days=days, seconds=1, microseconds=5),
                delivered_at=delivered,
            ),
        )

    # A return with a refund tied to it, a later refund without one (to the gift card), and a
    # refund naming another order's return (order_view finds no return for it).
    returned = _order(session, customer, card, 2)
    _add(
        session,
        models.OrderItem(
            order_id=returned.id, catalog_item_id=plain.id, quantity=3, unit_price=Decimal("7.10")
        ),
    )
    _add(
        session,
        models.Shipment(
            order_id=returned.id,
            carrier="USPS",
            tracking_number="9400",
            shipped_at=T0 + timedelta(days=3),
            delivered_at=T0 + timedelta(days=6),
        ),
    )
    ret: models.Return = _add(
        session,
        models.Return(
            order_id=returned.id,
            status="received",
            reason="damaged",
            requested_at=T0 + timedelta(days=10),
            received_at=T0 + timedelta(days=14),
        ),
    )
    _refund(
        session,
        returned,
        card,
        return_id=ret.id,
        status="failed",
        completed_at=None,
        failure_reason="card expired",
    )
    _refund(session, returned, gift, amount=Decimal("0.10"))

    # No items, cancelled, refund not started; placed at the same time as `returned` (the tie is
    # broken by id, newest first).
    empty = _order(
        session,
        customer,
        gift,
        4,
        status="cancelled",
        total=Decimal("0.00"),
        placed_at=returned.placed_at,
        cancelled_at=T0 + timedelta(days=2, hours=1),
        cancel_reason="other",
    )
    _refund(
        session,
        empty,
        gift,
        status="not_started",
        amount=Decimal("0.00"),
        initiated_at=None,
        expected_at=None,
        completed_at=None,
        return_id=ret.id,
    )

    # Lines with attributes of several JSON types, in line-id order; a pending order.
    fancy_order = _order(session, customer, card, 3, status="pending", total=Decimal("186.90"))
    for item, quantity in ((fancy, 2), (plain, 1)):
        _add(
            session,
            models.OrderItem(
                order_id=fancy_order.id,
                catalog_item_id=item.id,
                quantity=quantity,
                unit_price=item.price,
            ),
        )
    lonely = [_customer(session, 2, "guest").id, _customer(session, 3, "bronze").id]
    return EdgeIds(
        customer=customer.id,
        no_orders=lonely,
        two_shipments=shipped.id,
        with_return=returned.id,
        no_items=empty.id,
        attributes=fancy_order.id,
    )


@pytest.fixture
def world(store_sessions: sessionmaker[Session]) -> Iterator[tuple[sessionmaker[Session], EdgeIds]]:
    """A seeded world plus the edge cases, on each backend."""
    with store_sessions() as session, session.begin():
        seed_world(session, WORLD)
        edges = add_edge_cases(session)
    yield store_sessions, edges


def _all_customer_ids(session: Session) -> list[int]:
    return list(session.scalars(select(models.Customer.id).order_by(models.Customer.id)))


# ---- tests -------------------------------------------------------------------------------------
def test_every_record_equals_the_orm_record(
    world: tuple[sessionmaker[Session], EdgeIds],
) -> None:
    sessions, edges = world
    with sessions() as orm, sessions() as core:
        ids = _all_customer_ids(orm)
        assert len(ids) == WORLD.customers + 3
        with_orders = set(repository.customers_with_orders(orm))
        assert edges.customer in with_orders and not with_orders & set(edges.no_orders)
        for customer_id in [*ids, UNKNOWN_ID]:
            assert_same(repository.customer_record(core, customer_id), orm_record(orm, customer_id))
        assert repository.customer_record(core, UNKNOWN_ID) is None
        for customer_id in edges.no_orders:
            record = repository.customer_record(core, customer_id)
            assert record is not None and record.orders == ()


def test_the_world_covers_the_edge_cases(world: tuple[sessionmaker[Session], EdgeIds]) -> None:
    """The comparison above is only as good as the data: check the cases are really there."""
    sessions, edges = world
    with sessions() as session:
        record = repository.customer_record(session, edges.customer)
        assert record is not None
        orders = {o.id: o for o in record.orders}
        assert [o.id for o in record.orders][1:3] == sorted(
            [edges.with_return, edges.no_items], reverse=True
        )
        shipped = orders[edges.two_shipments]
        assert shipped.shipped_at == T0 + timedelta(days=8, seconds=1, microseconds=5)
        assert shipped.delivered_at is None
        returned = orders[edges.with_return]
        assert [(r.return_status, r.failure_reason) for r in returned.refunds] == [
            ("received", "card expired"),
            (None, None),
        ]
        assert returned.refunds[0].return_received_at == T0 + timedelta(days=14)
        assert [r.payment_label for r in returned.refunds] == ["Visa 4242", "Gift card"]
        assert orders[edges.no_items].lines == ()
        assert orders[edges.no_items].refunds[0].return_status is None  # another order's return
        assert orders[edges.no_items].status is OrderStatus.CANCELLED
        fancy = orders[edges.attributes].lines
        assert [line.sku for line in fancy] == ["EDGE-FANCY", "EDGE-PLAIN"]
        assert fancy[0].attributes == (
            ("color", "brown"),
            ("noun", "boot"),
            ("size", "10"),
            ("waterproof", "True"),
        )
        assert returned.refunds[1].amount.as_tuple().exponent == -2
        # The seeded world has cancelled orders, refunds with and without returns, deliveries.
        records = repository.load_records(session, _all_customer_ids(session))
        every = [o for r in records.values() for o in r.orders]
        refunds = [r for o in every for r in o.refunds]
        assert any(o.status is OrderStatus.CANCELLED for o in every)
        assert any(r.return_status is not None for r in refunds)
        assert any(r.return_status is None for r in refunds)
        assert any(o.delivered_at is not None for o in every)
        assert any(len(line.attributes) > 1 for o in every for line in o.lines)


def test_preload_records_fills_the_cache_with_the_same_records(
    world: tuple[sessionmaker[Session], EdgeIds],
) -> None:
    sessions, edges = world
    with sessions() as orm, sessions() as core:
        ids = _all_customer_ids(orm)
        with pytest.raises(RuntimeError):
            repository.preload_records(core, ids)
        cache = repository.attach_record_cache(core)
        # Chunks of many customers (an unknown one among them), then a single customer.
        assert repository.preload_records(core, [UNKNOWN_ID, *ids[:-1]], chunk=50) == len(ids) - 1
        assert repository.preload_records(core, ids[-1:]) == 1
        assert sorted(cache) == ids
        for customer_id in ids:
            assert_same(cache[customer_id], orm_record(orm, customer_id))
        profile = cache[edges.customer].profile
        assert repository.find_customer_by_email(core, profile.email) == profile


def test_reads_take_few_queries_and_the_cache_is_used(
    world: tuple[sessionmaker[Session], EdgeIds],
) -> None:
    sessions, edges = world
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    with sessions() as session:
        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert repository.customer_record(session, edges.customer) is not None
            assert len(statements) <= 3 + 1  # the three reads (and the BEGIN on SQLite)
            statements.clear()
            assert repository.customer_record(session, UNKNOWN_ID) is None
            assert repository.customer_record(session, edges.no_orders[0]) is not None
            assert len(statements) == 2  # no order: the lines and refunds are not read
            cache = repository.attach_record_cache(session)
            first = repository.customer_record(session, edges.customer)
            statements.clear()
            assert repository.customer_record(session, edges.customer) is first
            assert statements == []
            assert cache[edges.customer] is first
            repository.forget_customer(session, edges.customer)
            assert edges.customer not in cache
            assert repository.customer_record(session, edges.customer) == first
            assert len(statements) == 3
            assert repository.customer_record(session, UNKNOWN_ID) is None
            assert UNKNOWN_ID not in cache
        finally:
            event.remove(engine, "before_cursor_execute", count)


def test_unflushed_changes_are_read(world: tuple[sessionmaker[Session], EdgeIds]) -> None:
    """Like the ORM query it replaces, the Core read autoflushes the session's pending writes."""
    sessions, edges = world
    with sessions() as session, session.begin():
        order = session.get(models.Order, edges.attributes)
        assert order is not None
        order.status = "cancelled"
        order.cancelled_at = T0 + timedelta(days=4)
        session.add(
            models.Refund(
                order_id=order.id,
                payment_method_id=order.payment_method_id,
                status="in_progress",
                amount=order.total,
                method="credit_card",
                created_at=T0 + timedelta(days=4),
            )
        )
        record = repository.customer_record(session, edges.customer)
        assert record is not None
        view = next(o for o in record.orders if o.id == edges.attributes)
        assert view.status is OrderStatus.CANCELLED
        assert [r.amount for r in view.refunds] == [Decimal("186.90")]
        assert_same(record, orm_record(session, edges.customer))
        session.rollback()
