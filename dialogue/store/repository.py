"""Read and write helpers over the store. Repositories flush, never commit: the caller owns the
transaction (one per turn in the agents, one per world in the seeders).

Every read that returns account data takes the authenticated customer's id and filters on it, so
an order id typed by one customer can never load another customer's order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Row, Select, and_, bindparam, func, select
from sqlalchemy.orm import Session

from dialogue.domain import (
    CustomerProfile,
    CustomerRecord,
    Membership,
    OrderLine,
    OrderStatus,
    OrderView,
    PaymentKind,
    PaymentMethodView,
    RefundStatus,
    RefundView,
    ReturnStatus,
)
from dialogue.store import models


def _profile(row: models.Customer | Row[Any]) -> CustomerProfile:
    return CustomerProfile(
        id=row.id,
        external_id=row.external_id,
        first_name=row.first_name,
        last_name=row.last_name,
        email=row.email,
        zip_code=row.zip_code,
        membership=Membership(row.membership),
        created_at=row.created_at,
    )


def find_customer_by_email(session: Session, email: str) -> CustomerProfile | None:
    """The customer with this email (case-insensitive), or None."""
    index: dict[str, CustomerProfile] | None = session.info.get(EMAIL_INDEX)
    if index is not None and email.strip().lower() in index:
        return index[email.strip().lower()]
    row = session.scalar(_BY_EMAIL, {"email": email.strip().lower()})
    return _profile(row) if row else None


_BY_EMAIL = select(models.Customer).where(models.Customer.email == bindparam("email"))


def find_customer_by_name_zip(
    session: Session, *, first_name: str, last_name: str, zip_code: str
) -> CustomerProfile | None:
    """The one customer with this full name and zip code; None if none or more than one."""
    rows = session.scalars(
        select(models.Customer).where(
            func.lower(models.Customer.first_name) == first_name.strip().lower(),
            func.lower(models.Customer.last_name) == last_name.strip().lower(),
            models.Customer.zip_code == zip_code.strip(),
        )
    ).all()
    return _profile(rows[0]) if len(rows) == 1 else None


def get_customer(session: Session, customer_id: int) -> CustomerProfile | None:
    row = session.get(models.Customer, customer_id)
    return _profile(row) if row else None


# ---- an optional read cache of customer records ------------------------------------------------
# A process that owns its customers' writes (a harness worker: contacts are sharded by customer)
# attaches a RecordCache to its session; every write path (dialogue.actions) forgets the customer it
# changed, so a cached record is never older than the store. The service (dialogue.conversation)
# attaches one per turn's session: a turn reads a record once, and its own writes forget it.
RECORD_CACHE = "csbot.record_cache"
EMAIL_INDEX = "csbot.email_index"  # preloaded customers by email (emails never change)
RecordCache = dict[int, CustomerRecord]


def attach_record_cache(session: Session) -> RecordCache:
    """Cache customer records on this session from now on (until :func:`detach_record_cache`)."""
    cache: RecordCache = session.info.setdefault(RECORD_CACHE, {})
    return cache


def detach_record_cache(session: Session) -> None:
    session.info.pop(RECORD_CACHE, None)
    session.info.pop(EMAIL_INDEX, None)


def forget_customer(session: Session, customer_id: int) -> None:
    """Drop a cached record (its orders changed, or a transaction that read it rolled back)."""
    cache: RecordCache | None = session.info.get(RECORD_CACHE)
    if cache is not None:
        cache.pop(customer_id, None)


# ---- the record loader: three Core SELECTs per batch of customers, no ORM entities -------------
_CUSTOMERS = models.Customer.__table__
_PAYMENTS = models.PaymentMethod.__table__
_CATALOG = models.CatalogItem.__table__
_ORDERS = models.Order.__table__
_ITEMS = models.OrderItem.__table__
_SHIPMENTS = models.Shipment.__table__
_RETURNS = models.Return.__table__
_REFUNDS = models.Refund.__table__


class _RecordStatements(NamedTuple):
    orders: Select[Any]  # one row per order of each customer; one with NULL order columns if none
    lines: Select[Any]  # the customers' order lines with their catalog items, by line id
    refunds: Select[Any]  # the customers' refunds with their payment label and return, by id


def _record_statements(
    of_customers: Callable[[ColumnElement[int]], ColumnElement[bool]],
) -> _RecordStatements:
    """The loader's statements, each filtered on the customers' ids by ``of_customers``."""
    last = _SHIPMENTS.alias("last_shipment")  # an order's dates are its last shipment's
    last_id = select(func.max(_SHIPMENTS.c.id)).where(_SHIPMENTS.c.order_id == _ORDERS.c.id)
    orders = (
        select(
            *(_CUSTOMERS.c[f.name] for f in fields(CustomerProfile)),  # what _profile reads
            _ORDERS.c.id.label("order_id"),
            _ORDERS.c.order_number,
            _ORDERS.c.status,
            _ORDERS.c.total,
            _ORDERS.c.placed_at,
            _ORDERS.c.cancelled_at,
            _PAYMENTS.c.id.label("payment_id"),
            _PAYMENTS.c.kind,
            _PAYMENTS.c.label,
            last.c.shipped_at,
            last.c.delivered_at,
        )
        .select_from(
            _CUSTOMERS.outerjoin(_ORDERS, _ORDERS.c.customer_id == _CUSTOMERS.c.id)
            .outerjoin(_PAYMENTS, _PAYMENTS.c.id == _ORDERS.c.payment_method_id)
            .outerjoin(last, last.c.id == last_id.correlate(_ORDERS).scalar_subquery())
        )
        .where(of_customers(_CUSTOMERS.c.id))
    )
    lines = (
        select(
            _ITEMS.c.order_id,
            _ITEMS.c.quantity,
            _ITEMS.c.unit_price,
            _CATALOG.c.title,
            _CATALOG.c.category,
            _CATALOG.c.attributes,
            _CATALOG.c.sku,
        )
        .join_from(_ITEMS, _ORDERS, _ORDERS.c.id == _ITEMS.c.order_id)
        .join(_CATALOG, _CATALOG.c.id == _ITEMS.c.catalog_item_id)
        .where(of_customers(_ORDERS.c.customer_id))
        .order_by(_ITEMS.c.id)
    )
    refunds = (
        select(
            _REFUNDS,
            _PAYMENTS.c.label.label("payment_label"),
            _RETURNS.c.status.label("return_status"),
            _RETURNS.c.received_at.label("return_received_at"),
        )
        .join_from(_REFUNDS, _ORDERS, _ORDERS.c.id == _REFUNDS.c.order_id)
        .join(_PAYMENTS, _PAYMENTS.c.id == _REFUNDS.c.payment_method_id)
        .outerjoin(  # a refund's return is looked up among its own order's returns
            _RETURNS,
            and_(_RETURNS.c.id == _REFUNDS.c.return_id, _RETURNS.c.order_id == _REFUNDS.c.order_id),
        )
        .where(of_customers(_ORDERS.c.customer_id))
        .order_by(_REFUNDS.c.id)
    )
    return _RecordStatements(orders, lines, refunds)


# Built once: for one customer (``= :customer_id``, the service's case: no IN list to render on
# each call) and for many (an expanding ``IN``, for preloads).
_ONE_RECORD = _record_statements(lambda column: column == bindparam("customer_id"))
_MANY_RECORDS = _record_statements(
    lambda column: column.in_(bindparam("customer_id", expanding=True))
)


def load_records(session: Session, customer_ids: Sequence[int]) -> dict[int, CustomerRecord]:
    """The records (profile and orders, newest first) of these customers, by id; unknown ids are
    left out. :func:`customer_record` and :func:`preload_records` both load through it.

    Records are read on every turn, so this reads with Core rather than the ORM: three SELECTs of
    plain columns (customers with their orders, payment methods and last shipments; order lines
    with their catalog items; refunds with their payment labels and returns), whatever the number
    of customers or orders, turned straight into the domain dataclasses, with no entities, identity
    map or relationship loaders to build. The records equal those the ORM's relationship loaders
    built (``tests/test_record_loader.py`` keeps that construction as the reference), value types
    included: each column's type converts its values as it does for the ORM. Like any
    ``Session.execute``, it autoflushes pending writes.
    """
    if not customer_ids:
        return {}
    many = len(customer_ids) > 1
    statements = _MANY_RECORDS if many else _ONE_RECORD
    params = {"customer_id": list(customer_ids) if many else customer_ids[0]}
    rows = session.execute(statements.orders, params).all()
    lines: dict[int, list[OrderLine]] = defaultdict(list)
    refunds: dict[int, list[RefundView]] = defaultdict(list)
    if any(row.order_id is not None for row in rows):
        for line in session.execute(statements.lines, params):
            attributes = tuple(sorted((str(k), str(v)) for k, v in line.attributes.items()))
            lines[line.order_id].append(
                OrderLine(
                    title=line.title,
                    category=line.category,
                    attributes=attributes,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    sku=line.sku,
                )
            )
        for refund in session.execute(statements.refunds, params):
            refunds[refund.order_id].append(_refund_view(refund))
    records: dict[int, tuple[CustomerProfile, list[OrderView]]] = {}
    for row in rows:
        if row.id not in records:
            records[row.id] = (_profile(row), [])
        if row.order_id is not None:
            records[row.id][1].append(
                OrderView(
                    id=row.order_id,
                    order_number=row.order_number,
                    customer_id=row.id,
                    status=OrderStatus(row.status),
                    total=row.total,
                    placed_at=row.placed_at,
                    payment=PaymentMethodView(row.payment_id, PaymentKind(row.kind), row.label),
                    lines=tuple(lines.get(row.order_id, ())),
                    shipped_at=row.shipped_at,
                    delivered_at=row.delivered_at,
                    cancelled_at=row.cancelled_at,
                    refunds=tuple(refunds.get(row.order_id, ())),
                )
            )
    return {
        customer_id: CustomerRecord(profile=profile, orders=_newest_first(orders))
        for customer_id, (profile, orders) in records.items()
    }


def _refund_view(row: Row[Any]) -> RefundView:
    return RefundView(
        id=row.id,
        status=RefundStatus(row.status),
        amount=row.amount,
        method=PaymentKind(row.method),
        payment_label=row.payment_label,
        created_at=row.created_at,
        initiated_at=row.initiated_at,
        expected_at=row.expected_at,
        completed_at=row.completed_at,
        failure_reason=row.failure_reason,
        return_status=ReturnStatus(row.return_status) if row.return_status is not None else None,
        return_received_at=row.return_received_at,
    )


def _newest_first(views: list[OrderView]) -> tuple[OrderView, ...]:
    views.sort(key=lambda o: (o.placed_at, o.id), reverse=True)
    return tuple(views)


def customer_record(session: Session, customer_id: int) -> CustomerRecord | None:
    """The customer's profile and all their orders, newest first (None for an unknown id)."""
    cache: RecordCache | None = session.info.get(RECORD_CACHE)
    if cache is not None and customer_id in cache:
        return cache[customer_id]
    record = load_records(session, [customer_id]).get(customer_id)
    if record is not None and cache is not None:
        cache[customer_id] = record
    return record


