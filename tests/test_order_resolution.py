"""Order resolution by description: the time parser, the resolver (real MiniLM), the labelled
sets and their measurement."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from dialogue.domain import (
    OrderLine,
    OrderStatus,
    OrderView,
    PaymentKind,
    PaymentMethodView,
)
from dialogue.personalization.content import SentenceEncoder
from dialogue.personalization.orders import OrderResolver, ResolverConfig, time_window
from dialogue.store.repository import world_now
from simulator.descriptions import TAU2_STYLES, simulator_descriptions, tau2_descriptions, when
from simulator.order_resolution import measure_resolution, string_resolver
from simulator.phrases import load_phrase_bank

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NOW = datetime(2026, 3, 1, 12, 0)


@pytest.fixture(scope="module")
def resolver() -> OrderResolver:
    return OrderResolver(SentenceEncoder())


def _order(number: str, days_ago: int, *lines: tuple[str, str, dict[str, str]]) -> OrderView:
    return OrderView(
        id=int(number[2:]),
        order_number=number,
        customer_id=1,
        status=OrderStatus.PENDING,
        total=Decimal("10.00"),
        placed_at=NOW - timedelta(days=days_ago),
        payment=PaymentMethodView(1, PaymentKind.CREDIT_CARD, "Visa ending in 1111"),
        lines=tuple(
            OrderLine(title, category, tuple(sorted(attrs.items())), 1, Decimal("10.00"))
            for title, category, attrs in lines
        ),
    )


ORDERS = (
    _order("#W1000001", 3, ("Water Bottle (Blue)", "kitchen", {"color": "blue"})),
    _order("#W1000002", 40, ("Water Bottle (Red)", "kitchen", {"color": "red"})),
    _order("#W1000003", 35, ("Office Chair (Black)", "furniture", {"color": "black"})),
    _order("#W1000004", 120, ("Office Chair (Black)", "furniture", {"color": "black"})),
    _order("#W1000005", 10, ("Wireless Earbuds", "electronics", {"color": "white"})),
)


@pytest.mark.parametrize(
    ("text", "near", "far"),
    [
        ("the one I bought yesterday", 1, 2),
        ("ordered it 3 weeks ago", 14, 28),
        ("a couple of days ago", 0, 4),
        ("the chair I bought last month", 20, 65),
        ("got it last week", 5, 15),
    ],
)
def test_relative_dates_name_windows(text: str, near: int, far: int) -> None:
    window = time_window(text, NOW)
    assert window is not None
    assert window == (NOW - timedelta(days=far), NOW - timedelta(days=near))


def test_months_and_no_date() -> None:
    assert time_window("the lamp from back in january", NOW) == (
        datetime(2026, 1, 1),
        datetime(2026, 2, 1),
    )
    start, _ = time_window("in november", NOW) or (None, None)
    assert start == datetime(2025, 11, 1)  # a month after "now" means last year
    assert time_window("the blue water bottle", NOW) is None


def test_a_description_finds_its_order(resolver: OrderResolver) -> None:
    assert resolver.resolve("the blue water bottle", ORDERS, NOW) == (ORDERS[0],)
    assert resolver.resolve("um, the red one? the bottle", ORDERS, NOW) == (ORDERS[1],)
    # No shared word: "headphones" is not "earbuds", the embedding still finds it.
    assert string_resolver("my headphones", ORDERS, NOW) == ()
    assert resolver.resolve("my headphones", ORDERS, NOW) == (ORDERS[4],)
    # A slip of the keyboard.
    assert resolver.resolve("the wireles earbds", ORDERS, NOW) == (ORDERS[4],)


def test_time_separates_identical_items_and_ties_ask(resolver: OrderResolver) -> None:
    assert resolver.resolve("the office chair", ORDERS, NOW) == (ORDERS[2], ORDERS[3])
    assert resolver.resolve("the chair I bought last month", ORDERS, NOW) == (ORDERS[2],)
    assert resolver.resolve("the chair from 4 months ago", ORDERS, NOW) == (ORDERS[3],)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "hello", "jean.doyle@example.com", "<script>alert(1)</script>", "x" * 100_000],
)
def test_nothing_to_go_on_finds_nothing(resolver: OrderResolver, text: str) -> None:
    assert resolver.resolve(text, ORDERS, NOW) == ()
    assert resolver.resolve(text, (), NOW) == ()


def test_only_the_given_orders_are_ever_returned(resolver: OrderResolver) -> None:
    mine = ORDERS[2:3]
    assert resolver.resolve("the blue water bottle", mine, NOW) in ((), mine)


def test_the_signals_can_be_switched_off(resolver: OrderResolver) -> None:
    words_only = OrderResolver(resolver.encoder, config=ResolverConfig(use_content=False))
    assert words_only.resolve("my headphones", ORDERS, NOW) == ()
    no_time = OrderResolver(resolver.encoder, config=ResolverConfig(use_time=False))
    assert len(no_time.resolve("the chair I bought last month", ORDERS, NOW)) == 2


def test_when_rounds_like_people_do() -> None:
    rng = random.Random(0)
    assert when(0, rng, NOW) == "today" and when(1, rng, NOW) == "yesterday"
    assert when(20, rng, NOW) == "2 weeks ago"
    assert when(45, rng, NOW) in ("last month", "a month ago", "6 weeks ago")
    assert when(100, rng, NOW) in ("3 months ago", "in November")


def test_simulator_set_is_labelled_with_identifiable_orders(
    world_sessions: sessionmaker[Session],
) -> None:
    with world_sessions() as session:
        cases = simulator_descriptions(session, load_phrase_bank(None), seed=0, limit=80)
        assert len(cases) == 80
        figures = measure_resolution(session, cases, string_resolver, world_now(session))
        assert figures.n == 80
        assert figures.resolved + figures.wrong + figures.asked + figures.missed == 80
        low, high = figures.interval()
        assert low <= figures.accuracy <= high
        assert figures.to_dict()["by_style"]["simulator"]["n"] == 80
        again = simulator_descriptions(session, load_phrase_bank(None), seed=0, limit=80)
        assert again == cases  # seeded


def test_tau2_set_has_every_style(shared_data: Path, tmp_path: Path) -> None:
    from simulator.order_resolution import scratch_world
    from simulator.tau2 import import_tau2

    with scratch_world(lambda s: import_tau2(s, shared_data / "tau2_bench_retail/db.json")) as s:
        cases = tau2_descriptions(s, world_now(s), seed=0, limit=200)
        assert {c.style for c in cases} == set(TAU2_STYLES)
        assert all(c.text.startswith("the ") for c in cases)
