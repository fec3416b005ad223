"""Agent-assist with the neural agent: the top 4 (and the draft) for a rep, and the turn a rep's
reply makes, gated exactly as an auto-mode reply is (:mod:`dialogue.pipeline`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from dialogue.agent import AgentReply, TurnContext, TurnOutcome
from dialogue.reply_effects import effects
from dialogue.state import DialogueState
from dialogue.text import CustomerMessage
from generator.drafter import Draft

if TYPE_CHECKING:
    from dialogue.pipeline import NeuralAgent


class RepChoiceRefused(Exception):
    """A rep's chosen reply cannot be sent now (not a safe option, or its action refused)."""


@dataclass(frozen=True)
class Suggestion:
    """One agent-assist suggestion: a rendered template and its score."""

    template_id: str
    act: str
    text: str
    score: float
    action: str | None


def assist(
    agent: NeuralAgent,
    session: Session,
    state: DialogueState,
    message: CustomerMessage,
    ctx: TurnContext,
    *,
    k: int = 4,
) -> tuple[list[Suggestion], float]:
    """The top ``k`` suggestions (best template of each of the best acts) and the list's
    probability. Nothing is written: the tracker runs in a savepoint that is rolled back."""
    suggestions, list_prob, _ = assist_with_draft(agent, session, state, message, ctx, k=k)
    return suggestions, list_prob


@dataclass(frozen=True)
class AssistResult:
    """What agent-assist offers for a turn, and the state the tracker read the turn into."""

    suggestions: list[Suggestion]
    list_prob: float
    draft: Draft | None  # shown whether or not grounded; Draft.grounding says what is wrong
    # The tracker's state after the customer's message (e.g. authenticated by it): what the rep
    # may see of the customer. Nothing of it is stored until a reply is sent.
    tracked: DialogueState


def assist_with_draft(
    agent: NeuralAgent,
    session: Session,
    state: DialogueState,
    message: CustomerMessage,
    ctx: TurnContext,
    *,
    k: int = 4,
) -> tuple[list[Suggestion], float, Draft | None]:
    """:meth:`assist` plus the generator's best draft (None without a generator). The draft
    is shown whether or not it is grounded; :attr:`Draft.grounding` says what is wrong."""
    result = assist_turn(agent, session, state, message, ctx, k=k)
    return result.suggestions, result.list_prob, result.draft


def assist_turn(
    agent: NeuralAgent,
    session: Session,
    state: DialogueState,
    message: CustomerMessage,
    ctx: TurnContext,
    *,
    k: int = 4,
) -> AssistResult:
    """The top ``k`` suggestions, the list's probability, the draft and the tracked state.
    Nothing is written: the tracker runs in a savepoint that is rolled back."""
    ctx = replace(ctx, customer_meaning=None)  # a simulated customer's meaning is never read
    nested = session.begin_nested()
    try:
        proposal = agent._track(session, state, message, ctx)
        view = agent._view(session, state, message, ctx, proposal)
    finally:
        nested.rollback()
    ranking = agent.ranker.rank(view.turn, view.soft)
    slots = dict(proposal.reply.slots or {})
    suggestions = [
        Suggestion(
            template_id=r.entry.id,
            act=r.entry.act,
            text=agent.catalog.render(r.entry.id, slots),
            score=r.score,
            action=r.entry.action,
        )
        for r in ranking.top_acts(k)
    ]
    drafts = agent._drafts(view) if message.problem is None else []
    draft = drafts[0] if drafts else None
    return AssistResult(suggestions, ranking.list_prob, draft, proposal.state)


def rep_turn(
    agent: NeuralAgent,
    session: Session,
    state: DialogueState,
    message: CustomerMessage,
    ctx: TurnContext,
    *,
    template_id: str | None = None,
    act: str | None = None,
) -> TurnOutcome:
    """The turn a rep's reply makes, tracked exactly as in auto mode.

    A chosen suggestion (``template_id``), or the act a chosen draft speaks for (``act``),
    passes the gates an auto-mode reply passes and runs its bound action (a cancellation only
    after the customer's explicit yes for this very order). The rep's own words (neither
    given) only move the tracker's state; where the tracker proposed the confirmed
    cancellation, nothing ran, so the state stays as it was.

    Raises:
        RepChoiceRefused: the choice is not a safe option now, or the store refused its
            action (the caller rolls the turn back).
    """
    ctx = replace(ctx, customer_meaning=None)
    proposal = agent._track(session, state, message, ctx)
    if template_id is None and act is None:
        kept = state if proposal.reply.action == "cancel_order" else proposal.state
        return TurnOutcome(reply=replace(proposal.reply, scores=None), state=kept)
    view = agent._view(session, state, message, ctx, proposal)
    options = [
        e for e in view.candidates if e.id == template_id or (template_id is None and e.act == act)
    ]
    if not options:
        raise RepChoiceRefused("that reply is not a safe option at this point of the dialogue")
    entry = options[0]
    facts = proposal.reply.facts or frozenset()
    if entry.action == "cancel_order":
        if proposal.reply.act != "cancel_done" or "cancel_confirmed" not in facts:
            raise RepChoiceRefused("the customer has not confirmed this cancellation")
        if agent._cancel(session, state, proposal.state, ctx):
            raise RepChoiceRefused("the store refused the cancellation")
    slots = dict(proposal.reply.slots or {})
    next_state = (
        proposal.state if entry.act == proposal.reply.act else effects(proposal.state, state, entry)
    )
    reply = AgentReply(
        text=agent.catalog.render(entry.id, slots),
        act=entry.act,
        template_id=entry.id if template_id is not None else None,
        action=entry.action,
        slots=slots,
        facts=proposal.reply.facts,
    )
    return TurnOutcome(reply=reply, state=next_state)
