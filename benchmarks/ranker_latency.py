"""Ranker latency over 200 candidate templates, against the full cross-encoder, and serving memory.

    .venv/bin/python benchmarks/ranker_latency.py [--checkpoint PATH] [--corpus DIR] [--turns 400]

1. The catalog is widened to 200 templates (copies of the real ones under new ids, all made
   applicable), encoded once as the ranker does when a catalog loads.
2. Test-split dialogues are replayed turn by turn, as a live conversation would reach the ranker:
   each call encodes only the utterances not seen before and scores all 200 candidates; the
   reply that follows is encoded in the background as the agent does when it sends it
   (``NeuralRanker.prefetch``), so a call encodes just the customer's new message. p50/p99 over
   the calls; the background encoding is timed apart.
3. The full MiniLM cross-encoder scores the same 200 candidates on a sample of the same turns
   (context + candidate re-encoded together for every candidate); the ratio is from this run.
4. A fresh process loads the neural agent (ranker + tracker + catalog) and serves a few
   conversations through ConversationRunner on a SQLite store seeded beforehand by this process
   (a server opens a database, it does not build one); its resident memory is read from /proc.

Ends with one ``name: value`` line per headline figure.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from dialogue.config import Settings
from ranker.data import RankTurn, load_turns
from ranker.scorer import NeuralRanker
from templates import FACTS, SLOTS, Catalog, load_catalog

N_CANDIDATES = 200


def wide_catalog(n: int) -> Catalog:
    """The real templates, copied under new ids until there are ``n``, none with preconditions."""
    base = load_catalog().entries
    entries = []
    for i in range(n):
        entry = base[i % len(base)]
        entries.append(
            replace(entry, id=f"{entry.id}.bench{i}", preconditions=frozenset(), unless=frozenset())
        )
    return Catalog(entries)


def full_slots() -> dict[str, object]:
    slots: dict[str, object] = {name: f"<{name}>" for name in SLOTS}
    slots["order_options"] = [
        {"order_id": "#W0000001", "item_summary": "a lamp", "order_date": "May 1", "status": "x"}
    ]
    return slots


def replay_turns(corpus: Path, dialogues: int) -> list[RankTurn]:
    """Test turns in dialogue order, every candidate made applicable."""
    turns = load_turns(corpus / "test.jsonl", limit=dialogues * 6)
    return [replace(t, facts=frozenset(FACTS), slots=full_slots()) for t in turns]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def time_ranker(ranker: NeuralRanker, turns: list[RankTurn]) -> tuple[list[float], list[float]]:
    """Per-turn ranking times, and the times of encoding each reply in the background.

    After each turn the reply that followed it is handed to :meth:`NeuralRanker.prefetch`, as
    the agent does when it sends a reply; the replay waits for that job (the customer's reading
    and typing time) and times it apart, so the next turn encodes only the customer's message.
    """
    for turn in turns[:10]:  # warm-up (allocator, first-call overheads, the prefetch thread)
        ranker.rank(turn)
        job = ranker.prefetch([turn.gold_reply or ""])
        if job is not None:
            job.result()
    ranker.encoder._cache.clear()  # start cold: only per-turn new utterances get encoded
    times, reply_times = [], []
    for turn in turns:
        started = time.perf_counter()
        ranking = ranker.rank(turn)
        times.append((time.perf_counter() - started) * 1000)
        assert len(ranking.ranked) == N_CANDIDATES, len(ranking.ranked)
        started = time.perf_counter()
        job = ranker.prefetch([turn.gold_reply or ""])
        if job is not None:
            job.result()
            reply_times.append((time.perf_counter() - started) * 1000)
    return times, reply_times


def time_cross_encoder(catalog: Catalog, turns: list[RankTurn]) -> list[float]:
    from ranker.baselines import CrossEncoderRanker

    cross = CrossEncoderRanker(catalog.entries)  # untrained head: the cost is the same
    cross.model.eval()
    cross.rank(turns[0])
    times = []
    for turn in turns:
        started = time.perf_counter()
        ranking = cross.rank(turn)
        times.append((time.perf_counter() - started) * 1000)
        assert len(ranking.ranked) == N_CANDIDATES
    return times


SERVE_SCRIPT = """
import sys
from pathlib import Path
from dialogue.conversation import ConversationRunner
from dialogue.pipeline import NeuralAgent
from dialogue.store.session import make_engine, make_session_factory
from ranker.scorer import NeuralRanker

