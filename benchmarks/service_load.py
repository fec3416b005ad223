"""Service load: real HTTP turns against ``csbot serve`` on loopback; a SIGKILL durability check.

    .venv/bin/python benchmarks/service_load.py [--arm rules,ranker] [--conversations 50]
        [--duration 12] [--rate 100] [--turns N] [--workers 2] [--database-url POSTGRES_URL]
        [--ranker-checkpoint PATH] [--sigkill-arm rules]

1. The default world is seeded once (``csbot world seed``) into a template SQLite file; every run
   gets a fresh copy (or, with a PostgreSQL ``--database-url``, a fresh schema seeded the same
   way) and its own server: ``python -m dialogue.cli serve`` on a free loopback port.
2. One asyncio process keeps ``--conversations`` customers talking at once: each runs a scripted
   refund-status or cancellation flow for a real customer and order of the store (read before
   the server starts) and starts a new conversation when one ends. Latency is per turn, client
   side (request sent -> reply read); throughput counts the turns completed in the measured
   window (after ``--warmup``). Two phases per arm, on the same server:
   - "max": no think time, so the throughput is the service's capacity; with 50 conversations
     always waiting, the latency is then about 50 / throughput (Little's law), not a service
     time;
   - "paced": each customer waits between its messages so that all of them together offer
     ``--rate`` turns/s (each wait drawn uniformly in [0.5, 1.5] x the mean; a customer whose
     reply came late sends at once, so an overloaded service gets less than the rate). This
     is the issue's floor: ``--rate`` turns/s at p99 <= 150 ms with 50 conversations.
   The CPU used in the window by the client, the server's processes and the whole machine is
   printed too (shares of all cores), and the host's steal: on a virtual machine, the time its
   CPUs waited while the host ran something else, which the service did not get (a run with
   much steal measures the neighbours too): the client runs on the same cores as the server, so it
   speaks HTTP/1.1 itself over keep-alive connections (about 0.1 ms of CPU a request where
   httpx took about 4 ms).
3. SIGKILL: under the same load (no think time) the server's process group is killed with
   SIGKILL after ``--sigkill-after`` seconds; the store is then opened and every turn the client
   had a 200 for must be there (the customer's message and the agent's reply, at the right
   indices, with the right text), no customer message may lack its reply (a turn is atomic),
   and nothing the client did not send may be there.

Ends with one ``name: value`` line per headline figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import cycle
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from dialogue.store import models
from dialogue.text import shown_text

ROOT = Path(__file__).resolve().parents[1]
CLOSING = "no, that's all, thanks"


# ---- a minimal HTTP/1.1 client -----------------------------------------------------------------
class Disconnected(Exception):
    """The server closed the connection (or was never there) before answering."""


class Connection:
    """One keep-alive HTTP/1.1 connection for JSON requests (all this benchmark sends)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(
        self, method: str, path: str, body: Any = None, *, token: str | None = None
    ) -> tuple[int, Any]:
        """(status, decoded JSON body or None). Raises Disconnected."""
        payload = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        )
        if token is not None:
            head += f"Authorization: Bearer {token}\r\n"
        try:
            if self.streams is None:
                self.streams = await asyncio.open_connection(self.host, self.port)
            reader, writer = self.streams
            writer.write(head.encode() + b"\r\n" + payload)
            status = int((await reader.readuntil(b"\r\n")).split()[1])
            length, close = 0, False
            while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "connection":
                    close = value.strip().lower() == "close"
            data = await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, IndexError) as exc:
            self.close()
            raise Disconnected(str(exc)) from exc
        if close:
            self.close()
        return status, json.loads(data) if data else None

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


# ---- the customers -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A real customer of the store and one of their orders."""

    issue: str  # refund_status | cancellation
    email: str
    order_number: str


def script(target: Target) -> tuple[str, ...]:
    """The customer's messages for this issue (the tests' scripted flows, then a goodbye)."""
    if target.issue == "cancellation":
        return (
            "Hi, I want to cancel an order",
            target.email,
            f"it's order {target.order_number}",
            "I ordered it by mistake",
            "yes",
            CLOSING,
        )
    return ("where is my refund", target.email, f"order {target.order_number}", CLOSING)


