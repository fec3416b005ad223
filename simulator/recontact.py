"""The 24-hour re-contact clock: after each contact, does the customer come back, and when?

A customer comes back within 24 hours with a probability that depends on how the contact ended
(docs/simulator.md gives the reasons for each value). The draw is seeded by the contact's key, so
the same contact always gets the same answer, whichever process runs it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

DAY = timedelta(hours=24)


@dataclass(frozen=True)
class RecontactModel:
    """P(contact again within 24 h) by how the contact ended; first matching row wins."""

    wrong_action: float = 0.85  # the wrong order was cancelled, or something changed unasked
    wrong_fact: float = 0.45  # told a wrong status/date/amount: many notice only later
    abandoned: float = 0.60  # gave up with the need unmet
    unmet: float = 0.55  # the conversation ended with the need unmet
    handed_off: float = 0.20  # a human took over; most are settled by the human
    satisfied: float = 0.03  # goal met correctly: a few come back to double-check
    # A re-contact arrives uniformly within this many hours of the contact's start.
    min_hours: float = 0.5
    max_hours: float = 23.5
    # Re-contacts chain at most this deep (a re-contact of a re-contact of …).
    max_depth: int = 2

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RecontactModel:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def probability(
        self,
        *,
        goal_met: bool,
        handed_off: bool,
        wrong_action: bool,
        wrong_fact: bool,
        abandoned: bool,
    ) -> float:
        if wrong_action:
            return self.wrong_action
        if wrong_fact:
            return self.wrong_fact
        if abandoned:
            return self.abandoned
        if handed_off:
            return self.handed_off
        if not goal_met:
            return self.unmet
        return self.satisfied

    def next_contact(
        self, key: str, started_at: datetime, probability: float, *, seed: int
    ) -> datetime | None:
        """When the customer contacts again (within 24 h), or None; seeded by the contact key."""
        rng = random.Random(f"recontact:{seed}:{key}")
        if rng.random() >= probability:
            return None
        return started_at + timedelta(hours=rng.uniform(self.min_hours, self.max_hours))
