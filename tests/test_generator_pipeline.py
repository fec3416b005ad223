"""The generator in the neural agent, with scripted drafts on the seeded SQLite world: only
grounded drafts are sent, a draft's act runs only under the gates a template's would, an
ungrounded draft hands off and changes nothing, the hybrid ranks drafts beside templates, and
agent-assist shows the draft, flagged, writing nothing."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from torch import Tensor

from dialogue.agent import TurnContext
from dialogue.conversation import ConversationRunner
from dialogue.domain import OrderStatus
from dialogue.pipeline import NeuralAgent, PipelineConfig
from dialogue.state import DialogueState
from dialogue.store import models
from dialogue.store.repository import world_now
from dialogue.text import clean_message
from generator.data import lexicalize
from generator.drafter import Draft
from generator.grounding import StoreFacts, ground
from ranker.data import RankTurn, candidate_entries
from ranker.scorer import Ranked, Ranking
from simulator.act_reader import read_act
from templates import TemplateEntry, load_catalog
from tests.dialogue_helpers import acts, pick, store_fingerprint

CATALOG = load_catalog()
FLOW = ("cancel_done", "request_cancel_confirmation", "request_cancel_reason", "request_order",
        "request_auth")  # fmt: skip
WORDS: Mapping[str, str] = {
    "request_auth": "Sure. What's the email on your account?",
    "request_order": "Thanks! Which order is it? The order number is enough.",
    "request_cancel_reason": "Got it, order [order_id]. May I ask why you want to cancel?",
    "request_cancel_confirmation": "To confirm: cancel order [order_id] ([item_summary])? Please say yes.",  # noqa: E501
    "cancel_done": "Done: I've cancelled order [order_id]. [refund_amount] goes back to [refund_method].",  # noqa: E501
}  # fmt: skip


@dataclass
class Scripted:
    """A fake generator: the first act of ``prefer`` the turn allows, its words filled from the
    turn's slots and grounded by the real checker (``override`` replaces an act's words)."""

    prefer: Sequence[str] = FLOW
    override: Mapping[str, str] = field(default_factory=dict)
    calls: list[frozenset[str]] = field(default_factory=list)

    def drafts(
        self,
        turn: RankTurn,
        soft: Tensor | None,
        *,
        allowed_acts: Collection[str],
        store: StoreFacts,
        n: int = 1,
        method: str = "greedy",
    ) -> list[Draft]:
        self.calls.append(frozenset(allowed_acts))
        for act in self.prefer:
            if act in allowed_acts:
                words = self.override.get(act, WORDS[act])
                text, _ = lexicalize(words, turn.slots)
                checked = ground(text, replace(store, act=act))
                return [Draft(act, words, text, -1.0, True, checked)]
        return []


@dataclass
class TemplatesFirst:
    """A fake ranker: templates by act preference; drafts (``rank_with``) first or last."""

    drafts_first: bool = True

    def rank(self, turn: RankTurn, soft: Any = None) -> Ranking:
        return self.rank_with(turn, soft, extra=())

    def rank_with(
        self, turn: RankTurn, soft: Any = None, *, extra: Sequence[TemplateEntry] = ()
    ) -> Ranking:
        entries = candidate_entries(CATALOG.entries, turn.facts, turn.slots)
        entries.sort(key=lambda e: FLOW.index(e.act) if e.act in FLOW else len(FLOW))
        ordered = [*extra, *entries] if self.drafts_first else [*entries, *extra]
        ranked = tuple(Ranked(e, float(len(ordered) - i)) for i, e in enumerate(ordered))
        return Ranking(ranked=ranked, list_prob=0.9)


def _agent(generator: Scripted, mode: str = "generator", **kw: Any) -> NeuralAgent:
    return NeuralAgent(
        TemplatesFirst(**kw), catalog=CATALOG, config=PipelineConfig(mode=mode), generator=generator
    )


def _status(sessions: sessionmaker[Session], number: str) -> str:
    with sessions() as session:
        return session.scalars(
            select(models.Order.status).where(models.Order.order_number == number)
        ).one()


def _script(email: str, number: str) -> list[str]:
    return [
        "Hi, I want to cancel an order",
        email,
        f"it's order {number}",
        "I ordered it by mistake",
    ]


def test_generated_drafts_run_the_cancellation_only_after_the_yes(
    world_sessions: sessionmaker[Session],
) -> None:
    target = pick(world_sessions, lambda _r, o: o.status == OrderStatus.PENDING)
    number = target.order.order_number
    generator = Scripted()
    run = ConversationRunner(world_sessions, _agent(generator))
    conv = run.start()
    replies = [run.send(conv, m) for m in _script(target.email, number)]
    assert acts(replies) == ["request_auth", "request_order", "request_cancel_reason",
                             "request_cancel_confirmation"]  # fmt: skip
    assert all(r.generated and r.template_id is None and r.slots is None for r in replies)
    assert number in replies[-1].text and _status(world_sessions, number) == "pending"
    assert not any("cancel_done" in allowed for allowed in generator.calls)
    done = run.send(conv, "yes")
    assert (done.act, done.action) == ("cancel_done", "cancel_order")
    assert f"I've cancelled order {number}" in done.text
    assert _status(world_sessions, number) == "cancelled"
    # The simulated customer reads a draft's words, not the act the arm names.
    assert read_act(replace(done, act="closing")) == read_act(done)


@pytest.mark.parametrize(
    ("act", "words"),
    [
        ("request_cancel_confirmation", "I've cancelled order [order_id] for you."),
        ("request_cancel_reason", "Order [order_id] of $1.00: why cancel?"),
        ("request_cancel_reason", "Order #W0000001: why cancel?"),
        ("request_cancel_reason", "Your order has been cancelled. Why?"),
    ],
    ids=["claims-cancel", "wrong-amount", "other-order", "cancelled-state"],
)
def test_an_ungrounded_draft_hands_off_and_changes_nothing(
    world_sessions: sessionmaker[Session], act: str, words: str
) -> None:
    target = pick(world_sessions, lambda _r, o: o.status == OrderStatus.PENDING)
    number = target.order.order_number
    run = ConversationRunner(world_sessions, _agent(Scripted(override={act: words})))
    conv = run.start()
    before = store_fingerprint(world_sessions)
    replies = []
    for message in _script(target.email, number):
        replies.append(run.send(conv, message))
        if replies[-1].action == "handoff":
            break
    assert replies[-1].action == "handoff" and not replies[-1].generated
    assert _status(world_sessions, number) == "pending"
    assert store_fingerprint(world_sessions) == before


def test_no_draft_hands_off(world_sessions: sessionmaker[Session]) -> None:
    run = ConversationRunner(world_sessions, _agent(Scripted(prefer=())))
    conv = run.start()
    reply = run.send(conv, "where is my refund?")
    assert reply.action == "handoff"


@pytest.mark.parametrize("drafts_first", [True, False], ids=["draft-wins", "template-wins"])
def test_hybrid_sends_whichever_the_ranker_puts_first(
    world_sessions: sessionmaker[Session], drafts_first: bool
) -> None:
    run = ConversationRunner(
        world_sessions, _agent(Scripted(), mode="hybrid", drafts_first=drafts_first)
    )
    conv = run.start()
    reply = run.send(conv, "Hi, I want to cancel an order")
    assert reply.act == "request_auth"
    assert reply.generated == drafts_first
    assert (reply.text == WORDS["request_auth"]) == drafts_first
    assert reply.scores is not None and ("draft:0" in reply.scores) == drafts_first


def test_modes_need_a_generator() -> None:
    with pytest.raises(ValueError, match="needs a generator"):
        NeuralAgent(TemplatesFirst(), catalog=CATALOG, config=PipelineConfig(mode="hybrid"))
    with pytest.raises(ValueError, match="mode must be"):
        NeuralAgent(TemplatesFirst(), catalog=CATALOG, config=PipelineConfig(mode="poetry"))


def test_assist_shows_an_ungrounded_draft_flagged_and_writes_nothing(
    world_sessions: sessionmaker[Session],
) -> None:
    target = pick(world_sessions, lambda _r, o: o.status == OrderStatus.PENDING)
    generator = Scripted(override={"request_auth": "Your refund of $5.00 is on its way."})
    agent = _agent(generator, mode="ranker")
    before = store_fingerprint(world_sessions)
    with world_sessions() as session:
        ctx = TurnContext(conversation_id=1, turn_index=0, now=world_now(session))
        message = clean_message("where is my refund?", max_chars=2000)
        suggestions, _, draft = agent.assist_with_draft(session, DialogueState(), message, ctx)
        session.commit()
    assert suggestions and draft is not None
    assert not draft.grounded
    assert any("amount" in p for p in draft.grounding.problems)
    assert store_fingerprint(world_sessions) == before
    assert target.order.status == OrderStatus.PENDING


def test_the_generator_arms_are_not_ready_without_a_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from simulator import arms

    monkeypatch.setenv("CSBOT_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(arms, "_BUILT", {})
    for name in ("generator", "hybrid"):
        with pytest.raises(arms.ArmNotReady):
            arms.build_agent(name)


def test_the_generator_arms_are_not_ready_with_a_checkpoint_without_act_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator.checkpoint import save_generator
    from generator.codec import Codec
    from generator.config import TINY
    from generator.model import build_model, load_tokenizer
    from simulator import arms

    tok = load_tokenizer(TINY)
    vocab = Codec(tok, TINY).reply_vocab([list(range(1000, 1100))])
    path = tmp_path / "bare.pt"
    save_generator(path, build_model(TINY, tok, vocab), meta={})
    monkeypatch.setenv("CSBOT_GENERATOR_CHECKPOINT", str(path))
    monkeypatch.setattr(arms, "_BUILT", {})
    for name in ("generator", "hybrid"):
        with pytest.raises(arms.ArmNotReady, match="no act reader.*csbot generator act-reader"):
            arms.build_agent(name)