def read_targets(url: str, *, seed: int = 0) -> Iterator[Target]:
    """Refund-status and cancellation targets from the store, alternating, each pool shuffled
    and cycled (a cancellable order is used once per pass; later passes find it cancelled)."""
    engine = create_engine(url)
    customer, order = models.Customer, models.Order
    with engine.connect() as conn:
        cancellable = conn.execute(
            select(customer.email, order.order_number)
            .join(order, order.customer_id == customer.id)
            .where(order.status.in_(("pending", "processing")))
            .order_by(order.id)
        ).all()
        refunded = conn.execute(
            select(customer.email, order.order_number)
            .join(order, order.customer_id == customer.id)
            .join(models.Refund, models.Refund.order_id == order.id)
            .distinct()
            .order_by(order.order_number)
        ).all()
    engine.dispose()
    if not cancellable or not refunded:
        raise SystemExit("the store holds no cancellable order or no refund: seed a world")
    rng = random.Random(seed)
    pools = [
        [Target("refund_status", str(e), str(o)) for e, o in refunded],
        [Target("cancellation", str(e), str(o)) for e, o in cancellable],
    ]
    for pool in pools:
        rng.shuffle(pool)
    refunds, cancellations = cycle(pools[0]), cycle(pools[1])
    while True:
        yield next(refunds)
        yield next(cancellations)


# ---- the load ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ack:
    """A turn the client got a 200 for."""

    conversation_id: int
    index: int  # the customer's turn; the reply is index + 1
    text: str
    reply: str


@dataclass(frozen=True)
class Unanswered:
    """A message sent whose reply never came (the server died); ``index`` is where it would be."""

    conversation_id: int
    index: int
    text: str


@dataclass
class Load:
    """What the client saw."""

    measure_from: float
    stop_at: float
    turns: int = 0  # stop once this many turns were measured (0: at stop_at)
    latencies_ms: list[float] = field(default_factory=list)  # turns in the measured window
    measured_until: float = 0.0
    errors: int = 0
    conversations: list[int] = field(default_factory=list)  # 201 received
    acks: list[Ack] = field(default_factory=list)
    unanswered: list[Unanswered] = field(default_factory=list)

    def done(self) -> bool:
        measured = self.turns > 0 and len(self.latencies_ms) >= self.turns
        return measured or time.perf_counter() >= self.stop_at

    def record(self, sent: float, finished: float) -> None:
        if sent >= self.measure_from and finished <= self.stop_at:
            self.latencies_ms.append((finished - sent) * 1000)
            self.measured_until = finished


async def customer(
    conn: Connection, targets: Iterator[Target], load: Load, *, pace: float, rng: random.Random
) -> None:
    """One simulated customer, conversation after conversation until the load is done.

    Args:
        pace: The mean time between two of its messages (0: no think time).
    """
    next_at = time.perf_counter() + rng.uniform(0, pace)
    try:
        while not load.done():
            status, body = await conn.request("POST", "/api/conversations")
            if status != 201:
                load.errors += 1
                return
            conversation_id, token = int(body["conversation_id"]), str(body["token"])
            load.conversations.append(conversation_id)
            path = f"/api/conversations/{conversation_id}/messages"
            index = 0
            for message in script(next(targets)):
                if pace:
                    await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                    next_at = max(next_at + rng.uniform(0.5, 1.5) * pace, time.perf_counter())
                if load.done():
                    return
                sent = time.perf_counter()
                try:
                    status, result = await conn.request(
                        "POST", path, {"text": message}, token=token
                    )
                except Disconnected:
                    load.unanswered.append(Unanswered(conversation_id, index, message))
                    raise
                if status != 200:
                    load.errors += 1
                    break
                load.record(sent, time.perf_counter())
                index = result["index"]
                load.acks.append(Ack(conversation_id, index, message, result["reply"]["text"]))
                index += 2
                if result["status"] != "open":
                    break
    except Disconnected:
        load.errors += 1
    finally:
        conn.close()


async def run_load(
    port: int,
    targets: Iterator[Target],
    *,
    conversations: int,
    warmup: float,
    duration: float,
    rate: float = 0.0,
    turns: int = 0,
    seed: int = 0,
    kill: Server | None = None,
) -> Load:
    """``conversations`` customers at once for ``warmup + duration`` seconds (or until ``turns``
    measured turns), offering ``rate`` turns/s between them (0: no think time); with ``kill``,
    that server is SIGKILLed after that time instead (the customers stop when it is gone)."""
    now = time.perf_counter()
    forever = 24 * 3600.0
    load = Load(
        measure_from=now + warmup,
        stop_at=now + warmup + duration + (forever if kill is not None else 0.0),
        turns=turns,
    )
    pace = conversations / rate if rate > 0 else 0.0
    tasks = [
        asyncio.create_task(
            customer(Connection("127.0.0.1", port), targets, load, pace=pace, rng=random.Random(n))
        )
        for n in range(seed * conversations, (seed + 1) * conversations)
    ]
    if kill is not None:
        await asyncio.sleep(warmup + duration)
        kill.kill()
    await asyncio.gather(*tasks)
    if not load.measured_until:
        load.measured_until = time.perf_counter()
    return load


