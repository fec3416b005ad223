"""Turns computed on a read-only snapshot (SQLite): what stays off the write lock, and how.

A refund lookup writes only its log row: the row is kept on the snapshot and written with the turn
(never lost, never twice, dropped with a savepoint that rolls back). A turn that answers the
cancellation's confirmation question may cancel: it runs under the lock at once, computed once.
A customer's token is checked in the turn's own read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from dialogue.actions import defer_logs, deferred_logs, lookup_refund
from dialogue.conversation import ConversationNotFound
from dialogue.domain import OrderStatus
from dialogue.service.accounts import token_digest
from dialogue.store import models
from dialogue.store.repository import world_now
from dialogue.text import CustomerMessage, clean_message
from tests.conftest import copy_sqlite
from tests.dialogue_helpers import pick
from tests.service_helpers import make_services


@pytest.fixture
def services(small_world_file: Path, tmp_path: Path) -> Any:
    built = make_services(copy_sqlite(small_world_file, tmp_path), tmp_path / "data")
    assert built.chats.runner.snapshots is not None  # SQLite: turns are computed off the lock
    yield built
    built.close()


def _logs(services: Any, conversation: int) -> list[tuple[str, str]]:
    with services.sessions() as session:
        rows = session.execute(
            select(models.ActionLog.action, models.ActionLog.idempotency_key).where(
                models.ActionLog.conversation_id == conversation
            )
        ).all()
    return [(str(a), str(k)) for a, k in rows]


def _lookup_proposed(services: Any) -> tuple[int, CustomerMessage, Any]:
    """A refund-status conversation up to the order number, whose turn is proposed (on a
    snapshot) and not stored."""
    runner = services.chats.runner
    target = pick(services.sessions, lambda _r, o: bool(o.refunds))
    conversation = runner.start()
    for text in ("where is my refund", target.email):
        runner.send(conversation, text)
    message = clean_message(f"order {target.order.order_number}", max_chars=2000)
    return conversation, message, runner._propose(conversation, message)


def test_a_refund_lookup_is_computed_on_the_snapshot_and_its_log_row_stored_with_the_turn(
    services: Any,
) -> None:
    runner = services.chats.runner
    conversation, message, proposal = _lookup_proposed(services)
    assert proposal is not None  # the lookup's write did not send the turn under the lock
    assert [row.action for row in proposal.logs] == ["lookup_refund"]
    assert _logs(services, conversation) == []  # nothing written on the snapshot
    stored = runner._store(conversation, message, proposal)
    assert stored is not None and stored.index == 4 and stored.status == "open"
    assert _logs(services, conversation) == [
        ("lookup_refund", f"conv{conversation}:turn4:lookup_refund")
    ]
    assert "refund" in stored.reply.text.lower()


def test_a_stale_lookup_turn_writes_neither_its_turn_nor_its_log_row(services: Any) -> None:
    runner = services.chats.runner
    conversation, message, proposal = _lookup_proposed(services)
    assert proposal is not None and proposal.logs
    runner.send(conversation, "hello?")  # another turn is stored first: the proposal is stale
    assert runner._store(conversation, message, proposal) is None
    assert _logs(services, conversation) == []  # "hello?" looked nothing up


def test_kept_log_rows_follow_savepoints_and_replay_by_key(services: Any) -> None:
    target = pick(services.sessions, lambda _r, o: bool(o.refunds))
    customer, number = target.record.profile.id, target.order.order_number

    def lookup(session: Any, key: str) -> bool:
        return lookup_refund(
            session,
            customer_id=customer,
            order_number=number,
            idempotency_key=key,
            conversation_id=None,
            now=world_now(session),
        ).replayed

    with services.chats.reads() as session:  # read-only: a written row would raise
        defer_logs(session)
        nested = session.begin_nested()
        assert lookup(session, "rolled back") is False
        nested.rollback()
        assert deferred_logs(session) == []  # dropped with its savepoint
        with session.begin_nested():
            assert lookup(session, "kept") is False
        assert lookup(session, "kept") is True  # the kept row replays: no second row
        assert [row.idempotency_key for row in deferred_logs(session)] == ["kept"]
        session.rollback()
        assert deferred_logs(session) == []
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(models.ActionLog)) == 0


def test_the_confirmation_turn_runs_under_the_lock_once(services: Any) -> None:
    runner = services.chats.runner
    target = pick(services.sessions, lambda _r, o: o.status == OrderStatus.PENDING)
    number = target.order.order_number
    conversation = runner.start()
    for text in ("Hi, I want to cancel an order", target.email, f"it's order {number}"):
        runner.send(conversation, text)
    reply = runner.send(conversation, "I ordered it by mistake")
    assert reply.act == "request_cancel_confirmation"
    yes = clean_message("yes", max_chars=2000)
    assert runner._propose(conversation, yes) is None  # it may cancel: not on the snapshot
    calls: list[str] = []
    respond = runner.agent.respond

    def counted(*args: Any) -> Any:
        calls.append("respond")
        return respond(*args)

    runner.agent.respond = counted
    assert runner.send(conversation, "yes").act == "cancel_done"
    assert calls == ["respond"]  # computed once
    with services.sessions() as session:
        row = session.scalar(select(models.Order).where(models.Order.order_number == number))
        assert row is not None and row.status == "cancelled"


def test_a_customer_message_needs_the_conversations_own_token(services: Any) -> None:
    chats = services.chats
    mine, theirs = chats.start(), chats.start()
    for conversation, token in (
        (mine.conversation_id, theirs.token),
        (mine.conversation_id, ""),
        (10**6, mine.token),
    ):
        with pytest.raises(ConversationNotFound):
            chats.send(conversation, "where is my refund", token=token)
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(models.Turn)) == 0
    assert token_digest(mine.token) != token_digest(theirs.token)
    sent = chats.send(mine.conversation_id, "where is my refund", token=mine.token)
    assert (sent.index, sent.status, sent.mode) == (0, "open", "auto")
    assert sent.reply is not None and sent.reply.act == "request_auth"
