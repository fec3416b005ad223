"""The store on both backends: migrations build the schema, models and migrations agree,
and repository reads are scoped to the authenticated customer."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from alembic import command
from dialogue.store import models, repository
from dialogue.store.models import Base
from dialogue.store.session import alembic_config

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EXPECTED_TABLES = {
    "users",
    "user_sessions",
    "assist_choices",
    "world_meta",
    "customers",
    "payment_methods",
    "catalog_items",
    "orders",
    "order_items",
    "shipments",
    "returns",
    "refunds",
    "conversations",
    "turns",
    "action_log",
    "experiments",
    "experiment_assignments",
    "experiment_contacts",
    "experiment_outcomes",
    "handoffs",
    "alembic_version",
}


def test_upgrade_head_builds_every_table(store_engine: Engine) -> None:
    assert set(inspect(store_engine).get_table_names()) == EXPECTED_TABLES


def test_models_and_migrations_do_not_drift(store_engine: Engine) -> None:
    with store_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_database_is_at_the_single_head(store_engine: Engine, store_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config(store_url)).get_heads()
    with store_engine.connect() as conn:
        assert [MigrationContext.configure(conn).get_current_revision()] == head


def _customer(session: Session, n: int, *, email: str, zip_code: str = "02134") -> models.Customer:
    created = datetime(2025, 1, 1)
    customer = models.Customer(
        external_id=f"c{n}",
        first_name="Ana",
        last_name=f"Lee{n}",
        email=email,
        zip_code=zip_code,
        membership="gold",
        created_at=created,
    )
    session.add(customer)
    session.flush()
    payment = models.PaymentMethod(
        external_id=f"pm{n}",
        customer_id=customer.id,
        kind="credit_card",
        label="Visa ending in 4242",
    )
    item = models.CatalogItem(
        sku=f"SKU-{n}",
        title="Blue Water Bottle",
        category="kitchen",
        attributes={"color": "blue"},
        price=Decimal("19.99"),
        description="",
    )
    session.add_all([payment, item])
    session.flush()
    order = models.Order(
        order_number=f"#W000000{n}",
        customer_id=customer.id,
        payment_method_id=payment.id,
        status="pending",
        total=Decimal("19.99"),
        placed_at=created,
        updated_at=created,
    )
    session.add(order)
    session.flush()
    session.add(
        models.OrderItem(
            order_id=order.id, catalog_item_id=item.id, quantity=1, unit_price=Decimal("19.99")
        )
    )
    return customer


def test_money_round_trips_exactly(store_sessions: sessionmaker[Session]) -> None:
    with store_sessions() as session, session.begin():
        _customer(session, 1, email="ana@example.com")
    with store_sessions() as session:
        total = session.scalar(select(models.Order.total))
    assert total == Decimal("19.99")


def test_unique_email_is_enforced(store_sessions: sessionmaker[Session]) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), store_sessions() as session, session.begin():
        _customer(session, 1, email="same@example.com")
        _customer(session, 2, email="same@example.com")


@pytest.mark.parametrize(
    ("email", "found"),
    [
        ("ana@example.com", True),
        ("  ANA@Example.COM ", True),
        ("bob@example.com", False),
        ("' OR 1=1 --", False),
        ("", False),
    ],
    ids=["exact", "case-and-space", "unknown", "sql-looking", "empty"],
)
def test_find_customer_by_email(
    store_sessions: sessionmaker[Session], email: str, found: bool
) -> None:
    with store_sessions() as session, session.begin():
        _customer(session, 1, email="ana@example.com")
    with store_sessions() as session:
        assert (repository.find_customer_by_email(session, email) is not None) is found


def test_name_zip_must_identify_exactly_one_customer(store_sessions: sessionmaker[Session]) -> None:
    with store_sessions() as session, session.begin():
        a = _customer(session, 1, email="a@example.com")
        b = _customer(session, 2, email="b@example.com")
        b.last_name = a.last_name  # same full name and zip: ambiguous
        c = _customer(session, 3, email="c@example.com", zip_code="99999")
        c_last = c.last_name
    with store_sessions() as session:
        assert (
            repository.find_customer_by_name_zip(
                session, first_name="ana", last_name="lee1", zip_code="02134"
            )
            is None
        )
        found = repository.find_customer_by_name_zip(
            session, first_name="Ana", last_name=c_last, zip_code="99999"
        )
        assert found is not None and found.email == "c@example.com"


def test_owned_order_lookup_never_returns_another_customers_order(
    store_sessions: sessionmaker[Session],
) -> None:
    with store_sessions() as session, session.begin():
        first = _customer(session, 1, email="a@example.com")
        second = _customer(session, 2, email="b@example.com")
        first_id, second_id = first.id, second.id
    with store_sessions() as session:
        mine = repository.owned_order_view(session, customer_id=first_id, order_number="#W0000001")
        theirs = repository.owned_order_view(
            session, customer_id=first_id, order_number="#W0000002"
        )
        assert mine is not None and theirs is None
        record = repository.customer_record(session, second_id)
        assert record is not None
        assert [o.order_number for o in record.orders] == ["#W0000002"]
        assert record.order("#W0000001") is None


def test_plain_alembic_upgrade_head_uses_csbot_database_url(tmp_path: Path) -> None:
    """`alembic upgrade head` from the project root builds the store CSBOT_DATABASE_URL names."""
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    env = {**os.environ, "CSBOT_DATABASE_URL": url}
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) == EXPECTED_TABLES
    engine.dispose()


def test_downgrade_base_then_upgrade_head_round_trips(store_url: str, store_engine: Engine) -> None:
    command.downgrade(alembic_config(store_url), "base")
    assert set(inspect(store_engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(alembic_config(store_url), "head")
    assert set(inspect(store_engine).get_table_names()) == EXPECTED_TABLES
