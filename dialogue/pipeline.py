"""The neural agent: code tracks the state and gates actions, the ranker chooses what to say.

One turn (DESIGN.md): the tracker (the rule-based agent in tracking mode, which never cancels)
reads the message, authenticates, identifies the order and looks up its facts; the candidates are
the templates whose preconditions those facts satisfy and whose slots the store filled; the ranker
scores them and the list; below the auto-send threshold, or with no candidate, the turn is handed
off. A reply bound to ``cancel_order`` runs the cancellation through :mod:`dialogue.actions` only
when the tracker established the customer's explicit yes for this very order (the
``cancel_confirmed`` fact, which is the only way a ``cancel_done`` template becomes a candidate).
Agent-assist (:meth:`NeuralAgent.assist`) runs the same steps in a rolled-back savepoint and
returns the top 4 instead of sending.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
from sqlalchemy.orm import Session
from torch import Tensor

from dialogue import nlu
from dialogue.actions import ActionRefused, OrderNotFound, cancel_order
from dialogue.agent import LIST_SCORE_KEY, AgentReply, TurnContext, TurnOutcome
from dialogue.domain import Intent
from dialogue.rules import RulesAgent
from dialogue.rules_orders import DescribeOrders
from dialogue.state import Awaiting, DialogueState
from dialogue.store import repository
from dialogue.text import CustomerMessage
from ranker.data import CUSTOMER, REP, RankTurn, candidate_entries
from ranker.features import profile_features, tracker_signals, tracker_view
from ranker.scorer import Ranker, Ranking
from templates import ACT_INTENT, Catalog, TemplateEntry, load_catalog

__all__ = ["LIST_SCORE_KEY", "NeuralAgent", "PipelineConfig", "Suggestion"]

_SCORES_KEPT = 20

# What a reply asks the customer for, when the ranker's choice is not the tracker's proposal.
_AWAITING: Mapping[str, Awaiting | None] = {
    "greeting": Awaiting.INTENT,
    "greeting_named": Awaiting.INTENT,
    "request_auth": Awaiting.AUTH,
    "auth_failed": Awaiting.AUTH,
    "request_auth_zip": Awaiting.AUTH_ZIP,
    "request_order": Awaiting.ORDER,
    "order_not_found": Awaiting.ORDER,
    "disambiguate_order": Awaiting.ORDER_CHOICE,
    "request_cancel_reason": Awaiting.CANCEL_REASON,
    "request_cancel_confirmation": Awaiting.CANCEL_CONFIRMATION,
}
_ANSWERS = frozenset({
    "refund_not_started", "refund_in_progress", "refund_completed", "refund_none",
    "cannot_cancel_shipped", "cannot_cancel_shipped_member", "cannot_cancel_delivered",
    "already_cancelled", "cancel_kept", "anything_else", "no_eligible_orders", "auth_success",
})  # fmt: skip


@dataclass(frozen=True)
class PipelineConfig:
    """Options of the neural agent."""

    # Send the ranker's choice only when the list head's P(some candidate is acceptable)
    # reaches this.
    threshold: float = 0.5
    # Below the threshold (or with no candidate): "policy" sends the tracker's own reply (the
    # rule-based policy's safe default), "handoff" hands the conversation to a human.
    fallback: str = "policy"
    # The tracker resolves "the blue water bottle" against the customer's orders.
    match_descriptions: bool = True
    # How: "embeddings" (dialogue.personalization.orders: MiniLM + words + relative dates; the
    # encoder loads on the first description) or "words" (the rule-based agent's matcher).
    order_resolver: str = "embeddings"
    # Where the ranker's checkpoint carries a meaning reader (ranker.meaning, learned from the
    # transcripts), let it tell the tracker what a message means where the tracker's own NLU read
    # nothing: an issue in an opening, a yes or no to a cancellation's confirmation question, a
    # switch to the other issue (see NeuralAgent._track). Off: the tracker's NLU alone (the
    # ablation, arm ``ranker_no_meaning``).
    read_meaning: bool = True


# The readings the agent acts on, per situation (ranker.meaning): "out_of_scope" and "other"
# never change what the tracker does.
_READINGS: Mapping[str, frozenset[str]] = {
    "opening": frozenset({"cancel_order", "refund_status"}),
    "confirmation": frozenset({"affirm", "deny"}),
    "switch": frozenset({"cancel_order", "refund_status"}),
}


@dataclass(frozen=True)
class Suggestion:
    """One agent-assist suggestion: a rendered template and its score."""

    template_id: str
    act: str
    text: str
    score: float
    action: str | None


class NeuralAgent:
    """The ranker arm (implements :class:`dialogue.agent.Agent`).

    Args:
        ranker: Scores candidates (the trained :class:`ranker.scorer.NeuralRanker` or a fake).
        catalog: The templates; the ranker's catalog.
        config: Threshold and tracker options.
        name: The arm's name.
    """

    def __init__(
        self,
        ranker: Ranker,
        *,
        catalog: Catalog | None = None,
        config: PipelineConfig | None = None,
        name: str = "ranker",
    ) -> None:
        from dialogue.rules import RulesConfig

        self.ranker = ranker
        self.catalog = catalog or load_catalog()
        self.config = config or PipelineConfig()
        self.name = name
        rules = RulesConfig(match_descriptions=self.config.match_descriptions)
        describe = self._order_resolver()
        self.tracker = RulesAgent(
            rules,
            catalog=self.catalog,
            execute_cancel=False,
            name=f"{name}-tracker",
            describe=describe,
        )
        # The same tracker, told what the message means (``TurnContext.customer_meaning``, set by
        # this agent from the meaning reader, never by the customer).
        self.reader = RulesAgent(
            rules,
            catalog=self.catalog,
            classifier=self.tracker.classifier,
            execute_cancel=False,
            read_meaning=True,
            name=f"{name}-reader",
            describe=describe,
        )

    def _order_resolver(self) -> DescribeOrders | None:
        if self.config.order_resolver == "words":
            return None
        if self.config.order_resolver != "embeddings":
            raise ValueError(f"unknown order_resolver {self.config.order_resolver!r}")
        from dialogue.personalization.orders import OrderResolver

        soft = getattr(self.ranker, "soft_tokens", None)  # its item vectors, where it has them
        return OrderResolver(artifact=soft.artifact if soft is not None else None).resolve

    # ---- auto mode -----------------------------------------------------------------------
    def respond(
        self, session: Session, state: DialogueState, message: CustomerMessage, ctx: TurnContext
    ) -> TurnOutcome:
        """One auto-mode turn: track, rank, hand off or send (and act only through actions)."""
        ctx = replace(ctx, customer_meaning=None)  # a simulated customer's meaning is never read
        proposal = self._track(session, state, message, ctx)
        if message.problem is not None:
            return proposal  # empty / too long / unreadable input: fixed replies, no model
        if proposal.state.handed_off:
            # The tracker's hand-offs are gates in code (failed-login limit, a vanished customer
            # record, a request for a human, out of scope): no ranking overrides them.
            return proposal
        turn, soft = self._turn(session, state, message, ctx, proposal)
        ranking = self.ranker.rank(turn, soft)
        scores = _scores(ranking)
        if ranking.ranked and ranking.list_prob >= self.config.threshold:
            top = ranking.ranked[0].entry
        elif self.config.fallback == "policy" and proposal.reply.template_id is not None:
            # The tracker's own reply, sent through the same gates (its deferred cancellation
            # runs below, exactly as if the ranker had chosen it).
            top = self.catalog.get(proposal.reply.template_id)
        else:
            return self._handoff(proposal.state, state, ctx, scores)
        slots = proposal.reply.slots or {}
        facts = proposal.reply.facts or frozenset()
        if top.id not in {e.id for e in candidate_entries(self.catalog.entries, facts, slots)}:
            return self._handoff(proposal.state, state, ctx, scores)  # not a safe option
        if top.action == "cancel_order":
            if proposal.reply.act != "cancel_done" or "cancel_confirmed" not in facts:
                return self._handoff(proposal.state, state, ctx, scores)
            refused = self._cancel(session, state, proposal.state, ctx)
            if refused:
                return self._handoff(proposal.state, state, ctx, scores)
        next_state = (
            proposal.state
            if top.act == proposal.reply.act
            else _effects(proposal.state, state, top)
        )
        reply = AgentReply(
            text=self.catalog.render(top.id, dict(slots)),
            act=top.act,
            template_id=top.id,
            action=top.action,
            scores=scores,
            slots=dict(slots),
            facts=proposal.reply.facts,
        )
        prefetch = getattr(self.ranker, "prefetch", None)
        if prefetch is not None:  # the reply is next turn's context: encode it off that path
            prefetch([reply.text])
        return TurnOutcome(reply=reply, state=next_state)

    # ---- agent-assist ----------------------------------------------------------------------
    def assist(
        self,
        session: Session,
        state: DialogueState,
        message: CustomerMessage,
        ctx: TurnContext,
        *,
        k: int = 4,
    ) -> tuple[list[Suggestion], float]:
        """The top ``k`` suggestions (best template of each of the best acts) and the list's
        probability. Nothing is written: the tracker runs in a savepoint that is rolled back."""
        ctx = replace(ctx, customer_meaning=None)  # a simulated customer's meaning is never read
        nested = session.begin_nested()
        try:
            proposal = self._track(session, state, message, ctx)
            turn, soft = self._turn(session, state, message, ctx, proposal)
        finally:
            nested.rollback()
        ranking = self.ranker.rank(turn, soft)
        slots = dict(proposal.reply.slots or {})
        suggestions = [
            Suggestion(
                template_id=r.entry.id,
                act=r.entry.act,
                text=self.catalog.render(r.entry.id, slots),
                score=r.score,
                action=r.entry.action,
            )
            for r in ranking.top_acts(k)
        ]
        return suggestions, ranking.list_prob

    # ---- pieces ----------------------------------------------------------------------------
    def _track(
        self, session: Session, state: DialogueState, message: CustomerMessage, ctx: TurnContext
    ) -> TurnOutcome:
        """The tracker's proposal; where its NLU read nothing, with the meaning reader's reading.

        Three situations (``ranker.meaning``): no issue tracked yet (an opening), a cancellation
        awaiting the customer's yes, and an issue tracked. When the reader's reading there is
        accepted (above its threshold, chosen on the validation split) and the tracker, reading
        the text alone, found no issue (or only "out of scope") in an opening, neither a yes nor a
        no to the confirmation question, or did not switch to the other issue the reader read,
        the tracker is told the reading (``customer_meaning``, set by this agent, never by the
        customer), the way the simulated rep is told what a customer means. A reading only names
        the meaning: authentication, the order and its facts, and the cancellation gate (the
        confirmation asked for this very order, no "no" in the message) are tracked and checked
        exactly as always. A request for a human is never overridden.
        """
        read = getattr(self.ranker, "read_meaning", None) if self.config.read_meaning else None
        if read is None or message.problem is not None:
            return self.tracker.respond(session, state, message, ctx)
        situation = _situation(state)
        reading = read(situation, message.text)
        if reading is None or not reading.accepted or reading.label not in _READINGS[situation]:
            return self.tracker.respond(session, state, message, ctx)
        base = _dry_run(self.tracker, session, state, message, ctx)
        if not _misread(situation, reading.label, state, base):
            return self.tracker.respond(session, state, message, ctx)
        return self.reader.respond(
            session, state, message, replace(ctx, customer_meaning=reading.label)
        )

    def _turn(
        self,
        session: Session,
        before: DialogueState,
        message: CustomerMessage,
        ctx: TurnContext,
        proposal: TurnOutcome,
    ) -> tuple[RankTurn, Tensor | None]:
        """The turn to rank, and its personalization soft tokens (None: the ranker reads none;
        empty before authentication)."""
        customer_id = proposal.state.customer_id
        profile: dict[str, Any] | None = None
        soft_for = getattr(self.ranker, "soft_for_record", None)
        soft: Tensor | None = torch.zeros(1, 0, 0) if soft_for is not None else None
        if customer_id is not None:  # no account data before authentication
            record = repository.customer_record(session, customer_id)
            profile = profile_features(record, ctx.now) if record is not None else None
            if record is not None and soft_for is not None:
                soft = soft_for(record, proposal.state.order_number)
        context = tuple(
            (CUSTOMER if speaker == "customer" else REP, text) for speaker, text in ctx.history
        ) + ((CUSTOMER, message.text),)
        turn = RankTurn(
            context=context,
            facts=proposal.reply.facts or frozenset(),
            slots=dict(proposal.reply.slots or {}),
            profile=profile,
            tracker=tracker_view(before)
            | tracker_signals(
                nlu.parse(message.text, self.tracker.classifier), before, proposal.state
            ),
        )
        return turn, soft

    def _cancel(
        self,
        session: Session,
        before: DialogueState,
        tracked: DialogueState,
        ctx: TurnContext,
    ) -> bool:
        """Run the confirmed cancellation; True if it was refused (then the turn hands off)."""
        if tracked.customer_id is None or tracked.order_number is None:
            return True
        try:
            cancel_order(
                session,
                customer_id=tracked.customer_id,
                order_number=tracked.order_number,
                reason=tracked.cancel_reason,
                confirmed_order=before.confirmation_for,
                idempotency_key=ctx.idempotency_key("cancel_order"),
                conversation_id=ctx.conversation_id,
                now=ctx.now,
            )
        except (ActionRefused, OrderNotFound):
            return True
        return False

    def _handoff(
        self,
        tracked: DialogueState,
        before: DialogueState,
        ctx: TurnContext,
        scores: dict[str, float],
    ) -> TurnOutcome:
        options = [e for e in self.catalog.by_act("handoff") if e.applicable(_auth(tracked))]
        entry = options[ctx.variant % len(options)]
        state = _effects(tracked, before, entry)
        reply = AgentReply(
            text=self.catalog.render(entry.id, {}),
            act=entry.act,
            template_id=entry.id,
            action=entry.action,
            scores=scores,
            slots={},
        )
        return TurnOutcome(reply=reply, state=state)


def _situation(state: DialogueState) -> str:
    """Where the meaning reader reads: a pending confirmation, no issue tracked yet, or an issue
    tracked (a message may switch to the other)."""
    if state.awaiting == Awaiting.CANCEL_CONFIRMATION and state.confirmation_for is not None:
        return "confirmation"
    if state.intent is None:
        return "opening"
    return "switch"


def _misread(situation: str, label: str, before: DialogueState, base: TurnOutcome) -> bool:
    """Whether the tracker's own reading leaves room for the reader's ``label``: in an opening,
    no issue (or an out-of-scope hand-off); at a confirmation, neither a yes nor a no; with an
    issue tracked, no switch to the other issue the reader read. Every other hand-off (a request
    for a human, the failed-login limit, a vanished record) stands."""
    if base.state.handed_off and base.reply.act != "out_of_scope":
        return False
    if situation == "opening":
        return base.state.intent is None
    if situation == "switch":
        tracked = before.intent.value if before.intent is not None else None
        return label != tracked and base.state.intent == before.intent
    return base.reply.act not in ("cancel_done", "cancel_kept")


def _dry_run(
    agent: RulesAgent,
    session: Session,
    state: DialogueState,
    message: CustomerMessage,
    ctx: TurnContext,
) -> TurnOutcome:
    """What ``agent`` would propose, with whatever it writes rolled back."""
    nested = session.begin_nested()
    try:
        return agent.respond(session, state, message, ctx)
    finally:
        nested.rollback()


def _auth(state: DialogueState) -> frozenset[str]:
    return frozenset({"authenticated" if state.customer_id is not None else "not_authenticated"})


def _effects(tracked: DialogueState, before: DialogueState, entry: TemplateEntry) -> DialogueState:
    """The next state when the sent reply is not the tracker's proposal.

    What the tracker learned (identity, order, intent, counters) is kept; what the proposal's reply
    would have asked or settled is not: the open question becomes the one this reply asks, an
    unasked confirmation is never pending (so a later "yes" cancels nothing), and nothing is
    marked resolved.
    """
    awaiting = _AWAITING.get(entry.act, before.awaiting)
    if entry.act in _ANSWERS:
        awaiting = Awaiting.ANYTHING_ELSE
    state = tracked.update(
        last_act=entry.act,
        awaiting=awaiting,
        confirmation_for=None,
        resolved=before.resolved,
        handed_off=before.handed_off,
        ended=before.ended,
    )
    flow = ACT_INTENT.get(entry.act)
    if flow in (Intent.REFUND_STATUS.value, Intent.CANCEL_ORDER.value):
        state = state.update(intent=Intent(flow))  # the reply's flow is the one now running
    if entry.action == "handoff":
        state = state.update(handed_off=True, ended=True, awaiting=None)
    elif entry.action == "end_conversation":
        state = state.update(ended=True, awaiting=None)
    return state


def _scores(ranking: Ranking) -> dict[str, float]:
    scores = {r.entry.id: round(r.score, 4) for r in ranking.ranked[:_SCORES_KEPT]}
    scores[LIST_SCORE_KEY] = round(ranking.list_prob, 4)
    return scores
