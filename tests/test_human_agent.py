"""The simulated human rep: the policy's acts, free text of its own, only the store's facts."""

from __future__ import annotations

import random
import re
import string
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dialogue.agent import AgentReply, TurnContext, TurnOutcome
from dialogue.conversation import ConversationRunner
from dialogue.domain import (
    CustomerProfile,
    Membership,
    OrderLine,
    OrderStatus,
    OrderView,
    PaymentKind,
    PaymentMethodView,
    RefundStatus,
    RefundView,
)
from dialogue.rules import RulesAgent
from dialogue.slots import SlotValue, order_option, order_slots, profile_slots
from dialogue.state import Awaiting, DialogueState
from dialogue.store import models
from dialogue.store.session import make_engine, make_session_factory
from dialogue.text import CustomerMessage, clean_message
from simulator.human_agent import HumanAgent, turn_rng, write_reply
from simulator.human_agent_phrases import (
    HANDOFF_KINDS,
    OFF_CATALOG_KINDS,
    PHRASES,
    ActPhrases,
)
from templates import ACTS, SLOTS, load_catalog
from tests.conftest import copy_sqlite
from tests.dialogue_helpers import acts, pick, talk

CATALOG = load_catalog()
ALL_ACTS = sorted(ACTS)
# Acts the tests drive most; each must have dozens of surface forms.
COMMON_ACTS = ("request_auth", "request_order", "refund_in_progress", "cancel_done")

ORDER_ID = re.compile(r"#W\d{7}")
AMOUNT = re.compile(r"\$[\d,]+(?:\.\d{2})?")
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
DATE = re.compile(rf"(?:{MONTHS}) \d{{1,2}}, \d{{4}}")
FACT_PATTERNS = {"order id": ORDER_ID, "amount": AMOUNT, "date": DATE}


# ---- a small hand-built store: orders in every status, refunds in every state ------------------
def _at(month: int, day: int) -> datetime:
    return datetime(2025, month, day, 10, 30)


CARD = PaymentMethodView(id=1, kind=PaymentKind.CREDIT_CARD, label="Visa ending in 4242")
GIFT = PaymentMethodView(id=2, kind=PaymentKind.GIFT_CARD, label="gift card ending in 0077")
PAYPAL = PaymentMethodView(id=3, kind=PaymentKind.PAYPAL, label="PayPal account")


def _line(title: str, price: str) -> OrderLine:
    return OrderLine(
        title=title, category="home", attributes=(), quantity=1, unit_price=Decimal(price)
    )


def _refund(
    status: RefundStatus,
    amount: str,
    payment: PaymentMethodView,
    *,
    expected: datetime | None = None,
    completed: datetime | None = None,
) -> RefundView:
    return RefundView(
        id=1,
        status=status,
        amount=Decimal(amount),
        method=payment.kind,
        payment_label=payment.label,
        created_at=_at(3, 1),
        initiated_at=_at(3, 2) if status != RefundStatus.NOT_STARTED else None,
        expected_at=expected,
        completed_at=completed,
        failure_reason="card closed" if status == RefundStatus.FAILED else None,
    )


def _order(
    number: str,
    status: OrderStatus,
    payment: PaymentMethodView,
    lines: tuple[OrderLine, ...],
    **extra: object,
) -> OrderView:
    total = sum((line.unit_price for line in lines), Decimal("0"))
    return OrderView(
        id=int(number[2:]),
        order_number=number,
        customer_id=1,
        status=status,
        total=total,
        placed_at=_at(2, 3),
        payment=payment,
        lines=lines,
        **extra,  # type: ignore[arg-type]
    )


