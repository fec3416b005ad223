"""Ranking metrics over acts: R@1, R@4 (the top-4 turn-acceptance proxy), MRR, list-head AUC.

A candidate is acceptable when its act is the gold act (templates of one act say the same thing
in different words). Rankings are compared by act: agent-assist shows the best template of each
of the 4 best acts, so R@4 asks whether the gold act is among them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ranker.data import RankTurn
from ranker.scorer import Ranker, Ranking

__all__ = ["RankMetrics", "score_rankings"]


@dataclass(frozen=True)
class RankMetrics:
    turns: int  # turns with at least one acceptable candidate (the ones ranked)
    uncovered: int  # turns whose gold act no candidate template realises
    r_at_1: float
    r_at_4: float
    mrr: float

    def to_json(self) -> dict[str, float | int]:
        return {
            "turns": self.turns,
            "uncovered": self.uncovered,
            "r_at_1": round(self.r_at_1, 4),
            "r_at_4": round(self.r_at_4, 4),
            "mrr": round(self.mrr, 4),
        }


def act_rank(ranking: Ranking, gold_act: str) -> int | None:
    """1-based rank of the gold act among the ranking's distinct acts (None if absent)."""
    for i, r in enumerate(ranking.top_acts(k=len(ranking.ranked)), start=1):
        if r.entry.act == gold_act:
            return i
    return None


def score_rankings(turns: Sequence[RankTurn], rankings: Sequence[Ranking]) -> RankMetrics:
    """R@1, R@4 and MRR of rankings against the turns' gold acts."""
    ranks = [act_rank(r, t.gold_act or "") for t, r in zip(turns, rankings, strict=True)]
    covered = [r for r in ranks if r is not None]
    n = len(covered)
    if n == 0:
        return RankMetrics(0, len(ranks), 0.0, 0.0, 0.0)
    return RankMetrics(
        turns=n,
        uncovered=len(ranks) - n,
        r_at_1=sum(r == 1 for r in covered) / n,
        r_at_4=sum(r <= 4 for r in covered) / n,
        mrr=sum(1.0 / r for r in covered) / n,
    )


def evaluate(ranker: Ranker, turns: Sequence[RankTurn]) -> RankMetrics:
    """Rank every turn with ``ranker`` and score it."""
    return score_rankings(turns, [ranker.rank(t) for t in turns])
