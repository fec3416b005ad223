"""Offline evaluation of generators against held-out human-rep replies (``csbot generator
evaluate`` → docs/generator.md).

Each test-split turn is drafted as serving would draft it: the act among the acts the candidate
templates allow under the turn's facts, placeholders only for the slots the tracker filled, filled
from them, grounded against them. Figures per model:

- BLEU (sacreBLEU, corpus level) and ROUGE-L F1 (rouge-score) of the draft against the rep's
  reply; embedding similarity: the cosine of their all-MiniLM-L6-v2 sentence embeddings;
- act accuracy: the draft's act is the rep's act (over all turns, and over the turns whose gold
  act the candidates allow);
- grounding-failure rate: drafts the checker would never auto-send (any problem, the act
  reader's included); act-check failures alone: drafts whose words the generator's own act
  reader (``generator.act_check``) reads as another act; unfinished drafts;
- milliseconds per draft.

Intervals are 95 % bootstrap percentiles over turns (1,000 resamples, seeded).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from generator.drafter import Drafter
from generator.grounding import StoreFacts
from ranker.data import RankTurn, candidate_entries
from templates import load_catalog

__all__ = ["GeneratorScores", "evaluate_generator", "sample_turns"]


@dataclass(frozen=True)
class GeneratorScores:
    name: str
    turns: int
    bleu: float
    bleu_ci: tuple[float, float]
    rouge_l: float
    rouge_l_ci: tuple[float, float]
    similarity: float
    similarity_ci: tuple[float, float]
    act_accuracy: float
    act_accuracy_allowed: float
    grounding_failure: float
    act_check_failure: float
    unfinished: float
    ms_per_draft: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def sample_turns(turns: Sequence[RankTurn], n: int, *, seed: int) -> list[RankTurn]:
    """A seeded sample of turns with a gold reply (all of them when fewer than ``n``)."""
    usable = [t for t in turns if t.gold_reply and t.gold_act]
    rng = random.Random(seed)
    return usable if len(usable) <= n else rng.sample(usable, n)


def _bootstrap(values: np.ndarray, stat: Any, *, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    n = len(values)
    stats = [stat(values[rng.integers(0, n, n)]) for _ in range(1000)]
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return round(float(lo), 4), round(float(hi), 4)


def evaluate_generator(
    name: str,
    drafter: Drafter,
    turns: Sequence[RankTurn],
    *,
    catalog_titles: frozenset[str] = frozenset(),
    seed: int = 0,
) -> tuple[GeneratorScores, list[dict[str, Any]]]:
    """Scores of ``drafter`` on ``turns`` and one row per turn (for inspection)."""
    import sacrebleu
    from rouge_score import rouge_scorer

    from dialogue.personalization.content import SentenceEncoder

    catalog = load_catalog()
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for turn in turns:
        allowed = {e.act for e in candidate_entries(catalog.entries, turn.facts, turn.slots)}
        store = StoreFacts(
            slots=dict(turn.slots),
            facts=turn.facts,
            catalog_titles=catalog_titles,
            executed_action="cancel_order" if "cancel_confirmed" in turn.facts else None,
        )
        drafts = drafter.drafts(turn, None, allowed_acts=allowed, store=store)
        draft = drafts[0] if drafts else None
        rows.append(
            {
                "gold_act": turn.gold_act,
                "gold": turn.gold_reply,
                "act": draft.act if draft else None,
                "draft": draft.text if draft else "",
                "grounded": bool(draft and draft.grounded),
                "problems": list(draft.grounding.problems) if draft else ["no draft"],
                "finished": bool(draft and draft.finished),
                "gold_allowed": turn.gold_act in allowed,
            }
        )
    elapsed = time.perf_counter() - started
    hyps = [r["draft"] for r in rows]
    refs = [str(r["gold"]) for r in rows]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    rouge = np.array(
        [scorer.score(ref, hyp)["rougeL"].fmeasure for ref, hyp in zip(refs, hyps, strict=True)]
    )
    encoder = SentenceEncoder()
    sims = np.sum(encoder(hyps) * encoder(refs), axis=1)
    index = np.arange(len(rows))

    def bleu_of(idx: np.ndarray) -> float:
        return float(sacrebleu.corpus_bleu([hyps[i] for i in idx], [[refs[i] for i in idx]]).score)

    allowed_rows = [r for r in rows if r["gold_allowed"]]
    n = max(len(rows), 1)
    for r, s, rl in zip(rows, sims.tolist(), rouge.tolist(), strict=True):
        r["similarity"], r["rouge_l"] = round(s, 4), round(rl, 4)
    scores = GeneratorScores(
        name=name,
        turns=len(rows),
        bleu=round(bleu_of(index), 2),
        bleu_ci=_bootstrap(index, bleu_of, seed=seed),
        rouge_l=round(float(rouge.mean()), 4),
        rouge_l_ci=_bootstrap(rouge, np.mean, seed=seed),
        similarity=round(float(sims.mean()), 4),
        similarity_ci=_bootstrap(sims, np.mean, seed=seed),
        act_accuracy=round(sum(r["act"] == r["gold_act"] for r in rows) / n, 4),
        act_accuracy_allowed=round(
            sum(r["act"] == r["gold_act"] for r in allowed_rows) / max(len(allowed_rows), 1), 4
        ),
        grounding_failure=round(sum(not r["grounded"] for r in rows) / n, 4),
        act_check_failure=round(
            sum(any(p.startswith("reads as") for p in r["problems"]) for r in rows) / n, 4
        ),
        unfinished=round(sum(not r["finished"] for r in rows) / n, 4),
        ms_per_draft=round(1000 * elapsed / n, 1),
    )
    return scores, rows


def markdown_table(results: Sequence[GeneratorScores]) -> str:
    head = (
        "| model | turns | BLEU | ROUGE-L | similarity | act acc. | act acc. (gold allowed) "
        "| grounding failures | of which act check | unfinished | ms/draft |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r.name} | {r.turns} | {r.bleu:.1f} [{r.bleu_ci[0]:.1f}, {r.bleu_ci[1]:.1f}] "
        f"| {r.rouge_l:.3f} [{r.rouge_l_ci[0]:.3f}, {r.rouge_l_ci[1]:.3f}] "
        f"| {r.similarity:.3f} [{r.similarity_ci[0]:.3f}, {r.similarity_ci[1]:.3f}] "
        f"| {r.act_accuracy:.3f} | {r.act_accuracy_allowed:.3f} | {r.grounding_failure:.3f} "
        f"| {r.act_check_failure:.3f} | {r.unfinished:.3f} | {r.ms_per_draft:.0f} |"
        for r in results
    ]
    return head + "\n".join(lines) + "\n"
