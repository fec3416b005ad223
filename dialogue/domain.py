"""In-process domain objects: frozen dataclasses and the enums of the store's status columns.

Nothing crosses a package boundary as a table object or a bare dict: repositories turn rows into
these, and the dialogue layer, the templates' slot formatter and the simulator read only these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class Membership(StrEnum):
    GUEST = "guest"
    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"


class PaymentKind(StrEnum):
    GIFT_CARD = "gift_card"
    CREDIT_CARD = "credit_card"
    PAYPAL = "paypal"


class OrderStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class ReturnStatus(StrEnum):
    REQUESTED = "requested"
    RECEIVED = "received"


class RefundStatus(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"


class CancelReason(StrEnum):
    NO_LONGER_NEEDED = "no_longer_needed"
    ORDERED_BY_MISTAKE = "ordered_by_mistake"
    FOUND_BETTER_PRICE = "found_better_price"
    TOO_SLOW = "delivery_too_slow"
    OTHER = "other"


class Intent(StrEnum):
    REFUND_STATUS = "refund_status"
    CANCEL_ORDER = "cancel_order"


@dataclass(frozen=True)
class CustomerProfile:
    """What the agent may know about an authenticated customer."""

    id: int
    external_id: str
    first_name: str
    last_name: str
    email: str
    zip_code: str
    membership: Membership
    created_at: datetime


@dataclass(frozen=True)
class PaymentMethodView:
    id: int
    kind: PaymentKind
    label: str


@dataclass(frozen=True)
class OrderLine:
    title: str
    category: str
    attributes: tuple[tuple[str, str], ...]
    quantity: int
    unit_price: Decimal
    sku: str = ""  # the catalog item's SKU (personalization looks its vectors up by it)


@dataclass(frozen=True)
class RefundView:
    id: int
    status: RefundStatus
    amount: Decimal
    method: PaymentKind
    payment_label: str
    created_at: datetime
    initiated_at: datetime | None
    expected_at: datetime | None
    completed_at: datetime | None
    failure_reason: str | None
    # Set when the refund waits on (or followed) a return.
    return_status: ReturnStatus | None = None
    return_received_at: datetime | None = None


@dataclass(frozen=True)
class OrderView:
    """One of the customer's orders with everything the agent may say about it."""

    id: int
    order_number: str
    customer_id: int
    status: OrderStatus
    total: Decimal
    placed_at: datetime
    payment: PaymentMethodView
    lines: tuple[OrderLine, ...]
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    cancelled_at: datetime | None = None
    refunds: tuple[RefundView, ...] = field(default=())

    @property
    def latest_refund(self) -> RefundView | None:
        return self.refunds[-1] if self.refunds else None


@dataclass(frozen=True)
class CustomerRecord:
    """An authenticated customer with their orders (newest first)."""

    profile: CustomerProfile
    orders: tuple[OrderView, ...]

    def order(self, order_number: str) -> OrderView | None:
        """The customer's own order with this number, or None (never another customer's)."""
        for order in self.orders:
            if order.order_number == order_number:
                return order
        return None
