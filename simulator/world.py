"""A seeded synthetic store: catalog, customers, orders, shipments, returns and refunds.

:func:`seed_world` draws the whole world from ``random.Random(config.seed)`` alone (no wall clock,
no ``hash()``, no set iteration), builds plain row dicts with explicit integer ids and inserts them
table by table with executemany. Every timeline is consistent relative to ``config.as_of``, the
world's "now", which is recorded in ``world_meta`` and read back by :func:`world_as_of`.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from dialogue.domain import (
    CancelReason,
    Membership,
    OrderStatus,
    PaymentKind,
    RefundStatus,
    ReturnStatus,
)
from dialogue.policy import add_business_days
from dialogue.store.models import (
    Base,
    CatalogItem,
    Customer,
    Order,
    OrderItem,
    PaymentMethod,
    Refund,
    Return,
    Shipment,
)
from simulator import world_data as wd
from simulator.world_store import (
    WORLD_MODELS,
    WORLD_VERSION,
    Row,
    Rows,
    WorldError,
    WorldSummary,
    ensure_empty_store,
    insert_world,
    world_as_of,
    world_meta,
    world_summary,
)

__all__ = [
    "DEFAULT_AS_OF",
    "WORLD_MODELS",
    "WORLD_VERSION",
    "Row",
    "Rows",
    "WorldConfig",
    "WorldError",
    "WorldSummary",
    "build_world_rows",
    "seed_world",
    "time_between",
    "world_as_of",
    "world_summary",
]

DEFAULT_AS_OF = datetime(2026, 11, 2, 12, 0)

_MEMBERSHIP_WEIGHTS = {
    Membership.GUEST: 30,
    Membership.BRONZE: 35,
    Membership.SILVER: 22,
    Membership.GOLD: 13,
}
_STATUS_WEIGHTS = {
    OrderStatus.DELIVERED: 70,
    OrderStatus.CANCELLED: 9,
    OrderStatus.SHIPPED: 8,
    OrderStatus.PROCESSING: 6,
    OrderStatus.PENDING: 7,
}
_KIND_WEIGHTS = {PaymentKind.CREDIT_CARD: 55, PaymentKind.PAYPAL: 25, PaymentKind.GIFT_CARD: 20}
_CANCEL_WEIGHTS = {
    CancelReason.NO_LONGER_NEEDED: 35,
    CancelReason.ORDERED_BY_MISTAKE: 25,
    CancelReason.FOUND_BETTER_PRICE: 18,
    CancelReason.TOO_SLOW: 12,
    CancelReason.OTHER: 10,
}
_DAY = timedelta(days=1)
_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class WorldConfig:
    """What to generate: the seed, the world's size and its "now" (naive UTC)."""

    seed: int = 7
    customers: int = 2000
    items: int = 600
    as_of: datetime = DEFAULT_AS_OF


