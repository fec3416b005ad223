"""The simulated population: who contacts us, why, and how they talk (the instrument's parameters).

Every number here is a parameter of the measuring instrument, not a lever (../shared/DESIGN.md):
it is documented with its reason in docs/simulator.md, versioned by ``SIMULATOR_VERSION``, and
printed in every report. Changing one is a change of instrument; figures from different versions
are not compared.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from dialogue.domain import CustomerRecord, OrderStatus, OrderView
from dialogue.policy import CancelEligibility, cancel_eligibility, has_member_priority, refund_fact
from dialogue.slots import SlotValue, order_slots
from simulator.outcomes import ISSUE_TYPES, IssueType

SIMULATOR_VERSION = "1"

ReferBy = Literal["id", "description", "last", "wrong_id"]
AuthBy = Literal["email", "name_zip"]
OUT_OF_SCOPE_KINDS = ("change_address", "dispute_charge", "change_payment", "product_question")
REASON_KEYS = ("no_longer_needed", "ordered_by_mistake", "better_price", "too_slow", "other")


@dataclass(frozen=True)
class PopulationSpec:
    """The instrument: issue mix, persona mix and behaviour rates (see docs/simulator.md)."""

    issue_mix: Mapping[str, float] = field(
        default_factory=lambda: {"refund_status": 0.45, "cancel_order": 0.45, "out_of_scope": 0.10}
    )
    refer_by_mix: Mapping[str, float] = field(
        default_factory=lambda: {"id": 0.45, "description": 0.30, "last": 0.15, "wrong_id": 0.10}
    )
    name_zip_share: float = 0.30  # authenticate with name + zip instead of email
    # Persona traits, drawn once per customer (the same person on every contact).
    verbose_share: float = 0.35  # volunteers order and identity details before being asked
    patience_turns: tuple[int, int] = (6, 14)  # messages before giving up, uniform in range
    cooperative_share: float = 0.85  # answers the question asked (else sometimes a question back)
    typo_rate: tuple[float, float] = (0.0, 0.08)  # per-word typo probability, uniform in range
    lowercase_share: float = 0.40
    no_punctuation_share: float = 0.30
    # Behaviours mid-conversation, per contact.
    switch_share: float = 0.05  # opens with the other issue, then switches to the real one
    ask_human_share: float = 0.04  # asks for a human part-way
    silent_per_turn: float = 0.02  # sends nothing useful this turn; two in a row = gone
    question_back_share: float = 0.10  # answers the identity question with a question (once)
    # Which orders a cancellation is about: an open order when the customer has one.
    cancel_open_order_share: float = 0.80
    # Primary contacts spread uniformly over this many days of the simulated clock.
    window_days: int = 365

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["issue_mix"] = dict(self.issue_mix)
        out["refer_by_mix"] = dict(self.refer_by_mix)
        out["version"] = SIMULATOR_VERSION
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PopulationSpec:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("patience_turns", "typo_rate"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)

    def validate(self) -> None:
        """Raise ValueError on a mix that is not a distribution or a rate outside [0, 1]."""
        for name, mix, allowed in (
            ("issue_mix", self.issue_mix, ISSUE_TYPES),
            ("refer_by_mix", self.refer_by_mix, ("id", "description", "last", "wrong_id")),
        ):
            unknown = set(mix) - set(allowed)
            if unknown:
                raise ValueError(f"{name}: unknown keys {sorted(unknown)}; allowed {allowed}")
            if any(v < 0 for v in mix.values()) or sum(mix.values()) <= 0:
                raise ValueError(f"{name}: weights must be >= 0 and not all zero")
        for name in (
            "name_zip_share",
            "verbose_share",
            "cooperative_share",
            "lowercase_share",
            "no_punctuation_share",
            "switch_share",
            "ask_human_share",
            "silent_per_turn",
            "question_back_share",
            "cancel_open_order_share",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        low, high = self.patience_turns
        if not 2 <= low <= high:
            raise ValueError("patience_turns must be (low, high) with 2 <= low <= high")
        if self.window_days < 1:
            raise ValueError("window_days must be at least 1")


@dataclass(frozen=True)
class Persona:
    """How one customer talks (stable across their contacts)."""

    verbose: bool
    patience: int
    cooperative: bool
    typo_rate: float
    lowercase: bool
    drop_punctuation: bool

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def draw_persona(spec: PopulationSpec, rng: random.Random) -> Persona:
    return Persona(
        verbose=rng.random() < spec.verbose_share,
        patience=rng.randint(*spec.patience_turns),
        cooperative=rng.random() < spec.cooperative_share,
        typo_rate=round(rng.uniform(*spec.typo_rate), 4),
        lowercase=rng.random() < spec.lowercase_share,
        drop_punctuation=rng.random() < spec.no_punctuation_share,
    )


@dataclass(frozen=True)
class Goal:
    """What the customer wants from this contact, and what the store says the answer is."""

    issue_type: IssueType
    order_number: str | None = None
    # Acts that answer the goal correctly, from the store's facts at the start of the contact.
    expected_acts: frozenset[str] = frozenset()
    # Fact-stating acts that are true of the goal order (a reply with another one is wrong).
    true_acts: frozenset[str] = frozenset()
    # Store-formatted facts about the goal order (a reply stating another value is a wrong fact).
    facts: Mapping[str, SlotValue] = field(default_factory=dict)
    wants_cancellation: bool = False  # the order is cancellable and the customer wants it gone
    handoff_is_right: bool = False  # out of scope, or a failed refund: a human must take it
    refer_by: ReferBy = "id"
    auth_by: AuthBy = "email"
    description: str = ""
    reason_key: str = "other"
    out_of_scope_kind: str | None = None
    switch_from: IssueType | None = None  # opens with this issue before switching to the real one
    asks_human_at: int | None = None  # the customer message on which they ask for a human
    questions_back: bool = False

    def to_json(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["expected_acts"] = sorted(self.expected_acts)
        out["true_acts"] = sorted(self.true_acts)
        out["facts"] = dict(self.facts)
        return out


def eligible(record: CustomerRecord, issue_type: IssueType) -> bool:
    """Whether this customer can have a contact of this issue type."""
    if issue_type == "refund_status":
        return any(o.refunds for o in record.orders)
    if issue_type == "cancel_order":
        return bool(record.orders)
    return True


def order_description(order: OrderView) -> str:
    """How a customer names an order: "the blue water bottle" (its most expensive line)."""
    line = max(order.lines, key=lambda ln: ln.unit_price)
    color = dict(line.attributes).get("color")
    title = line.title.lower()
    if color and color.lower() not in title:
        return f"the {color.lower()} {title}"
    return f"the {title}"


def cancel_act(order: OrderView, record: CustomerRecord) -> str:
    """What the policy says to a request to cancel this order."""
    eligibility = cancel_eligibility(order)
    if eligibility == CancelEligibility.SHIPPED:
        member = has_member_priority(record.profile)
        return "cannot_cancel_shipped_member" if member else "cannot_cancel_shipped"
    return {
        CancelEligibility.CANCELLABLE: "cancel_done",
        CancelEligibility.DELIVERED: "cannot_cancel_delivered",
        CancelEligibility.ALREADY_CANCELLED: "already_cancelled",
    }[eligibility]


def expected_acts(
    issue_type: IssueType, order: OrderView, record: CustomerRecord
) -> frozenset[str]:
    """The acts that answer the goal as the policy requires (judged against the store)."""
    if issue_type == "refund_status":
        return frozenset({refund_fact(order)})
    return frozenset({cancel_act(order, record)})


def true_acts(order: OrderView, record: CustomerRecord) -> frozenset[str]:
    """Fact-stating acts that are true of this order (whatever the customer asked)."""
    return frozenset({refund_fact(order), cancel_act(order, record)})


def _weighted(rng: random.Random, mix: Mapping[str, float]) -> str:
    keys = sorted(k for k, v in mix.items() if v > 0)
    return rng.choices(keys, weights=[mix[k] for k in keys])[0]


def draw_goal(
    spec: PopulationSpec, record: CustomerRecord, issue_type: IssueType, rng: random.Random
) -> Goal:
    """A goal of ``issue_type`` for this customer, drawn from their orders as the store has them.

    Raises:
        ValueError: the customer has no order this issue type can be about.
    """
    if not eligible(record, issue_type):
        raise ValueError(f"customer {record.profile.id} has nothing for {issue_type}")
    auth_by: AuthBy = "name_zip" if rng.random() < spec.name_zip_share else "email"
    asks_human_at = rng.randint(2, 5) if rng.random() < spec.ask_human_share else None
    questions_back = rng.random() < spec.question_back_share
    if issue_type == "out_of_scope":
        return Goal(
            issue_type=issue_type,
            handoff_is_right=True,
            expected_acts=frozenset({"out_of_scope", "handoff", "handoff_requested"}),
            auth_by=auth_by,
            out_of_scope_kind=rng.choice(OUT_OF_SCOPE_KINDS),
            asks_human_at=asks_human_at,
            questions_back=questions_back,
        )
    if issue_type == "refund_status":
        pool = [o for o in record.orders if o.refunds]
    else:
        open_orders = [
            o for o in record.orders if o.status in (OrderStatus.PENDING, OrderStatus.PROCESSING)
        ]
        use_open = open_orders and rng.random() < spec.cancel_open_order_share
        pool = open_orders if use_open else list(record.orders)
    refer_by: ReferBy = _weighted(rng, spec.refer_by_mix)  # type: ignore[assignment]
    order = rng.choice(pool)
    if refer_by == "last":
        if record.orders[0] in pool:
            order = record.orders[0]
        else:
            refer_by = "id"
    acts = expected_acts(issue_type, order, record)
    other: IssueType = "cancel_order" if issue_type == "refund_status" else "refund_status"
    return Goal(
        issue_type=issue_type,
        order_number=order.order_number,
        expected_acts=acts,
        true_acts=true_acts(order, record),
        facts=order_slots(order),
        wants_cancellation="cancel_done" in acts,
        handoff_is_right="refund_failed" in acts,
        refer_by=refer_by,
        auth_by=auth_by,
        description=order_description(order),
        reason_key=rng.choice(REASON_KEYS),
        switch_from=other if rng.random() < spec.switch_share else None,
        asks_human_at=asks_human_at,
        questions_back=questions_back,
    )
