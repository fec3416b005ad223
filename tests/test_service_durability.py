"""SIGKILL under load: every turn a customer got a 200 for is in the store, and turns are atomic.

The real server (``python -m dialogue.cli serve --workers 2``, rule-based arm) runs on a copy of
the small world; 20 customers talk to it at once with no think time, and after ~3 s its process
group (the app and its turn workers) is killed with SIGKILL. The store is then read: each
conversation holds exactly the turns the client was acknowledged (message and reply, at the
indices and with the texts the API gave), plus at most the message that was in flight, and only
together with its reply.

Also: on SQLite the service computes a turn on a snapshot and takes the write lock only to store
it; a turn whose customer's orders changed in between is not stored as computed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import cycle
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from dialogue.actions import cancel_order
from dialogue.domain import CancelReason, OrderStatus
from dialogue.store import models
from dialogue.store.repository import world_now
from dialogue.store.session import make_engine, make_session_factory
from dialogue.text import clean_message, shown_text
from tests.conftest import copy_sqlite
from tests.dialogue_helpers import pick
from tests.service_helpers import free_port, make_services

ROOT = Path(__file__).resolve().parents[1]
CUSTOMERS = 20
LOAD_SECONDS = 3.0


@dataclass
class Seen:
    """What the client saw, per conversation."""

    started: list[int] = field(default_factory=list)  # 201 received
    # conversation -> {index: (speaker, text)} of the turns acknowledged with a 200
    acked: dict[int, dict[int, tuple[str, str]]] = field(default_factory=dict)
    # conversation -> (index, text) of the message sent when the server died
    in_flight: dict[int, tuple[int, str]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)  # any other status: a failure


def _scripts(url: str) -> Iterator[tuple[str, ...]]:
    """Cancellation and refund-status flows for real customers and orders, alternating."""
    customer, order = models.Customer, models.Order
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        cancellable = session.execute(
            select(customer.email, order.order_number)
            .join(order, order.customer_id == customer.id)
            .where(order.status.in_(("pending", "processing")))
            .order_by(order.id)
        ).all()
        refunded = session.execute(
            select(customer.email, order.order_number)
            .join(order, order.customer_id == customer.id)
            .join(models.Refund, models.Refund.order_id == order.id)
            .order_by(order.id)
        ).all()
    engine.dispose()
    cancellations = cycle(
        ("Hi, I want to cancel an order", e, f"it's order {o}", "I ordered it by mistake", "yes")
        for e, o in cancellable
    )
    refunds = cycle(("where is my refund", e, f"order {o}") for e, o in refunded)
    while True:
        yield next(cancellations)
        yield next(refunds)


async def _customer(
    client: httpx.AsyncClient, scripts: Iterator[tuple[str, ...]], seen: Seen
) -> None:
    """Conversation after conversation until the server is gone."""
    while True:
        try:
            started = await client.post("/api/conversations")
        except httpx.TransportError:
            return
        if started.status_code != 201:
            seen.refused.append(f"start: {started.status_code}")
            return
        conv, token = started.json()["conversation_id"], started.json()["token"]
        seen.started.append(conv)
        acked = seen.acked.setdefault(conv, {})
        index = 0
        for text in next(scripts):
            try:
                response = await client.post(
                    f"/api/conversations/{conv}/messages",
                    json={"text": text},
                    headers={"Authorization": f"Bearer {token}"},
                )
            except httpx.TransportError:
                seen.in_flight[conv] = (index, text)
                return
            if response.status_code != 200:
                seen.refused.append(f"message: {response.status_code} {response.text}")
                return
            body = response.json()
            index = body["index"]
            acked[index] = ("customer", text)
            acked[index + 1] = ("agent", body["reply"]["text"])
            index += 2
            if body["status"] != "open":
                break


async def _load_then_kill(base_url: str, scripts: Iterator[tuple[str, ...]], pgid: int) -> Seen:
    seen = Seen()
    limits = httpx.Limits(max_connections=CUSTOMERS)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
        tasks = [asyncio.create_task(_customer(client, scripts, seen)) for _ in range(CUSTOMERS)]
        await asyncio.sleep(LOAD_SECONDS)
        os.killpg(pgid, signal.SIGKILL)
        await asyncio.gather(*tasks)
    return seen


def _wait_ready(base_url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base_url}/openapi.json", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the server did not start:\n{log.read_text()}")


def _stored(url: str, conversations: list[int]) -> dict[int, dict[int, tuple[str, str]]]:
    """conversation -> {index: (speaker, text as the API shows it)} for every stored turn."""
    turn = models.Turn
    engine = make_engine(url)  # opening the file recovers its write-ahead log
    with make_session_factory(engine)() as session:
        rows = session.execute(
            select(turn.conversation_id, turn.index, turn.speaker, turn.text).where(
                turn.conversation_id.in_(conversations)
            )
        ).all()
        found = set(
            session.scalars(
                select(models.Conversation.id).where(models.Conversation.id.in_(conversations))
            )
        )
    engine.dispose()
    stored: dict[int, dict[int, tuple[str, str]]] = {conv: {} for conv in found}
    for conv, index, speaker, text in rows:
        stored[conv][index] = (speaker, shown_text(speaker, text))
    return stored


def test_every_acknowledged_turn_survives_a_sigkill_and_no_turn_is_torn(
    small_world_file: Path, tmp_path: Path
) -> None:
    url = copy_sqlite(small_world_file, tmp_path)
    scripts = _scripts(url)
    port = free_port()
    log = tmp_path / "serve.log"
    command = [
        *(sys.executable, "-m", "dialogue.cli", "serve", "--host", "127.0.0.1"),
        *("--port", str(port), "--arm", "rules", "--database-url", url, "--no-seed-world"),
        *("--workers", "2"),  # the turns are computed by worker processes, killed with the app
    ]
    env = {**os.environ, "CSBOT_DATA_DIR": str(tmp_path / "data")}
    with log.open("wb") as out:
        server = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_ready(base_url, server, log)
        seen = asyncio.run(_load_then_kill(base_url, scripts, server.pid))
        assert server.wait(timeout=10) == -signal.SIGKILL
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()

    assert seen.refused == []
    acknowledged = sum(len(turns) for turns in seen.acked.values()) // 2
    assert acknowledged >= 2 * CUSTOMERS  # the load ran
    assert seen.in_flight  # and the kill came mid-run
    stored = _stored(url, seen.started)
    assert sorted(stored) == sorted(seen.started)
    for conv in seen.started:
        turns, acked = stored[conv], seen.acked[conv]
        extra = {i: t for i, t in turns.items() if i not in acked}
        assert {i: turns.get(i) for i in acked} == acked, conv  # every acknowledged turn
        if extra:  # only the message in flight, committed with its reply before the kill
            index, text = seen.in_flight[conv]
            assert sorted(extra) == [index, index + 1], conv
            assert extra[index] == ("customer", text), conv
            assert extra[index + 1][0] == "agent", conv


def test_a_turn_computed_on_a_snapshot_is_not_stored_once_its_customer_changed(
    small_world_file: Path, tmp_path: Path
) -> None:
    services = make_services(copy_sqlite(small_world_file, tmp_path), tmp_path / "data")
    runner = services.chats.runner
    assert runner.snapshots is not None  # SQLite: turns are computed off the write lock
    target = pick(services.sessions, lambda _r, o: o.status == OrderStatus.PENDING)
    number = target.order.order_number
    conversation = runner.start()
    for text in ("Hi, I want to cancel an order", target.email):
        runner.send(conversation, text)
    message = clean_message(f"it's order {number}", max_chars=runner.max_message_chars)
    proposal = runner._propose(conversation, message)
    assert proposal is not None and proposal.outcome.reply.act == "request_cancel_reason"
    with services.sessions() as session, session.begin():  # another conversation cancels it
        cancel_order(
            session,
            customer_id=target.record.profile.id,
            order_number=number,
            reason=CancelReason.NO_LONGER_NEEDED,
            confirmed_order=number,
            idempotency_key="another conversation",
            conversation_id=None,
            now=world_now(session),
        )
    assert runner._store(conversation, message, proposal) is None
    with services.sessions() as session:
        stored = session.scalars(
            select(models.Turn.index).where(models.Turn.conversation_id == conversation)
        ).all()
    assert sorted(stored) == [0, 1, 2, 3]  # nothing of the stale turn
    assert runner.send(conversation, f"it's order {number}").act == "already_cancelled"
    services.close()
