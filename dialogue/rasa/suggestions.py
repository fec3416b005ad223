"""The ranked reply's agent and its suggestions, in the wire format Rasa receives in ``custom``.

The agent is the neural agent's agent-assist (the ranker's top 4 with scores) where a ranker
checkpoint loads, else the rule-based agent in tracking mode (one reply, unscored). Either runs in
the caller's savepoint and is rolled back with it; neither ever cancels.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, TypedDict

from sqlalchemy.orm import Session

from dialogue.agent import TurnContext
from dialogue.config import Settings
from dialogue.rules import RulesAgent
from dialogue.state import DialogueState
from dialogue.text import CustomerMessage

if TYPE_CHECKING:
    from dialogue.pipeline import NeuralAgent

logger = logging.getLogger(__name__)

# Suggestions in the payload (agent-assist's top 4).
TOP_K = 4


class SuggestionPayload(TypedDict):
    """One suggestion in the ranked reply's ``custom`` payload."""

    template_id: str | None  # the catalog template (None: a rule-based reply without one)
    act: str  # the dialogue act the reply performs
    text: str  # the rendered reply
    score: float | None  # the ranker's score (None: the rule-based agent does not score)
    action: str | None  # the action bound to sending it (handoff, end_conversation) or None


class RankedReplyPayload(TypedDict):
    """The ``custom`` payload of action_ranked_reply's message."""

    source: str  # "ranker" (the neural agent's agent-assist ranking) or "rules"
    list_prob: float | None  # P(some candidate is acceptable), from the ranker's list head
    suggestions: list[SuggestionPayload]  # best first, at most four; the first is uttered


def default_reply_agent(settings: Settings | None = None) -> NeuralAgent | RulesAgent:
    """The trained ranker's agent, or the rule-based agent where no checkpoint loads."""
    path = (settings or Settings()).resolved_ranker_checkpoint()
    if path.is_file():
        from dialogue.pipeline import NeuralAgent, PipelineConfig
        from ranker.checkpoint import CheckpointError
        from ranker.encoder import EncoderUnavailable
        from ranker.scorer import NeuralRanker

        try:
            ranker = NeuralRanker.load(path)
            config = PipelineConfig(threshold=ranker.threshold)
            return NeuralAgent(ranker, config=config, name="rasa-ranker")
        except (CheckpointError, EncoderUnavailable) as exc:
            logger.warning("ranked replies come from the rule-based agent: %s", exc)
    # Tracking mode: it proposes, never cancels (only action_cancel_order does).
    return RulesAgent(execute_cancel=False, name="rasa-rules")


def suggest(
    agent: NeuralAgent | RulesAgent,
    session: Session,
    state: DialogueState,
    message: CustomerMessage,
    ctx: TurnContext,
) -> RankedReplyPayload:
    """The agent's suggestions for this turn, best first. Call it inside a savepoint that the
    caller rolls back: the rule-based agent logs its refund look-ups."""
    from dialogue.pipeline import NeuralAgent

    if isinstance(agent, NeuralAgent):
        ranked, list_prob = agent.assist(session, state, message, ctx, k=TOP_K)
        suggestions = [
            SuggestionPayload(
                template_id=s.template_id, act=s.act, text=s.text, score=s.score, action=s.action
            )
            for s in ranked
        ]
        payload = RankedReplyPayload(source="ranker", list_prob=list_prob, suggestions=suggestions)
    else:
        reply = agent.respond(session, state, message, ctx).reply
        only = SuggestionPayload(
            template_id=reply.template_id,
            act=reply.act,
            text=reply.text,
            score=None,
            action=reply.action,
        )
        payload = RankedReplyPayload(source="rules", list_prob=None, suggestions=[only])
    # Only action_cancel_order cancels: a reply claiming a cancellation nobody ran is dropped.
    payload["suggestions"] = [s for s in payload["suggestions"] if s["action"] != "cancel_order"]
    return payload
