"""What an experiment produces, as plain frozen records: its spec and one outcome per contact.

The harness writes these to the store and reads them back; stats and report only ever see these
records, never the store, so the figures can be recomputed from a saved run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

IssueType = Literal["refund_status", "cancel_order", "out_of_scope"]
ISSUE_TYPES: tuple[IssueType, ...] = ("refund_status", "cancel_order", "out_of_scope")


@dataclass(frozen=True)
class ArmSpec:
    """One arm: its label, the registered agent it runs, and its share of the customers."""

    name: str
    weight: float = 1.0
    agent: str = ""  # the registered agent (simulator.arms); empty = same as ``name``

    @property
    def agent_name(self) -> str:
        return self.agent or self.name


@dataclass(frozen=True)
class ExperimentInfo:
    """What a report needs to know about the experiment it describes."""

    id: int
    name: str
    arms: tuple[ArmSpec, ...]
    seed: int
    contacts: int  # primary contacts requested (re-contacts come on top)
    # The simulator's version and every parameter of the instrument (persona mix, noise rates,
    # re-contact probabilities): printed in every report, because figures from different
    # instruments are not comparable.
    instrument: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class ContactOutcome:
    """How one contact went, judged against the store by the simulated customer."""

    contact_key: str  # stable across runs: "c000123" for a primary, "c000123.r1" for its re-contact
    customer_id: int
    arm: str
    issue_type: IssueType
    started_at: datetime
    is_recontact: bool
    turns: int  # customer messages in the contact
    handed_off: bool  # by the bot or at the customer's request
    goal_met: bool  # the right answer or change, as the policy requires
    wrong_action: bool  # the store changed in a way the goal did not ask for
    wrong_fact: bool  # a reply stated something the store does not hold
    abandoned: bool  # the customer gave up (patience ran out, went silent)
    recontacted_24h: bool  # the same customer contacted again within 24 hours
    # The lowest list-head probability over the contact's turns (arms with a list head only).
    min_list_prob: float | None = None

    @property
    def automated(self) -> bool:
        """The design's definition: no hand-off, the goal met correctly, no re-contact in 24 h."""
        return (
            not self.handed_off
            and self.goal_met
            and not self.wrong_action
            and not self.wrong_fact
            and not self.recontacted_24h
        )


@dataclass(frozen=True)
class ArmAssignmentCounts:
    """Customers assigned per arm (the unit of randomization) and the arms' intended weights."""

    customers: Mapping[str, int]
    weights: Mapping[str, float]
