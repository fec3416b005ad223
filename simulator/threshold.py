"""The automation-versus-error curve over the auto-send threshold, for arms with a list head.

The neural arm hands a turn off when the list head's P(some candidate is acceptable) falls below
its threshold. Each contact records the lowest such probability over its turns; at a higher
threshold t the contact would have been handed off at its first turn below t. So, from one run:

- automation(t): contacts automated in the run whose every turn reached t (exact for t at or
  above the threshold the arm ran with: such contacts take the same path);
- error(t): contacts with a wrong action or a wrong fact whose every turn reached t. Errors made
  before the hand-off turn would remain, so this is a lower bound on the error rate at t; the
  rate in the run (the curve's first point) is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from simulator.outcomes import ContactOutcome

__all__ = ["THRESHOLDS", "CurvePoint", "ThresholdCurve", "threshold_curves"]

THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


@dataclass(frozen=True)
class CurvePoint:
    threshold: float
    automation_rate: float
    error_rate: float  # wrong action or wrong fact (a lower bound above the run's threshold)
    handed_off_by_threshold: float  # contacts a turn of which falls below the threshold


@dataclass(frozen=True)
class ThresholdCurve:
    arm: str
    contacts: int
    points: tuple[CurvePoint, ...]


def threshold_curves(
    outcomes: Sequence[ContactOutcome], thresholds: Sequence[float] = THRESHOLDS
) -> tuple[ThresholdCurve, ...]:
    """One curve per arm whose contacts carry list-head probabilities (arms in first-seen order)."""
    arms: dict[str, list[ContactOutcome]] = {}
    for o in outcomes:
        if o.min_list_prob is not None:
            arms.setdefault(o.arm, []).append(o)
    curves = []
    for arm, contacts in arms.items():
        n = len(contacts)
        points = []
        for t in thresholds:
            kept = [o for o in contacts if o.min_list_prob is not None and o.min_list_prob >= t]
            points.append(
                CurvePoint(
                    threshold=t,
                    automation_rate=sum(o.automated for o in kept) / n,
                    error_rate=sum(o.wrong_action or o.wrong_fact for o in kept) / n,
                    handed_off_by_threshold=(n - len(kept)) / n,
                )
            )
        curves.append(ThresholdCurve(arm=arm, contacts=n, points=tuple(points)))
    return tuple(curves)
