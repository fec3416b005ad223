"""Importer for the tau2-bench retail database (``db.json``: products, users, orders).

The file has no dates, memberships or carriers; those are synthesized deterministically from a
SHA-256 hash of the record's id (and ``seed``), so the same file always imports identically.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from dialogue.domain import CancelReason, Membership, OrderStatus, PaymentKind, RefundStatus
from dialogue.policy import add_business_days
from simulator import world_data as wd
from simulator.world import DEFAULT_AS_OF, time_between
from simulator.world_store import (
    Row,
    Rows,
    WorldError,
    WorldSummary,
    ensure_empty_store,
    insert_world,
    world_meta,
    world_summary,
)

REQUIRED_KEYS = ("products", "users", "orders")

# tau2's 50 product names grouped into ~12 categories; other names fall back to name.lower().
_PRODUCTS_BY_CATEGORY: dict[str, tuple[str, ...]] = {
    "electronics": (
        "Action Camera", "Bluetooth Speaker", "Digital Camera", "E-Reader", "Gaming Mouse",
        "Headphones", "Indoor Security Camera", "Laptop", "Mechanical Keyboard",
        "Portable Charger", "Smart Thermostat", "Smart Watch", "Smartphone", "Tablet",
        "Wireless Earbuds",
    ),
    "kitchen": (
        "Coffee Maker", "Electric Kettle", "Espresso Machine", "Tea Kettle", "Water Bottle",
    ),
    "home": ("Air Purifier", "LED Light Bulb", "Vacuum Cleaner", "Wall Clock"),
    "furniture": ("Bookshelf", "Office Chair"),
    "apparel": ("Fleece Jacket", "T-Shirt"),
    "footwear": ("Hiking Boots", "Running Shoes", "Sneakers"),
    "accessories": ("Backpack", "Luggage Set", "Sunglasses", "Wristwatch"),
    "sports": ("Bicycle", "Cycling Helmet", "Dumbbell Set", "Skateboard", "Yoga Mat"),
    "outdoor": ("Grill", "Patio Umbrella"),
    "garden": ("Garden Hose",),
    "beauty": ("Electric Toothbrush", "Makeup Kit", "Perfume"),
    "toys": ("Jigsaw Puzzle",),
    "office": ("Desk Lamp", "Notebook"),
    "pet": ("Pet Bed",),
}  # fmt: skip
CATEGORY_BY_PRODUCT: dict[str, str] = {
    name: category for category, names in _PRODUCTS_BY_CATEGORY.items() for name in names
}

STATUS_MAP: dict[str, OrderStatus] = {
    "pending": OrderStatus.PENDING,
    "pending (item modified)": OrderStatus.PENDING,
    # Processed orders have tracking ids and can no longer be cancelled under tau2's policy.
    "processed": OrderStatus.SHIPPED,
    "delivered": OrderStatus.DELIVERED,
    "cancelled": OrderStatus.CANCELLED,
}
_MEMBERSHIP_BUCKETS = (
    (30, Membership.GUEST),
    (65, Membership.BRONZE),
    (87, Membership.SILVER),
    (100, Membership.GOLD),
)
_DAY = timedelta(days=1)
_HOUR = timedelta(hours=1)


def _digest(seed: int, *parts: str) -> int:
    text = "\x1f".join((str(seed), *parts))
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _rng(seed: int, *parts: str) -> random.Random:
    """A random source that depends only on ``seed`` and the record's id (never on hash())."""
    return random.Random(_digest(seed, *parts))


