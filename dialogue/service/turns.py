"""Customers' turns computed in worker processes, each turn by the next free worker.

A turn is mostly CPU (the tracker, the store's reads, the models), and one Python process computes
one at a time. With one HTTP process per core (uvicorn's own ``--workers``) each keep-alive
connection stays with the process that accepted it, so one process can hold twice the customers
of another and queue them twice as long while the other idles. Here the app runs in one process
and hands each customer message to a pool of turn workers:

- **No worker idles while a message waits.** Messages wait in one queue in the app, oldest first,
  and a worker takes one as soon as it is free.
- **A conversation stays with its worker where that costs no wait.** A free worker first takes
  the oldest waiting message of a conversation it answered last (among the oldest few), since it
  holds that conversation's encoded context (``ranker.encoder``): a message answered elsewhere
  re-encodes the turns before it.
- **A worker that dies fails only the message it held** (answered 503, nothing acknowledged) and
  is started again.

Each worker builds the customers' side of the service (:func:`dialogue.service.wiring.build_chats`:
the store, the arm, the runner) from the app's settings when it starts; the app keeps everything
else (the desk, the reports, sign-in). Requests and answers travel pickled over a pipe per worker.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import signal
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from dialogue.config import Settings
from dialogue.conversation import ConversationError
from dialogue.service.chat import Sent

logger = logging.getLogger(__name__)

__all__ = ["TurnPool", "TurnsUnavailable"]

# A free worker looks this far down the queue for a conversation it holds before it takes the
# oldest message: a message waits at most this many turns longer than first come, first served.
LOOKAHEAD = 8
# Conversations whose last worker is remembered (the encoder's cache holds about as many).
AFFINITY_SIZE = 4096
START_TIMEOUT = 300.0


class TurnsUnavailable(Exception):
    """A turn worker died with this message in hand (nothing of it was acknowledged)."""


# ---- in a worker process -----------------------------------------------------------------------
def _serve(settings: Settings, conn: Connection) -> None:
    """A worker's life: build the chats, say ready, answer messages until the pipe closes.

    The app decides when a worker ends (it closes the pipe, or dies): Ctrl-C in a terminal and a
    SIGTERM to the process group reach the workers too, and a worker that died of them would be
    replaced while the app shuts down.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from dialogue.service.wiring import build_chats
    from ranker.encoder import defer_prefetch, run_deferred

    defer_prefetch()  # the next turn's context (the reply) is encoded between turns
    chats = build_chats(settings)
    # What the worker built (the models, the catalog, the ORM's mappings) lives as long as it
    # does: moved out of the collector's sight, later collections skip it.
    gc.collect()
    gc.freeze()
    conn.send(("ready", None))
    while True:
        try:
            conversation_id, text, token = conn.recv()
        except (EOFError, OSError):
            return  # the app is gone
        try:
            answer: tuple[str, Any] = ("sent", chats.send(conversation_id, text, token=token))
        except ConversationError as exc:  # not found, closed, empty: the app maps these
            answer = ("refused", exc)
        except Exception as exc:  # noqa: BLE001 - the app answers 500, this worker goes on
            logger.exception("a turn of conversation %s failed", conversation_id)
            answer = ("failed", f"{type(exc).__name__}: {exc}")
        conn.send(answer)
        try:
            run_deferred()
        except Exception:  # noqa: BLE001 - a cache warm-up: the next turn encodes what it lacks
            logger.exception("encoding the replies just sent failed")


# ---- in the app --------------------------------------------------------------------------------
@dataclass
class _Job:
    conversation_id: int
    request: tuple[int, str, str | None]
    answer: asyncio.Future[Sent]


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    index: int
    job: _Job | None = None
    watched: asyncio.AbstractEventLoop | None = field(default=None, repr=False)


