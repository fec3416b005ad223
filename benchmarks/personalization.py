"""Personalization speed: the ALS fit on the default world, soft tokens per customer when serving,
and order resolution per description.

    .venv/bin/python benchmarks/personalization.py [--customers 500] [--repeats 5]

1. The default world (``WorldConfig()``: 2,000 customers, 600 items) is seeded into a scratch
   SQLite store. ALS (``implicit``, the default ``ALSConfig``) is fitted ``--repeats`` times on
   its purchase confidences; the baseline in the same run is scikit-learn's ``TruncatedSVD`` with
   the same rank on the same matrix (a CF fit with no confidence weighting). The whole
   ``fit_personalization`` (store read + ALS + MiniLM over the catalog) is timed once.
2. Soft tokens: for ``--customers`` customers, the sequence of their live store record and their
   latest order is built on an empty cache (uncached), then again (cached, what a conversation's
   later turns pay), then projected by a ranker-sized adapter; a customer the fit has not seen
   is folded in (``recalculate_user``) on its own as well.
3. Order resolution: the simulator's descriptions of those customers' orders, resolved by the
   word matcher and by the embedding resolver (the artifact's item vectors; one MiniLM call for
   the description).

Ends with one ``name: value`` line per headline figure.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from scipy.sparse import csr_matrix
from sqlalchemy.orm import Session

from dialogue.personalization.adapter import SoftTokenAdapter
from dialogue.personalization.cf import ALSConfig, CustomerFoldIn, fit_als
from dialogue.personalization.content import SentenceEncoder
from dialogue.personalization.fit import fit_personalization
from dialogue.personalization.history import load_history
from dialogue.personalization.orders import OrderResolver
from dialogue.personalization.soft import SoftTokens
from dialogue.store import repository
from dialogue.store.repository import world_now
from dialogue.store.session import make_engine, make_session_factory, upgrade
from simulator.descriptions import simulator_descriptions
from simulator.order_resolution import string_resolver
from simulator.phrases import load_phrase_bank
from simulator.world import WorldConfig, seed_world


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'world.sqlite3'}"
        upgrade(url)
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        with sessions() as session, session.begin():
            seed_world(session, WorldConfig())
        with sessions() as session:
            run(session, args)
        engine.dispose()


def run(session: Session, args: argparse.Namespace) -> None:
    from sklearn.decomposition import TruncatedSVD

    history = load_history(session)
    skus = [i.sku for i in history.items]
    cfg = ALSConfig()
    als_times, svd_times = [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        fit_als(history.confidence, history.customers, skus, cfg)
        als_times.append(time.perf_counter() - started)
    row = {c: i for i, c in enumerate(history.customers)}
    col = {s: j for j, s in enumerate(skus)}
    keys = list(history.confidence)
    matrix = csr_matrix(
        (
            [history.confidence[k] for k in keys],
            ([row[c] for c, _ in keys], [col[s] for _, s in keys]),
        ),
        shape=(len(row), len(col)),
    )
    for _ in range(args.repeats):
        started = time.perf_counter()
        TruncatedSVD(n_components=cfg.factors, random_state=0).fit(matrix)
        svd_times.append(time.perf_counter() - started)
    encoder = SentenceEncoder()
    started = time.perf_counter()
    artifact = fit_personalization(session, encoder=encoder)
    total_fit = time.perf_counter() - started

    customers = sorted(artifact.orders)[: args.customers]
    records = [repository.customer_record(session, c) for c in customers]
    tokens = SoftTokens(artifact)
    adapter = SoftTokenAdapter(artifact.dim, 128).eval()
    uncached, cached, projected = [], [], []
    for record in records:
        assert record is not None
        order = record.orders[0].order_number
        started = time.perf_counter()
        tokens.for_record(record, order)
        uncached.append(1000 * (time.perf_counter() - started))
        started = time.perf_counter()
        seq = tokens.for_record(record, order)
        cached.append(1000 * (time.perf_counter() - started))
        with torch.inference_mode():
            started = time.perf_counter()
            adapter(seq.unsqueeze(0))
            projected.append(1000 * (time.perf_counter() - started))
    folds = []
    fold_in = CustomerFoldIn(artifact.item_factors, artifact.als)  # one per serving process
    for c in customers[:200]:
        weights = {artifact.item_row(s): 1.0 for o in artifact.orders[c] for s in o.skus}
        started = time.perf_counter()
        fold_in({k: v for k, v in weights.items() if k is not None})
        folds.append(1000 * (time.perf_counter() - started))

    bank = load_phrase_bank(None)
    chosen = set(customers)
    cases = [c for c in simulator_descriptions(session, bank, seed=0) if c.customer_id in chosen]
    resolver = OrderResolver(encoder, artifact=artifact)
    now = world_now(session)
    by_customer = {r.profile.id: r.orders for r in records if r is not None}
    word_ms, embed_ms, right_words, right_embed = [], [], 0, 0
    for case in cases:
        orders = by_customer[case.customer_id]
        started = time.perf_counter()
        found = string_resolver(case.text, orders, now)
        word_ms.append(1000 * (time.perf_counter() - started))
        right_words += len(found) == 1 and found[0].order_number == case.order_number
        started = time.perf_counter()
        found = resolver.resolve(case.text, orders, now)
        embed_ms.append(1000 * (time.perf_counter() - started))
        right_embed += len(found) == 1 and found[0].order_number == case.order_number

    als_s, svd_s = statistics.median(als_times), statistics.median(svd_times)
    print(f"world: {len(history.customers)} customers x {len(skus)} items, "
          f"{len(history.confidence)} confidences; threads {torch.get_num_threads()}")  # fmt: skip
    print(f"ALS fit s over {args.repeats}: {', '.join(f'{t:.2f}' for t in als_times)}")
    print(f"TruncatedSVD fit s (baseline): {', '.join(f'{t:.2f}' for t in svd_times)}")
    print(f"fit_personalization (store + ALS + MiniLM over the catalog): {total_fit:.1f} s")
    print(f"soft tokens ms over {len(cached)} customers: uncached p50 "
          f"{percentile(uncached, 0.5):.3f} p99 {percentile(uncached, 0.99):.3f}; cached p50 "
          f"{percentile(cached, 0.5):.4f} p99 {percentile(cached, 0.99):.4f}; adapter p50 "
          f"{percentile(projected, 0.5):.3f}")  # fmt: skip
    print(f"fold-in of a customer ms: p50 {percentile(folds, 0.5):.3f}")
    print(f"order resolution on {len(cases)} simulator descriptions: words "
          f"{right_words / len(cases):.3f} ({percentile(word_ms, 0.5):.2f} ms p50), embeddings "
          f"{right_embed / len(cases):.3f} ({percentile(embed_ms, 0.5):.2f} ms p50)")  # fmt: skip
    print(f"als_fit_s: {als_s:.2f}")
    print(f"svd_baseline_fit_s: {svd_s:.2f}")
    print(f"als_over_svd_time_ratio: {als_s / svd_s:.1f}")
    print(f"personalize_fit_total_s: {total_fit:.1f}")
    print(f"soft_tokens_cached_p50_ms: {percentile(cached, 0.5):.4f}")
    print(f"soft_tokens_cached_p99_ms: {percentile(cached, 0.99):.4f}")
    print(f"soft_tokens_uncached_p50_ms: {percentile(uncached, 0.5):.3f}")
    print(f"soft_tokens_cached_plus_adapter_p50_ms: "
          f"{percentile(cached, 0.5) + percentile(projected, 0.5):.3f}")  # fmt: skip
    print(f"fold_in_customer_p50_ms: {percentile(folds, 0.5):.3f}")
    print(f"resolve_words_p50_ms: {percentile(word_ms, 0.5):.2f}")
    print(f"resolve_embeddings_p50_ms: {percentile(embed_ms, 0.5):.2f}")


if __name__ == "__main__":
    main()
