"""An experiment's definition: its spec (arms, size, seed, population, re-contact model), how its
customers are assigned to arms, and its schedule of primary contacts.

* Customers are assigned to arms by a stable hash of the experiment key and the customer id, so a
  customer's re-contacts stay in their arm and a rerun assigns identically.
* The schedule of primary contacts is drawn from the seed and the customers eligible for each
  issue type when the experiment was created (saved with it), on a simulated clock.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialogue.store import models, repository
from simulator.arms import ARMS
from simulator.outcomes import ArmSpec
from simulator.phrases import PHRASE_BANK_VERSION
from simulator.population import SIMULATOR_VERSION, PopulationSpec
from simulator.recontact import RecontactModel

MAX_CONTACTS = 5_000_000


class SpecError(ValueError):
    """The spec is malformed or cannot run on this world (raised before anything runs)."""


@dataclass(frozen=True)
class ExperimentSpec:
    """Everything that determines an experiment's result (with the starting world)."""

    arms: tuple[ArmSpec, ...]
    contacts: int
    seed: int = 0
    name: str = ""
    population: PopulationSpec = field(default_factory=PopulationSpec)
    recontact: RecontactModel = field(default_factory=RecontactModel)

    def validate(self) -> None:
        """Raise SpecError with a clear message on anything that cannot run."""
        if not self.arms:
            raise SpecError("an experiment needs at least one arm")
        labels = [a.name for a in self.arms]
        if len(set(labels)) != len(labels):
            raise SpecError(f"arm labels must be unique, got {labels}")
        for arm in self.arms:
            if arm.agent_name not in ARMS:
                raise SpecError(
                    f"unknown arm {arm.agent_name!r}; known arms: {', '.join(sorted(ARMS))}"
                )
            if not 0 < arm.weight < math.inf:
                raise SpecError(
                    f"arm {arm.name!r}: weight must be a finite number > 0, got {arm.weight}"
                )
        if isinstance(self.contacts, bool) or not isinstance(self.contacts, int):
            raise SpecError(f"contacts must be an integer, got {self.contacts!r}")
        if not 1 <= self.contacts <= MAX_CONTACTS:
            raise SpecError(f"contacts must be between 1 and {MAX_CONTACTS}, got {self.contacts}")
        try:
            self.population.validate()
        except ValueError as exc:
            raise SpecError(f"population: {exc}") from None
        for name, value in self.recontact.to_json().items():
            if name.endswith("hours") or name == "max_depth":
                continue
            if not 0.0 <= value <= 1.0:
                raise SpecError(f"recontact.{name} must be in [0, 1], got {value}")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "arms": [
                {"name": a.name, "agent": a.agent_name, "weight": a.weight} for a in self.arms
            ],
            "contacts": self.contacts,
            "seed": self.seed,
            "population": self.population.to_json(),
            "recontact": self.recontact.to_json(),
            "versions": {"simulator": SIMULATOR_VERSION, "phrase_bank": PHRASE_BANK_VERSION},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExperimentSpec:
        """Parse a spec (e.g. a JSON file); SpecError on anything malformed."""
        if not isinstance(data, Mapping):
            raise SpecError("the spec must be a JSON object")
        unknown = set(data) - {"name", "arms", "contacts", "seed", "population", "recontact"}
        unknown -= {"versions"}
        if unknown:
            raise SpecError(f"unknown spec fields: {sorted(unknown)}")
        try:
            arms = tuple(
                ArmSpec(
                    name=str(a["name"]),
                    agent=str(a.get("agent", "")),
                    weight=float(a.get("weight", 1.0)),
                )
                if isinstance(a, Mapping)
                else ArmSpec(name=str(a))
                for a in data["arms"]
            )
            spec = cls(
                arms=arms,
                contacts=data["contacts"],
                seed=int(data.get("seed", 0)),
                name=str(data.get("name", "")),
                population=PopulationSpec.from_json(data.get("population", {})),
                recontact=RecontactModel.from_json(data.get("recontact", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SpecError(f"malformed experiment spec: {exc!r}") from None
        spec.validate()
        return spec

    @property
    def key(self) -> str:
        """A hash of the spec: the same spec is the same experiment (resumed, not repeated)."""
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def parse_arms(text: str) -> tuple[ArmSpec, ...]:
    """``"rules,rules_no_descriptions"`` or ``"A=rules,B=rules:0.5"`` → arm specs.

    A repeated agent without a label gets a numbered label (``rules``, ``rules_2``) so an A/A
    test is just ``--arms rules,rules``.
    """
    arms: list[ArmSpec] = []
    seen: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise SpecError(f"empty arm in {text!r}")
        label, _, rest = part.rpartition("=")
        agent, _, weight = rest.partition(":")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            raise SpecError(f"arm {part!r}: weight {weight!r} is not a number") from None
        if not label:
            seen[agent] = seen.get(agent, 0) + 1
            label = agent if seen[agent] == 1 else f"{agent}_{seen[agent]}"
        arms.append(ArmSpec(name=label, agent=agent, weight=value))
    return tuple(arms)


class Assigner(Protocol):
    def __call__(self, customer_id: int) -> str: ...


class StableHashAssigner:
    """Arm = bucket of sha256(experiment key, customer id) under the arms' weights."""

    def __init__(self, key: str, arms: Sequence[ArmSpec]) -> None:
        self.key = key
        total = sum(a.weight for a in arms)
        self.bounds: list[tuple[float, str]] = []
        acc = 0.0
        for arm in arms:
            acc += arm.weight / total
            self.bounds.append((acc, arm.name))

    def __call__(self, customer_id: int) -> str:
        digest = hashlib.sha256(f"{self.key}:{customer_id}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        for bound, name in self.bounds:
            if u < bound:
                return name
        return self.bounds[-1][1]


# ---- the population and the schedule ----------------------------------------------------------
def eligible_population(session: Session) -> dict[str, list[int]]:
    """Customer ids eligible for each issue type in the world as it is now."""
    with_orders = repository.customers_with_orders(session)
    with_refunds = sorted(
        set(session.scalars(select(models.Order.customer_id).join(models.Refund)).all())
    )
    everyone = list(session.scalars(select(models.Customer.id).order_by(models.Customer.id)))
    return {"refund_status": with_refunds, "cancel_order": with_orders, "out_of_scope": everyone}


def check_population(spec: ExperimentSpec, population: Mapping[str, Sequence[int]]) -> None:
    for issue, weight in spec.population.issue_mix.items():
        if weight > 0 and not population.get(issue):
            raise SpecError(
                f"the world has no customers eligible for {issue!r} contacts "
                f"(issue_mix gives it {weight}); seed a world with such orders or set it to 0"
            )


def primary_schedule(
    spec: ExperimentSpec, population: Mapping[str, Sequence[int]], start: datetime
) -> list[tuple[str, int, str, datetime]]:
    """(key, customer id, issue type, start time) of every primary contact, seeded."""
    mix = {k: v for k, v in sorted(spec.population.issue_mix.items()) if v > 0}
    issues, weights = list(mix), list(mix.values())
    window = spec.population.window_days * 86400
    out = []
    for i in range(spec.contacts):
        rng = random.Random(f"schedule:{spec.seed}:{i}")
        issue = rng.choices(issues, weights=weights)[0]
        customer_id = rng.choice(population[issue])
        at = start + timedelta(seconds=round(rng.uniform(0, window)))
        out.append((f"c{i:07d}", customer_id, issue, at))
    return out