def _money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def load_tau2(path: Path) -> dict[str, Any]:
    """Read and check a tau2 retail ``db.json``.

    Raises:
        WorldError: The file is missing, is not valid JSON or lacks a top-level key.
    """
    if not path.is_file():
        raise WorldError(f"tau2 data file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WorldError(f"tau2 data file {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise WorldError(f"tau2 data file {path} must hold a JSON object at the top level")
    missing = [key for key in REQUIRED_KEYS if not isinstance(data.get(key), dict)]
    if missing:
        raise WorldError(
            f"tau2 data file {path} lacks the top-level object(s): {', '.join(missing)}"
        )
    return data


class _Tau2Mapper:
    def __init__(self, data: dict[str, Any], as_of: datetime, seed: int) -> None:
        self.data, self.now, self.seed = data, as_of, seed
        self.rows: Rows = {
            name: []
            for name in (
                "catalog_items",
                "customers",
                "payment_methods",
                "orders",
                "order_items",
                "shipments",
                "returns",
                "refunds",
            )
        }
        self.item_ids: dict[str, int] = {}
        self.customer_ids: dict[str, int] = {}
        self.methods: dict[str, Row] = {}
        self.first_order: dict[str, datetime] = {}

    def build(self) -> Rows:
        for product in self.data["products"].values():
            variants = list(product["variants"].values())
            options = [variant.get("options", {}) for variant in variants]
            keys = list(dict.fromkeys(key for opts in options for key in opts))
            varying = [k for k in keys if len({str(o.get(k)) for o in options}) > 1] or keys
            for variant in variants:
                self._item(product["name"], variant["item_id"], variant, varying)
        users = self.data["users"]
        for user_id, user in users.items():
            self.customer_ids[user_id] = len(self.customer_ids) + 1
            for pm_id, pm in user.get("payment_methods", {}).items():
                self._payment_method(user_id, pm_id, pm)
        for order_id, order in self.data["orders"].items():
            if order["user_id"] not in self.customer_ids:
                raise WorldError(f"tau2 order {order_id} names unknown user {order['user_id']}")
            self._order(order_id, order)
        for user_id, user in users.items():
            self._customer(user_id, user)
        return self.rows

    def _item(self, name: str, item_id: str, variant: dict[str, Any], keys: list[str]) -> int:
        if item_id in self.item_ids:
            return self.item_ids[item_id]
        options = {str(k): str(v) for k, v in variant.get("options", {}).items()}
        shown = [options[k] for k in keys[:4] if k in options]
        detail = ", ".join(f"{k} {v}" for k, v in options.items())
        row_id = len(self.rows["catalog_items"]) + 1
        self.rows["catalog_items"].append(
            {
                "id": row_id,
                "sku": item_id,
                "title": f"{name} ({', '.join(shown)})" if shown else name,
                "category": CATEGORY_BY_PRODUCT.get(name, name.lower()),
                "attributes": {"noun": name.lower(), **options},
                "price": _money(variant["price"]),
                "description": f"{name} with {detail}." if detail else f"{name}.",
            }
        )
        self.item_ids[item_id] = row_id
        return row_id

    def _payment_method(self, user_id: str, pm_id: str, pm: dict[str, Any]) -> None:
        source = pm.get("source")
        if source == PaymentKind.CREDIT_CARD:
            label = f"{str(pm['brand']).title()} ending in {pm['last_four']}"
        elif source == PaymentKind.GIFT_CARD:
            label = "gift card"
        elif source == PaymentKind.PAYPAL:
            label = "PayPal account"
        else:
            raise WorldError(f"tau2 payment method {pm_id} has unknown source {source!r}")
        row: Row = {
            "id": len(self.methods) + 1,
            "external_id": pm_id,
            "customer_id": self.customer_ids[user_id],
            "kind": source,
            "label": label,
        }
        self.methods[pm_id] = row
        self.rows["payment_methods"].append(row)

    def _customer(self, user_id: str, user: dict[str, Any]) -> None:
        rng = _rng(self.seed, "user", user_id)
        bucket = _digest(self.seed, "membership", user_id) % 100
        membership = next(m for limit, m in _MEMBERSHIP_BUCKETS if bucket < limit)
        anchor = self.first_order.get(user_id, self.now)
        self.rows["customers"].append(
            {
                "id": self.customer_ids[user_id],
                "external_id": user_id,
                "first_name": user["name"]["first_name"],
                "last_name": user["name"]["last_name"],
                "email": str(user["email"]).lower(),
                "zip_code": str(user["address"]["zip"]),
                "membership": membership.value,
                "created_at": anchor - timedelta(minutes=rng.randint(24 * 60, 900 * 24 * 60)),
            }
        )

    def _method_for(self, order_id: str, order: dict[str, Any], kind: str) -> tuple[Row, Any]:
        for txn in order.get("payment_history", []):
            if txn.get("transaction_type") == kind:
                pm = self.methods.get(txn["payment_method_id"])
                if pm is None:
                    raise WorldError(
                        f"tau2 order {order_id} uses unknown payment method "
                        f"{txn['payment_method_id']}"
                    )
                return pm, txn["amount"]
        raise WorldError(f"tau2 order {order_id} has no {kind!r} transaction")

    def _order(self, order_id: str, order: dict[str, Any]) -> None:
        status = STATUS_MAP.get(order["status"])
        if status is None:
            raise WorldError(f"tau2 order {order_id} has unknown status {order['status']!r}")
        rng, now = _rng(self.seed, "order", order_id), self.now
        pm, amount = self._method_for(order_id, order, "payment")
        row_id = len(self.rows["orders"]) + 1
        for line in order["items"]:
            item_id = self._item(line["name"], line["item_id"], line, list(line.get("options", {})))
            self.rows["order_items"].append(
                {
                    "id": len(self.rows["order_items"]) + 1,
                    "order_id": row_id,
                    "catalog_item_id": item_id,
                    "quantity": 1,
                    "unit_price": _money(line["price"]),
                }
            )
        if status is OrderStatus.PENDING:
            placed = time_between(rng, now - 47 * _HOUR, now - timedelta(minutes=5))
        elif status is OrderStatus.SHIPPED:
            placed = time_between(rng, now - 8 * _DAY, now - 2 * _DAY)
        elif status is OrderStatus.DELIVERED:
            placed = time_between(rng, now - 365 * _DAY, now - 10 * _DAY)
        else:
            placed = time_between(rng, now - 200 * _DAY, now - 12 * _DAY)
        row: Row = {
            "id": row_id,
            "order_number": order_id,
            "customer_id": self.customer_ids[order["user_id"]],
            "payment_method_id": pm["id"],
            "status": status.value,
            "total": _money(amount),
            "placed_at": placed,
            "updated_at": placed,
            "cancelled_at": None,
            "cancel_reason": None,
        }
        self.rows["orders"].append(row)
        user_id = order["user_id"]
        self.first_order[user_id] = min(placed, self.first_order.get(user_id, placed))
        if status is OrderStatus.CANCELLED:
            self._cancel(order_id, order, row, rng)
        elif status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
            self._ship(order, row, rng, status is OrderStatus.DELIVERED)

    def _ship(self, order: dict[str, Any], row: Row, rng: random.Random, delivered: bool) -> None:
        placed, now = row["placed_at"], self.now
        shipped = time_between(rng, placed + 12 * _HOUR, min(placed + 3 * _DAY, now - 2 * _HOUR))
        arrived = time_between(rng, shipped + 2 * _DAY, shipped + 6 * _DAY) if delivered else None
        tracking = [str(t) for f in order.get("fulfillments", []) for t in f.get("tracking_id", [])]
        carrier = rng.choice(wd.CARRIERS)
        for number in tracking or [f"{rng.randrange(10**11, 10**12)}"]:
            self.rows["shipments"].append(
                {
                    "id": len(self.rows["shipments"]) + 1,
                    "order_id": row["id"],
                    "carrier": carrier,
                    "tracking_number": number,
                    "shipped_at": shipped,
                    "delivered_at": arrived,
                }
            )
        row["updated_at"] = arrived or shipped

    def _cancel(self, order_id: str, order: dict[str, Any], row: Row, rng: random.Random) -> None:
        cancelled = time_between(
            rng, row["placed_at"] + 10 * timedelta(minutes=1), row["placed_at"] + 30 * _HOUR
        )
        row["cancelled_at"] = cancelled
        row["cancel_reason"] = rng.choice(
            (CancelReason.NO_LONGER_NEEDED, CancelReason.ORDERED_BY_MISTAKE)
        ).value
        pm, amount = self._method_for(order_id, order, "refund")
        if pm["kind"] == PaymentKind.GIFT_CARD:
            completed = cancelled
        else:
            completed = add_business_days(cancelled, rng.randint(5, 7))
        self.rows["refunds"].append(
            {
                "id": len(self.rows["refunds"]) + 1,
                "order_id": row["id"],
                "return_id": None,
                "payment_method_id": pm["id"],
                "status": RefundStatus.COMPLETED.value,
                "amount": _money(amount),
                "method": pm["kind"],
                "created_at": cancelled,
                "initiated_at": cancelled,
                "expected_at": completed,
                "completed_at": completed,
                "failure_reason": None,
            }
        )
        row["updated_at"] = completed


def tau2_rows(data: dict[str, Any], *, as_of: datetime = DEFAULT_AS_OF, seed: int = 0) -> Rows:
    """Map loaded tau2 data to store rows keyed by table name (no database needed).

    Raises:
        WorldError: A record is malformed or refers to something that does not exist.
    """
    try:
        return _Tau2Mapper(data, as_of, seed).build()
    except WorldError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError, InvalidOperation) as exc:
        raise WorldError(f"malformed tau2 data: {type(exc).__name__}: {exc}") from exc


def import_tau2(
    session: Session, path: Path, *, as_of: datetime = DEFAULT_AS_OF, seed: int = 0
) -> WorldSummary:
    """Import a tau2-bench retail ``db.json`` into an empty, migrated store.

    Flushes but does not commit: the caller owns the transaction.

    Args:
        session: A session on a migrated store with no world in it yet.
        path: The tau2 ``db.json`` file.
        as_of: The world's "now" (naive UTC); every synthesized date lies before it.
        seed: Mixed into the hashes that synthesize dates, memberships and carriers.

    Returns:
        The summary of the store after the import (source "tau2").

    Raises:
        WorldError: The file is missing, invalid or malformed, or the store is not empty.
    """
    if as_of.tzinfo is not None:
        raise WorldError("as_of must be a naive UTC datetime")
    rows = tau2_rows(load_tau2(path), as_of=as_of, seed=seed)
    ensure_empty_store(session)
    insert_world(session, rows, world_meta("tau2", seed, as_of))
    return world_summary(session)