# ---- the server --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def group_cpu_seconds(pgid: int) -> tuple[float, float]:
    """User + system CPU of the live processes in a process group (from /proc): (all of them,
    the group's leader alone)."""
    ticks = leader = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # pgrp
            used = int(fields[11]) + int(fields[12])  # utime, stime
            ticks += used
            if stat.parent.name == str(pgid):
                leader = used
    return ticks / os.sysconf("SC_CLK_TCK"), leader / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float, float]:
    """(busy, steal, total) CPU time of the whole machine so far, from /proc/stat. Steal is the
    time a virtual machine's CPUs were ready to run but the host ran something else: counted
    busy here, it is capacity the service did not get."""
    values = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(values[:8])
    return total - values[3] - values[4], values[7], total  # busy: minus idle and iowait


class Server:
    """``python -m dialogue.cli serve`` in its own process group (its workers included)."""

    def __init__(self, *, arm: str, url: str, workers: int, folder: Path, env: dict[str, str]):
        self.port = free_port()
        self.log = folder / f"serve-{arm}-{self.port}.log"
        command = [
            *(sys.executable, "-m", "dialogue.cli", "serve", "--host", "127.0.0.1"),
            *("--port", str(self.port), "--arm", arm, "--database-url", url),
            *("--workers", str(workers), "--no-seed-world"),
        ]
        env = {**os.environ, "CSBOT_DATA_DIR": str(folder / "data"), **env}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def wait_ready(self, timeout: float = 180.0) -> None:
        async def answers() -> bool:
            conn = Connection("127.0.0.1", self.port)
            try:
                return (await conn.request("GET", "/openapi.json"))[0] == 200
            except Disconnected:
                return False
            finally:
                conn.close()

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited:\n{self.log.read_text()}")
            if asyncio.run(answers()):
                return
            time.sleep(0.2)
        raise SystemExit(f"the server did not start in {timeout:.0f}s: see {self.log}")

    def cpu_seconds(self) -> tuple[float, float]:
        """(the server's processes, the app's process alone: HTTP and everything but turns)."""
        return group_cpu_seconds(self.process.pid)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        self.kill(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)
            self.process.wait()
        self.kill(signal.SIGKILL)  # any worker left behind


# ---- stores ------------------------------------------------------------------------------------
def cli(*args: str) -> None:
    command = [sys.executable, "-m", "dialogue.cli", *args]
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


class Stores:
    """A fresh seeded store per run: a copy of one seeded SQLite file, or a PostgreSQL schema."""

    def __init__(self, folder: Path, postgres_url: str | None) -> None:
        self.folder = folder
        self.postgres_url = postgres_url
        self.schemas: list[str] = []
        self.template = folder / "template.sqlite3"
        if postgres_url is None:
            cli("world", "seed", "--database-url", f"sqlite:///{self.template}")

    def fresh(self, name: str) -> str:
        if self.postgres_url is None:
            path = self.folder / f"{name}.sqlite3"
            shutil.copyfile(self.template, path)
            return f"sqlite:///{path}"
        schema = f"csbot_load_{uuid.uuid4().hex[:10]}"
        engine = create_engine(self.postgres_url)
        with engine.begin() as conn:
            conn.execute(text(f'create schema "{schema}"'))
        engine.dispose()
        self.schemas.append(schema)
        sep = "&" if "?" in self.postgres_url else "?"
        url = f"{self.postgres_url}{sep}options=-csearch_path%3D{schema}"
        cli("world", "seed", "--database-url", url)
        return url

    def close(self) -> None:
        if self.postgres_url is None or not self.schemas:
            return
        engine = create_engine(self.postgres_url)
        with engine.begin() as conn:
            for schema in self.schemas:
                conn.execute(text(f'drop schema "{schema}" cascade'))
        engine.dispose()