sessions = make_session_factory(make_engine(sys.argv[2]))
agent = NeuralAgent(NeuralRanker.load(Path(sys.argv[1])))
runner = ConversationRunner(sessions, agent)
for n in range(20):
    cid = runner.start()
    for text in ["hi, where is my refund?", "it's for my last order", "thanks, bye"]:
        runner.send(cid, text)
rss = [l for l in open("/proc/self/status") if l.startswith(("VmRSS", "VmHWM"))]
print("".join(rss))
"""


def serving_rss_mb(checkpoint: Path) -> tuple[float, float]:
    """Resident and peak memory of a process that only serves (the store is seeded before, by
    this process, as a deployment's database would be)."""
    from dialogue.store.session import make_engine, make_session_factory, upgrade
    from simulator.world import WorldConfig, seed_world

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'serve.sqlite3'}"
        upgrade(url)
        engine = make_engine(url)
        with make_session_factory(engine)() as s, s.begin():
            seed_world(s, WorldConfig(seed=7, customers=200, items=100))
        engine.dispose()
        out = subprocess.run(
            [sys.executable, "-c", SERVE_SCRIPT, str(checkpoint), url],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    values = {
        line.split(":")[0]: int(line.split()[1]) / 1024
        for line in out.splitlines()
        if line.startswith("Vm")
    }
    return values["VmRSS"], values["VmHWM"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--turns", type=int, default=400)
    parser.add_argument("--cross-turns", type=int, default=20)
    args = parser.parse_args()
    torch.manual_seed(0)
    settings = Settings()
    checkpoint = args.checkpoint or settings.resolved_ranker_checkpoint()
    corpus = args.corpus or settings.data_dir / "corpus"
    catalog = wide_catalog(N_CANDIDATES)
    ranker = NeuralRanker.load(checkpoint, catalog)
    turns = replay_turns(corpus, args.turns)[: args.turns]
    times, reply_times = time_ranker(ranker, turns)
    cross_turns = turns[:: max(1, len(turns) // args.cross_turns)][: args.cross_turns]
    cross = time_cross_encoder(catalog, cross_turns)
    same = time_ranker(ranker, cross_turns)[0]
    rss, peak = serving_rss_mb(checkpoint)
    p50, p99 = percentile(times, 0.50), percentile(times, 0.99)
    ratio = statistics.median(cross) / statistics.median(same)
    print(f"turns timed: {len(times)} (200 candidates each), threads: {torch.get_num_threads()}")
    print(f"ranker ms: p50 {p50:.1f}  p90 {percentile(times, 0.9):.1f}  p99 {p99:.1f}")
    reply_p50 = percentile(reply_times, 0.50)
    print(f"reply encoding in the background ms: p50 {reply_p50:.1f} (off the turn's path)")
    print(f"cross-encoder ms on {len(cross)} of the turns: p50 {statistics.median(cross):.0f}")
    print(f"serving process: VmRSS {rss:.0f} MB, peak {peak:.0f} MB")
    print(f"ranker_p50_ms: {p50:.1f}")
    print(f"ranker_p99_ms: {p99:.1f}")
    print(f"reply_prefetch_p50_ms: {reply_p50:.1f}")
    print(f"cross_encoder_p50_ms: {statistics.median(cross):.0f}")
    print(f"cross_over_ranker_speed_ratio: {ratio:.0f}")
    print(f"serving_rss_mb: {rss:.0f}")
    print(f"serving_peak_rss_mb: {peak:.0f}")


if __name__ == "__main__":
    main()
