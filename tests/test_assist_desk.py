"""The reps' assist desk without HTTP: drafts, own words, no assistant, closing, auto mode."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dialogue.conversation import ConversationClosed, ConversationRunner
from dialogue.domain import OrderStatus
from dialogue.pipeline import NeuralAgent, PipelineConfig
from dialogue.rules import RulesAgent
from dialogue.service.chat import CustomerChats
from dialogue.service.desk import AssistDesk, DeskConflict, RepChoice
from dialogue.store import models
from tests.dialogue_helpers import pick
from tests.service_helpers import CATALOG, PreferenceRanker, add_user
from tests.test_generator_pipeline import Scripted


def _desk(
    sessions: sessionmaker[Session], *, drafts: bool = True, assistant: bool = True
) -> AssistDesk:
    agent = NeuralAgent(
        PreferenceRanker(),
        catalog=CATALOG,
        config=PipelineConfig(),
        generator=Scripted() if drafts else None,
    )
    return AssistDesk(sessions, agent if assistant else None)


def _chats(sessions: sessionmaker[Session], mode: str = "assist") -> CustomerChats:
    return CustomerChats(ConversationRunner(sessions, RulesAgent()), mode=mode)


def _status(sessions: sessionmaker[Session], number: str) -> str:
    with sessions() as session:
        return str(
            session.scalar(select(models.Order.status).where(models.Order.order_number == number))
        )


def _rep(sessions: sessionmaker[Session]) -> int:
    add_user(sessions, "rita", "rep")
    with sessions() as session:
        return int(session.scalar(select(models.User.id)) or 0)


def test_a_rep_cancels_with_the_draft_only_after_the_yes(
    world_sessions: sessionmaker[Session],
) -> None:
    target = pick(world_sessions, lambda _r, o: o.status == OrderStatus.PENDING)
    number = target.order.order_number
    chats, desk, rep = _chats(world_sessions), _desk(world_sessions), _rep(world_sessions)
    conv = chats.start().conversation_id
    script = [
        "I want to cancel an order",
        target.email,
        f"order {number}",
        "I ordered it by mistake",
    ]
    for text in [*script, "yes"]:
        assert chats.send(conv, text).reply is None  # assist mode: a rep answers
        offer = desk.view(conv).offer
        assert offer.draft is not None and offer.draft.grounded
        if text == "yes":
            assert offer.draft.act == "cancel_done" and _status(world_sessions, number) == "pending"
        sent = desk.reply(conv, rep, RepChoice(source="draft", text=offer.draft.text))
        assert sent.kind == "accepted"
    assert sent.action == "cancel_order"
    assert _status(world_sessions, number) == "cancelled"
    metrics = desk.metrics()
    assert (metrics.rep_replies, metrics.draft_offered, metrics.draft_used) == (5, 5, 5)
    assert metrics.response_coverage == 1.0 and metrics.edit_rate == 0.0
    assert metrics.top1_acceptance == 0.0  # drafts are not suggestions


def test_own_words_move_the_state_but_never_cancel(world_sessions: sessionmaker[Session]) -> None:
    target = pick(world_sessions, lambda _r, o: o.status == OrderStatus.PENDING)
    number = target.order.order_number
    chats, desk, rep = (
        _chats(world_sessions),
        _desk(world_sessions, drafts=False),
        _rep(world_sessions),
    )
    conv = chats.start().conversation_id
    for text in [
        "I want to cancel an order",
        target.email,
        f"order {number}",
        "I ordered it by mistake",
        "yes",
    ]:
        chats.send(conv, text)
        sent = desk.reply(conv, rep, RepChoice(source="own", text="Let me check that for you."))
        assert sent.kind == "own" and sent.action is None
    assert _status(world_sessions, number) == "pending"
    view = desk.view(conv)
    assert view.state.customer_id == target.record.profile.id
    assert view.record is not None and view.record.profile.email == target.email


def test_without_an_assistant_reps_type_and_the_tracker_follows(
    world_sessions: sessionmaker[Session],
) -> None:
    target = pick(world_sessions, lambda _r, o: o.status == OrderStatus.PENDING)
    chats, rep = _chats(world_sessions), _rep(world_sessions)
    desk = _desk(world_sessions, assistant=False)
    conv = chats.start().conversation_id
    chats.send(conv, f"hi it's {target.email}")
    view = desk.view(conv)
    assert (
        view.offer.pending and view.offer.suggestions == () and "ranker" in (view.offer.note or "")
    )
    with pytest.raises(DeskConflict, match="own reply"):
        desk.reply(conv, rep, RepChoice(source="suggestion", text="x", template_id="auth_ok_1"))
    desk.reply(conv, rep, RepChoice(source="own", text="Thanks, you're verified."))
    assert desk.view(conv).state.customer_id == target.record.profile.id


def test_closing_ends_the_customers_side_and_the_queue(
    world_sessions: sessionmaker[Session],
) -> None:
    chats, desk, rep = _chats(world_sessions), _desk(world_sessions), _rep(world_sessions)
    conv = chats.start().conversation_id
    chats.send(conv, "hello?")
    assert [e.conversation.id for e in desk.queue()] == [conv]
    desk.close(conv, rep)
    assert desk.queue() == []
    with pytest.raises(ConversationClosed):
        chats.send(conv, "are you there?")
    with pytest.raises(ConversationClosed):
        desk.reply(conv, rep, RepChoice(source="own", text="bye"))


def test_reps_cannot_answer_a_conversation_the_bot_is_answering(
    world_sessions: sessionmaker[Session],
) -> None:
    chats, desk, rep = (
        _chats(world_sessions, mode="auto"),
        _desk(world_sessions),
        _rep(world_sessions),
    )
    conv = chats.start().conversation_id
    assert chats.send(conv, "hello").reply is not None
    assert desk.queue() == []
    with pytest.raises(DeskConflict, match="auto mode"):
        desk.reply(conv, rep, RepChoice(source="own", text="hi"))


def test_an_empty_reply_and_nothing_to_answer_are_refused(
    world_sessions: sessionmaker[Session],
) -> None:
    chats, desk, rep = _chats(world_sessions), _desk(world_sessions), _rep(world_sessions)
    conv = chats.start().conversation_id
    with pytest.raises(DeskConflict, match="no customer message"):
        desk.reply(conv, rep, RepChoice(source="draft", text="hello"))
    with pytest.raises(DeskConflict, match="some text"):
        desk.reply(conv, rep, RepChoice(source="own", text="   "))
    follow_up = desk.reply(conv, rep, RepChoice(source="own", text="Hi! How can I help?"))
    assert follow_up.kind == "own" and follow_up.index == 0
