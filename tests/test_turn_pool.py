"""Customers' turns in worker processes (``csbot serve --workers N``): real spawned workers on
the rule-based arm answer exactly what the app's own process would, refuse what it refuses, and
a worker that dies is replaced; a message answered is a message stored."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from dialogue.conversation import ConversationClosed, ConversationNotFound
from dialogue.service.chat import Sent
from dialogue.service.turns import TurnPool, TurnsUnavailable
from dialogue.store import models
from dialogue.store.session import make_engine, make_session_factory
from tests.conftest import copy_sqlite
from tests.dialogue_helpers import pick
from tests.service_helpers import make_services, service_settings


@pytest.fixture
def world(small_world_file: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    yield copy_sqlite(small_world_file, tmp_path), tmp_path / "data"


@pytest.fixture
def pool(world: tuple[str, Path]) -> Iterator[TurnPool]:
    url, data = world
    turns = TurnPool(service_settings(url, data, serve_arm="rules"), workers=2)
    yield turns
    turns.close()


def _turns(url: str, conversation: int) -> list[tuple[int, str, str]]:
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        rows = session.execute(
            select(models.Turn.index, models.Turn.speaker, models.Turn.text)
            .where(models.Turn.conversation_id == conversation)
            .order_by(models.Turn.index)
        ).all()
    engine.dispose()
    return [(int(i), str(s), str(t)) for i, s, t in rows]


def test_workers_answer_many_conversations_at_once_as_the_app_would(
    world: tuple[str, Path], pool: TurnPool
) -> None:
    url, data = world
    services = make_services(url, data, with_assistant=False)  # the same arm, in this process
    chats = services.chats
    target = pick(services.sessions, lambda _r, o: bool(o.refunds))
    script = ("where is my refund", target.email, f"order {target.order.order_number}")
    started = [chats.start() for _ in range(12)]

    async def talk(conversation: int, token: str) -> list[Sent]:
        return [await pool.send(conversation, text, token=token) for text in script]

    async def everyone() -> list[list[Sent]]:
        return await asyncio.gather(*(talk(s.conversation_id, s.token) for s in started))

    answers = asyncio.run(everyone())
    reference = chats.start()
    expected = [chats.send(reference.conversation_id, text) for text in script]
    for conversation, sent in zip(started, answers, strict=True):
        assert [(s.index, s.status, s.mode) for s in sent] == [
            (0, "open", "auto"),
            (2, "open", "auto"),
            (4, "open", "auto"),
        ]
        assert [s.reply.act for s in sent if s.reply] == [e.reply.act for e in expected if e.reply]
        stored = _turns(url, conversation.conversation_id)
        assert [(i, sp) for i, sp, _ in stored] == [(i, "customer" if i % 2 == 0 else "agent")
                                                   for i in range(6)]  # fmt: skip
        assert [t for _, sp, t in stored if sp == "agent"] == [
            s.reply.text for s in sent if s.reply
        ]
    services.close()


def test_workers_refuse_what_the_app_refuses(world: tuple[str, Path], pool: TurnPool) -> None:
    url, data = world
    services = make_services(url, data, with_assistant=False)
    mine, theirs = services.chats.start(), services.chats.start()

    async def send(conversation: int, token: str, text: str = "hello") -> Sent:
        return await pool.send(conversation, text, token=token)

    for conversation, token in ((mine.conversation_id, theirs.token), (10**6, mine.token)):
        with pytest.raises(ConversationNotFound):
            asyncio.run(send(conversation, token))
    asyncio.run(send(mine.conversation_id, mine.token, "no, that's all, thanks"))
    with services.sessions() as session, session.begin():
        row = session.get(models.Conversation, mine.conversation_id)
        assert row is not None
        row.status = "closed"
    with pytest.raises(ConversationClosed):
        asyncio.run(send(mine.conversation_id, mine.token))
    assert _turns(url, theirs.conversation_id) == []
    services.close()


def test_a_dead_worker_is_replaced_and_an_answered_message_is_stored(
    world: tuple[str, Path], pool: TurnPool
) -> None:
    url, data = world
    services = make_services(url, data, with_assistant=False)
    first, second = services.chats.start(), services.chats.start()

    async def scenario() -> tuple[Sent | BaseException, Sent]:
        in_flight = asyncio.ensure_future(
            pool.send(first.conversation_id, "where is my refund", token=first.token)
        )
        await asyncio.sleep(0)  # handed to a worker
        busy = [w for w in pool._workers if w.job is not None]
        assert len(busy) == 1
        os.kill(busy[0].process.pid or 0, signal.SIGKILL)
        outcome = (await asyncio.gather(in_flight, return_exceptions=True))[0]
        for _ in range(600):  # the replacement loads the arm
            if len(pool._workers) == 2:
                break
            await asyncio.sleep(0.05)
        later = await pool.send(second.conversation_id, "where is my refund", token=second.token)
        return outcome, later

    outcome, later = asyncio.run(scenario())
    assert pool.workers == 2
    if isinstance(outcome, BaseException):
        assert isinstance(outcome, TurnsUnavailable)  # never acknowledged; stored or not
    else:
        assert [i for i, _, _ in _turns(url, first.conversation_id)] == [0, 1]  # answered: kept
    assert later.reply is not None and later.index == 0
    assert [i for i, _, _ in _turns(url, second.conversation_id)] == [0, 1]
    services.close()


def test_a_worker_that_cannot_start_fails_the_app_and_leaves_no_worker_behind(
    world: tuple[str, Path], tmp_path: Path
) -> None:
    url, data = world
    missing = tmp_path / "no-such-ranker.pt"
    settings = service_settings(url, data, serve_arm="ranker", ranker_checkpoint=missing)
    with pytest.raises(RuntimeError, match="could not start"):
        TurnPool(settings, workers=2)
    assert [p for p in multiprocessing.active_children() if p.name.startswith("csbot-turns")] == []
