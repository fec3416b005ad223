"""The neural agent: code tracks the state and gates actions, the ranker chooses what to say.

One turn (DESIGN.md): the tracker (the rule-based agent in tracking mode, which never cancels)
reads the message, authenticates, identifies the order and looks up its facts; the candidates are
the templates whose preconditions those facts satisfy and whose slots the store filled; the ranker
scores them and the list; below the auto-send threshold, or with no candidate, the turn is handed
off. A reply bound to ``cancel_order`` runs the cancellation through :mod:`dialogue.actions` only
when the tracker established the customer's explicit yes for this very order (the
``cancel_confirmed`` fact, which is the only way a ``cancel_done`` template becomes a candidate).
Agent-assist (:meth:`NeuralAgent.assist`) runs the same steps in a rolled-back savepoint and
returns the top 4 (and the generator's draft, flagged when it is not grounded) instead of
sending.

With a generator (``generator.drafter``), two more modes: ``generator`` sends the first grounded
draft whose act is one the candidate templates allow (otherwise it hands off), and ``hybrid``
lets the ranker score grounded drafts beside the templates and sends whichever wins. A draft is
sent under exactly the gates a template is: its act's bound action runs only where that act's
template would be a candidate (``cancel_done`` only after the explicit yes), and a draft that
claims anything the store does not hold, or an action that is not running, is never sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch
from sqlalchemy.orm import Session
from torch import Tensor

from dialogue import assisting, nlu
from dialogue.actions import ActionRefused, OrderNotFound, cancel_order
from dialogue.agent import LIST_SCORE_KEY, AgentReply, TurnContext, TurnOutcome
from dialogue.assisting import RepChoiceRefused, Suggestion
from dialogue.drafting import TurnView, act_entry, draft_entry
from dialogue.meaning_gate import READINGS, dry_run, misread, situation
from dialogue.reply_effects import auth_facts, effects
from dialogue.rules import RulesAgent
from dialogue.rules_orders import DescribeOrders
from dialogue.state import DialogueState
from dialogue.store import repository
from dialogue.text import CustomerMessage
from generator.drafter import Draft, Generator
from generator.grounding import StoreFacts
from ranker.data import CUSTOMER, REP, RankTurn, candidate_entries
from ranker.features import profile_features, tracker_signals, tracker_view
from ranker.scorer import Ranker, Ranking
from templates import Catalog, TemplateEntry, load_catalog

if TYPE_CHECKING:
    from dialogue.personalization.orders import OrderResolver

__all__ = [
    "LIST_SCORE_KEY",
    "MODES",
    "NeuralAgent",
    "PipelineConfig",
    "RepChoiceRefused",
    "Suggestion",
]

MODES = ("ranker", "generator", "hybrid")

_SCORES_KEPT = 20


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
    # What chooses the reply: "ranker" (templates), "generator" (grounded drafts, else hand-off)
    # or "hybrid" (the ranker over templates and grounded drafts). The last two need a generator.
    mode: str = "ranker"
    drafts: int = 1  # drafts per turn
    draft_method: str = "greedy"  # greedy | beam | sample


class NeuralAgent:
    """The ranker arm (implements :class:`dialogue.agent.Agent`).

    Args:
        ranker: Scores candidates (the trained :class:`ranker.scorer.NeuralRanker` or a fake).
        catalog: The templates; the ranker's catalog.
        config: Threshold, tracker options and mode.
        name: The arm's name.
        generator: Drafts free-text replies (modes "generator" and "hybrid"; agent-assist shows
            its draft in any mode).
    """

    def __init__(
        self,
        ranker: Ranker,
        *,
        catalog: Catalog | None = None,
        config: PipelineConfig | None = None,
        name: str = "ranker",
        generator: Generator | None = None,
    ) -> None:
        from dialogue.rules import RulesConfig

        self.ranker = ranker
        self.generator = generator
        self.catalog = catalog or load_catalog()
        self.config = config or PipelineConfig()
        if self.config.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.config.mode!r}")
        if self.config.mode != "ranker" and generator is None:
            raise ValueError(f"mode {self.config.mode!r} needs a generator")
        self.name = name
        self._titles: frozenset[str] | None = None
        self._resolver: OrderResolver | None = None
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
        self._resolver = OrderResolver(artifact=soft.artifact if soft is not None else None)
        return self._resolver.resolve

    def warm_up(self) -> None:
        """Load what the first turns would otherwise load (the order resolver's sentence
        encoder, about 6 s): a service calls this before it takes its first customer."""
        if self._resolver is not None:
            self._resolver.encoder(["warm up"])

    # ---- auto mode -----------------------------------------------------------------------
    def respond(
        self, session: Session, state: DialogueState, message: CustomerMessage, ctx: TurnContext
    ) -> TurnOutcome:
        """One auto-mode turn: track, choose (rank, draft or both), hand off or send (and act
        only through actions)."""
        ctx = replace(ctx, customer_meaning=None)  # a simulated customer's meaning is never read
        proposal = self._track(session, state, message, ctx)
        if message.problem is not None:
            return proposal  # empty / too long / unreadable input: fixed replies, no model
        if proposal.state.handed_off:
            # The tracker's hand-offs are gates in code (failed-login limit, a vanished customer
            # record, a request for a human, out of scope): no ranking overrides them.
            return proposal
        view = self._view(session, state, message, ctx, proposal)
        if self.config.mode == "generator":
            return self._send_generated(session, state, ctx, proposal, view)
        drafts = self._grounded_drafts(view) if self.config.mode == "hybrid" else []
        extra = {f"draft:{i}": d for i, d in enumerate(drafts)}
        ranking = self._rank(view, extra)
        scores = _scores(ranking)
        if ranking.ranked and ranking.list_prob >= self.config.threshold:
            top = ranking.ranked[0].entry
        elif self.config.fallback == "policy" and proposal.reply.template_id is not None:
            # The tracker's own reply, sent through the same gates (its deferred cancellation
            # runs below, exactly as if the ranker had chosen it).
            top = self.catalog.get(proposal.reply.template_id)
        else:
            return self._handoff(proposal.state, state, ctx, scores)
        draft = extra.get(top.id)
        if draft is not None:
            return self._send(
                session, state, ctx, proposal, view, act_entry(view, draft), scores, draft=draft
            )
        return self._send(session, state, ctx, proposal, view, top, scores)

    def _send_generated(
        self,
        session: Session,
        state: DialogueState,
        ctx: TurnContext,
        proposal: TurnOutcome,
        view: TurnView,
    ) -> TurnOutcome:
        """Mode "generator": the first grounded draft, or a hand-off."""
        drafts = self._grounded_drafts(view)
        scores = {f"draft:{i}": round(d.logprob, 4) for i, d in enumerate(drafts)}
        if not drafts:
            return self._handoff(proposal.state, state, ctx, scores)
        draft = drafts[0]
        return self._send(
            session, state, ctx, proposal, view, act_entry(view, draft), scores, draft=draft
        )

    def _send(
        self,
        session: Session,
        state: DialogueState,
        ctx: TurnContext,
        proposal: TurnOutcome,
        view: TurnView,
        top: TemplateEntry,
        scores: dict[str, float],
        *,
        draft: Draft | None = None,
    ) -> TurnOutcome:
        """Send ``top`` (a template, or the act entry a grounded draft speaks for) through the
        gates: a safe option under this turn's facts, and a cancellation only when confirmed."""
        slots = proposal.reply.slots or {}
        facts = proposal.reply.facts or frozenset()
        if top.id not in {e.id for e in view.candidates}:
            return self._handoff(proposal.state, state, ctx, scores)  # not a safe option
        if top.action == "cancel_order":
            if proposal.reply.act != "cancel_done" or "cancel_confirmed" not in facts:
                return self._handoff(proposal.state, state, ctx, scores)
            refused = self._cancel(session, state, proposal.state, ctx)
            if refused:
                return self._handoff(proposal.state, state, ctx, scores)
        next_state = (
            proposal.state if top.act == proposal.reply.act else effects(proposal.state, state, top)
        )
        reply = AgentReply(
            text=draft.text if draft is not None else self.catalog.render(top.id, dict(slots)),
            act=top.act,
            template_id=None if draft is not None else top.id,
            action=top.action,
            scores=scores,
            # A draft states what its words state (grounded against these slots): readers read
            # the text.
            slots=None if draft is not None else dict(slots),
            facts=proposal.reply.facts,
            generated=draft is not None,
        )
        prefetch = getattr(self.ranker, "prefetch", None)
        if prefetch is not None and not (next_state.ended or next_state.handed_off):
            # The reply is the next turn's context (if there is one): encode it off that path.
            prefetch([reply.text])
        return TurnOutcome(reply=reply, state=next_state)

    def _grounded_drafts(self, view: TurnView) -> list[Draft]:
        """The generator's drafts for this turn whose act a candidate allows and that passed
        grounding; best first."""
        return [d for d in self._drafts(view) if d.grounded and d.act is not None]

    def _drafts(self, view: TurnView) -> list[Draft]:
        if self.generator is None:
            return []
        acts = {e.act for e in view.candidates}
        return self.generator.drafts(
            view.turn,
            view.generator_soft,
            allowed_acts=acts,
            store=view.store,
            n=self.config.drafts,
            method=self.config.draft_method,
        )

    def _rank(self, view: TurnView, extra: Mapping[str, Draft]) -> Ranking:
        """The ranker's scores over the templates and, in mode "hybrid", the grounded drafts."""
        if not extra:
            return self.ranker.rank(view.turn, view.soft)
        entries = [draft_entry(key, d, view) for key, d in extra.items()]
        rank_with = getattr(self.ranker, "rank_with", None)
        if rank_with is None:  # a ranker that cannot read free text ranks templates only
            return self.ranker.rank(view.turn, view.soft)
        ranking: Ranking = rank_with(view.turn, view.soft, extra=entries)
        return ranking

    # ---- agent-assist (dialogue.assisting) -------------------------------------------------
    def assist(
        self,
        session: Session,
        state: DialogueState,
        message: CustomerMessage,
        ctx: TurnContext,
        *,
        k: int = 4,
    ) -> tuple[list[Suggestion], float]:
        """The top ``k`` suggestions and the list's probability; writes nothing."""
        return assisting.assist(self, session, state, message, ctx, k=k)

    def assist_with_draft(
        self,
        session: Session,
        state: DialogueState,
        message: CustomerMessage,
        ctx: TurnContext,
        *,
        k: int = 4,
    ) -> tuple[list[Suggestion], float, Draft | None]:
        """:meth:`assist` plus the generator's best draft, flagged when not grounded."""
        return assisting.assist_with_draft(self, session, state, message, ctx, k=k)

    def assist_turn(
        self,
        session: Session,
        state: DialogueState,
        message: CustomerMessage,
        ctx: TurnContext,
        *,
        k: int = 4,
    ) -> assisting.AssistResult:
        """The suggestions, the draft and the state the tracker read the message into."""
        return assisting.assist_turn(self, session, state, message, ctx, k=k)

    def rep_turn(
        self,
        session: Session,
        state: DialogueState,
        message: CustomerMessage,
        ctx: TurnContext,
        *,
        template_id: str | None = None,
        act: str | None = None,
    ) -> TurnOutcome:
        """The turn a rep's reply makes (:func:`dialogue.assisting.rep_turn`)."""
        return assisting.rep_turn(
            self, session, state, message, ctx, template_id=template_id, act=act
        )

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
        where = situation(state)
        reading = read(where, message.text)
        if reading is None or not reading.accepted or reading.label not in READINGS[where]:
            return self.tracker.respond(session, state, message, ctx)
        base = dry_run(self.tracker, session, state, message, ctx)
        if not misread(where, reading.label, state, base):
            return self.tracker.respond(session, state, message, ctx)
        return self.reader.respond(
            session, state, message, replace(ctx, customer_meaning=reading.label)
        )

    def _view(
        self,
        session: Session,
        before: DialogueState,
        message: CustomerMessage,
        ctx: TurnContext,
        proposal: TurnOutcome,
    ) -> TurnView:
        """The turn to choose for, its personalization soft tokens (None: the model reads none;
        empty before authentication), the candidates and the store's facts for grounding."""
        customer_id = proposal.state.customer_id
        profile: dict[str, Any] | None = None
        soft_for = getattr(self.ranker, "soft_for_record", None)
        gen_soft_for = getattr(self.generator, "soft_for_record", None)
        soft: Tensor | None = torch.zeros(1, 0, 0) if soft_for is not None else None
        gen_soft: Tensor | None = torch.zeros(1, 0, 0)
        if customer_id is not None:  # no account data before authentication
            record = repository.customer_record(session, customer_id)
            profile = profile_features(record, ctx.now) if record is not None else None
            if record is not None and soft_for is not None:
                soft = soft_for(record, proposal.state.order_number)
            if record is not None and gen_soft_for is not None:
                gen_soft = gen_soft_for(record, proposal.state.order_number)
        context = tuple(
            (CUSTOMER if speaker == "customer" else REP, text) for speaker, text in ctx.history
        ) + ((CUSTOMER, message.text),)
        facts = proposal.reply.facts or frozenset()
        slots = dict(proposal.reply.slots or {})
        turn = RankTurn(
            context=context,
            facts=facts,
            slots=slots,
            profile=profile,
            tracker=tracker_view(before)
            | tracker_signals(
                nlu.parse(message.text, self.tracker.classifier), before, proposal.state
            ),
        )
        store = StoreFacts(
            slots=slots,
            facts=facts,
            catalog_titles=self._catalog_titles(session)
            if self.generator is not None
            else frozenset(),
            # The confirmed cancellation runs before a cancel_done reply is sent (or the turn
            # hands off), so only that act may say it was done.
            executed_action="cancel_order" if "cancel_confirmed" in facts else None,
        )
        candidates = candidate_entries(self.catalog.entries, facts, slots)
        return TurnView(turn, soft, gen_soft, candidates, store)

    def _catalog_titles(self, session: Session) -> frozenset[str]:
        if self._titles is None:
            self._titles = repository.catalog_titles(session)
        return self._titles

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
        options = [e for e in self.catalog.by_act("handoff") if e.applicable(auth_facts(tracked))]
        entry = options[ctx.variant % len(options)]
        state = effects(tracked, before, entry)
        reply = AgentReply(
            text=self.catalog.render(entry.id, {}),
            act=entry.act,
            template_id=entry.id,
            action=entry.action,
            scores=scores,
            slots={},
        )
        return TurnOutcome(reply=reply, state=state)


def _scores(ranking: Ranking) -> dict[str, float]:
    scores = {r.entry.id: round(r.score, 4) for r in ranking.ranked[:_SCORES_KEPT]}
    scores[LIST_SCORE_KEY] = round(ranking.list_prob, 4)
    return scores
