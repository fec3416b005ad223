"""Importing the tau2-bench retail database into the store."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from dialogue.domain import OrderStatus, PaymentKind, RefundStatus
from dialogue.store import models as m
from simulator.tau2 import STATUS_MAP, import_tau2, load_tau2, tau2_rows
from simulator.world import WORLD_MODELS, WorldError, world_as_of

AS_OF = datetime(2026, 11, 2, 12, 0)


@pytest.fixture
def db_path(shared_data: Path) -> Path:
    path = shared_data / "tau2_bench_retail" / "db.json"
    if not path.is_file():
        pytest.skip(f"tau2 retail data not present at {path}")
    return path


@pytest.fixture
def raw(db_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(db_path.read_text(encoding="utf-8"))
    return data


def _import(sessions: sessionmaker[Session], path: Path, seed: int = 0) -> Any:
    with sessions() as s, s.begin():
        return import_tau2(s, path, as_of=AS_OF, seed=seed)


def test_counts_match_the_file(
    store_sessions: sessionmaker[Session], db_path: Path, raw: dict[str, Any]
) -> None:
    summary = _import(store_sessions, db_path)
    variants = sum(len(p["variants"]) for p in raw["products"].values())
    assert summary.source == "tau2" and summary.as_of == AS_OF and summary.seed == 0
    assert summary.customers == len(raw["users"]) == 500
    assert summary.items == variants
    assert 10 <= summary.categories <= 16
    assert sum(summary.orders_by_status.values()) == len(raw["orders"]) == 1000
    expected = Counter(STATUS_MAP[o["status"]].value for o in raw["orders"].values())
    assert {k: v for k, v in summary.orders_by_status.items() if v} == dict(expected)
    assert summary.orders_by_status["processing"] == 0
    cancelled = summary.orders_by_status["cancelled"]
    assert summary.refunds_by_status == {
        "not_started": 0,
        "in_progress": 0,
        "completed": cancelled,
        "failed": 0,
    }
    with store_sessions() as s:
        assert world_as_of(s) == AS_OF
        assert s.scalar(select(m.PaymentMethod.id).order_by(m.PaymentMethod.id.desc())) == sum(
            len(u["payment_methods"]) for u in raw["users"].values()
        )
        lines = s.scalars(select(m.OrderItem)).all()
    assert len(lines) == sum(len(o["items"]) for o in raw["orders"].values())


def test_known_order(store_sessions: sessionmaker[Session], db_path: Path) -> None:
    _import(store_sessions, db_path)
    with store_sessions() as s:
        order = s.scalars(
            select(m.Order)
            .where(m.Order.order_number == "#W2611340")
            .options(
                selectinload(m.Order.items).selectinload(m.OrderItem.catalog_item),
                selectinload(m.Order.shipments),
            )
        ).one()
        assert order.customer.external_id == "james_li_5688"
        assert order.status == OrderStatus.SHIPPED
        assert order.total == Decimal("536.65")
        assert [line.catalog_item.sku for line in order.items] == ["6469567736", "8426249116"]
        assert order.items[0].catalog_item.title == "Water Bottle (1000ml, glass, blue)"
        assert order.items[0].catalog_item.category == "kitchen"
        assert order.items[0].unit_price == Decimal("47.84")
        assert all(line.quantity == 1 for line in order.items)
        assert order.payment_method.external_id == "gift_card_1725971"
        assert order.payment_method.kind == PaymentKind.GIFT_CARD
        assert [sh.tracking_number for sh in order.shipments] == ["357962501027"]
        assert order.shipments[0].delivered_at is None
        assert order.placed_at < order.shipments[0].shipped_at < AS_OF
        customer = s.scalars(
            select(m.Customer).where(m.Customer.external_id == "noah_brown_6181")
        ).one()
        assert (customer.first_name, customer.last_name, customer.zip_code) == (
            "Noah",
            "Brown",
            "80279",
        )
        assert customer.email == "noah.brown7922@example.com"
        labels = {pm.external_id: pm.label for pm in customer.payment_methods}
        assert labels == {
            "paypal_5727330": "PayPal account",
            "credit_card_7815826": "Mastercard ending in 9212",
        }


def test_timelines_are_consistent(store_sessions: sessionmaker[Session], db_path: Path) -> None:
    _import(store_sessions, db_path)
    with store_sessions() as s:
        orders = s.scalars(
            select(m.Order).options(
                selectinload(m.Order.items),
                selectinload(m.Order.shipments),
                selectinload(m.Order.refunds).selectinload(m.Refund.payment_method),
                selectinload(m.Order.customer),
            )
        ).all()
        for order in orders:
            assert order.customer.created_at < order.placed_at <= order.updated_at <= AS_OF
            assert order.total == sum(line.unit_price for line in order.items)
            status = OrderStatus(order.status)
            if status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
                assert order.shipments
                for sh in order.shipments:
                    assert order.placed_at < sh.shipped_at < AS_OF
                    delivered = status is OrderStatus.DELIVERED
                    assert (sh.delivered_at is not None) == delivered
                    if sh.delivered_at is not None:
                        assert sh.shipped_at < sh.delivered_at < AS_OF
            else:
                assert not order.shipments
            if status is OrderStatus.CANCELLED:
                (refund,) = order.refunds
                assert order.cancelled_at is not None and order.placed_at < order.cancelled_at
                assert order.cancel_reason in ("no_longer_needed", "ordered_by_mistake")
                assert refund.status == RefundStatus.COMPLETED and refund.amount == order.total
                assert refund.method == refund.payment_method.kind
                assert refund.payment_method.customer_id == order.customer_id
                assert refund.completed_at is not None and refund.completed_at <= AS_OF
            else:
                assert not order.refunds and order.cancelled_at is None


def _dump(sessions: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    with sessions() as s:
        for model in WORLD_MODELS:
            query = select(model.__table__).order_by(*model.__mapper__.primary_key)
            out[model.__tablename__] = [tuple(row) for row in s.execute(query).all()]
    return out


def test_import_is_deterministic(store_sessions: sessionmaker[Session], db_path: Path) -> None:
    _import(store_sessions, db_path)
    first = _dump(store_sessions)
    with store_sessions() as s, s.begin():
        for model in reversed(WORLD_MODELS):
            s.execute(delete(model))
        s.execute(delete(m.WorldMeta))
    _import(store_sessions, db_path)
    assert _dump(store_sessions) == first


def test_rows_are_deterministic_and_seed_changes_dates(db_path: Path) -> None:
    data = load_tau2(db_path)
    assert tau2_rows(data, as_of=AS_OF) == tau2_rows(data, as_of=AS_OF)
    other = tau2_rows(data, as_of=AS_OF, seed=1)
    base = tau2_rows(data, as_of=AS_OF)
    assert [o["order_number"] for o in other["orders"]] == [
        o["order_number"] for o in base["orders"]
    ]
    assert [o["placed_at"] for o in other["orders"]] != [o["placed_at"] for o in base["orders"]]


def test_memberships_follow_the_synthetic_mix(db_path: Path) -> None:
    rows = tau2_rows(load_tau2(db_path), as_of=AS_OF)
    mix = Counter(c["membership"] for c in rows["customers"])
    assert set(mix) == {"guest", "bronze", "silver", "gold"}
    assert mix["bronze"] > mix["gold"] and mix["guest"] > mix["gold"]


def test_importing_into_a_non_empty_store_raises(
    store_sessions: sessionmaker[Session], db_path: Path
) -> None:
    _import(store_sessions, db_path)
    with pytest.raises(WorldError, match="not empty"):
        _import(store_sessions, db_path)


def test_missing_file_raises(store_sessions: sessionmaker[Session], tmp_path: Path) -> None:
    with pytest.raises(WorldError, match="not found"):
        _import(store_sessions, tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"products": {}, "orders": {}}', "users"),
        (
            '{"products": {}, "users": {}, "orders": {"#W1": {"user_id": "ghost"}}}',
            "unknown user ghost",
        ),
        (
            '{"products": {"p": {"name": "Mug", "variants": {"1": {"options": {}}}}}, '
            '"users": {}, "orders": {}}',
            "malformed tau2 data",
        ),
    ],
)
def test_malformed_file_raises(
    store_sessions: sessionmaker[Session], tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "db.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(WorldError, match=message):
        _import(store_sessions, path)
    with store_sessions() as s:
        assert s.scalar(select(m.Customer.id)) is None
