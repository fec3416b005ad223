"""Order resolution measured: each resolver on the labelled description sets, with intervals.

A case counts as resolved when the resolver returns exactly the labelled order. Returning
several orders (the agent would ask which) or none (it would ask for the number) is not
resolved; returning one wrong order is **wrong**, the costly error (the agent would go on about
another order), and is reported apart.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from statsmodels.stats.proportion import proportion_confint

from dialogue import nlu
from dialogue.domain import OrderView
from dialogue.store import repository
from dialogue.store.session import make_engine, make_session_factory, upgrade
from simulator.descriptions import DescribedOrder

__all__ = ["Resolve", "ResolutionFigures", "measure_resolution", "scratch_world", "string_resolver"]

Resolve = Callable[[str, Sequence[OrderView], datetime], tuple[OrderView, ...]]


def string_resolver(text: str, orders: Sequence[OrderView], now: datetime) -> tuple[OrderView, ...]:
    """The rule-based agent's word matcher (the baseline)."""
    return nlu.match_orders_by_description(text, orders)


@dataclass(frozen=True)
class ResolutionFigures:
    n: int
    resolved: int
    wrong: int
    asked: int  # several orders returned: the agent asks which
    missed: int  # none returned
    by_style: dict[str, tuple[int, int]]  # style -> (resolved, n)

    @property
    def accuracy(self) -> float:
        return self.resolved / self.n if self.n else 0.0

    def interval(self) -> tuple[float, float]:
        if not self.n:
            return (0.0, 0.0)
        low, high = proportion_confint(self.resolved, self.n, alpha=0.05, method="wilson")
        return float(low), float(high)

    def to_dict(self) -> dict[str, Any]:
        low, high = self.interval()
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "ci95": [round(low, 4), round(high, 4)],
            "wrong": self.wrong,
            "asked": self.asked,
            "missed": self.missed,
            "by_style": {k: {"resolved": r, "n": n} for k, (r, n) in sorted(self.by_style.items())},
        }


def measure_resolution(
    session: Any, cases: Sequence[DescribedOrder], resolve: Resolve, now: datetime
) -> ResolutionFigures:
    """Run ``resolve`` on every case against the customer's own orders."""
    resolved = wrong = asked = missed = 0
    styles: dict[str, list[int]] = {}
    records: dict[int, tuple[OrderView, ...]] = {}
    for case in cases:
        if case.customer_id not in records:
            record = repository.customer_record(session, case.customer_id)
            records[case.customer_id] = record.orders if record is not None else ()
        found = resolve(case.text, records[case.customer_id], now)
        tally = styles.setdefault(case.style, [0, 0])
        tally[1] += 1
        if len(found) == 1 and found[0].order_number == case.order_number:
            resolved += 1
            tally[0] += 1
        elif len(found) == 1:
            wrong += 1
        elif found:
            asked += 1
        else:
            missed += 1
    by_style = {k: (v[0], v[1]) for k, v in styles.items()}
    return ResolutionFigures(len(cases), resolved, wrong, asked, missed, by_style)


class scratch_world:  # noqa: N801 - a context manager used like a function
    """A migrated SQLite store in a temporary folder, filled by ``fill(session)``."""

    def __init__(self, fill: Callable[[Any], object]) -> None:
        self._fill = fill
        self._dir = tempfile.TemporaryDirectory(prefix="csbot-world-")

    def __enter__(self) -> Any:
        url = f"sqlite:///{Path(self._dir.name) / 'world.sqlite3'}"
        upgrade(url)
        self._engine = make_engine(url)
        self._session = make_session_factory(self._engine)()
        self._fill(self._session)
        self._session.commit()
        return self._session

    def __exit__(self, *exc: object) -> None:
        self._session.close()
        self._engine.dispose()
        self._dir.cleanup()


RESOLVERS: tuple[tuple[str, dict[str, bool] | None], ...] = (
    ("string (rule-based)", None),
    ("string + time", {"use_content": False}),
    ("content", {"use_words": False, "use_time": False}),
    ("content + words", {"use_time": False}),
    ("content + words + time", {}),
)
"""The resolvers compared: the rule-based agent's word matcher, then the embedding resolver with
its signals added one at a time (the last is :class:`ResolverConfig`'s default)."""


def non_descriptions(bank: Any) -> list[str]:
    """Customer messages that describe no order (openers, reasons, yes/no, closings, requests
    for a human, questions back, "that's the wrong one"): a resolver should find nothing."""
    groups: list[Sequence[str]] = [
        *bank.openers.values(),
        *bank.reasons.values(),
        bank.confirm_yes,
        bank.confirm_no,
        bank.closing,
        bank.ask_human,
        bank.question_back,
        bank.wrong_order_reply,
    ]
    return sorted({p for group in groups for p in group if "{" not in p and p.strip()})


