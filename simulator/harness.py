"""The automation-rate harness: an experiment is arms + population + size + seed.

* Customers are assigned to arms by a stable hash of the experiment key and the customer id, so a
  customer's re-contacts stay in their arm and a rerun assigns identically.
* The schedule of primary contacts is drawn from the seed and the customers eligible for each
  issue type when the experiment was created (saved with it); contacts run on a simulated clock.
* Customers are independent (nobody can touch another's orders), so each customer's contacts run
  in time order, and customers are processed in any order or on any worker: the results are the
  same serially and on Ray. Every draw is seeded by the contact's key, never by run order.
* Contacts are committed in batches; a rerun of the same spec resumes where the last committed
  batch ended: no contact is run twice, and the report is the same as an uninterrupted run's.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dialogue.agent import Agent
from dialogue.store import models, repository
from simulator.arms import ARMS, build_agent
from simulator.episode import PlannedContact, run_episode
from simulator.outcomes import ArmSpec, IssueType
from simulator.phrases import PHRASE_BANK_VERSION, PhraseBank
from simulator.population import SIMULATOR_VERSION, PopulationSpec, draw_goal, draw_persona
from simulator.recontact import DAY, RecontactModel

MAX_CONTACTS = 5_000_000
# Core statements (the ORM's bulk-insert path costs more than the rest of the bookkeeping).
ASSIGNMENTS: Any = models.ExperimentAssignment.__table__
CONTACTS: Any = models.ExperimentContact.__table__
OUTCOMES: Any = models.ExperimentOutcome.__table__
INSERT_CONTACT = CONTACTS.insert().returning(CONTACTS.c.id)


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
            if not arm.weight > 0:
                raise SpecError(f"arm {arm.name!r}: weight must be > 0, got {arm.weight}")
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


# ---- running ---------------------------------------------------------------------------------
@dataclass
class ShardStats:
    contacts_run: int = 0
    contacts_skipped: int = 0


def _phrasing_key(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")


class ContactRunner:
    """Runs the contacts of a set of customers, in each customer's time order, in batches."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        experiment_id: int,
        spec: ExperimentSpec,
        *,
        assigner: Assigner,
        bank: PhraseBank,
        agents: Mapping[str, Agent] | None = None,
        batch_size: int = 200,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.experiment_id = experiment_id
        self.spec = spec
        self.assigner = assigner
        self.bank = bank
        labels = {a.name: a.agent_name for a in spec.arms}
        self.agents = dict(agents) if agents else {k: build_agent(v) for k, v in labels.items()}
        self.batch_size = batch_size
        self.on_progress = on_progress

    def run(self, primaries: Sequence[tuple[str, int, str, datetime]]) -> ShardStats:
        by_customer: dict[int, list[tuple[datetime, str, str, int]]] = {}
        for key, customer_id, issue, at in primaries:
            by_customer.setdefault(customer_id, []).append((at, key, issue, 0))
        stats = ShardStats()
        with self.sessions() as session:
            done = self._done(session)
            assigned = self._assigned(session)
            repository.attach_record_cache(session)
            try:
                repository.preload_records(session, sorted(by_customer))
                session.commit()
                pending = 0
                for customer_id in sorted(by_customer):
                    pending += self._run_customer(
                        session, customer_id, by_customer[customer_id], done, assigned, stats
                    )
                    if pending >= self.batch_size:
                        session.commit()
                        self._progress(pending)
                        pending = 0
                session.commit()
                self._progress(pending)
            except BaseException:
                session.rollback()
                raise
            finally:
                repository.detach_record_cache(session)
        return stats

    def _progress(self, contacts: int) -> None:
        if self.on_progress is not None and contacts:
            self.on_progress(contacts)

    def _done(self, session: Session) -> dict[str, tuple[datetime, float]]:
        """Contacts already committed: key → (start, re-contact probability of its outcome)."""
        rows = session.execute(
            select(
                models.ExperimentContact.key,
                models.ExperimentContact.started_at,
                models.ExperimentOutcome,
            )
            .join(models.ExperimentOutcome)
            .where(models.ExperimentContact.experiment_id == self.experiment_id)
        ).all()
        return {
            key: (at, self.spec.recontact.probability(**_probability_inputs(o)))
            for key, at, o in rows
        }

    def _assigned(self, session: Session) -> set[int]:
        return set(
            session.scalars(
                select(models.ExperimentAssignment.customer_id).where(
                    models.ExperimentAssignment.experiment_id == self.experiment_id
                )
            )
        )

    def _run_customer(
        self,
        session: Session,
        customer_id: int,
        primaries: list[tuple[datetime, str, str, int]],
        done: Mapping[str, tuple[datetime, float]],
        assigned: set[int],
        stats: ShardStats,
    ) -> int:
        arm = self.assigner(customer_id)
        if customer_id not in assigned:
            session.connection().execute(
                ASSIGNMENTS.insert(),
                {"experiment_id": self.experiment_id, "customer_id": customer_id, "arm": arm},
            )
            assigned.add(customer_id)
        queue = sorted(primaries)
        heapq.heapify(queue)
        ran = 0
        while queue:
            at, key, issue, depth = heapq.heappop(queue)
            if key in done:
                stats.contacts_skipped += 1
                self._schedule_recontact(queue, key, at, issue, depth, done[key][1])
                continue
            self._run_contact(
                session, PlannedContact(key, customer_id, issue, at, arm, depth), queue
            )
            ran += 1
            stats.contacts_run += 1
        return ran

    def _schedule_recontact(
        self,
        queue: list[tuple[datetime, str, str, int]],
        key: str,
        at: datetime,
        issue: str,
        depth: int,
        probability: float,
    ) -> None:
        if depth >= self.spec.recontact.max_depth:
            return
        when = self.spec.recontact.next_contact(key, at, probability, seed=self.spec.seed)
        if when is not None:
            base = key.split(".")[0]
            heapq.heappush(queue, (when, f"{base}.r{depth + 1}", issue, depth + 1))

    def _run_contact(
        self, session: Session, contact: PlannedContact, queue: list[tuple[datetime, str, str, int]]
    ) -> None:
        """Run one contact, schedule its re-contact, and save the contact and its outcome."""
        spec = self.spec
        rng = random.Random(f"contact:{spec.seed}:{contact.key}")
        persona = draw_persona(
            spec.population, random.Random(f"persona:{spec.seed}:{contact.customer_id}")
        )
        record = repository.customer_record(session, contact.customer_id)
        if record is None:
            raise LookupError(f"customer {contact.customer_id} vanished from the store")
        issue: IssueType = contact.issue_type  # type: ignore[assignment]
        goal = draw_goal(spec.population, record, issue, rng)
        result = run_episode(
            session,
            self.agents[contact.arm],
            contact,
            goal=goal,
            persona=persona,
            bank=self.bank,
            rng=rng,
            silent_per_turn=spec.population.silent_per_turn,
            phrasing_key=_phrasing_key(contact.key),
        )
        verdict = result.verdict
        inputs = {
            "goal_met": verdict.goal_met,
            "handed_off": verdict.handed_off,
            "wrong_action": result.wrong_action,
            "wrong_fact": verdict.wrong_fact,
            "abandoned": verdict.abandoned,
        }
        probability = spec.recontact.probability(**inputs)
        self._schedule_recontact(
            queue, contact.key, contact.started_at, contact.issue_type, contact.depth, probability
        )
        recontacted = bool(queue) and queue[0][0] - contact.started_at <= DAY
        connection = session.connection()
        contact_id = connection.execute(
            INSERT_CONTACT,
            {
                "experiment_id": self.experiment_id,
                "key": contact.key,
                "customer_id": contact.customer_id,
                "arm": contact.arm,
                "issue_type": contact.issue_type,
                "is_recontact": contact.depth > 0,
                "started_at": contact.started_at,
                "conversation_id": result.conversation_id,
                "goal": goal.to_json(),
                "persona": persona.to_json(),
            },
        ).scalar_one()
        automated = (
            not verdict.handed_off
            and verdict.goal_met
            and not result.wrong_action
            and not verdict.wrong_fact
            and not recontacted
        )
        connection.execute(
            OUTCOMES.insert(),
            {
                "contact_id": contact_id,
                "turns": result.turns,
                "recontacted_24h": recontacted,
                "automated": automated,
                "problems": list(result.problems),
                **inputs,
            },
        )


def _probability_inputs(outcome: models.ExperimentOutcome) -> dict[str, bool]:
    return {
        "goal_met": outcome.goal_met,
        "handed_off": outcome.handed_off,
        "wrong_action": outcome.wrong_action,
        "wrong_fact": outcome.wrong_fact,
        "abandoned": outcome.abandoned,
    }


def shard_of(customer_id: int, workers: int) -> int:
    """Which worker runs a customer (all of a customer's contacts go to one worker)."""
    return _phrasing_key(f"shard:{customer_id}") % workers


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