def _pick(rng: random.Random, weights: dict[Any, int]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def time_between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A minute-resolution time uniformly in [start, end] (start when the range is empty)."""
    minutes = max(0, int((end - start).total_seconds() // 60))
    return start + timedelta(minutes=rng.randint(0, minutes))


def _card_label(rng: random.Random, kind: PaymentKind) -> str:
    if kind is PaymentKind.PAYPAL:
        return "PayPal account"
    last_four = f"{rng.randrange(10_000):04d}"
    if kind is PaymentKind.GIFT_CARD:
        return f"gift card ending in {last_four}"
    return f"{rng.choice(wd.CARD_BRANDS)} ending in {last_four}"


class _WorldBuilder:
    """Draws every row of the world from one random source, in a fixed order."""

    def __init__(self, config: WorldConfig) -> None:
        self.config = config
        self.now = config.as_of
        self.rng = random.Random(config.seed)
        self.rows: Rows = {model.__tablename__: [] for model in WORLD_MODELS}
        self.items = wd.build_catalog(self.rng, config.items)
        self.rows[CatalogItem.__tablename__] = self.items
        ranks = list(range(len(self.items)))
        self.rng.shuffle(ranks)
        weights = [0.0] * len(self.items)
        for rank, index in enumerate(ranks):
            weights[index] = 1.0 / (rank + 3) ** 1.05  # Zipf-like item popularity
        self.cum_weights = list(itertools.accumulate(weights))
        self.emails: dict[str, int] = {}

    def build(self) -> Rows:
        for index in range(self.config.customers):
            self._customer(index + 1)
        pm_rows = self.rows[PaymentMethod.__tablename__]
        numbers = self.rng.sample(range(1_000_000, 10_000_000), len(pm_rows))
        for pm, number in zip(pm_rows, numbers, strict=True):
            pm["external_id"] = f"{pm['kind']}_{number}"
        orders = self.rows[Order.__tablename__]
        numbers = self.rng.sample(range(1_000_000, 10_000_000), len(orders))
        for order, number in zip(orders, numbers, strict=True):
            order["order_number"] = f"#W{number}"
        return self.rows

    def _next_id(self, model: type[Base]) -> int:
        return len(self.rows[model.__tablename__]) + 1

    def _customer(self, customer_id: int) -> None:
        rng = self.rng
        first, last = rng.choice(wd.FIRST_NAMES), rng.choice(wd.LAST_NAMES)
        local = "".join(ch for ch in f"{first}.{last}".lower() if ch.isalnum() or ch == ".")
        email = f"{local}{rng.randint(1, 9999)}@example.com"
        while email in self.emails:
            email = f"{local}{rng.randint(10_000, 99_999)}@example.com"
        self.emails[email] = customer_id
        customer: Row = {
            "id": customer_id,
            "external_id": f"cust_{customer_id:06d}",
            "first_name": first,
            "last_name": last,
            "email": email,
            "zip_code": f"{rng.randrange(501, 99_951):05d}",
            "membership": _pick(rng, _MEMBERSHIP_WEIGHTS).value,
        }
        methods: list[Row] = []
        for _ in range(rng.choices((1, 2, 3), weights=(50, 35, 15))[0]):
            kind: PaymentKind = _pick(rng, _KIND_WEIGHTS)
            if kind is PaymentKind.PAYPAL and any(m["kind"] == kind.value for m in methods):
                kind = PaymentKind.CREDIT_CARD
            pm: Row = {
                "id": self._next_id(PaymentMethod),
                "external_id": "",
                "customer_id": customer_id,
                "kind": kind.value,
                "label": _card_label(rng, kind),
            }
            methods.append(pm)
            self.rows[PaymentMethod.__tablename__].append(pm)
        count = min(60, max(1, round(rng.lognormvariate(0.55, 0.95))))
        drafts = [self._placement(rng) for _ in range(count)]
        drafts.sort(key=lambda draft: draft[1])
        for status, placed_at in drafts:
            self._order(customer_id, rng.choice(methods), status, placed_at)
        first_order = drafts[0][1]
        customer["created_at"] = first_order - timedelta(minutes=rng.randint(60, 400 * 24 * 60))
        self.rows[Customer.__tablename__].append(customer)

    def _placement(self, rng: random.Random) -> tuple[OrderStatus, datetime]:
        status: OrderStatus = _pick(rng, _STATUS_WEIGHTS)
        now = self.now
        if status is OrderStatus.PENDING:
            placed = time_between(rng, now - 47 * _HOUR, now - timedelta(minutes=5))
        elif status is OrderStatus.PROCESSING:
            placed = time_between(rng, now - 4 * _DAY, now - _DAY)
        elif status is OrderStatus.SHIPPED:
            placed = time_between(rng, now - 8 * _DAY, now - 2 * _DAY)
        elif status is OrderStatus.DELIVERED:
            days = 10 + min(rng.expovariate(1 / 150), 720.0)
            placed = (now - timedelta(days=days)).replace(second=0, microsecond=0)
        else:
            recent = rng.random() < 0.4
            low, high = (1, 10) if recent else (10, 400)
            placed = time_between(rng, now - high * _DAY, now - low * _DAY)
        return status, placed

    def _order(self, customer_id: int, pm: Row, status: OrderStatus, placed: datetime) -> None:
        rng, now = self.rng, self.now
        order_id = self._next_id(Order)
        lines: list[Row] = []
        chosen: list[int] = []
        for _ in range(rng.choices((1, 2, 3, 4), weights=(55, 27, 12, 6))[0]):
            index = rng.choices(range(len(self.items)), cum_weights=self.cum_weights)[0]
            if index in chosen:
                continue
            chosen.append(index)
            line: Row = {
                "id": self._next_id(OrderItem) + len(lines),
                "order_id": order_id,
                "catalog_item_id": self.items[index]["id"],
                "quantity": rng.choices((1, 2, 3), weights=(85, 11, 4))[0],
                "unit_price": self.items[index]["price"],
            }
            lines.append(line)
        self.rows[OrderItem.__tablename__].extend(lines)
        total = sum((ln["quantity"] * ln["unit_price"] for ln in lines), Decimal("0.00"))
        order: Row = {
            "id": order_id,
            "order_number": "",
            "customer_id": customer_id,
            "payment_method_id": pm["id"],
            "status": status.value,
            "total": total,
            "placed_at": placed,
            "updated_at": placed,
            "cancelled_at": None,
            "cancel_reason": None,
        }
        self.rows[Order.__tablename__].append(order)
        if status is OrderStatus.PROCESSING:
            order["updated_at"] = time_between(rng, placed + 30 * timedelta(minutes=1), now - _HOUR)
        elif status is OrderStatus.CANCELLED:
            cancelled = time_between(rng, placed + 10 * timedelta(minutes=1), placed + 30 * _HOUR)
            cancelled = min(cancelled, now - _HOUR)
            order["cancelled_at"] = cancelled
            order["cancel_reason"] = _pick(rng, _CANCEL_WEIGHTS).value
            refund = self._refund(order, pm, None, total, cancelled, cancelled)
            if add_business_days(cancelled, 7) >= now and pm["kind"] != PaymentKind.GIFT_CARD:
                refund.update(status=RefundStatus.IN_PROGRESS.value, completed_at=None)
            order["updated_at"] = max(cancelled, refund["completed_at"] or cancelled)
        elif status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
            shipped = time_between(
                rng, placed + 12 * _HOUR, min(placed + 3 * _DAY, now - 2 * _HOUR)
            )
            delivered = None
            if status is OrderStatus.DELIVERED:
                delivered = time_between(rng, shipped + 2 * _DAY, shipped + 6 * _DAY)
            self.rows[Shipment.__tablename__].append(
                {
                    "id": self._next_id(Shipment),
                    "order_id": order_id,
                    "carrier": rng.choice(wd.CARRIERS),
                    "tracking_number": f"{rng.randrange(10**11, 10**12)}",
                    "shipped_at": shipped,
                    "delivered_at": delivered,
                }
            )
            order["updated_at"] = delivered or shipped
            if delivered is not None:
                recent = delivered > now - 60 * _DAY
                if rng.random() < (0.28 if recent else 0.07):
                    self._return(order, pm, lines, delivered)

    def _refund(
        self,
        order: Row,
        pm: Row,
        return_id: int | None,
        amount: Decimal,
        created: datetime,
        initiated: datetime,
    ) -> Row:
        """A refund of ``amount`` initiated at ``initiated``: completed unless changed after."""
        rng = self.rng
        if pm["kind"] == PaymentKind.GIFT_CARD:
            expected = completed = initiated
        else:
            days = rng.randint(5, 7)
            expected = add_business_days(initiated, days)
            completed = expected if return_id is None else add_business_days(initiated, days - 2)
        refund: Row = {
            "id": self._next_id(Refund),
            "order_id": order["id"],
            "return_id": return_id,
            "payment_method_id": pm["id"],
            "status": RefundStatus.COMPLETED.value,
            "amount": amount,
            "method": pm["kind"],
            "created_at": created,
            "initiated_at": initiated,
            "expected_at": expected,
            "completed_at": completed,
            "failure_reason": None,
        }
        self.rows[Refund.__tablename__].append(refund)
        return refund

    def _return(self, order: Row, pm: Row, lines: list[Row], delivered: datetime) -> None:
        rng, now = self.rng, self.now
        returned = rng.sample(lines, rng.randint(1, len(lines)))
        amount = sum((ln["quantity"] * ln["unit_price"] for ln in returned), Decimal("0.00"))
        requested = time_between(
            rng, delivered + 6 * _HOUR, min(delivered + 25 * _DAY, now - _HOUR)
        )
        received = None
        if rng.random() < 0.7 and requested + 2 * _DAY < now - _HOUR:
            received = time_between(
                rng, requested + 2 * _DAY, min(requested + 10 * _DAY, now - _HOUR)
            )
        return_id = self._next_id(Return)
        self.rows[Return.__tablename__].append(
            {
                "id": return_id,
                "order_id": order["id"],
                "status": (ReturnStatus.RECEIVED if received else ReturnStatus.REQUESTED).value,
                "reason": rng.choice(wd.RETURN_REASONS),
                "requested_at": requested,
                "received_at": received,
            }
        )
        if received is None:
            refund = self._refund(order, pm, return_id, amount, requested, requested)
            refund.update(
                status=RefundStatus.NOT_STARTED.value,
                initiated_at=None,
                expected_at=None,
                completed_at=None,
            )
            order["updated_at"] = requested
            return
        refund = self._refund(order, pm, return_id, amount, requested, received)
        if pm["kind"] != PaymentKind.GIFT_CARD:
            if rng.random() < 0.25:
                reason = rng.choice(wd.REFUND_FAILURES)
                if pm["kind"] == PaymentKind.PAYPAL and reason.startswith("card"):
                    reason = "PayPal account restricted"
                refund.update(
                    status=RefundStatus.FAILED.value, completed_at=None, failure_reason=reason
                )
            elif refund["expected_at"] > now:
                refund.update(status=RefundStatus.IN_PROGRESS.value, completed_at=None)
        order["updated_at"] = max(received, refund["completed_at"] or received)


def build_world_rows(config: WorldConfig) -> Rows:
    """Every row of the world ``config`` describes, keyed by table name (no database needed).

    Args:
        config: The world's seed, size and "now".

    Returns:
        Row dicts with explicit integer ids for each table of :data:`WORLD_MODELS`.

    Raises:
        WorldError: The config is invalid.
    """
    if config.customers < 1:
        raise WorldError(f"a world needs at least 1 customer, got {config.customers}")
    if config.items < 10:
        raise WorldError(f"a world needs at least 10 catalog items, got {config.items}")
    if config.as_of.tzinfo is not None:
        raise WorldError("as_of must be a naive UTC datetime")
    return _WorldBuilder(config).build()


def seed_world(session: Session, config: WorldConfig = WorldConfig()) -> WorldSummary:
    """Insert the synthetic world ``config`` describes into an empty, migrated store.

    Flushes but does not commit: the caller owns the transaction.

    Args:
        session: A session on a migrated store with no customers, items or world_meta yet.
        config: The world's seed, size and "now".

    Returns:
        The summary of the store after seeding.

    Raises:
        WorldError: The config is invalid or the store is not empty.
    """
    rows = build_world_rows(config)
    ensure_empty_store(session)
    insert_world(session, rows, world_meta("synthetic", config.seed, config.as_of))
    return world_summary(session)
