"""Read and write helpers over the store. Repositories flush, never commit: the caller owns the
transaction (one per turn in the agents, one per world in the seeders).

Every read that returns account data takes the authenticated customer's id and filters on it, so
an order id typed by one customer can never load another customer's order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

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


def _profile(row: models.Customer) -> CustomerProfile:
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


def _payment(row: models.PaymentMethod) -> PaymentMethodView:
    return PaymentMethodView(id=row.id, kind=PaymentKind(row.kind), label=row.label)


def _refund(row: models.Refund, returns: dict[int, models.Return]) -> RefundView:
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


def order_view(row: models.Order) -> OrderView:
    """Turn a loaded order row (items, shipments, returns, refunds) into an OrderView."""
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
        refunds=tuple(_refund(r, returns) for r in row.refunds),
    )


def _order_query() -> Any:
    return select(models.Order).options(
        selectinload(models.Order.items).selectinload(models.OrderItem.catalog_item),
        selectinload(models.Order.shipments),
        selectinload(models.Order.returns),
        selectinload(models.Order.refunds).selectinload(models.Refund.payment_method),
        selectinload(models.Order.payment_method),
    )


def find_customer_by_email(session: Session, email: str) -> CustomerProfile | None:
    """The customer with this email (case-insensitive), or None."""
    index: dict[str, CustomerProfile] | None = session.info.get(EMAIL_INDEX)
    if index is not None and email.strip().lower() in index:
        return index[email.strip().lower()]
    row = session.scalar(
        select(models.Customer).where(models.Customer.email == email.strip().lower())
    )
    return _profile(row) if row else None


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


def _ordered(rows: Any) -> tuple[OrderView, ...]:
    views = [order_view(r) for r in rows]
    views.sort(key=lambda o: (o.placed_at, o.id), reverse=True)
    return tuple(views)


def customer_record(session: Session, customer_id: int) -> CustomerRecord | None:
    """The customer's profile and all their orders, newest first."""
    cache: RecordCache | None = session.info.get(RECORD_CACHE)
    if cache is not None and customer_id in cache:
        return cache[customer_id]
    profile = get_customer(session, customer_id)
    if profile is None:
        return None
    rows = session.scalars(_order_query().where(models.Order.customer_id == customer_id)).all()
    record = CustomerRecord(profile=profile, orders=_ordered(rows))
    if cache is not None:
        cache[customer_id] = record
    return record


def preload_records(session: Session, customer_ids: list[int], *, chunk: int = 500) -> int:
    """Load many customers' records into the attached cache in a few queries; returns how many."""
    cache: RecordCache | None = session.info.get(RECORD_CACHE)
    if cache is None:
        raise RuntimeError("attach_record_cache(session) first")
    loaded = 0
    for start in range(0, len(customer_ids), chunk):
        ids = customer_ids[start : start + chunk]
        customers = session.scalars(
            select(models.Customer).where(models.Customer.id.in_(ids))
        ).all()
        by_customer: dict[int, list[models.Order]] = {c.id: [] for c in customers}
        for row in session.scalars(_order_query().where(models.Order.customer_id.in_(ids))):
            by_customer[row.customer_id].append(row)
        index: dict[str, CustomerProfile] = session.info.setdefault(EMAIL_INDEX, {})
        for customer in customers:
            profile = _profile(customer)
            cache[customer.id] = CustomerRecord(
                profile=profile, orders=_ordered(by_customer[customer.id])
            )
            index[profile.email] = profile
            loaded += 1
    return loaded


def owned_order_view(session: Session, *, customer_id: int, order_number: str) -> OrderView | None:
    """One of the customer's orders as a view (from the record cache when one is attached)."""
    cache: RecordCache | None = session.info.get(RECORD_CACHE)
    if cache is not None:
        record = customer_record(session, customer_id)
        return record.order(order_number) if record is not None else None
    row = get_owned_order_row(session, customer_id=customer_id, order_number=order_number)
    return order_view(row) if row is not None else None


def get_owned_order_row(
    session: Session, *, customer_id: int, order_number: str, for_update: bool = False
) -> models.Order | None:
    """The order row with this number *owned by this customer*, or None."""
    query = _order_query().where(
        models.Order.order_number == order_number, models.Order.customer_id == customer_id
    )
    if for_update:
        query = query.with_for_update(of=models.Order)
    row: models.Order | None = session.scalars(query).first()
    return row


def world_now(session: Session) -> datetime:
    """The world's clock ("as of" time recorded when the world was seeded or imported)."""
    value = session.scalar(select(models.WorldMeta.value).where(models.WorldMeta.key == "as_of"))
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
