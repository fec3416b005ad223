"""Two runs of the same experiment spec with different models behind one arm, compared contact by
contact.

The same spec gives the same key, so the same customers land in each arm and meet the same
scheduled first contacts (goal, persona, start time): only the agent behind the arm differs. The
first contacts of that arm are therefore *paired*, and McNemar's test on the discordant pairs
(automated in one run and not the other) is far more sensitive than comparing two independent
proportions. Re-contacts are left out of the pairing (whether one happens depends on the agent).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from dialogue.store import models
from dialogue.store.session import make_engine, make_session_factory

__all__ = ["PairedComparison", "PairedError", "compare_runs", "first_contact_outcomes"]


class PairedError(ValueError):
    """The two stores cannot be paired (another spec, or the arm is missing)."""


@dataclass(frozen=True)
class PairedComparison:
    arm: str
    pairs: int
    automated_a: int
    automated_b: int
    only_a: int  # automated in run A, not in run B
    only_b: int
    difference: float  # B - A, share of pairs
    ci95: tuple[float, float]
    p_value: float  # McNemar, exact binomial on the discordant pairs

    def to_dict(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "pairs": self.pairs,
            "rate_a": round(self.automated_a / self.pairs, 4),
            "rate_b": round(self.automated_b / self.pairs, 4),
            "only_a": self.only_a,
            "only_b": self.only_b,
            "difference": round(self.difference, 4),
            "ci95": [round(self.ci95[0], 4), round(self.ci95[1], 4)],
            "p_value": self.p_value,
        }


def first_contact_outcomes(store: Path, arm: str) -> tuple[str, dict[str, bool]]:
    """The experiment key and, per first contact of ``arm``, whether it was automated.

    Raises:
        PairedError: The store holds no single finished experiment, or no contact of ``arm``.
    """
    if not store.is_file():
        raise PairedError(f"no experiment store at {store}")
    engine = make_engine(f"sqlite:///{store}")
    try:
        with make_session_factory(engine)() as session:
            experiments = session.scalars(select(models.Experiment)).all()
            if len(experiments) != 1 or experiments[0].status != "finished":
                raise PairedError(f"{store} does not hold exactly one finished experiment")
            rows = session.execute(
                select(models.ExperimentContact.key, models.ExperimentOutcome.automated)
                .join(
                    models.ExperimentOutcome,
                    models.ExperimentOutcome.contact_id == models.ExperimentContact.id,
                )
                .where(
                    models.ExperimentContact.arm == arm,
                    models.ExperimentContact.is_recontact.is_(False),
                )
            ).all()
            key = experiments[0].key
    finally:
        engine.dispose()
    if not rows:
        raise PairedError(f"{store} has no first contact in arm {arm!r}")
    return key, {str(k): bool(a) for k, a in rows}


def compare_runs(store_a: Path, store_b: Path, arm: str) -> PairedComparison:
    """Paired comparison of ``arm``'s first contacts in two runs of the same spec.

    The interval is the Wald interval of a paired difference, ``(b - c) / n`` with standard
    error ``sqrt(b + c - (b - c)² / n) / n``; the p-value is McNemar's exact test
    (statsmodels).

    Raises:
        PairedError: The runs are of different specs or do not share the arm's contacts.
    """
    from statsmodels.stats.contingency_tables import mcnemar

    key_a, a = first_contact_outcomes(store_a, arm)
    key_b, b = first_contact_outcomes(store_b, arm)
    if key_a != key_b or set(a) != set(b):
        raise PairedError("the two stores are not runs of the same spec (keys or contacts differ)")
    n = len(a)
    only_a = sum(a[k] and not b[k] for k in a)
    only_b = sum(b[k] and not a[k] for k in a)
    both = sum(a[k] and b[k] for k in a)
    neither = n - both - only_a - only_b
    diff = (only_b - only_a) / n
    se = math.sqrt(max(0.0, only_a + only_b - (only_b - only_a) ** 2 / n)) / n
    p = float(mcnemar([[both, only_a], [only_b, neither]], exact=True).pvalue)
    return PairedComparison(
        arm=arm,
        pairs=n,
        automated_a=both + only_a,
        automated_b=both + only_b,
        only_a=only_a,
        only_b=only_b,
        difference=diff,
        ci95=(diff - 1.96 * se, diff + 1.96 * se),
        p_value=p,
    )
