"""Build the service's parts from the settings: the store, the auto-mode agent, the assistant."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from dialogue.agent import Agent
from dialogue.config import Settings
from dialogue.conversation import ConversationRunner
from dialogue.service.chat import CustomerChats
from dialogue.service.desk import Assistant, AssistDesk
from dialogue.service.experiments import ExperimentBoard
from dialogue.store.session import make_engine, make_session_factory, upgrade

if TYPE_CHECKING:
    from dialogue.service.turns import TurnPool

logger = logging.getLogger(__name__)

# Turns one worker process runs at once (dialogue.service.chat.TurnGate): a turn is mostly
# Python, so more share the process's one running thread worse (benchmarks/service_load.py);
# run more worker processes (``csbot serve --workers``) to use more cores.
TURN_SLOTS = 1


@dataclass
class Services:
    """Everything a request can reach, built once per app."""

    settings: Settings
    sessions: sessionmaker[Session]
    chats: CustomerChats
    desk: AssistDesk
    board: ExperimentBoard
    arm: str
    engine: Engine | None = None
    snapshot_engine: Engine | None = None  # SQLite: read-only turns off the write lock
    writers: WriterQueue | None = None  # SQLite: writers queue for the write lock
    turns: TurnPool | None = None  # customers' turns in worker processes (else in this one)

    def close(self) -> None:
        self.board.stop_all()
        if self.turns is not None:
            self.turns.close()
        for engine in (self.engine, self.snapshot_engine):
            if engine is not None:
                engine.dispose()
        if self.writers is not None:
            self.writers.close()


def chosen_arm(settings: Settings) -> str:
    """``serve_arm``; "auto" is the ranker where its checkpoint exists, else the rules."""
    if settings.serve_arm != "auto":
        return settings.serve_arm
    return "ranker" if settings.resolved_ranker_checkpoint().is_file() else "rules"


def build_assistant(settings: Settings, agent: Agent) -> Assistant | None:
    """The ranker (with the generator's drafts where its checkpoint exists); None without a
    ranker checkpoint (reps then type their replies)."""
    from dialogue.pipeline import NeuralAgent, PipelineConfig

    if isinstance(agent, NeuralAgent) and agent.generator is not None:
        return agent
    path = settings.resolved_ranker_checkpoint()
    if not path.is_file():
        logger.warning("no ranker checkpoint at %s: agent-assist offers no suggestions", path)
        return None
    from generator.drafter import Drafter
    from ranker.scorer import NeuralRanker

    ranker = agent.ranker if isinstance(agent, NeuralAgent) else NeuralRanker.load(path)
    generator = None
    draft_path = settings.resolved_generator_checkpoint()
    if draft_path.is_file():
        generator = Drafter.load(draft_path)
    return NeuralAgent(
        ranker,
        config=PipelineConfig(threshold=getattr(ranker, "threshold", 0.5)),
        name="assist",
        generator=generator,
    )


class WriterQueue:
    """SQLite: write transactions one at a time, waiting in a queue rather than polling.

    Without it every thread that wants the write lock polls SQLite's busy handler, which sleeps
    up to 100 ms between tries: the lock sits free while the waiters sleep and the unlucky ones
    wait seconds. Here a writer first takes this process's thread lock, then an exclusive
    ``flock`` on a file beside the database shared by the worker processes; both wake a waiter
    as soon as they are released (the kernel drops the ``flock`` of a killed process), so BEGIN
    IMMEDIATE finds SQLite's lock free. Writers outside the service (the CLI) still meet it on
    SQLite's own lock. A transaction nested in the same thread is not queued (it waits on SQLite
    as before), and a thread gives up queueing after ``timeout`` seconds and goes to SQLite,
    whose own timeout then applies.
    """

    KEY = "csbot.writer_queue"

    def __init__(self, lock_file: Path, *, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)

    def attach(self, engine: Engine) -> None:
        # First among the "begin" listeners: the queue is passed before BEGIN IMMEDIATE is sent.
        event.listen(engine, "begin", self._enter, insert=True)
        event.listen(engine, "commit", self._leave)
        event.listen(engine, "rollback", self._leave)
        # A connection whose BEGIN failed, or that was never committed nor rolled back, leaves
        # the queue when it goes back to the pool.
        event.listen(engine.pool, "checkin", self._checkin)

    def close(self) -> None:
        os.close(self._fd)

    def _enter(self, connection: Any) -> None:
        me = threading.get_ident()
        if self._owner == me or not self._lock.acquire(timeout=self.timeout):
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._lock.release()
            raise
        self._owner = me
        connection.info[self.KEY] = True

    def _leave(self, connection: Any) -> None:
        self._release(connection.info)

    def _checkin(self, _dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            self._release(record.info)

    def _release(self, info: dict[str, Any]) -> None:
        if info.pop(self.KEY, False):
            self._owner = None
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._lock.release()


def sqlite_file(url: str) -> Path | None:
    """The database file of an SQLite URL; None for another store or an in-memory database."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if parsed.query.get("mode") == "memory":
        return None
    return Path(database)