# ---- measured runs -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Figures:
    turns_per_s: float
    p50_ms: float
    p99_ms: float
    turns: int
    errors: int
    client_cpu: float  # shares of all the machine's cores
    server_cpu: float
    app_cpu: float  # the server's app process alone (its turn workers are the rest)
    machine_cpu: float
    steal: float  # of the machine's CPU time, what the host took (in machine_cpu)

    def line(self) -> str:
        return (
            f"{self.turns} turns, {self.turns_per_s:.1f} turns/s, p50 {self.p50_ms:.1f} ms, "
            f"p99 {self.p99_ms:.1f} ms, errors {self.errors}; CPU: client {self.client_cpu:.0%}, "
            f"server {self.server_cpu:.0%} (app process {self.app_cpu:.0%}), "
            f"machine {self.machine_cpu:.0%} (host steal {self.steal:.0%})"
        )


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def phase(
    server: Server, targets: Iterator[Target], args: argparse.Namespace, *, rate: float, seed: int
) -> Figures:
    """One load phase on a running server, with the CPU used in its measured window."""

    async def run() -> tuple[Load, tuple[float, ...]]:
        task = asyncio.create_task(
            run_load(
                server.port, targets, conversations=args.conversations, warmup=args.warmup,
                duration=args.duration, rate=rate, turns=args.turns, seed=seed,
            )
        )  # fmt: skip
        await asyncio.sleep(args.warmup)  # the counters are read as the window opens
        marks = (time.process_time(), server.cpu_seconds(), *machine_busy())
        return await task, marks

    load, (client0, (server0, app0), busy0, steal0, total0) = asyncio.run(run())
    client1, (server1, app1) = time.process_time(), server.cpu_seconds()
    busy1, steal1, total1 = machine_busy()
    window = max(load.measured_until - load.measure_from, 1e-9)
    cores = os.cpu_count() or 1
    return Figures(
        turns_per_s=len(load.latencies_ms) / window,
        p50_ms=percentile(load.latencies_ms, 50),
        p99_ms=percentile(load.latencies_ms, 99),
        turns=len(load.latencies_ms),
        errors=load.errors,
        client_cpu=(client1 - client0) / (window * cores),
        server_cpu=(server1 - server0) / (window * cores),
        app_cpu=(app1 - app0) / (window * cores),
        machine_cpu=(busy1 - busy0) / max(total1 - total0, 1e-9),
        steal=(steal1 - steal0) / max(total1 - total0, 1e-9),
    )


def measure(
    stores: Stores, arm: str, args: argparse.Namespace, env: dict[str, str]
) -> tuple[Figures, Figures]:
    """The arm on a fresh store and server: (no think time, paced at ``--rate``)."""
    url = stores.fresh(arm)
    targets = read_targets(url, seed=args.seed)
    server = Server(arm=arm, url=url, workers=args.workers, folder=stores.folder, env=env)
    try:
        server.wait_ready()
        most = phase(server, targets, args, rate=0.0, seed=args.seed)
        paced = phase(server, targets, args, rate=args.rate, seed=args.seed + 1)
    finally:
        server.stop()
    return most, paced


# ---- SIGKILL durability ------------------------------------------------------------------------
@dataclass(frozen=True)
class Durability:
    acknowledged: int  # turns with a 200
    found: int  # of those, in the store with the right index and text
    missing: int
    torn: int  # customer messages in the store without their reply
    unexpected: int  # turns in the store the client never sent (or at another index)
    unanswered: int  # messages in flight when the server died
    unanswered_stored: int  # of those, committed anyway (the reply was lost on the way)
    conversations_missing: int  # 201 received, conversation not in the store


def check_store(
    url: str, conversations: list[int], acks: list[Ack], unanswered: list[Unanswered]
) -> Durability:
    """Compare what the client was told with what the store holds, turn by turn."""
    turn = models.Turn
    engine = create_engine(url)
    with engine.connect() as conn:
        stored_ids = set(
            conn.scalars(
                select(models.Conversation.id).where(models.Conversation.id.in_(conversations))
            )
        )
        rows = conn.execute(
            select(turn.conversation_id, turn.index, turn.speaker, turn.text).where(
                turn.conversation_id.in_(conversations)
            )
        ).all()
    engine.dispose()
    stored = {(c, i): (s, shown_text(s, t)) for c, i, s, t in rows}  # as the API shows them
    expected = {}
    for ack in acks:
        expected[(ack.conversation_id, ack.index)] = ("customer", ack.text)
        expected[(ack.conversation_id, ack.index + 1)] = ("agent", ack.reply)
    found = sum(
        stored.get((a.conversation_id, a.index)) == ("customer", a.text)
        and stored.get((a.conversation_id, a.index + 1)) == ("agent", a.reply)
        for a in acks
    )
    committed = 0
    for lost in unanswered:
        if stored.get((lost.conversation_id, lost.index)) == ("customer", lost.text):
            committed += 1
            expected[(lost.conversation_id, lost.index)] = ("customer", lost.text)
            agent = stored.get((lost.conversation_id, lost.index + 1))
            if agent is not None and agent[0] == "agent":
                expected[(lost.conversation_id, lost.index + 1)] = agent
    torn = sum(
        speaker == "customer" and stored.get((c, i + 1), ("", ""))[0] != "agent"
        for (c, i), (speaker, _text) in stored.items()
    )
    return Durability(
        acknowledged=len(acks),
        found=found,
        missing=len(acks) - found,
        torn=torn,
        unexpected=sum(stored[key] != expected.get(key) for key in stored),
        unanswered=len(unanswered),
        unanswered_stored=committed,
        conversations_missing=len(set(conversations) - stored_ids),
    )