def preload_records(session: Session, customer_ids: list[int], *, chunk: int = 500) -> int:
    """Load many customers' records into the attached cache in a few queries; returns how many."""
    cache: RecordCache | None = session.info.get(RECORD_CACHE)
    if cache is None:
        raise RuntimeError("attach_record_cache(session) first")
    index: dict[str, CustomerProfile] = session.info.setdefault(EMAIL_INDEX, {})
    loaded = 0
    for start in range(0, len(customer_ids), chunk):
        for customer_id, record in load_records(
            session, customer_ids[start : start + chunk]
        ).items():
            cache[customer_id] = record
            index[record.profile.email] = record.profile
            loaded += 1
    return loaded


def owned_order_view(session: Session, *, customer_id: int, order_number: str) -> OrderView | None:
    """One of the customer's orders as a view (from the record cache when one is attached)."""
    cache: RecordCache | None = session.info.get(RECORD_CACHE)
    if cache is not None:
        record = customer_record(session, customer_id)
        return record.order(order_number) if record is not None else None
    record = load_records(session, [customer_id]).get(customer_id)
    return record.order(order_number) if record is not None else None


def lock_owned_order(
    session: Session, *, customer_id: int, order_number: str
) -> tuple[models.Order, OrderView] | None:
    """One of the customer's orders locked for an update (``FOR UPDATE``; SQLite's writer holds
    the whole store), with its view read after the lock (never from a cache); None if the
    customer has no such order."""
    row = session.scalars(
        select(models.Order)
        .where(models.Order.order_number == order_number, models.Order.customer_id == customer_id)
        .with_for_update(of=models.Order)
    ).first()
    if row is None:
        return None
    record = load_records(session, [customer_id]).get(customer_id)
    view = record.order(order_number) if record is not None else None
    if view is None:  # pragma: no cover - the row was just read in this transaction
        raise LookupError(f"order {order_number} vanished under its lock")
    return row, view


_AS_OF = select(models.WorldMeta.value).where(models.WorldMeta.key == "as_of")


def world_now(session: Session) -> datetime:
    """The world's clock ("as of" time recorded when the world was seeded or imported)."""
    value = session.scalar(_AS_OF)
    if value is None:
        raise LookupError("the store holds no world: run `csbot world seed` first")
    return datetime.fromisoformat(value)


def customers_with_orders(session: Session, *, limit: int | None = None) -> list[int]:
    """Ids of customers that have at least one order, ascending."""
    query = select(models.Order.customer_id).distinct().order_by(models.Order.customer_id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query).all())


def catalog_titles(session: Session) -> frozenset[str]:
    """Every item title the store sells, lowercase (grounding recognises item names by them)."""
    rows = session.scalars(select(models.CatalogItem.title).distinct()).all()
    return frozenset(t.lower() for t in rows if t)