def false_positives(
    session: Any, messages: Sequence[str], resolve: Resolve, now: datetime, *, seed: int = 0
) -> dict[str, Any]:
    """How many messages that describe no order ``resolve`` still takes for one (each message
    against a customer with two orders or more, drawn with ``seed``)."""
    import random

    rng = random.Random(seed)
    customers = repository.customers_with_orders(session)
    records = []
    for customer_id in rng.sample(customers, min(len(customers), 200)):
        record = repository.customer_record(session, customer_id)
        if record is not None and len(record.orders) >= 2:
            records.append(record)
    hits = sum(bool(resolve(m, rng.choice(records).orders, now)) for m in messages)
    low, high = proportion_confint(hits, len(messages), alpha=0.05, method="wilson")
    return {"n": len(messages), "found_an_order": hits, "rate": round(hits / len(messages), 4),
            "ci95": [round(float(low), 4), round(float(high), 4)]}  # fmt: skip


def resolution_report(
    shared_data_dir: Path | None, *, seed: int = 0, limit: int | None = None
) -> dict[str, Any]:
    """Every resolver on the simulator set (default world) and, with the data, the tau2 set."""
    from dialogue.personalization.content import SentenceEncoder
    from dialogue.personalization.orders import OrderResolver, ResolverConfig
    from dialogue.store.repository import world_now
    from simulator.descriptions import simulator_descriptions, tau2_descriptions
    from simulator.phrases import load_phrase_bank
    from simulator.world import WorldConfig, seed_world

    encoder = SentenceEncoder()
    bank = load_phrase_bank(shared_data_dir)
    worlds: list[tuple[str, Callable[[Any], object], Callable[[Any, datetime], list[Any]]]] = [
        (
            "simulator",
            lambda s: seed_world(s, WorldConfig()),
            lambda s, now: simulator_descriptions(s, bank, seed=seed, limit=limit),
        )
    ]
    tau2 = shared_data_dir / "tau2_bench_retail" / "db.json" if shared_data_dir else None
    if tau2 is not None and tau2.is_file():
        from simulator.tau2 import import_tau2

        worlds.append(
            (
                "tau2",
                lambda s: import_tau2(s, tau2),
                lambda s, now: tau2_descriptions(s, now, seed=seed, limit=limit),
            )
        )
    resolvers: dict[str, Resolve] = {
        label: string_resolver
        if overrides is None
        else OrderResolver(encoder, config=ResolverConfig(**overrides)).resolve
        for label, overrides in RESOLVERS
    }
    report: dict[str, Any] = {"seed": seed, "sets": {}}
    for name, fill, build in worlds:
        with scratch_world(fill) as session:
            now = world_now(session)
            cases = build(session, now)
            table: dict[str, Any] = {}
            for label, resolve in resolvers.items():
                started = time.perf_counter()
                figures = measure_resolution(session, cases, resolve, now).to_dict()
                figures["ms_per_case"] = round(
                    1000 * (time.perf_counter() - started) / max(1, len(cases)), 2
                )
                table[label] = figures
            report["sets"][name] = {"cases": len(cases), "resolvers": table}
            if name == "simulator":
                messages = non_descriptions(bank)
                report["non_descriptions"] = {
                    label: false_positives(session, messages, resolve, now, seed=seed)
                    for label, resolve in resolvers.items()
                }
    return report


def write_resolution_markdown(report: dict[str, Any], path: Path) -> None:
    """The report as Markdown tables (one per set, one row per resolver)."""
    lines = [
        "# Order resolution by description",
        "",
        "Generated by `csbot personalize orders --seed "
        f"{report['seed']} --md-out {path.name}`; accuracy is the share of cases resolved to "
        "exactly the labelled order, with a 95 % Wilson interval. *wrong*: one other order "
        "returned; *asked*: several returned (the agent asks which); *missed*: none.",
        "",
    ]
    for name, table in report["sets"].items():
        lines += [f"## {name} ({table['cases']} cases)", ""]
        styles = sorted({s for f in table["resolvers"].values() for s in f["by_style"]})
        head = "| resolver | accuracy | 95 % CI | wrong | asked | missed | " + " | ".join(styles)
        lines += [head + " | ms/case |", "|" + "---|" * (7 + len(styles))]
        for label, f in table["resolvers"].items():
            by = " | ".join(
                f"{f['by_style'][s]['resolved']}/{f['by_style'][s]['n']}" for s in styles
            )
            low, high = f["ci95"]
            lines.append(
                f"| {label} | {f['accuracy']:.3f} | [{low:.3f}, {high:.3f}] | {f['wrong']} | "
                f"{f['asked']} | {f['missed']} | {by} | {f['ms_per_case']} |"
            )
        lines.append("")
    if "non_descriptions" in report:
        n = next(iter(report["non_descriptions"].values()))["n"]
        lines += [
            f"## messages that describe no order ({n}: openers, reasons, yes/no, closings, "
            "requests for a human, questions back)",
            "",
            "| resolver | took one for an order | rate | 95 % CI |",
            "|---|---|---|---|",
        ]
        for label, f in report["non_descriptions"].items():
            low, high = f["ci95"]
            lines.append(
                f"| {label} | {f['found_an_order']} | {f['rate']:.3f} | [{low:.3f}, {high:.3f}] |"
            )
        lines.append("")
    path.write_text("\n".join(lines))
