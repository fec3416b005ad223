"""Build the service's parts from the settings: the store, the auto-mode agent, the assistant."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dialogue.agent import Agent
from dialogue.config import Settings
from dialogue.conversation import ConversationRunner
from dialogue.service.chat import CustomerChats
from dialogue.service.desk import Assistant, AssistDesk
from dialogue.service.experiments import ExperimentBoard
from dialogue.store.session import make_engine, make_session_factory, upgrade

logger = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a request can reach, built once per app."""

    settings: Settings
    sessions: sessionmaker[Session]
    chats: CustomerChats
    desk: AssistDesk
    board: ExperimentBoard
    arm: str
    engine: Engine | None = None

    def close(self) -> None:
        self.board.stop_all()
        if self.engine is not None:
            self.engine.dispose()


def chosen_arm(settings: Settings) -> str:
    """``serve_arm``; "auto" is the ranker where its checkpoint exists, else the rules."""
    if settings.serve_arm != "auto":
        return settings.serve_arm
    return "ranker" if settings.resolved_ranker_checkpoint().is_file() else "rules"


def build_assistant(settings: Settings, agent: Agent) -> Assistant | None:
    """The ranker (with the generator's drafts where its checkpoint exists); None without a
    ranker checkpoint (reps then type their replies)."""
    from dialogue.pipeline import NeuralAgent, PipelineConfig

    if isinstance(agent, NeuralAgent) and agent.generator is not None:
        return agent
    path = settings.resolved_ranker_checkpoint()
    if not path.is_file():
        logger.warning("no ranker checkpoint at %s: agent-assist offers no suggestions", path)
        return None
    from generator.drafter import Drafter
    from ranker.scorer import NeuralRanker

    ranker = agent.ranker if isinstance(agent, NeuralAgent) else NeuralRanker.load(path)
    generator = None
    draft_path = settings.resolved_generator_checkpoint()
    if draft_path.is_file():
        generator = Drafter.load(draft_path)
    return NeuralAgent(
        ranker,
        config=PipelineConfig(threshold=getattr(ranker, "threshold", 0.5)),
        name="assist",
        generator=generator,
    )


def build_services(
    settings: Settings,
    *,
    agent: Agent | None = None,
    assistant: Assistant | None | Literal["build"] = "build",
    migrate: bool = True,
) -> Services:
    """The store (migrated to head), the arm answering customers and the assist desk.

    Args:
        agent: The auto-mode agent; None builds ``chosen_arm(settings)`` (simulator.arms).
        assistant: The desk's assistant; "build" makes one from the ranker checkpoint, if any;
            None offers no suggestions. Tests pass both (fakes): no trained model is needed.
    """
    url = settings.resolved_database_url()
    if migrate:
        upgrade(url)
    engine = make_engine(url, immediate=True)
    sessions = make_session_factory(engine)
    if agent is None:
        from simulator.arms import build_agent

        agent = build_agent(chosen_arm(settings))
    if assistant == "build":
        assistant = build_assistant(settings, agent)
    runner = ConversationRunner(sessions, agent, max_message_chars=settings.max_message_chars)
    return Services(
        settings=settings,
        sessions=sessions,
        chats=CustomerChats(runner, mode=settings.chat_mode),
        desk=AssistDesk(sessions, assistant, max_message_chars=settings.max_message_chars),
        board=ExperimentBoard(settings, main_url=url),
        arm=agent.name,
        engine=engine,
    )
