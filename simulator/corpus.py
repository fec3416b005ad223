"""The historical-transcripts corpus: simulated expert reps (simulator.human_agent) talking to the
simulated customers, written as JSONL training examples for the ranker and the generator.

One line per rep turn: the dialogue so far (context), the customer's profile features, the gold
reply with its act and slot values, whether it fits no catalog template, and the customer id. The
split (train/valid/test) is by customer, so no customer's dialogues leak across splits. The corpus
runs on a scratch copy of the world: exporting never changes the user's store.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.orm import Session

from dialogue.agent import Agent, AgentReply, TurnContext, TurnOutcome
from dialogue.nlu import default_classifier, parse
from dialogue.personalization.history import world_fingerprint
from dialogue.rules import RulesAgent
from dialogue.state import DialogueState
from dialogue.store import repository
from dialogue.store.repository import world_now
from dialogue.store.session import make_engine, make_session_factory, upgrade
from dialogue.text import CustomerMessage, clean_message
from ranker.features import profile_features, tracker_signals, tracker_view
from simulator.episode import MAX_MESSAGE_CHARS, PlannedContact, run_episode
from simulator.harness import draw_contact, phrasing_key
from simulator.outcomes import ArmSpec
from simulator.phrases import load_phrase_bank
from simulator.population import PopulationSpec
from simulator.spec import ExperimentSpec, eligible_population, primary_schedule
from simulator.world import WorldConfig, seed_world

SPLITS = (("train", 0.8), ("valid", 0.1), ("test", 0.1))
CORPUS_VERSION = "2"


@dataclass(frozen=True)
class CorpusSummary:
    dialogues: int
    examples: int
    by_split: dict[str, int]  # dialogues per split
    customers_by_split: dict[str, int]
    off_catalog: int
    acts: dict[str, int]
    seconds: float
    out_dir: Path


def split_of(customer_id: int, seed: int) -> str:
    """train / valid / test by a stable hash of the customer id."""
    digest = hashlib.sha256(f"split:{seed}:{customer_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    acc = 0.0
    for name, share in SPLITS:
        acc += share
        if u < acc:
            return name
    return SPLITS[-1][0]


class _Writer:
    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.files: dict[str, TextIO] = {
            name: (out_dir / f"{name}.jsonl").open("w", encoding="utf-8") for name, _ in SPLITS
        }
        self.examples = 0
        self.off_catalog = 0
        self.acts: Counter[str] = Counter()

    def write(self, split: str, example: dict[str, Any]) -> None:
        self.files[split].write(json.dumps(example, sort_keys=True, ensure_ascii=False) + "\n")
        self.examples += 1
        self.off_catalog += int(example["off_catalog"])
        self.acts[example["gold_act"]] += 1

    def close(self) -> None:
        for f in self.files.values():
            f.close()


def export_corpus(
    out_dir: Path,
    *,
    dialogues: int = 20_000,
    seed: int = 0,
    world: WorldConfig | None = None,
    shared_data: Path | None = None,
    agent: Agent | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> CorpusSummary:
    """Simulate ``dialogues`` rep conversations on a fresh world and write the JSONL corpus."""
    import time

    from simulator.human_agent import HumanAgent

    if dialogues < 1:
        raise ValueError(f"dialogues must be at least 1, got {dialogues}")
    started = time.perf_counter()
    rep = agent or HumanAgent(seed=seed)
    spec = ExperimentSpec(
        arms=(ArmSpec(name=rep.name),),
        contacts=dialogues,
        seed=seed,
        population=PopulationSpec(),
    )
    bank = load_phrase_bank(shared_data)
    writer = _Writer(out_dir)
    per_split: Counter[str] = Counter()
    customers: dict[str, set[int]] = {name: set() for name, _ in SPLITS}
    with tempfile.TemporaryDirectory(prefix="csbot-corpus-") as scratch:
        url = f"sqlite:///{Path(scratch) / 'world.sqlite3'}"
        upgrade(url)
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        with sessions() as session, session.begin():
            seed_world(session, world or WorldConfig(seed=7))
            fingerprint = world_fingerprint(session)
        with sessions() as session:
            population = eligible_population(session)
            start = world_now(session)
            repository.attach_record_cache(session)
            repository.preload_records(session, population["out_of_scope"])
            session.commit()
            for n, (key, customer_id, issue, at) in enumerate(
                primary_schedule(spec, population, start), start=1
            ):
                split = split_of(customer_id, seed)
                _dialogue(session, rep, spec, bank, writer, key, customer_id, issue, at, split)
                per_split[split] += 1
                customers[split].add(customer_id)
                if n % 500 == 0:
                    session.commit()
                    if on_progress:
                        on_progress(500)
            session.commit()
        engine.dispose()
    writer.close()
    summary = CorpusSummary(
        dialogues=dialogues,
        examples=writer.examples,
        by_split=dict(per_split),
        customers_by_split={k: len(v) for k, v in customers.items()},
        off_catalog=writer.off_catalog,
        acts=dict(sorted(writer.acts.items())),
        seconds=round(time.perf_counter() - started, 1),
        out_dir=out_dir,
    )
    manifest = {
        "version": CORPUS_VERSION,
        "seed": seed,
        # The world the dialogues ran on (dialogue.personalization.history.world_fingerprint):
        # personalization vectors read with this corpus must come from the same world.
        "world_fingerprint": fingerprint,
        "population": spec.population.to_json(),
        "dialogues": summary.dialogues,
        "examples": summary.examples,
        "dialogues_by_split": summary.by_split,
        "customers_by_split": summary.customers_by_split,
        "off_catalog_examples": summary.off_catalog,
        "acts": summary.acts,
        "fields": {
            "dialogue_id": "the simulated contact's key",
            "turn": "the rep turn's index in the dialogue (0-based)",
            "customer_id": "the store's customer id (splits never share a customer)",
            "issue_type": "refund_status | cancel_order | out_of_scope",
            "meaning": "what the customer meant by the newest message, as the rep understood it "
            "(an intent annotation: the issue, inform, affirm, deny, human, goodbye, "
            "out_of_scope; null for silence and questions back)",
            "context": "earlier turns, oldest first: {speaker: customer|rep, text}",
            "profile": "membership, tenure_days, orders, open_orders, refunds",
            "gold_reply": "the rep's free-text reply",
            "gold_act": "the dialogue act the reply performs (a catalog act)",
            "gold_slots": "the store-formatted slot values the reply was written from",
            "off_catalog": "true when the reply does something no catalog template does",
            "facts": "the template facts the deployed tracker established (candidate filter)",
            "slots": "the slot values the deployed tracker filled (candidate filter)",
            "tracker": "the state the turn started from (awaiting, intent, last_act, counters) and "
            "what the tracker read and found this turn (NLU intent, yes/no, details, lookups)",
        },
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return summary


class TrackedRep:
    """The rep, plus what the deployed tracker makes of each turn before the rep answers.

    The neural arm's candidates come from the tracker (the rule-based agent reading the text,
    without the rep's understanding of what the customer means), so the corpus records the
    tracker's facts, slots and signals for each turn (run in a rolled-back savepoint: it changes
    nothing), beside the rep's act. Where the rep understood what the tracker did not, the gold
    act may have no candidate: a list with nothing acceptable, which teaches the list head.
    """

    def __init__(self, rep: Agent) -> None:
        self.rep = rep
        self.name = rep.name
        self.tracker = RulesAgent(execute_cancel=False, name="corpus-tracker")
        self.last: TurnOutcome | None = None
        self.meaning: str | None = None  # what the rep understood the newest message to mean

    def respond(
        self, session: Session, state: DialogueState, message: CustomerMessage, ctx: TurnContext
    ) -> TurnOutcome:
        self.meaning = ctx.customer_meaning
        nested = session.begin_nested()
        try:
            self.last = self.tracker.respond(
                session, state, message, replace(ctx, customer_meaning=None)
            )
        finally:
            nested.rollback()
        return self.rep.respond(session, state, message, ctx)


def cleaned(text: str) -> str:
    """The message text as the agent reads it (the harness cleans it the same way)."""
    return clean_message(text, max_chars=MAX_MESSAGE_CHARS).text


def _dialogue(
    session: Session,
    rep: Agent,
    spec: ExperimentSpec,
    bank: Any,
    writer: _Writer,
    key: str,
    customer_id: int,
    issue: str,
    at: datetime,
    split: str,
) -> None:
    record = repository.customer_record(session, customer_id)
    assert record is not None
    rng, persona, goal = draw_contact(spec, record, key, issue)  # type: ignore[arg-type]
    profile = profile_features(record, at)
    context: list[dict[str, str]] = []
    classifier = default_classifier()  # the tracker's own NLU (parse is memoised per classifier)

    tracked_rep = TrackedRep(rep)

    def on_turn(text: str, reply: AgentReply, state: DialogueState, _after: DialogueState) -> None:
        context.append({"speaker": "customer", "text": text})
        tracked = tracked_rep.last
        assert tracked is not None
        writer.write(
            split,
            {
                "dialogue_id": key,
                "turn": sum(1 for c in context if c["speaker"] == "rep"),
                "customer_id": customer_id,
                "issue_type": issue,
                "meaning": tracked_rep.meaning,
                "context": list(context),
                "profile": profile,
                "gold_reply": reply.text,
                "gold_act": reply.act,
                "gold_slots": dict(reply.slots or {}),
                "off_catalog": reply.off_catalog,
                "facts": sorted(tracked.reply.facts or ()),
                "slots": dict(tracked.reply.slots or {}),
                "tracker": tracker_view(state)
                | tracker_signals(parse(cleaned(text), classifier), state, tracked.state),
            },
        )
        context.append({"speaker": "rep", "text": reply.text})

    contact = PlannedContact(key, customer_id, issue, at, rep.name)
    run_episode(
        session,
        tracked_rep,
        contact,
        goal=goal,
        persona=persona,
        bank=bank,
        rng=rng,
        silent_per_turn=spec.population.silent_per_turn,
        phrasing_key=phrasing_key(key),
        on_turn=on_turn,
    )