LAMP = _line("Desk Lamp", "34.50")
MUG = _line("Blue Ceramic Mug", "12.00")
SOFA = _line("Corner Sofa", "1249.99")
ORDERS: dict[str, OrderView] = {
    "pending-card": _order("#W1000001", OrderStatus.PENDING, CARD, (LAMP,)),
    "processing-gift": _order("#W1000002", OrderStatus.PROCESSING, GIFT, (LAMP, MUG)),
    "shipped-paypal": _order(
        "#W1000003", OrderStatus.SHIPPED, PAYPAL, (LAMP, MUG, SOFA), shipped_at=_at(2, 5)
    ),
    "delivered-none": _order(
        "#W1000004",
        OrderStatus.DELIVERED,
        CARD,
        (SOFA,),
        shipped_at=_at(2, 5),
        delivered_at=_at(2, 9),
    ),
    "refund-not-started": _order(
        "#W1000005",
        OrderStatus.DELIVERED,
        CARD,
        (MUG,),
        shipped_at=_at(2, 5),
        delivered_at=_at(2, 9),
        refunds=(_refund(RefundStatus.NOT_STARTED, "12.00", CARD),),
    ),
    "refund-in-progress": _order(
        "#W1000006",
        OrderStatus.DELIVERED,
        PAYPAL,
        (SOFA, MUG),
        shipped_at=_at(2, 5),
        delivered_at=_at(2, 9),
        refunds=(_refund(RefundStatus.IN_PROGRESS, "1249.99", PAYPAL, expected=_at(3, 11)),),
    ),
    "refund-completed": _order(
        "#W1000007",
        OrderStatus.DELIVERED,
        GIFT,
        (LAMP,),
        shipped_at=_at(2, 5),
        delivered_at=_at(2, 9),
        refunds=(_refund(RefundStatus.COMPLETED, "34.50", GIFT, completed=_at(3, 2)),),
    ),
    "refund-failed": _order(
        "#W1000008",
        OrderStatus.DELIVERED,
        CARD,
        (MUG,),
        shipped_at=_at(2, 5),
        delivered_at=_at(2, 9),
        refunds=(_refund(RefundStatus.FAILED, "12.00", CARD),),
    ),
    "cancelled": _order(
        "#W1000009",
        OrderStatus.CANCELLED,
        CARD,
        (LAMP,),
        cancelled_at=_at(2, 4),
        refunds=(_refund(RefundStatus.COMPLETED, "34.50", CARD, completed=_at(2, 11)),),
    ),
}


def _profile(membership: Membership) -> CustomerProfile:
    return CustomerProfile(
        id=1,
        external_id="c1",
        first_name="Priya",
        last_name="Shah",
        email="priya@example.com",
        zip_code="94110",
        membership=membership,
        created_at=_at(1, 1),
    )


def _slot_sets() -> dict[str, dict[str, SlotValue]]:
    """Named slot sets: the agent's real ones (order + profile), partial ones and odd ones."""
    sets: dict[str, dict[str, SlotValue]] = {"empty": {}}
    memberships = (Membership.GOLD, Membership.SILVER, Membership.BRONZE, Membership.GUEST)
    for (name, order), membership in zip(ORDERS.items(), memberships * 3, strict=False):
        sets[name] = {**order_slots(order), **profile_slots(_profile(membership))}
        sets[f"{name}-order-only"] = order_slots(order)
    sets["first-name"] = {"first_name": "Priya"}
    sets["order-ref"] = {"order_ref": "#W9999999"}
    sets["order-ref-text"] = {"order_ref": "the red sneakers"}
    sets["options"] = {
        "order_options": [order_option(ORDERS[k]) for k in ("pending-card", "processing-gift")]
    }
    sets["options-three"] = {"order_options": [order_option(o) for o in list(ORDERS.values())[:3]]}
    sets["options-malformed"] = {"order_options": [{"order_id": "#W1000001"}]}
    sets["blank-values"] = {"order_id": "", "first_name": "  "}
    rng = random.Random(5)
    full = sets["refund-in-progress"] | sets["options"] | sets["order-ref"]
    for index in range(12):  # random partial sets: a phrasing may use only what is there
        keys = rng.sample(sorted(full), rng.randint(1, len(full) - 1))
        sets[f"subset-{index}"] = {key: full[key] for key in keys}
    return sets


SLOT_SETS = _slot_sets()
# Per act, a slot set holding every slot its catalog templates state (what the agent sends).
FULL_SLOTS: dict[str, dict[str, SlotValue]] = {
    act: (
        SLOT_SETS["refund-in-progress"]
        | SLOT_SETS["refund-completed-order-only"]
        | {
            "shipped_date": "February 5, 2025",
            "cancelled_date": "February 4, 2025",
            "order_ref": "#W9999999",
            "order_options": SLOT_SETS["options"]["order_options"],
        }
    )
    for act in ALL_ACTS
}


def _catalog_slots(act: str) -> tuple[str, ...]:
    return tuple(sorted({name for entry in CATALOG.by_act(act) for name in entry.slots}))


def _values(slots: Mapping[str, SlotValue]) -> list[str]:
    """Every string a reply may state, order options' fields included."""
    values: list[str] = []
    for value in slots.values():
        if isinstance(value, str):
            values.append(value)
        else:
            values.extend(field for option in value for field in option.values())
    return values


def _facts_not_in_slots(text: str, slots: Mapping[str, SlotValue]) -> list[str]:
    values = _values(slots)
    return [
        f"{kind} {match!r}"
        for kind, pattern in FACT_PATTERNS.items()
        for match in pattern.findall(text)
        if not any(match in value for value in values)
    ]


