"""Harness throughput: contacts per second of the rule-based arm, a two-arm end-to-end run, Ray.

    .venv/bin/python benchmarks/harness_throughput.py [--contacts 20000] [--single 3000]

1. In-process, one arm (rules) on SQLite: contacts/s over the contact loop (agent built and
   records preloaded before the clock starts; re-contacts count as contacts).
2. A two-arm experiment (rules vs rules_no_descriptions) end to end: fresh store, migrations,
   world seeding, the run, and the HTML/JSON report.
3. The same two-arm experiment (smaller) serially and on Ray with 2 workers, same store kind;
   the ratio is Ray time over serial time (below 1 = Ray faster).
Ends with one ``name: value`` line per headline figure.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from dialogue.config import Settings
from dialogue.store import models
from dialogue.store.session import make_engine, make_session_factory, upgrade
from simulator.experiment import finish, run_experiment
from simulator.spec import ExperimentSpec, parse_arms
from simulator.world import WorldConfig, seed_world


def fresh_world(folder: Path, name: str) -> str:
    url = f"sqlite:///{folder / name}"
    upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as session, session.begin():
        seed_world(session, WorldConfig(seed=7))
    engine.dispose()
    return url


def contacts_in(url: str) -> int:
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        n = int(session.scalar(select(func.count(models.ExperimentContact.id))) or 0)
    engine.dispose()
    return n


def single_arm_rate(folder: Path, contacts: int, shared: Path | None) -> tuple[float, int]:
    url = fresh_world(folder, "single.sqlite3")
    marks: list[float] = []
    spec = ExperimentSpec(arms=parse_arms("rules"), contacts=contacts, seed=11)
    run_experiment(url, spec, shared_data=shared, on_start=lambda *_: marks.append(0.0))
    # Second spec on the same store: the agent and bank are warm; time only the contact loop.
    spec = ExperimentSpec(arms=parse_arms("rules"), contacts=contacts, seed=12)
    before = contacts_in(url)
    started: list[float] = []
    run_experiment(
        url, spec, shared_data=shared, on_start=lambda *_: started.append(time.perf_counter())
    )
    elapsed = time.perf_counter() - started[0]
    ran = contacts_in(url) - before
    return ran / elapsed, ran


def two_arm_end_to_end(folder: Path, contacts: int, shared: Path | None) -> tuple[float, int]:
    started = time.perf_counter()
    url = fresh_world(folder, "two_arm.sqlite3")
    spec = ExperimentSpec(arms=parse_arms("rules,rules_no_descriptions"), contacts=contacts, seed=3)
    experiment_id = run_experiment(url, spec, shared_data=shared)
    engine = make_engine(url)
    finish(make_session_factory(engine), experiment_id, folder / "report")
    engine.dispose()
    return time.perf_counter() - started, contacts_in(url)


def serial_vs_ray(folder: Path, contacts: int, shared: Path | None) -> tuple[float, float, int]:
    spec = ExperimentSpec(arms=parse_arms("rules,rules_no_descriptions"), contacts=contacts, seed=5)
    times = []
    for workers in (1, 2):
        url = fresh_world(folder, f"ray{workers}.sqlite3")
        started = time.perf_counter()
        run_experiment(url, spec, shared_data=shared, workers=workers)
        times.append(time.perf_counter() - started)
    return times[0], times[1], contacts_in(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000, help="two-arm end-to-end size")
    parser.add_argument("--single", type=int, default=3_000, help="single-arm rate size")
    parser.add_argument("--ray-contacts", type=int, default=6_000, help="serial vs Ray size")
    args = parser.parse_args()
    shared = Settings().shared_data_dir
    with tempfile.TemporaryDirectory(prefix="csbot-bench-") as tmp:
        folder = Path(tmp)
        rate, ran = single_arm_rate(folder, args.single, shared)
        print(f"single arm (rules), in-process, SQLite: {ran} contacts at {rate:.0f} contacts/s")
        seconds, total = two_arm_end_to_end(folder, args.contacts, shared)
        print(
            f"two arms, {args.contacts} primary contacts ({total} with re-contacts), end to end "
            f"(seed world, run, report): {seconds:.1f}s"
        )
        serial, ray, total = serial_vs_ray(folder, args.ray_contacts, shared)
        print(
            f"two arms, {args.ray_contacts} primary contacts ({total} with re-contacts): "
            f"serial {serial:.1f}s ({total / serial:.0f} contacts/s), Ray 2 workers {ray:.1f}s "
            f"({total / ray:.0f} contacts/s, Ray start-up included)"
        )
    print(f"rules_contacts_per_s: {rate:.0f}")
    print(f"two_arm_{args.contacts}_end_to_end_s: {seconds:.1f}")
    print(f"ray2_contacts_per_s: {total / ray:.0f}")
    print(f"ray2_over_serial_time_ratio: {ray / serial:.2f}")


if __name__ == "__main__":
    main()