def snapshot_engine(url: str) -> Engine:
    """An engine on an SQLite file whose transactions read without taking the write lock and
    cannot write (the runner computes a turn on it, then takes the lock only to store it)."""
    engine = make_engine(url)

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only=ON")  # a write raises: the turn runs under the lock
        cursor.close()

    return engine


@dataclass
class _ChatParts:
    sessions: sessionmaker[Session]
    chats: CustomerChats
    agent: Agent
    engine: Engine
    snapshot_engine: Engine | None
    writers: WriterQueue | None


def _chat_parts(settings: Settings, agent: Agent | None) -> _ChatParts:
    """The store's engines and the customers' chats answered by ``agent`` (None: the arm the
    settings choose, warmed up)."""
    url = settings.resolved_database_url()
    engine = make_engine(url, immediate=True)
    sessions = make_session_factory(engine)
    # SQLite (one writer at a time): turns are computed off the write lock and writers queue
    # for it. PostgreSQL locks rows: its turns already run side by side.
    snapshots, writers = None, None
    database = sqlite_file(url)
    if database is not None:
        snapshots = snapshot_engine(url)
        writers = WriterQueue(database.with_name(f"{database.name}-writers"))
        writers.attach(engine)
    if agent is None:
        from simulator.arms import build_agent

        agent = build_agent(chosen_arm(settings))
    warm_up = getattr(agent, "warm_up", None)
    if callable(warm_up):
        warm_up()  # the first customer must not pay for loading the order resolver
    runner = ConversationRunner(
        sessions,
        agent,
        max_message_chars=settings.max_message_chars,
        snapshots=make_session_factory(snapshots) if snapshots is not None else None,
    )
    chats = CustomerChats(runner, mode=settings.chat_mode, turn_slots=TURN_SLOTS)
    return _ChatParts(sessions, chats, agent, engine, snapshots, writers)


def build_chats(settings: Settings) -> CustomerChats:
    """The customers' side only, on a store already migrated (a turn worker,
    :mod:`dialogue.service.turns`)."""
    return _chat_parts(settings, None).chats


def build_services(
    settings: Settings,
    *,
    agent: Agent | None = None,
    assistant: Assistant | None | Literal["build"] = "build",
    migrate: bool = True,
) -> Services:
    """The store (migrated to head), the arm answering customers and the assist desk.

    Args:
        agent: The auto-mode agent; None builds ``chosen_arm(settings)`` (simulator.arms), and
            with ``settings.turn_workers`` of 2 or more customers' turns are computed by that
            many worker processes (:class:`dialogue.service.turns.TurnPool`).
        assistant: The desk's assistant; "build" makes one from the ranker checkpoint, if any;
            None offers no suggestions. Tests pass both (fakes): no trained model is needed.
    """
    url = settings.resolved_database_url()
    if migrate:
        upgrade(url)
    pool = agent is None and settings.turn_workers > 1
    parts = _chat_parts(settings, agent)
    if assistant == "build":
        assistant = build_assistant(settings, parts.agent)
    turns = None
    if pool:
        from dialogue.service.turns import TurnPool

        turns = TurnPool(settings, settings.turn_workers)
    return Services(
        settings=settings,
        sessions=parts.sessions,
        chats=parts.chats,
        desk=AssistDesk(parts.sessions, assistant, max_message_chars=settings.max_message_chars),
        board=ExperimentBoard(settings, main_url=url),
        arm=parts.agent.name,
        engine=parts.engine,
        snapshot_engine=parts.snapshot_engine,
        writers=parts.writers,
        turns=turns,
    )
