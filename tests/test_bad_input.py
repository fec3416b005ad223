"""Bad input gets a clear reply: no crash, no side effect, never another customer's data."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from dialogue.agent import TurnContext, TurnOutcome
from dialogue.conversation import ConversationClosed, ConversationNotFound, ConversationRunner
from dialogue.domain import OrderStatus
from dialogue.state import DialogueState
from dialogue.store import models
from dialogue.text import STORED_PREFIX_CHARS, CustomerMessage
from tests.dialogue_helpers import acts, pick, runner, store_fingerprint, talk

HUGE = "refund " * 15_000  # ~100 KB


@pytest.mark.parametrize(
    ("message", "act"),
    [
        ("", "empty_message"),
        ("   \n\t  ", "empty_message"),
        (HUGE, "message_too_long"),
        (b"\xff\xfe\xfa\xc3\x28", "unsupported_input"),
        ("😡😡😡🙄", "unsupported_input"),
        ("\udc80\udc81", "unsupported_input"),
        ("\x00\x01\x02", "empty_message"),
    ],
    ids=[
        "empty",
        "whitespace",
        "100kb",
        "invalid-utf8",
        "emoji-only",
        "lone-surrogates",
        "controls",
    ],
)
def test_unusable_messages_get_a_clear_reply_and_are_recorded(
    world_sessions: sessionmaker[Session], message: str | bytes, act: str
) -> None:
    before = store_fingerprint(world_sessions)
    conv, replies = talk(runner(world_sessions), [message])
    assert acts(replies) == [act] and replies[0].text
    assert store_fingerprint(world_sessions) == before
    with world_sessions() as session:
        conversation = session.get(models.Conversation, conv)
        assert conversation is not None and conversation.status == "open"
        stored = conversation.turns[0].text
    assert len(stored) <= STORED_PREFIX_CHARS + 60
    if message is HUGE:
        assert stored.endswith(f"[truncated: {len(HUGE.strip())} characters in all]")


def test_the_conversation_goes_on_after_bad_input(world_sessions: sessionmaker[Session]) -> None:
    target = pick(world_sessions, lambda _r, o: o.status == OrderStatus.PENDING)
    _, replies = talk(
        runner(world_sessions),
        [
            "",
            "I want to cancel an order",
            b"\xff\xff",
            target.email,
        ],
    )
    assert acts(replies)[:3] == ["empty_message", "request_auth", "unsupported_input"]
    assert replies[3].act in ("request_order", "disambiguate_order")


@pytest.mark.parametrize(
    "text",
    [
        "'; DROP TABLE orders; --",
        '" OR 1=1 --',
        "Robert'); DELETE FROM customers;--@example.com",
        "{{ config }} {% for x in range(10) %}x{% endfor %}",
        "<script>alert(1)</script>",
    ],
    ids=["drop-table", "or-1-1", "sql-email", "template-syntax", "html"],
)
def test_hostile_text_changes_nothing(world_sessions: sessionmaker[Session], text: str) -> None:
    before = store_fingerprint(world_sessions)
    with world_sessions() as session:
        customers = session.scalars(select(models.Customer.id)).all()
    _, replies = talk(runner(world_sessions), ["cancel my order", text, text])
    for reply in replies:
        assert "<script>" not in reply.text and "{%" not in reply.text
    assert store_fingerprint(world_sessions) == before
    with world_sessions() as session:
        assert session.scalars(select(models.Customer.id)).all() == customers


def test_unknown_order_id_is_refused_clearly(world_sessions: sessionmaker[Session]) -> None:
    target = pick(world_sessions, lambda _r, o: True)
    before = store_fingerprint(world_sessions)
    _, replies = talk(runner(world_sessions), ["cancel an order", target.email, "order #W0000001"])
    assert replies[-1].act == "order_not_found" and "#W0000001" in replies[-1].text
    assert store_fingerprint(world_sessions) == before


def test_another_customers_order_is_indistinguishable_from_an_unknown_one(
    world_sessions: sessionmaker[Session],
) -> None:
    me = pick(world_sessions, lambda _r, o: True)
    other = pick(
        world_sessions,
        lambda r, o: r.profile.id != me.record.profile.id and o.status == OrderStatus.PENDING,
    )
    theirs = other.order
    before = store_fingerprint(world_sessions)
    _, replies = talk(
        runner(world_sessions),
        [
            "I want to cancel an order",
            me.email,
            f"order {theirs.order_number}",
            "yes",
        ],
    )
    _, unknown = talk(
        runner(world_sessions),
        [
            "I want to cancel an order",
            me.email,
            "order #W0000001",
        ],
    )
    assert replies[2].act == unknown[2].act == "order_not_found"
    # Same act, same template family, only the typed reference as a slot: nothing reveals the order.
    assert replies[2].template_id and unknown[2].template_id
    assert replies[2].template_id.rsplit(".", 1)[0] == unknown[2].template_id.rsplit(".", 1)[0]
    for reply in replies:
        for line in theirs.lines:
            assert line.title not in reply.text
        assert other.record.profile.first_name not in reply.text
    assert store_fingerprint(world_sessions) == before


def test_template_syntax_and_html_in_a_name_render_inert(
    world_sessions: sessionmaker[Session],
) -> None:
    target = pick(world_sessions, lambda _r, o: True)
    hostile = "{{ 7*7 }}<b>Eve</b>"
    with world_sessions() as session, session.begin():
        session.execute(
            update(models.Customer)
            .where(models.Customer.id == target.record.profile.id)
            .values(first_name=hostile)
        )
    _, replies = talk(runner(world_sessions), ["hello", target.email])
    assert replies[-1].act == "greeting_named"
    assert "{{ 7*7 }}" in replies[-1].text and "49" not in replies[-1].text
    assert "<b>" not in replies[-1].text and "&lt;b&gt;Eve&lt;/b&gt;" in replies[-1].text


def test_unknown_and_closed_conversations_are_clear_errors(
    world_sessions: sessionmaker[Session],
) -> None:
    run = runner(world_sessions)
    with pytest.raises(ConversationNotFound):
        run.send(999_999, "hello")
    conv, replies = talk(run, ["I want to speak to a human"])
    assert replies[0].action == "handoff"
    with pytest.raises(ConversationClosed):
        run.send(conv, "hello again")


class ExplodingAgent:
    """Writes something, then fails: the write must be rolled back, the message kept."""

    name = "exploding"

    def respond(
        self, session: Session, state: DialogueState, message: CustomerMessage, ctx: TurnContext
    ) -> TurnOutcome:
        session.execute(update(models.Order).values(status="cancelled"))
        raise RuntimeError("model crashed")


def test_an_agent_failure_hands_off_and_loses_nothing(
    world_sessions: sessionmaker[Session],
) -> None:
    before = store_fingerprint(world_sessions)
    run = ConversationRunner(world_sessions, ExplodingAgent())
    conv = run.start()
    reply = run.send(conv, "cancel order #W1234567")
    assert (reply.act, reply.action) == ("handoff", "handoff")
    statuses, refunds, _ = store_fingerprint(world_sessions)
    assert (statuses, refunds) == before[:2]
    with world_sessions() as session:
        conversation = session.get(models.Conversation, conv)
        assert conversation is not None and conversation.status == "handed_off"
        texts: Sequence[str] = [t.text for t in conversation.turns]
        assert texts[0] == "cancel order #W1234567"
        assert session.scalars(select(models.Handoff.reason)).one() == "agent_error"


def test_a_store_without_a_world_is_a_clear_error(store_sessions: sessionmaker[Session]) -> None:
    with pytest.raises(LookupError, match="csbot world seed"):
        runner(store_sessions).start()