def sigkill_run(
    stores: Stores, arm: str, args: argparse.Namespace, env: dict[str, str]
) -> Durability:
    url = stores.fresh(f"sigkill-{arm}")
    targets = read_targets(url, seed=args.seed + 2)
    server = Server(arm=arm, url=url, workers=args.workers, folder=stores.folder, env=env)
    try:
        server.wait_ready()
        load = asyncio.run(
            run_load(
                server.port, targets, conversations=args.conversations, warmup=0.0,
                duration=args.sigkill_after, kill=server,
            )
        )  # fmt: skip
    finally:
        server.stop()
    return check_store(url, load.conversations, load.acks, load.unanswered)


# ---- main --------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--arm", default="rules,ranker", help="comma-separated arms: rules, ranker")
    add("--conversations", type=int, default=50, help="concurrent customers")
    add("--duration", type=float, default=12.0, help="measured seconds per phase")
    add("--warmup", type=float, default=3.0, help="unmeasured seconds before each phase")
    add("--rate", type=float, default=100.0, help="turns/s offered in the paced phase")
    add("--turns", type=int, default=0, help="end a phase after this many turns (0: by time)")
    add("--workers", type=int, default=2, help="turn worker processes (csbot serve --workers)")
    add("--database-url", help="a PostgreSQL URL (a schema per run); default: SQLite files")
    add("--ranker-checkpoint", type=Path, help="default: CSBOT_RANKER_CHECKPOINT")
    add("--sigkill-arm", default="rules", help="comma-separated arms for the SIGKILL check")
    add("--sigkill-after", type=float, default=5.0, help="seconds of load before the SIGKILL")
    add("--seed", type=int, default=0)
    args = parser.parse_args()
    backend = "sqlite"
    if args.database_url is not None:
        backend = make_url(args.database_url).get_backend_name()
        if backend != "postgresql":
            parser.error("--database-url takes a PostgreSQL URL (SQLite is the default)")
    env = {}
    if args.ranker_checkpoint is not None:
        env["CSBOT_RANKER_CHECKPOINT"] = str(args.ranker_checkpoint.resolve())
    arms = [a for a in args.arm.split(",") if a]
    kill_arms = [a for a in args.sigkill_arm.split(",") if a]
    results: dict[str, tuple[Figures, Figures]] = {}
    durability: dict[str, Durability] = {}
    print(
        f"{args.conversations} concurrent conversations, {args.workers} worker(s), {backend}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} before the run"
    )
    with tempfile.TemporaryDirectory(prefix="csbot-load-") as tmp:
        stores = Stores(Path(tmp), args.database_url)
        try:
            for arm in arms:
                most, paced = results[arm] = measure(stores, arm, args, env)
                print(f"{arm}, no think time: {most.line()}")
                print(f"{arm}, paced at {args.rate:.0f} turns/s: {paced.line()}")
            for arm in kill_arms:
                found = durability[arm] = sigkill_run(stores, arm, args, env)
                print(f"SIGKILL after {args.sigkill_after:.0f} s of load ({arm}): {found}")
        finally:
            stores.close()
    print(f"load_average_after: {os.getloadavg()[0]:.2f}")
    for arm, (most, paced) in results.items():
        print(f"{arm}_max_turns_per_s: {most.turns_per_s:.1f}")
        print(f"{arm}_max_p50_ms: {most.p50_ms:.1f}")
        print(f"{arm}_max_p99_ms: {most.p99_ms:.1f}")
        print(f"{arm}_turns_per_s: {paced.turns_per_s:.1f}")
        print(f"{arm}_p50_ms: {paced.p50_ms:.1f}")
        print(f"{arm}_p99_ms: {paced.p99_ms:.1f}")
        print(f"{arm}_client_cpu_share: {most.client_cpu:.2f}")
        print(f"{arm}_paced_steal_share: {paced.steal:.2f}")
    for arm, found in durability.items():
        prefix = "sigkill" if arm == kill_arms[0] else f"sigkill_{arm}"
        print(f"{prefix}_acknowledged_turns: {found.acknowledged}")
        print(f"{prefix}_missing_turns: {found.missing}")
        print(f"{prefix}_torn_turns: {found.torn}")
        print(f"{prefix}_unexpected_turns: {found.unexpected}")


if __name__ == "__main__":
    main()
