"""The instrument's own figures: A/A false-positive counts and the act reader's accuracy.

    .venv/bin/python benchmarks/simulator_checks.py [--seeds 50] [--contacts 120]

A/A: ``rules`` against itself on the small test world (seed 11, 300 customers), one fresh copy
of the world per seed; counts the seeds whose overall difference is significant at 0.05, by the
contact-level score test and by the customer-clustered test. The act reader: accuracy on held-out
rep replies (seed 999, 30 per act) and on the catalog's rendered templates.
Ends with one ``name: value`` line per figure.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
from pathlib import Path

from dialogue.store.session import make_engine, make_session_factory, upgrade
from simulator.act_reader import SAMPLE_SLOTS, act_classifier
from simulator.experiment import finish, run_experiment
from simulator.human_agent import write_reply
from simulator.spec import ExperimentSpec, parse_arms
from simulator.world import WorldConfig, seed_world
from templates import ACTS, load_catalog


def a_a(seeds: int, contacts: int) -> tuple[int, int]:
    folder = Path(tempfile.mkdtemp(prefix="csbot-aa-"))
    try:
        base = folder / "world.sqlite3"
        url = f"sqlite:///{base}"
        upgrade(url)
        engine = make_engine(url)
        with make_session_factory(engine)() as session, session.begin():
            seed_world(session, WorldConfig(seed=11, customers=300, items=150))
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        plain = clustered = 0
        for seed in range(seeds):
            copy = folder / f"seed{seed}.sqlite3"
            shutil.copyfile(base, copy)
            spec = ExperimentSpec(arms=parse_arms("rules,rules"), contacts=contacts, seed=seed)
            experiment_id = run_experiment(f"sqlite:///{copy}", spec)
            engine = make_engine(f"sqlite:///{copy}")
            figures = finish(make_session_factory(engine), experiment_id, folder / "r").figures
            engine.dispose()
            (overall,) = [c for c in figures.comparisons if c.issue_type is None]
            plain += overall.comparison.significant
            clustered += bool(overall.clustered and overall.clustered.significant)
        return plain, clustered
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def act_reader_accuracy() -> tuple[float, float]:
    classifier = act_classifier()
    rng = random.Random(999)
    held_out = [
        (write_reply(act, SAMPLE_SLOTS, rng, off_catalog_rate=0.12)[0], act)
        for act in sorted(ACTS)
        for _ in range(30)
    ]
    catalog = load_catalog()
    rendered = [
        (catalog.render(e.id, dict(SAMPLE_SLOTS)), act)
        for act in sorted(ACTS)
        for e in catalog.by_act(act)
    ]
    return tuple(  # type: ignore[return-value]
        sum(classifier.predict(t)[0] == a for t, a in rows) / len(rows)
        for rows in (held_out, rendered)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--contacts", type=int, default=120)
    args = parser.parse_args()
    plain, clustered = a_a(args.seeds, args.contacts)
    held_out, rendered = act_reader_accuracy()
    print(f"aa_significant_of_{args.seeds}: {plain}")
    print(f"aa_clustered_significant_of_{args.seeds}: {clustered}")
    print(f"act_reader_held_out_accuracy: {held_out:.3f}")
    print(f"act_reader_catalog_accuracy: {rendered:.3f}")


if __name__ == "__main__":
    main()
