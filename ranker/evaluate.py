"""Evaluate the ranker, its ablations and the baselines on the corpus's test split.

Writes a JSON file with every figure and a Markdown table (docs/ranker_results.md by default),
both headed by the command that produced them. Figures: R@1, R@4 and MRR over acts on the test
split; the same on turns whose gold act only templates added after training realise; the list
head's AUC for "some candidate is acceptable" (each test list against the same list with the gold
act's templates removed); the baselines on the same candidate lists; the full cross-encoder on a
seeded subset of the test split (it is too slow for all of it), with every ranker also scored on
that subset so the comparison is side by side.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sklearn.metrics import roc_auc_score

from ranker.data import RankTurn
from ranker.metrics import RankMetrics, score_rankings
from ranker.scorer import NeuralRanker, Ranker, Ranking

__all__ = ["list_head_auc", "rank_all", "subset", "write_results"]


@dataclass(frozen=True)
class Scored:
    name: str
    test: RankMetrics
    new_templates: RankMetrics
    subset: RankMetrics
    ms_per_turn: float
    auc: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "test": self.test.to_json(),
            "new_templates": self.new_templates.to_json(),
            "subset": self.subset.to_json(),
            "ms_per_turn": round(self.ms_per_turn, 2),
            "list_head_auc": None if self.auc is None else round(self.auc, 4),
        }


def subset(turns: Sequence[RankTurn], n: int, *, seed: int = 0) -> list[RankTurn]:
    """A seeded sample of ``n`` turns (all of them if fewer)."""
    if len(turns) <= n:
        return list(turns)
    return random.Random(seed).sample(list(turns), n)


def rank_all(ranker: Ranker, turns: Sequence[RankTurn]) -> tuple[list[Ranking], float]:
    """Rankings of every turn and the mean milliseconds per turn."""
    started = time.perf_counter()
    rankings = [ranker.rank(t) for t in turns]
    ms = (time.perf_counter() - started) * 1000 / max(1, len(turns))
    return rankings, ms


def list_head_auc(
    ranker: NeuralRanker, turns: Sequence[RankTurn], rankings: Sequence[Ranking]
) -> float:
    """AUC of P(some candidate acceptable): each list (positive) against itself without the gold
    act's templates (negative; skipped when nothing would be left)."""
    labels: list[int] = []
    probs: list[float] = []
    for turn, ranking in zip(turns, rankings, strict=True):
        if not ranking.ranked or turn.gold_act is None:
            continue
        covered = any(r.entry.act == turn.gold_act for r in ranking.ranked)
        labels.append(int(covered))
        probs.append(ranking.list_prob)
        dropped = ranker.rank(turn, drop_acts=frozenset({turn.gold_act}))
        if dropped.ranked:
            labels.append(0)
            probs.append(dropped.list_prob)
    return float(roc_auc_score(labels, probs))


def score(
    name: str,
    ranker: Ranker,
    test: Sequence[RankTurn],
    sample: Sequence[RankTurn],
    held_out_acts: Sequence[str],
    *,
    full: bool = True,
    auc: bool = False,
) -> Scored:
    """Score one ranker on the test split (or only the subset when ``full`` is False)."""
    new = [t for t in test if t.gold_act in set(held_out_acts)]
    sample_rankings, ms = rank_all(ranker, sample)
    if full:
        rankings, ms = rank_all(ranker, test)
        test_metrics = score_rankings(test, rankings)
        by_turn = dict(zip(map(id, test), rankings, strict=True))
        new_metrics = score_rankings(new, [by_turn[id(t)] for t in new])
    else:
        new_new = [t for t in sample if t.gold_act in set(held_out_acts)]
        test_metrics = score_rankings(sample, sample_rankings)
        new_metrics = score_rankings(new_new, [ranker.rank(t) for t in new_new])
    value = None
    if auc and isinstance(ranker, NeuralRanker):
        value = list_head_auc(ranker, sample, sample_rankings)
    return Scored(
        name=name,
        test=test_metrics,
        new_templates=new_metrics,
        subset=score_rankings(sample, sample_rankings),
        ms_per_turn=ms,
        auc=value,
    )


def write_results(
    results: Sequence[Scored],
    *,
    command: str,
    meta: Mapping[str, Any],
    json_path: Path,
    md_path: Path,
    meaning: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """The JSON figures and a Markdown table, both headed by the command that made them
    (``meaning``: the meaning reader's test-split figures, ``ranker.meaning.measure``)."""
    payload: dict[str, Any] = {
        "command": command,
        "meta": dict(meta),
        "results": [r.to_json() for r in results],
    }
    if meaning is not None:
        payload["meaning"] = {k: dict(v) for k, v in meaning.items()}
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    lines = [
        "# Ranker evaluation (generated)",
        "",
        f"Command: `{command}`",
        "",
        "Settings: " + ", ".join(f"{k}={v}" for k, v in sorted(meta.items())),
        "",
        "| ranker | test R@1 | test R@4 | test MRR | new-template R@1 | new-template R@4 "
        "| subset R@1 | subset R@4 | list AUC | ms/turn |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        auc = "" if r.auc is None else f"{r.auc:.3f}"
        lines.append(
            f"| {r.name} | {r.test.r_at_1:.3f} | {r.test.r_at_4:.3f} | {r.test.mrr:.3f} "
            f"| {r.new_templates.r_at_1:.3f} | {r.new_templates.r_at_4:.3f} "
            f"| {r.subset.r_at_1:.3f} | {r.subset.r_at_4:.3f} | {auc} | {r.ms_per_turn:.1f} |"
        )
    n = results[0] if results else None
    if n is not None:
        lines += [
            "",
            f"Test turns ranked: {n.test.turns} (uncovered: {n.test.uncovered}); "
            f"new-template turns: {n.new_templates.turns}; subset turns: {n.subset.turns}.",
        ]
    if meaning:
        lines += [
            "",
            "Meaning reader on the test split (a reading is acted on only when accepted):",
            "",
            "| situation | label | threshold | accepted | of | precision |",
            "|---|---|---|---|---|---|",
        ]
        for situation, figures in sorted(meaning.items()):
            for label, f in sorted(figures.items()):
                if isinstance(f, Mapping):
                    precision = "" if f["precision"] is None else f"{f['precision']:.3f}"
                    threshold = "never" if f["threshold"] > 1 else f"{f['threshold']:.3f}"
                    lines.append(
                        f"| {situation} | {label} | {threshold} | {f['accepted']} "
                        f"| {f['of']} | {precision} |"
                    )
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text("\n".join(lines) + "\n")
