"""The Rasa action server: real webhook requests (Rasa's documented body) posted to rasa-sdk's
own Sanic app over ASGI, on a private copy of the seeded world; exact events and responses."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from sanic import Sanic
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dialogue.config import Settings
from dialogue.domain import Membership, OrderStatus, OrderView, RefundStatus
from dialogue.pipeline import NeuralAgent, PipelineConfig
from dialogue.rasa.suggestions import default_reply_agent
from dialogue.rasa.tracker import conversation, idempotency_key
from dialogue.rasa_actions import STORE_DOWN, ActionStore, create_action_app
from dialogue.rules import RulesAgent
from dialogue.slots import day, order_slots, profile_slots
from dialogue.store import models
from dialogue.store.repository import world_now
from dialogue.store.session import make_engine, make_session_factory
from ranker.data import CUSTOMER, REP, RankTurn, candidate_entries
from ranker.scorer import Ranked, Ranking
from templates import load_catalog
from tests.dialogue_helpers import Pick, pick, store_fingerprint

CATALOG = load_catalog()
RASA_VERSION = "3.21.0"  # the Rasa that calls us; rasa-sdk warns unless major.minor match
DOMAIN = {
    "intents": ["greet", "refund_status", "cancel_order", "affirm", "deny", "inform"],
    "entities": ["email", "order_number"],
    "slots": {
        name: {"type": "any", "mappings": [{"type": "custom"}]}
        for name in (
            "email",
            "first_name",
            "last_name",
            "zip_code",
            "customer_id",
            "order_number",
            "cancel_reason",
            "cancel_confirmed_order",
        )
    },
    "responses": {"utter_greet": [{"text": "Hello! How can I help?"}]},
    "actions": ["action_authenticate", "action_lookup_refund", "action_cancel_order"],
    "forms": {},
}


@pytest.fixture(autouse=True)
def _many_apps(monkeypatch: pytest.MonkeyPatch) -> None:
    # rasa-sdk names every app "rasa_sdk"; Sanic refuses a second app of one name outside tests.
    monkeypatch.setattr(Sanic, "test_mode", True)


# ---- a Rasa conversation as Rasa sends it ----------------------------------------------------
def user(text: str, intent: str = "inform", message_id: str = "m1") -> dict[str, Any]:
    parse = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.97},
        "entities": [],
        "message_id": message_id,
        "metadata": {},
    }
    return {
        "event": "user",
        "timestamp": 1700000001.0,
        "text": text,
        "parse_data": parse,
        "input_channel": "rest",
        "message_id": message_id,
        "metadata": {},
    }


def bot(text: str) -> dict[str, Any]:
    return {"event": "bot", "timestamp": 1700000002.0, "text": text, "data": {}, "metadata": {}}


SESSION_START = [
    {"event": "action", "timestamp": 1700000000.0, "name": "action_session_start"},
    {"event": "session_started", "timestamp": 1700000000.0},
    {"event": "action", "timestamp": 1700000000.0, "name": "action_listen"},
]


def webhook_body(
    action: str,
    slots: dict[str, Any],
    *,
    text: str = "hello",
    intent: str = "inform",
    message_id: str = "m1",
    earlier: Sequence[dict[str, Any]] = (),
    sender: str = "rasa-sender-1",
) -> dict[str, Any]:
    """The JSON Rasa posts to an action server's /webhook (rasa_sdk.types.ActionCall)."""
    said = user(text, intent, message_id)
    return {
        "next_action": action,
        "sender_id": sender,
        "tracker": {
            "sender_id": sender,
            "slots": slots,
            "latest_message": said["parse_data"],
            "events": [*SESSION_START, *earlier, said],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
        "domain": DOMAIN,
        "version": RASA_VERSION,
    }


def said(text: str, custom: dict[str, Any] | None = None) -> dict[str, Any]:
    """One response as rasa-sdk's CollectingDispatcher returns it."""
    return {
        "text": text,
        "buttons": [],
        "elements": [],
        "custom": custom or {},
        "template": None,
        "response": None,
        "image": None,
        "attachment": None,
    }


# ---- posting to the real app -----------------------------------------------------------------
@contextlib.asynccontextmanager
async def running(app: Sanic[Any, Any]) -> AsyncIterator[httpx.AsyncClient]:
    """The app started through the ASGI lifespan (as an ASGI server would) and a client on it."""
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    lifespan = asyncio.create_task(app({"type": "lifespan"}, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rasa-actions") as c:
            yield c
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await lifespan


@dataclass
class Server:
    sessions: sessionmaker[Session]
    agent: NeuralAgent | RulesAgent | None = None

    def post(self, *bodies: dict[str, Any] | bytes) -> list[tuple[int, Any]]:
        """POST each body to /webhook in turn (bytes as they are); (status, JSON) per call."""

        async def go() -> list[tuple[int, Any]]:
            app = create_action_app(ActionStore(self.sessions), agent=self.agent)
            async with running(app) as client:
                out = []
                for body in bodies:
                    if isinstance(body, bytes):
                        headers = {"content-type": "application/json"}
                        r = await client.post("/webhook", content=body, headers=headers)
                    else:
                        r = await client.post("/webhook", json=body)
                    out.append((r.status_code, r.json()))
                return out

        return asyncio.run(go())

    def one(self, body: dict[str, Any]) -> tuple[int, Any]:
        return self.post(body)[0]


def ok(text: str, events: list[dict[str, Any]], custom: dict[str, Any] | None = None) -> Any:
    return 200, {"events": events, "responses": [said(text, custom)]}


def render(template_id: str, slots: dict[str, Any] | None = None) -> str:
    return CATALOG.render(template_id, slots or {})


def signed_in(p: Pick, **more: Any) -> dict[str, Any]:
    return {"email": p.email, "customer_id": p.record.profile.id, **more}


def order_row(sessions: sessionmaker[Session], number: str) -> tuple[str, int, list[str]]:
    """(status, refunds, action_log outcomes) of one order."""
    with sessions() as session:
        order = session.scalars(select(models.Order).where(models.Order.order_number == number))
        row = order.one()
        refunds = session.scalar(
            select(func.count()).select_from(models.Refund).where(models.Refund.order_id == row.id)
        )
        outcomes = session.scalars(
            select(models.ActionLog.outcome)
            .where(models.ActionLog.order_id == row.id)
            .order_by(models.ActionLog.id)
        ).all()
        return row.status, int(refunds or 0), list(outcomes)


def refunding(sessions: sessionmaker[Session]) -> Pick:
    def in_progress(_: object, o: OrderView) -> bool:
        return o.latest_refund is not None and o.latest_refund.status == RefundStatus.IN_PROGRESS

    return pick(sessions, in_progress)


def pending(sessions: sessionmaker[Session]) -> Pick:
    return pick(sessions, lambda r, o: o.status == OrderStatus.PENDING and not o.refunds)


# ---- action_authenticate ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "evidence",
    ["email", "email_shouting", "name_zip"],
)
def test_authenticate_sets_the_customer(
    world_sessions: sessionmaker[Session], evidence: str
) -> None:
    p = pending(world_sessions)
    profile = p.record.profile
    slots = {
        "email": {"email": profile.email},
        "email_shouting": {"email": f"  {profile.email.upper()} "},
        "name_zip": {
            "first_name": profile.first_name,
            "last_name": profile.last_name,
            "zip_code": profile.zip_code,
        },
    }[evidence]
    assert Server(world_sessions).one(webhook_body("action_authenticate", slots)) == ok(
        render("common.auth_success.1", {"first_name": profile.first_name}),
        [SlotSet("customer_id", profile.id)],
    )


@pytest.mark.parametrize(
    ("slots", "template_id"),
    [
        ({"email": "nobody@example.invalid"}, "common.auth_failed.1"),
        (
            {"first_name": "Ada", "last_name": "Lovelace", "zip_code": "00000"},
            "common.auth_failed.1",
        ),
        ({}, "common.request_auth.1"),
        ({"first_name": "Ada", "last_name": "Lovelace"}, "common.request_auth.1"),
        ({"email": "x" * 10_000 + "@example.com"}, "common.request_auth.1"),
        ({"email": ["a@b.com"], "zip_code": {"x": 1}}, "common.request_auth.1"),
        ({"email": True}, "common.request_auth.1"),
    ],
    ids=[
        "unknown-email",
        "wrong-name-zip",
        "nothing",
        "no-zip",
        "huge-email",
        "wrong-types",
        "bool",
    ],
)
def test_authenticate_refuses_without_saying_why(
    world_sessions: sessionmaker[Session], slots: dict[str, Any], template_id: str
) -> None:
    before = store_fingerprint(world_sessions)
    assert Server(world_sessions).one(webhook_body("action_authenticate", slots)) == ok(
        render(template_id), [SlotSet("customer_id", None)]
    )
    assert store_fingerprint(world_sessions) == before


def test_authenticate_wrong_zip_for_a_real_name_reads_like_an_unknown_email(
    world_sessions: sessionmaker[Session],
) -> None:
    profile = pending(world_sessions).record.profile
    wrong_zip = {"first_name": profile.first_name, "last_name": profile.last_name, "zip_code": "1"}
    unknown = {"email": "nobody@example.invalid"}
    server = Server(world_sessions)
    first, second = server.post(
        webhook_body("action_authenticate", wrong_zip),
        webhook_body("action_authenticate", unknown),
    )
    assert first == second


# ---- action_lookup_refund --------------------------------------------------------------------
@pytest.mark.parametrize(
    "spelling", ["#W{}", "W{}", "{}", " #w{} "], ids=["#W", "W", "digits", "lower"]
)
def test_lookup_refund_states_the_store_status(
    world_sessions: sessionmaker[Session], spelling: str
) -> None:
    p = refunding(world_sessions)
    digits = p.order.order_number.removeprefix("#W")
    body = webhook_body("action_lookup_refund", signed_in(p, order_number=spelling.format(digits)))
    refund = p.order.latest_refund
    assert refund is not None
    first, retried = Server(world_sessions).post(body, body)
    assert retried == first
    assert first == ok(
        render("refund.in_progress.1", dict(order_slots(p.order))),
        [
            SlotSet("order_number", p.order.order_number),
            SlotSet("order_status", p.order.status.value),
            SlotSet("refund_status", "in_progress"),
            SlotSet("refund_amount", f"${refund.amount:,.2f}"),
        ],
    )
    # The access is logged once: the retried webhook replayed it.
    assert order_row(world_sessions, p.order.order_number) == (
        p.order.status.value,
        len(p.order.refunds),
        ["done"],
    )


def test_lookup_refund_of_an_order_without_refund(world_sessions: sessionmaker[Session]) -> None:
    p = pending(world_sessions)
    body = webhook_body("action_lookup_refund", signed_in(p, order_number=p.order.order_number))
    assert Server(world_sessions).one(body) == ok(
        render("refund.none.1", {"order_id": p.order.order_number}),
        [
            SlotSet("order_number", p.order.order_number),
            SlotSet("order_status", "pending"),
            SlotSet("refund_status", "none"),
            SlotSet("refund_amount", None),
        ],
    )


@pytest.mark.parametrize(
    "order_number",
    [None, "", "order please", "#W" + "1" * 5000, 1234.5, ["#W1234567"]],
    ids=["missing", "blank", "words", "huge", "float", "list"],
)
def test_lookup_refund_without_a_usable_order_asks_for_one(
    world_sessions: sessionmaker[Session], order_number: object
) -> None:
    p = pending(world_sessions)
    before = store_fingerprint(world_sessions)
    body = webhook_body("action_lookup_refund", signed_in(p, order_number=order_number))
    assert Server(world_sessions).one(body) == ok(render("common.request_order.1"), [])
    assert store_fingerprint(world_sessions) == before


# ---- no account data without authentication ----------------------------------------------------
def _forged(victim: Pick, other: Pick) -> dict[str, dict[str, Any]]:
    vid = victim.record.profile.id
    return {
        "id-alone": {"customer_id": vid},
        "id-as-text": {"customer_id": str(vid)},
        "id-with-another-email": {"customer_id": vid, "email": other.email},
        "id-with-unknown-email": {"customer_id": vid, "email": "nobody@example.invalid"},
        "evidence-without-id": {"email": victim.email},
        "id-garbage": {"customer_id": {"$ne": None}, "email": victim.email},
    }


@pytest.mark.parametrize("action", ["action_lookup_refund", "action_cancel_order"])
@pytest.mark.parametrize(
    "forgery",
    [
        "id-alone",
        "id-as-text",
        "id-with-another-email",
        "id-with-unknown-email",
        "evidence-without-id",
        "id-garbage",
    ],
)
def test_a_forged_customer_id_reads_and_changes_nothing(
    world_sessions: sessionmaker[Session], action: str, forgery: str
) -> None:
    victim = pending(world_sessions)
    other = pick(world_sessions, lambda r, o: r.profile.id != victim.record.profile.id)
    slots = {
        **_forged(victim, other)[forgery],
        "order_number": victim.order.order_number,
        "cancel_reason": "ordered_by_mistake",
        "cancel_confirmed_order": victim.order.order_number,
    }
    before = store_fingerprint(world_sessions)
    assert Server(world_sessions).one(webhook_body(action, slots)) == ok(
        render("common.request_auth.1"), [SlotSet("customer_id", None)]
    )
    assert store_fingerprint(world_sessions) == before


@pytest.mark.parametrize(
    ("action", "events"),
    [
        ("action_lookup_refund", [SlotSet("order_number", None)]),
        (
            "action_cancel_order",
            [SlotSet("order_number", None), SlotSet("cancel_confirmed_order", None)],
        ),
    ],
    ids=["lookup", "cancel"],
)
def test_another_customers_order_is_not_found(
    world_sessions: sessionmaker[Session], action: str, events: list[dict[str, Any]]
) -> None:
    me = pending(world_sessions)
    theirs = pick(
        world_sessions,
        lambda r, o: r.profile.id != me.record.profile.id and o.status == OrderStatus.PENDING,
    )
    number = theirs.order.order_number
    slots = signed_in(me, order_number=number, cancel_reason="other", cancel_confirmed_order=number)
    before = store_fingerprint(world_sessions)
    assert Server(world_sessions).one(webhook_body(action, slots)) == ok(
        render("common.order_not_found.1", {"order_ref": number}), events
    )
    assert store_fingerprint(world_sessions) == before


# ---- action_cancel_order ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reason", "confirmed", "template_id", "outcome"),
    [
        (
            "ordered_by_mistake",
            None,
            "cancel.request_cancel_confirmation.1",
            "refused:not_confirmed",
        ),
        (
            "ordered_by_mistake",
            "#W0000000",
            "cancel.request_cancel_confirmation.1",
            "refused:not_confirmed",
        ),
        (None, "{own}", "cancel.request_cancel_reason.1", "refused:no_reason"),
        ("because", "{own}", "cancel.request_cancel_reason.1", "refused:no_reason"),
    ],
    ids=["no-confirmation", "confirmed-another-order", "no-reason", "unknown-reason"],
)
def test_cancel_without_reason_and_explicit_yes_changes_nothing(
    world_sessions: sessionmaker[Session],
    reason: str | None,
    confirmed: str | None,
    template_id: str,
    outcome: str,
) -> None:
    p = pending(world_sessions)
    number = p.order.order_number
    slots = signed_in(
        p,
        order_number=number,
        cancel_reason=reason,
        cancel_confirmed_order=confirmed.format(own=number) if confirmed else None,
    )
    slot_values = {**order_slots(p.order), **profile_slots(p.record.profile)}
    assert Server(world_sessions).one(webhook_body("action_cancel_order", slots)) == ok(
        render(template_id, dict(slot_values)),
        [
            SlotSet("order_number", number),
            SlotSet("order_status", "pending"),
            SlotSet("cancel_confirmed_order", None),
        ],
    )
    assert order_row(world_sessions, number) == ("pending", 0, [outcome])


def test_cancel_with_confirmation_cancels_once_even_when_retried(
    world_sessions: sessionmaker[Session],
) -> None:
    p = pending(world_sessions)
    number = p.order.order_number
    slots = signed_in(
        p, order_number=number, cancel_reason="ordered_by_mistake", cancel_confirmed_order=number
    )
    yes = webhook_body("action_cancel_order", slots, text="yes", intent="affirm", message_id="m7")
    next_turn = webhook_body("action_cancel_order", slots, text="yes!", message_id="m8")
    first, retried, later = Server(world_sessions).post(yes, yes, next_turn)

    immediate = p.order.payment.kind.value == "gift_card"
    amount = f"${p.order.total:,.2f}"
    assert first == ok(
        render("cancel.done.1", {**order_slots(p.order), "refund_amount": amount}),
        [
            SlotSet("order_number", number),
            SlotSet("order_status", "cancelled"),
            SlotSet("refund_status", "completed" if immediate else "in_progress"),
            SlotSet("refund_amount", amount),
            SlotSet("cancel_confirmed_order", None),
        ],
    )
    assert retried == first
    with world_sessions() as session:
        cancelled_on = day(world_now(session))
    assert later == ok(
        render("cancel.already_cancelled.1", {"order_id": number, "cancelled_date": cancelled_on}),
        [
            SlotSet("order_number", number),
            SlotSet("order_status", "cancelled"),
            SlotSet("cancel_confirmed_order", None),
        ],
    )
    assert order_row(world_sessions, number) == (
        "cancelled",
        1,
        ["done", "refused:already_cancelled"],
    )


def test_a_shipped_order_is_not_cancelled(world_sessions: sessionmaker[Session]) -> None:
    p = pick(world_sessions, lambda r, o: o.status == OrderStatus.SHIPPED)
    number = p.order.order_number
    member = p.record.profile.membership in (Membership.SILVER, Membership.GOLD)
    slots = signed_in(p, order_number=number, cancel_reason="other", cancel_confirmed_order=number)
    template_id = (
        "cancel.cannot_cancel_shipped_member.1" if member else "cancel.cannot_cancel_shipped.1"
    )
    text = render(template_id, {**order_slots(p.order), **profile_slots(p.record.profile)})
    assert Server(world_sessions).one(webhook_body("action_cancel_order", slots)) == ok(
        text,
        [
            SlotSet("order_number", number),
            SlotSet("order_status", "shipped"),
            SlotSet("cancel_confirmed_order", None),
        ],
    )
    assert order_row(world_sessions, number) == ("shipped", 0, ["refused:shipped"])


# ---- action_ranked_reply ---------------------------------------------------------------------
@dataclass
class PreferActs:
    """A fake ranker: scores the preferred acts' templates 4, 3, 2, 1 (the rest 0), in catalog
    order within an act; records the turns it was shown."""

    prefer: Sequence[str]
    list_prob: float = 0.75
    calls: list[RankTurn] = field(default_factory=list)

    def rank(self, turn: RankTurn, soft: Any = None) -> Ranking:
        self.calls.append(turn)
        entries = candidate_entries(CATALOG.entries, turn.facts, turn.slots)

        def score(act: str) -> float:
            return float(len(self.prefer) - self.prefer.index(act)) if act in self.prefer else 0.0

        ranked = sorted(
            (Ranked(e, score(e.act)) for e in entries), key=lambda r: r.score, reverse=True
        )
        return Ranking(ranked=tuple(ranked), list_prob=self.list_prob)


def ranker_agent(fake: PreferActs) -> NeuralAgent:
    return NeuralAgent(fake, catalog=CATALOG, config=PipelineConfig(order_resolver="words"))


def suggestion(template_id: str, score: float | None, slots: dict[str, Any] | None = None) -> Any:
    entry = CATALOG.get(template_id)
    return {
        "template_id": template_id,
        "act": entry.act,
        "text": render(template_id, slots),
        "score": score,
        "action": entry.action,
    }


GREETING = [user("hi", "greet", "m0"), bot("Hello! How can I help?")]


def test_ranked_reply_says_the_top_suggestion_with_the_top_4(
    world_sessions: sessionmaker[Session],
) -> None:
    fake = PreferActs(["request_auth", "auth_policy", "empathy", "refund_policy"])
    body = webhook_body(
        "action_ranked_reply",
        {},
        text="where is my refund?",
        intent="refund_status",
        earlier=GREETING,
    )
    before = store_fingerprint(world_sessions)
    top = [
        suggestion("common.request_auth.1", 4.0),
        suggestion("common.auth_policy.1", 3.0),
        suggestion("common.empathy.1", 2.0),
        suggestion("refund.policy.1", 1.0),
    ]
    payload = {"source": "ranker", "list_prob": 0.75, "suggestions": top}
    assert Server(world_sessions, ranker_agent(fake)).one(body) == ok(top[0]["text"], [], payload)
    assert fake.calls[0].context == (
        (CUSTOMER, "hi"),
        (REP, "Hello! How can I help?"),
        (CUSTOMER, "where is my refund?"),
    )
    assert store_fingerprint(world_sessions) == before


def test_ranked_reply_reads_the_verified_customer_and_their_order(
    world_sessions: sessionmaker[Session],
) -> None:
    p = refunding(world_sessions)
    number = p.order.order_number
    fake = PreferActs(["refund_in_progress", "anything_else", "refund_policy", "empathy"])
    body = webhook_body(
        "action_ranked_reply",
        signed_in(p, order_number=number),
        text=f"what about the refund for {number}?",
        intent="refund_status",
        earlier=GREETING,
    )
    slots = dict(order_slots(p.order))
    top = [
        suggestion("refund.in_progress.1", 4.0, slots),
        suggestion("common.anything_else.1", 3.0),
        suggestion("refund.policy.1", 2.0),
        suggestion("common.empathy.1", 1.0),
    ]
    payload = {"source": "ranker", "list_prob": 0.75, "suggestions": top}
    before = store_fingerprint(world_sessions)
    assert Server(world_sessions, ranker_agent(fake)).one(body) == ok(top[0]["text"], [], payload)
    assert store_fingerprint(world_sessions) == before


def test_ranked_reply_with_a_forged_customer_id_shows_no_account_data(
    world_sessions: sessionmaker[Session],
) -> None:
    p = pending(world_sessions)
    # The fake would put the refund answer first, had the tracker let it be a candidate.
    fake = PreferActs(["refund_none", "request_auth", "auth_policy", "empathy", "refund_policy"])
    body = webhook_body(
        "action_ranked_reply",
        {"customer_id": p.record.profile.id, "order_number": p.order.order_number},
        text="status of my refund please",
        intent="refund_status",
    )
    top = [
        suggestion("common.request_auth.1", 4.0),
        suggestion("common.auth_policy.1", 3.0),
        suggestion("common.empathy.1", 2.0),
        suggestion("refund.policy.1", 1.0),
    ]
    payload = {"source": "ranker", "list_prob": 0.75, "suggestions": top}
    assert Server(world_sessions, ranker_agent(fake)).one(body) == ok(top[0]["text"], [], payload)
    assert "not_authenticated" in fake.calls[0].facts


def test_ranked_reply_from_the_rule_based_agent(world_sessions: sessionmaker[Session]) -> None:
    body = webhook_body("action_ranked_reply", {}, text="I want to cancel my order")
    top = suggestion("common.request_auth.1", None)
    payload = {"source": "rules", "list_prob": None, "suggestions": [top]}
    agent = RulesAgent(execute_cancel=False)
    assert Server(world_sessions, agent).one(body) == ok(top["text"], [], payload)


def test_without_a_checkpoint_the_reply_agent_is_rule_based(tmp_path: Path) -> None:
    agent = default_reply_agent(Settings(data_dir=tmp_path))
    assert isinstance(agent, RulesAgent)
    assert agent.execute_cancel is False


# ---- the tracker -----------------------------------------------------------------------------
def _tracker(body: dict[str, Any]) -> Tracker:
    return Tracker.from_dict(body["tracker"])


def test_idempotency_key_is_stable_per_turn_and_request() -> None:
    base = _tracker(webhook_body("action_cancel_order", {}, message_id="m1"))
    again = _tracker(webhook_body("action_cancel_order", {}, message_id="m1"))
    next_turn = _tracker(webhook_body("action_cancel_order", {}, message_id="m2"))
    other_sender = _tracker(webhook_body("action_cancel_order", {}, sender="s" * 100_000))
    key = idempotency_key(base, "cancel_order", "#W1234567")
    assert key == idempotency_key(again, "cancel_order", "#W1234567")
    assert key != idempotency_key(next_turn, "cancel_order", "#W1234567")
    assert key != idempotency_key(base, "cancel_order", "#W7654321")
    assert key != idempotency_key(other_sender, "cancel_order", "#W1234567")
    assert len(idempotency_key(other_sender, "cancel_order", "#W1234567")) <= 128


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([], ((), "hello", None)),
        (
            [user("I need my refund", "refund_status", "a"), bot("Sure, your email?")],
            (
                (("customer", "I need my refund"), ("agent", "Sure, your email?")),
                "hello",
                "refund_status",
            ),
        ),
        (
            [user("cancel it", "cancel_order", "a"), {"event": "restart"}, bot("Hi again")],
            ((("agent", "Hi again"),), "hello", None),
        ),
        (
            [{"event": "user", "text": 42}, "junk", None, bot("x" * 5000)],
            ((("agent", "x" * 2000),), "hello", None),
        ),
    ],
    ids=["first-message", "history-and-issue", "after-restart", "hostile-events"],
)
def test_conversation_from_the_tracker_events(
    events: list[Any], expected: tuple[Any, str, str | None]
) -> None:
    tracker = _tracker(webhook_body("action_ranked_reply", {}, earlier=events))
    history, message, intent = conversation(tracker, max_chars=2000)
    assert (history, message, intent.value if intent else None) == expected


