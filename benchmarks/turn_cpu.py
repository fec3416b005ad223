"""CPU per customer turn, in one process: the service's turn path without HTTP or concurrency.

    .venv/bin/python benchmarks/turn_cpu.py [--arm rules,ranker] [--conversations 100]
        [--ranker-checkpoint PATH] [--threads 1]

The service's capacity (``benchmarks/service_load.py``) is about cores / CPU per turn, but a load
run varies by 10-20 % from run to run on a shared machine. This measures the part a turn worker
pays, steadily: the services are built as ``csbot serve`` builds them (on a fresh copy of the
seeded default world; SQLite snapshots, the arm warmed up), and the load benchmark's scripted
refund-status and cancellation flows run one turn after another through
``CustomerChats.send``, on one torch thread. As in a turn worker, the reply just sent is encoded
after the turn (``ranker.encoder.defer_prefetch``), outside the turn's wall time. The CPU counted
is the whole process's over the measured turns, after 5 warm-up conversations.

Ends with one ``name: value`` line per headline figure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from service_load import cli, read_targets, script  # this folder is on the path when run

from dialogue.config import Settings
from dialogue.service.wiring import build_services
from ranker.encoder import defer_prefetch, run_deferred


def measure(arm: str, template: Path, folder: Path, conversations: int) -> tuple[int, float, float]:
    """(turns, CPU ms per turn, median wall ms per turn) of ``arm`` on a fresh copy of the world."""
    path = folder / f"{arm}.sqlite3"
    shutil.copyfile(template, path)
    url = f"sqlite:///{path}"
    settings = Settings(database_url=url, data_dir=folder / "data", serve_arm=arm)
    services = build_services(settings, assistant=None)
    chats, targets = services.chats, read_targets(url)

    def talk(n: int) -> list[float]:
        walls = []
        for _ in range(n):
            started = chats.start()
            for text in script(next(targets)):
                begin = time.perf_counter()
                sent = chats.send(started.conversation_id, text)
                walls.append(time.perf_counter() - begin)
                run_deferred()  # as a turn worker does once its answer is sent
                if sent.status != "open":
                    break
        return walls

    try:
        talk(5)  # warm-up: caches, lazy imports
        cpu = time.process_time()
        walls = talk(conversations)
        cpu = time.process_time() - cpu
    finally:
        services.close()
    return len(walls), 1000 * cpu / len(walls), 1000 * statistics.median(walls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arm", default="rules,ranker", help="comma-separated arms")
    parser.add_argument("--conversations", type=int, default=100, help="measured conversations")
    parser.add_argument("--ranker-checkpoint", type=Path, help="default: CSBOT_RANKER_CHECKPOINT")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a turn worker's)")
    args = parser.parse_args()
    if args.ranker_checkpoint is not None:
        os.environ["CSBOT_RANKER_CHECKPOINT"] = str(args.ranker_checkpoint.resolve())
    torch.set_num_threads(args.threads)
    defer_prefetch()  # as in a turn worker: the reply is encoded between turns
    figures: dict[str, tuple[int, float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="csbot-turn-cpu-") as tmp:
        folder = Path(tmp)
        template = folder / "template.sqlite3"
        cli("world", "seed", "--database-url", f"sqlite:///{template}")
        for arm in (a for a in args.arm.split(",") if a):
            turns, cpu_ms, wall_ms = figures[arm] = measure(
                arm, template, folder, args.conversations
            )
            print(f"{arm}: {turns} turns, {cpu_ms:.2f} ms CPU per turn, median {wall_ms:.2f} ms")
    for arm, (turns, cpu_ms, wall_ms) in figures.items():
        print(f"{arm}_turns: {turns}")
        print(f"{arm}_cpu_ms_per_turn: {cpu_ms:.2f}")
        print(f"{arm}_median_wall_ms: {wall_ms:.2f}")


if __name__ == "__main__":
    main()