def _draws(
    act: str, slots: Mapping[str, SlotValue], n: int, *, rate: float = 0.12
) -> list[tuple[str, bool]]:
    return [write_reply(act, slots, random.Random(i), off_catalog_rate=rate) for i in range(n)]


# ---- the phrase data --------------------------------------------------------------------------
def test_every_catalog_act_has_phrasings() -> None:
    assert sorted(PHRASES) == ALL_ACTS


@pytest.mark.parametrize("act", ALL_ACTS, ids=ALL_ACTS)
def test_act_states_the_catalog_slots_and_has_a_slot_free_fallback(act: str) -> None:
    phrases = PHRASES[act]
    assert phrases.states == _catalog_slots(act)
    assert len(phrases.cores) >= 6
    assert len(set(phrases.cores)) == len(phrases.cores)
    assert any(not _placeholders(core) for core in phrases.cores)
    assert any(not _placeholders(off.text) for off in phrases.off_catalog)
    if phrases.states:  # and at least 6 phrasings that state everything the templates state
        assert sum(_placeholders(c) >= set(phrases.states) for c in phrases.cores) >= 6


def _placeholders(fragment: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(fragment) if name}


def _fragments(phrases: ActPhrases) -> list[str]:
    return [
        *phrases.cores,
        *phrases.openers,
        *phrases.closers,
        *(off.text for off in phrases.off_catalog),
    ]


@pytest.mark.parametrize("act", ALL_ACTS, ids=ALL_ACTS)
def test_fragments_name_only_known_slots_and_hold_no_facts(act: str) -> None:
    for fragment in _fragments(PHRASES[act]):
        assert _placeholders(fragment) <= SLOTS, fragment
        assert _facts_not_in_slots(fragment, {}) == [], fragment
        assert "<" not in fragment and ">" not in fragment, fragment
    for fragment in (*PHRASES[act].openers, *PHRASES[act].closers):
        assert _placeholders(fragment) <= {"first_name"}, fragment


HANDOFF_ACTS = sorted({entry.act for entry in CATALOG.entries if entry.action == "handoff"})


@pytest.mark.parametrize("act", HANDOFF_ACTS, ids=HANDOFF_ACTS)
def test_handoff_acts_only_sympathise_off_catalog(act: str) -> None:
    kinds = {off.kind for off in PHRASES[act].off_catalog}
    assert kinds and kinds <= HANDOFF_KINDS


def test_off_catalog_kinds_all_used() -> None:
    used = {off.kind for phrases in PHRASES.values() for off in phrases.off_catalog}
    assert used == set(OFF_CATALOG_KINDS)


# ---- what a reply says -------------------------------------------------------------------------
@pytest.mark.parametrize("act", ALL_ACTS, ids=ALL_ACTS)
def test_every_stated_fact_comes_from_the_slots(act: str) -> None:
    for name, slots in SLOT_SETS.items():
        for text, _ in _draws(act, slots, 40, rate=0.5):
            assert text.strip() == text and text, (name, text)
            assert "{" not in text and "}" not in text, (name, text)
            assert _facts_not_in_slots(text, slots) == [], (name, text)


@pytest.mark.parametrize("act", ALL_ACTS, ids=ALL_ACTS)
def test_reply_states_every_slot_the_templates_state(act: str) -> None:
    slots = FULL_SLOTS[act]
    for text, _ in _draws(act, slots, 100, rate=0.5):
        for name in PHRASES[act].states:
            value = slots[name]
            if isinstance(value, str):
                assert value in text, (name, text)
            else:
                assert all(option["order_id"] in text for option in value), text


def test_missing_slots_fall_back_to_phrasings_without_them() -> None:
    partial = {"order_id": "#W1000006"}
    for text, _ in _draws("refund_in_progress", partial, 50, rate=0.5):
        assert "#W1000006" in text
        assert not AMOUNT.search(text) and not DATE.search(text)
    for text, _ in _draws("refund_in_progress", {}, 50, rate=0.5):
        assert not ORDER_ID.search(text) and not AMOUNT.search(text) and not DATE.search(text)


def test_malformed_order_options_fall_back_to_asking_for_the_number() -> None:
    for text, _ in _draws("disambiguate_order", SLOT_SETS["options-malformed"], 30):
        assert "#W1000001" not in text
        assert "order number" in text


def test_slot_values_are_inserted_verbatim() -> None:
    slots = {"order_ref": '<b>"#W12" & co</b>'}
    texts = {text for text, _ in _draws("order_not_found", slots, 60, rate=0.0)}
    assert any('<b>"#W12" & co</b>' in text for text in texts)


