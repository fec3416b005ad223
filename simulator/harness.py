"""The automation-rate harness: runs an experiment's contacts (simulator.spec defines them).

* Customers are independent (nobody can touch another's orders), so each customer's contacts run
  in time order, and customers are processed in any order or on any worker: the results are the
  same serially and on Ray. Every draw is seeded by the contact's key, never by run order.
* Contacts are committed in batches; a rerun of the same spec resumes where the last committed
  batch ended: no contact is run twice, and the report is the same as an uninterrupted run's.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dialogue.agent import Agent
from dialogue.domain import CustomerRecord
from dialogue.store import models, repository
from simulator.arms import build_agent
from simulator.episode import PlannedContact, run_episode
from simulator.outcomes import IssueType
from simulator.phrases import PhraseBank, load_phrase_bank
from simulator.population import Goal, Persona, draw_goal, draw_persona
from simulator.recontact import DAY
from simulator.spec import Assigner, ExperimentSpec, StableHashAssigner

# Core statements (the ORM's bulk-insert path costs more than the rest of the bookkeeping).
ASSIGNMENTS: Any = models.ExperimentAssignment.__table__
CONTACTS: Any = models.ExperimentContact.__table__
OUTCOMES: Any = models.ExperimentOutcome.__table__
INSERT_CONTACT = CONTACTS.insert().returning(CONTACTS.c.id)


# ---- running ---------------------------------------------------------------------------------
@dataclass
class ShardStats:
    contacts_run: int = 0
    contacts_skipped: int = 0


def phrasing_key(key: str) -> int:
    """A stable number for a contact key (template phrasing; worker shards)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")


def draw_contact(
    spec: ExperimentSpec, record: CustomerRecord, key: str, issue: IssueType
) -> tuple[random.Random, Persona, Goal]:
    """The contact's random source, the customer's persona and the contact's goal, all seeded
    by the spec's seed and the contact's key or customer, never by run order."""
    rng = random.Random(f"contact:{spec.seed}:{key}")
    persona_rng = random.Random(f"persona:{spec.seed}:{record.profile.id}")
    persona = draw_persona(spec.population, persona_rng)
    return rng, persona, draw_goal(spec.population, record, issue, rng)


def task_runner(
    sessions: sessionmaker[Session],
    experiment_id: int,
    spec_json: Mapping[str, Any],
    *,
    shared_data: str | None,
    batch_size: int,
) -> ContactRunner:
    """The runner a worker task builds from what a Ray task receives (plain values only)."""
    spec = ExperimentSpec.from_json(spec_json)
    return ContactRunner(
        sessions,
        experiment_id,
        spec,
        assigner=StableHashAssigner(spec.key, spec.arms),
        bank=load_phrase_bank(Path(shared_data) if shared_data else None),
        batch_size=batch_size,
    )


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
        record = repository.customer_record(session, contact.customer_id)
        if record is None:
            raise LookupError(f"customer {contact.customer_id} vanished from the store")
        issue: IssueType = contact.issue_type  # type: ignore[assignment]
        rng, persona, goal = draw_contact(spec, record, contact.key, issue)
        result = run_episode(
            session,
            self.agents[contact.arm],
            contact,
            goal=goal,
            persona=persona,
            bank=self.bank,
            rng=rng,
            silent_per_turn=spec.population.silent_per_turn,
            phrasing_key=phrasing_key(contact.key),
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
    return phrasing_key(f"shard:{customer_id}") % workers


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