class TurnPool:
    """``workers`` processes computing customers' turns; routes await :meth:`send`.

    Args:
        settings: The app's settings (each worker opens the same store and builds the same arm).
        workers: How many turns are computed at once (one per core is the most that helps).

    Raises:
        RuntimeError: A worker could not start (its error is in the log).
    """

    def __init__(self, settings: Settings, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.settings = settings
        self._context = multiprocessing.get_context("spawn")  # torch and threads: never fork
        self._waiting: deque[_Job] = deque()
        self._last: OrderedDict[int, int] = OrderedDict()  # conversation -> its last worker
        self._restarts: set[asyncio.Task[None]] = set()
        self._closing = False
        self._workers = [self._spawn(i) for i in range(workers)]
        try:
            for worker in self._workers:
                self._wait_ready(worker)
        except RuntimeError:
            self.close()  # the workers that did start end with the app's failure
            raise

    @property
    def workers(self) -> int:
        return len(self._workers)

    def _spawn(self, index: int) -> _Worker:
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_serve, args=(self.settings, theirs), name=f"csbot-turns-{index}", daemon=True
        )
        process.start()
        theirs.close()
        return _Worker(process=process, conn=ours, index=index)

    def _wait_ready(self, worker: _Worker) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not worker.conn.poll(0.2):
            if not worker.process.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("a turn worker could not start: see the log above")
        try:
            kind, _ = worker.conn.recv()
        except (EOFError, OSError) as exc:
            raise RuntimeError("a turn worker could not start: see the log above") from exc
        if kind != "ready":
            raise RuntimeError(f"a turn worker said {kind!r} instead of ready")

    async def send(self, conversation_id: int, text: str, *, token: str | None) -> Sent:
        """:meth:`dialogue.service.chat.CustomerChats.send`, computed by a worker.

        Raises:
            ConversationError: as ``CustomerChats.send`` (not found, closed, empty).
            TurnsUnavailable: the worker died mid-turn (it is started again; this message was
                not acknowledged).
        """
        loop = asyncio.get_running_loop()
        job = _Job(conversation_id, (conversation_id, text, token), loop.create_future())
        self._waiting.append(job)
        self._dispatch(loop)
        return await job.answer

    # -- scheduling (all on the event loop's thread) ---------------------------------------------
    def _dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        for worker in list(self._workers):  # a worker found dead leaves the list
            if worker.job is None and self._waiting:
                self._give(worker, self._next_for(worker), loop)

    def _next_for(self, worker: _Worker) -> _Job:
        """The oldest waiting message of a conversation this worker holds (or no worker holds),
        among the oldest few; else the oldest."""
        for position, job in enumerate(self._waiting):
            if position == LOOKAHEAD:
                break
            if self._last.get(job.conversation_id, worker.index) == worker.index:
                del self._waiting[position]
                return job
        return self._waiting.popleft()

    def _give(self, worker: _Worker, job: _Job, loop: asyncio.AbstractEventLoop) -> None:
        if job.answer.cancelled():  # the client went away while it waited
            self._dispatch(loop)
            return
        if worker.watched is not loop:
            if worker.watched is not None:
                worker.watched.remove_reader(worker.conn.fileno())
            loop.add_reader(worker.conn.fileno(), self._answered, worker, loop)
            worker.watched = loop
        worker.job = job
        self._last[job.conversation_id] = worker.index
        self._last.move_to_end(job.conversation_id)
        if len(self._last) > AFFINITY_SIZE:
            self._last.popitem(last=False)
        try:
            worker.conn.send(job.request)
        except OSError:
            self._died(worker, loop)

    def _answered(self, worker: _Worker, loop: asyncio.AbstractEventLoop) -> None:
        try:
            kind, value = worker.conn.recv()
        except (EOFError, OSError):
            self._died(worker, loop)
            return
        job, worker.job = worker.job, None
        if job is not None and not job.answer.done():
            if kind == "sent":
                job.answer.set_result(value)
            elif kind == "refused":
                job.answer.set_exception(value)
            else:
                job.answer.set_exception(RuntimeError(f"the turn failed: {value}"))
        self._dispatch(loop)

    def _died(self, worker: _Worker, loop: asyncio.AbstractEventLoop) -> None:
        """Fail the message the worker held and start a new worker in its place (off the event
        loop: a worker takes seconds to load its arm)."""
        loop.remove_reader(worker.conn.fileno())
        worker.watched = None
        job, worker.job = worker.job, None
        if job is not None and not job.answer.done():
            job.answer.set_exception(TurnsUnavailable("a turn worker died"))
        worker.conn.close()
        worker.process.join(timeout=5)
        self._workers.remove(worker)
        if self._closing:
            return
        code = worker.process.exitcode
        logger.error("turn worker %s died (exit %s): starting another", worker.index, code)
        index = worker.index

        async def replace() -> None:
            try:
                fresh = await asyncio.to_thread(self._start_one, index)
            except RuntimeError:
                logger.exception("turn worker %s could not be started again", index)
                return
            self._workers.append(fresh)
            self._dispatch(loop)

        restart = loop.create_task(replace())
        self._restarts.add(restart)  # held until done (the loop keeps only a weak reference)
        restart.add_done_callback(self._restarts.discard)
        if not self._workers:  # nobody left to answer the waiting messages
            while self._waiting:
                waiting = self._waiting.popleft()
                if not waiting.answer.done():
                    waiting.answer.set_exception(TurnsUnavailable("no turn worker is running"))

    def _start_one(self, index: int) -> _Worker:
        worker = self._spawn(index)
        self._wait_ready(worker)
        return worker

    def close(self) -> None:
        self._closing = True
        for worker in self._workers:
            if worker.watched is not None and not worker.watched.is_closed():
                worker.watched.remove_reader(worker.conn.fileno())
            worker.conn.close()  # the worker's recv() ends: it returns
        for worker in self._workers:
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
        self._workers = []