# ---- variety -----------------------------------------------------------------------------------
@pytest.mark.parametrize("act", ALL_ACTS, ids=ALL_ACTS)
def test_at_least_six_distinct_replies_per_act(act: str) -> None:
    full = {text for text, _ in _draws(act, FULL_SLOTS[act], 200)}
    fallback = {text for text, _ in _draws(act, {}, 200)}
    assert len(full) >= (50 if act in COMMON_ACTS else 6)
    assert len(fallback) >= 6


@pytest.mark.parametrize("act", ALL_ACTS, ids=ALL_ACTS)
def test_no_reply_is_a_catalog_template(act: str) -> None:
    slots = FULL_SLOTS[act]
    rendered = {CATALOG.render(entry.id, slots) for entry in CATALOG.by_act(act)}
    texts = {text for text, _ in _draws(act, slots, 200, rate=0.5)}
    assert texts.isdisjoint(rendered)


# ---- off-catalog behaviour ---------------------------------------------------------------------
@pytest.mark.parametrize("act", ALL_ACTS, ids=ALL_ACTS)
def test_off_catalog_rate(act: str) -> None:
    for slots in (FULL_SLOTS[act], {}):
        flags = [off for _, off in _draws(act, slots, 2000, rate=0.12)]
        assert 0.08 <= sum(flags) / len(flags) <= 0.16
        assert not any(off for _, off in _draws(act, slots, 300, rate=0.0))
        assert all(off for _, off in _draws(act, slots, 50, rate=1.0))


def test_off_catalog_replies_differ_from_in_catalog_ones() -> None:
    slots = FULL_SLOTS["request_auth"]
    plain = {text for text, _ in _draws("request_auth", slots, 300, rate=0.0)}
    off = {text for text, _ in _draws("request_auth", slots, 300, rate=1.0)}
    assert off.isdisjoint(plain)
    assert any("order number" in text for text in off)  # asks for two things at once


@pytest.mark.parametrize("rate", [-0.1, 1.5], ids=["negative", "above-one"])
def test_off_catalog_rate_must_be_a_probability(rate: float) -> None:
    with pytest.raises(ValueError, match="off_catalog_rate"):
        write_reply("greeting", {}, random.Random(0), off_catalog_rate=rate)
    with pytest.raises(ValueError, match="off_catalog_rate"):
        HumanAgent(_FixedAgent(_reply("greeting")), off_catalog_rate=rate)


def test_unknown_act_is_an_error() -> None:
    with pytest.raises(ValueError, match="no phrasings for act 'sing_a_song'"):
        write_reply("sing_a_song", {}, random.Random(0), off_catalog_rate=0.1)


# ---- determinism -------------------------------------------------------------------------------
@pytest.mark.parametrize("act", COMMON_ACTS, ids=COMMON_ACTS)
def test_same_rng_same_text(act: str) -> None:
    slots = FULL_SLOTS[act]
    assert _draws(act, slots, 30) == _draws(act, slots, 30)


def _ctx(conversation_id: int, turn_index: int, phrasing_key: int | None = None) -> TurnContext:
    return TurnContext(
        conversation_id=conversation_id,
        turn_index=turn_index,
        now=_at(4, 1),
        phrasing_key=phrasing_key,
    )


def test_turn_rng_keys_on_conversation_and_turn_separately() -> None:
    # TurnContext.variant is key * 7 + turn: (1, 7) and (2, 0) would share a phrasing stream.
    assert _ctx(1, 7).variant == _ctx(2, 0).variant
    assert turn_rng(0, _ctx(1, 7)).random() != turn_rng(0, _ctx(2, 0)).random()
    assert turn_rng(0, _ctx(1, 3)).random() != turn_rng(1, _ctx(1, 3)).random()
    # The harness's phrasing key wins over the run-order-dependent conversation id.
    assert turn_rng(0, _ctx(5, 3, 42)).random() == turn_rng(0, _ctx(9, 3, 42)).random()


# ---- the agent around the inner agent ----------------------------------------------------------
def _reply(act: str, slots: Mapping[str, SlotValue] | None = None) -> AgentReply:
    return AgentReply(
        text="template text",
        act=act,
        template_id=f"{act}.1",
        action="handoff" if act == "handoff" else None,
        scores={f"{act}.1": 0.9},
        slots=slots,
    )


