"""Purchase histories read from the store: who bought what, how strongly, and in which order.

The implicit-feedback signal (Hu, Koren & Volinsky 2008) is a confidence per customer × item:
every unit bought counts, an order the customer cancelled or sent back counts for less (they
chose the item, then did not keep it). The store holds no reviews, so none are counted; a world
that adds them would add a weight here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialogue.domain import OrderLine
from dialogue.store import models

__all__ = [
    "ConfidenceWeights",
    "History",
    "ItemText",
    "OrderItems",
    "item_text",
    "line_item",
    "load_history",
    "world_fingerprint",
]


@dataclass(frozen=True)
class ConfidenceWeights:
    """How much one unit of an order line says about the customer's taste."""

    purchased: float = 1.0  # kept (pending, processing, shipped, delivered)
    cancelled: float = 0.5  # ordered, then cancelled
    returned: float = 0.25  # delivered, then a return was requested

    def to_json(self) -> dict[str, float]:
        return {"purchased": self.purchased, "cancelled": self.cancelled, "returned": self.returned}


@dataclass(frozen=True)
class ItemText:
    """What a catalog item says about itself (the content embedding's input)."""

    sku: str
    title: str
    category: str
    attributes: tuple[tuple[str, str], ...]
    description: str = ""


def line_item(line: OrderLine) -> ItemText:
    """An order line's item as personalization reads it (no description on a line)."""
    return ItemText(line.sku, line.title, line.category, line.attributes)


def item_text(item: ItemText) -> str:
    """The item as one line of text: title, category, attribute values, description.

    An item with no text at all gives ``""`` (its content vector is then zero: see
    :func:`dialogue.personalization.content.embed_items`).
    """
    parts = [item.title.strip(), item.category.strip()]
    attrs = ", ".join(f"{k} {v}".strip() for k, v in item.attributes if str(v).strip())
    parts.append(attrs)
    parts.append(item.description.strip())
    return ". ".join(p for p in parts if p)


@dataclass(frozen=True)
class OrderItems:
    """One order as personalization sees it: its number, when it was placed and its SKUs."""

    order_number: str
    placed_at: datetime
    skus: tuple[str, ...]


@dataclass
class History:
    """Every customer's orders and every item of one world, with the confidences ALS reads."""

    fingerprint: str
    items: list[ItemText]
    customers: list[int]
    # (customer_id, sku) -> confidence, summed over the customer's order lines
    confidence: dict[tuple[int, str], float] = field(default_factory=dict)
    # customer_id -> orders, newest first
    orders: dict[int, list[OrderItems]] = field(default_factory=dict)


def world_fingerprint(session: Session) -> str:
    """A short digest of the world the store holds: its world_meta rows and its catalog's SKUs.

    Two stores seeded alike share it; a store seeded otherwise, or an imported world, does not.

    Raises:
        LookupError: The store holds no world.
    """
    meta = dict(session.execute(select(models.WorldMeta.key, models.WorldMeta.value)).all())
    if "as_of" not in meta:
        raise LookupError("the store holds no world: run `csbot world seed` first")
    skus = session.scalars(select(models.CatalogItem.sku).order_by(models.CatalogItem.sku)).all()
    digest = hashlib.sha256(json.dumps([sorted(meta.items()), list(skus)]).encode())
    return digest.hexdigest()[:16]


def _weight(order: Any, weights: ConfidenceWeights) -> float:
    if order.status == "cancelled":
        return weights.cancelled
    if order.returns:
        return weights.returned
    return weights.purchased


def load_history(session: Session, weights: ConfidenceWeights | None = None) -> History:
    """Read the catalog and every order line of the store (one pass, no writes)."""
    from sqlalchemy.orm import selectinload

    weights = weights or ConfidenceWeights()
    items = [
        ItemText(
            sku=row.sku,
            title=row.title or "",
            category=row.category or "",
            attributes=tuple(sorted((str(k), str(v)) for k, v in (row.attributes or {}).items())),
            description=row.description or "",
        )
        for row in session.scalars(select(models.CatalogItem).order_by(models.CatalogItem.id))
    ]
    customers = list(session.scalars(select(models.Customer.id).order_by(models.Customer.id)))
    history = History(world_fingerprint(session), items, customers)
    query = (
        select(models.Order)
        .options(
            selectinload(models.Order.items).selectinload(models.OrderItem.catalog_item),
            selectinload(models.Order.returns),
        )
        .order_by(models.Order.customer_id, models.Order.placed_at.desc(), models.Order.id.desc())
    )
    for order in session.scalars(query):
        skus = tuple(line.catalog_item.sku for line in order.items)
        history.orders.setdefault(order.customer_id, []).append(
            OrderItems(order.order_number, order.placed_at, skus)
        )
        w = _weight(order, weights)
        for line in order.items:
            key = (order.customer_id, line.catalog_item.sku)
            history.confidence[key] = history.confidence.get(key, 0.0) + w * max(1, line.quantity)
    return history