# ---- the server's own answers ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            webhook_body("action_nope", {}),
            (
                404,
                {
                    "error": "No registered action found for name 'action_nope'.",
                    "action_name": "action_nope",
                },
            ),
        ),
        (
            b'{"next_action": "action_authenticate", "tracker": ',
            (
                400,
                {
                    "description": "Bad Request",
                    "status": 400,
                    "message": "Failed when parsing body as json",
                },
            ),
        ),
        (b"", (400, {"error": "Invalid body request"})),
    ],
    ids=["unknown-action", "malformed-json", "empty-body"],
)
def test_rasa_sdk_answers_bad_calls(
    world_sessions: sessionmaker[Session], body: dict[str, Any] | bytes, expected: Any
) -> None:
    assert Server(world_sessions).post(body) == [expected]


@pytest.mark.parametrize(
    "tracker_patch",
    [{"slots": ["email"]}, {"events": "not a list"}, {"latest_message": {"text": ["x"]}}],
    ids=["slots-not-a-mapping", "events-not-a-list", "text-not-a-string"],
)
def test_a_malformed_tracker_gets_a_clear_reply(
    world_sessions: sessionmaker[Session], tracker_patch: dict[str, Any]
) -> None:
    bodies = []
    for action in ("action_authenticate", "action_lookup_refund", "action_ranked_reply"):
        body = webhook_body(action, {})
        body["tracker"].update(tracker_patch)
        bodies.append(body)
    results = Server(world_sessions, RulesAgent(execute_cancel=False)).post(*bodies)
    assert [status for status, _ in results] == [200, 200, 200]
    assert results[0] == ok(render("common.request_auth.1"), [SlotSet("customer_id", None)])


def test_a_store_without_tables_gets_a_clear_reply(tmp_path: Path) -> None:
    sessions = make_session_factory(make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}"))
    body = webhook_body("action_authenticate", {"email": "a@example.com"})
    assert Server(sessions).one(body) == ok(STORE_DOWN, [])


def test_the_server_lists_the_actions(world_sessions: sessionmaker[Session]) -> None:
    async def go() -> Any:
        app = create_action_app(ActionStore(world_sessions))
        async with running(app) as client:
            return (await client.get("/actions")).json()

    assert asyncio.run(go()) == [
        {"name": "action_authenticate"},
        {"name": "action_lookup_refund"},
        {"name": "action_cancel_order"},
        {"name": "action_ranked_reply"},
    ]