class _FixedAgent:
    """An inner agent that always gives the same reply and next state."""

    name = "fixed"

    def __init__(self, reply: AgentReply) -> None:
        self.reply = reply
        self.next_state = DialogueState(turns=1, awaiting=Awaiting.ORDER)

    def respond(
        self, session: Session, state: DialogueState, message: CustomerMessage, ctx: TurnContext
    ) -> TurnOutcome:
        return TurnOutcome(reply=self.reply, state=self.next_state)


def _respond(agent: HumanAgent, ctx: TurnContext) -> TurnOutcome:
    return agent.respond(
        cast(Session, None), DialogueState(), clean_message("hi", max_chars=100), ctx
    )


@pytest.mark.parametrize(
    ("act", "slots"),
    [
        ("cancel_done", FULL_SLOTS["cancel_done"]),
        ("handoff", None),
        ("disambiguate_order", SLOT_SETS["options"]),
    ],
    ids=["cancel_done", "handoff", "disambiguate_order"],
)
def test_human_agent_keeps_the_decision_and_rewrites_the_text(
    act: str, slots: Mapping[str, SlotValue] | None
) -> None:
    inner = _FixedAgent(_reply(act, slots))
    agent = HumanAgent(inner, seed=3)
    outcome = _respond(agent, _ctx(4, 2))
    text, off = write_reply(act, slots or {}, turn_rng(3, _ctx(4, 2)), off_catalog_rate=0.12)
    assert agent.name == "human"
    assert outcome.state is inner.next_state
    assert outcome.reply == AgentReply(
        text=text,
        act=act,
        template_id=None,
        action=inner.reply.action,
        scores=None,
        slots=slots,
        off_catalog=off,
    )
    assert outcome.reply.text != "template text"


def test_human_agent_is_deterministic_per_seed_and_turn() -> None:
    agent = HumanAgent(_FixedAgent(_reply("request_order")), seed=7)
    texts = [_respond(agent, _ctx(c, t)).reply.text for c in range(1, 6) for t in range(4)]
    again = [_respond(agent, _ctx(c, t)).reply.text for c in range(1, 6) for t in range(4)]
    other = HumanAgent(_FixedAgent(_reply("request_order")), seed=8)
    other_texts = [_respond(other, _ctx(c, t)).reply.text for c in range(1, 6) for t in range(4)]
    assert texts == again
    assert texts != other_texts
    assert len(set(texts)) >= 10


def test_human_agent_defaults_to_the_rules_agent() -> None:
    agent = HumanAgent()
    assert isinstance(agent.inner, RulesAgent)
    assert agent.off_catalog_rate == 0.12


# ---- end to end on a seeded world --------------------------------------------------------------
def _second_world(small_world_file: Path, tmp_path: Path) -> sessionmaker[Session]:
    folder = tmp_path / "human"
    folder.mkdir()
    return make_session_factory(make_engine(copy_sqlite(small_world_file, folder)))


def _status(sessions: sessionmaker[Session], number: str) -> str:
    with sessions() as session:
        return session.scalars(
            select(models.Order.status).where(models.Order.order_number == number)
        ).one()


def test_human_agent_follows_the_policy_in_its_own_words(
    world_sessions: sessionmaker[Session], small_world_file: Path, tmp_path: Path
) -> None:
    cancel = pick(world_sessions, lambda _r, o: o.status == OrderStatus.PENDING)
    refund = pick(
        world_sessions,
        lambda _r, o: (
            o.latest_refund is not None and o.latest_refund.status == RefundStatus.IN_PROGRESS
        ),
    )
    number = cancel.order.order_number
    scripts = [
        [
            "Hi, I want to cancel an order",
            cancel.email,
            f"it's order {number}",
            "I ordered it by mistake",
            "yes",
            "no thanks, that's all",
        ],
        ["where is my refund?", refund.email, f"order {refund.order.order_number}"],
    ]
    human_sessions = _second_world(small_world_file, tmp_path)
    rules_run = ConversationRunner(world_sessions, RulesAgent())
    human_run = ConversationRunner(human_sessions, HumanAgent(seed=1))
    for messages in scripts:
        _, by_rules = talk(rules_run, messages)
        _, by_human = talk(human_run, messages)
        assert acts(by_human) == acts(by_rules)
        for ours, theirs in zip(by_human, by_rules, strict=True):
            assert ours.text != theirs.text
            assert (ours.template_id, theirs.template_id is not None) == (None, True)
            assert (ours.action, ours.slots) == (theirs.action, theirs.slots)
            assert _facts_not_in_slots(ours.text, ours.slots or {}) == []
    assert acts(by_rules) == ["request_auth", "request_order", "refund_in_progress"]
    assert _status(human_sessions, number) == _status(world_sessions, number) == "cancelled"
