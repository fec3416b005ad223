"""The world in the store: inserting a built world, and reading back its metadata and counts.

Shared by the synthetic world (simulator.world) and the tau2 importer (simulator.tau2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from dialogue.domain import OrderStatus, RefundStatus, ReturnStatus
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
    WorldMeta,
)
from dialogue.store.repository import world_now

WORLD_VERSION = "1"

Row = dict[str, Any]
Rows = dict[str, list[Row]]

# Insert order (parents first); every table here has an integer ``id`` primary key.
WORLD_MODELS: tuple[type[Base], ...] = (
    CatalogItem,
    Customer,
    PaymentMethod,
    Order,
    OrderItem,
    Shipment,
    Return,
    Refund,
)


class WorldError(ValueError):
    """The world cannot be seeded or read: bad config, non-empty store, unseeded store, bad data."""


@dataclass(frozen=True)
class WorldSummary:
    """Counts of what a store holds, with where it came from."""

    source: str
    seed: int
    as_of: datetime
    customers: int
    items: int
    categories: int
    orders_by_status: dict[str, int]
    refunds_by_status: dict[str, int]
    returns_by_status: dict[str, int]


def ensure_empty_store(session: Session) -> None:
    """Raise :class:`WorldError` unless the store holds no world yet."""
    for model, label in ((Customer, "customers"), (CatalogItem, "catalog items")):
        if session.scalar(select(func.count()).select_from(model)):
            raise WorldError(f"the store is not empty (it already has {label}); use a fresh store")
    if session.scalar(select(func.count()).select_from(WorldMeta)):
        raise WorldError("the store is not empty (world_meta is already set); use a fresh store")


def insert_world(session: Session, rows: Rows, meta: dict[str, str]) -> None:
    """Insert ``rows`` table by table (executemany) plus ``world_meta``, then flush.

    On PostgreSQL the id sequences are moved past the explicit ids so later inserts work.
    """
    for model in WORLD_MODELS:
        table_rows = rows.get(model.__tablename__, [])
        if table_rows:
            session.execute(insert(model), table_rows)
    session.execute(insert(WorldMeta), [{"key": k, "value": v} for k, v in meta.items()])
    if session.get_bind().dialect.name == "postgresql":
        for model in WORLD_MODELS:
            name = model.__tablename__
            session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {name}), false)"
                )
            )
    session.flush()


def world_meta(source: str, seed: int, as_of: datetime) -> dict[str, str]:
    """The ``world_meta`` rows of a world: source, seed, as_of (ISO format) and version."""
    return {
        "source": source,
        "seed": str(seed),
        "as_of": as_of.isoformat(),
        "version": WORLD_VERSION,
    }


def _meta(session: Session) -> dict[str, str]:
    meta = {k: v for k, v in session.execute(select(WorldMeta.key, WorldMeta.value))}
    if "as_of" not in meta:
        raise WorldError("the store holds no world (world_meta has no as_of); seed it first")
    return meta


def world_as_of(session: Session) -> datetime:
    """The world's "now" (naive UTC) recorded in ``world_meta``.

    Raises:
        WorldError: The store has not been seeded.
    """
    try:
        return world_now(session)
    except LookupError as exc:
        raise WorldError(str(exc)) from exc


def _by_status(
    session: Session, column: InstrumentedAttribute[str], statuses: list[str]
) -> dict[str, int]:
    found = dict(session.execute(select(column, func.count()).group_by(column)).all())
    counts = {status: found.pop(status, 0) for status in statuses}
    counts.update(sorted(found.items()))
    return counts


def world_summary(session: Session) -> WorldSummary:
    """Counts read back from the store, with the source, seed and as_of from ``world_meta``.

    Raises:
        WorldError: The store has not been seeded.
    """
    meta = _meta(session)
    return WorldSummary(
        source=meta.get("source", "unknown"),
        seed=int(meta.get("seed", "0")),
        as_of=datetime.fromisoformat(meta["as_of"]),
        customers=session.scalar(select(func.count()).select_from(Customer)) or 0,
        items=session.scalar(select(func.count()).select_from(CatalogItem)) or 0,
        categories=session.scalar(select(func.count(func.distinct(CatalogItem.category)))) or 0,
        orders_by_status=_by_status(session, Order.status, [s.value for s in OrderStatus]),
        refunds_by_status=_by_status(session, Refund.status, [s.value for s in RefundStatus]),
        returns_by_status=_by_status(session, Return.status, [s.value for s in ReturnStatus]),
    )
