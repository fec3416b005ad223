"""The agents an experiment can name as arms, each built in-process behind the Agent interface."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dialogue.agent import Agent
from dialogue.config import Settings
from dialogue.rules import RulesAgent, RulesConfig


def _rules() -> Agent:
    return RulesAgent()


def _rules_no_descriptions() -> Agent:
    # The known-defect arm: orders by id or "my last order" only, never by description.
    return RulesAgent(RulesConfig(match_descriptions=False), name="rules_no_descriptions")


def _human() -> Agent:
    from simulator.human_agent import HumanAgent

    return HumanAgent()


def _neural(
    name: str,
    *,
    fallback: str = "policy",
    read_meaning: bool = True,
    orders: str = "embeddings",
    mode: str = "ranker",
) -> Agent:
    # The neural arm: the trained cross-attention ranker (CSBOT_RANKER_CHECKPOINT, or the
    # default path `csbot train ranker` writes); a missing checkpoint is a clear error here.
    # Modes "generator" and "hybrid" also load the generator (CSBOT_GENERATOR_CHECKPOINT, or
    # the path `csbot train generator` writes).
    from dialogue.config import Settings
    from dialogue.pipeline import NeuralAgent, PipelineConfig
    from generator.checkpoint import GeneratorCheckpointError
    from generator.drafter import Drafter
    from ranker.scorer import NeuralRanker

    settings = Settings()
    generator = None
    if mode != "ranker":
        path = settings.resolved_generator_checkpoint()
        generator = Drafter.load(path)
        if generator.act_reader is None:  # auto mode would ground no draft: say so up front
            raise GeneratorCheckpointError(
                f"{path} has no act reader, so no draft could be sent; "
                f"run `csbot generator act-reader {path}`"
            )
    ranker = NeuralRanker.load(settings.resolved_ranker_checkpoint())
    pipeline = PipelineConfig(
        threshold=ranker.threshold,
        fallback=fallback,
        read_meaning=read_meaning,
        order_resolver=orders,
        mode=mode,
    )
    return NeuralAgent(ranker, config=pipeline, name=name, generator=generator)


def _ranker() -> Agent:
    return _neural("ranker")


def _ranker_handoff() -> Agent:
    # The same model, handing off (instead of falling back to the policy's reply) below the
    # list head's threshold.
    return _neural("ranker_handoff", fallback="handoff")


def _ranker_no_meaning() -> Agent:
    # The same model without its meaning reader: the tracker's NLU alone reads the customer
    # (PipelineConfig.read_meaning; the ablation of ranker.meaning).
    return _neural("ranker_no_meaning", read_meaning=False)


def _ranker_word_orders() -> Agent:
    # The same model, its tracker finding described orders by words alone (the rule-based
    # matcher) instead of the embedding resolver (the ablation of dialogue.personalization.orders).
    return _neural("ranker_word_orders", orders="words")


def _generator() -> Agent:
    # Auto mode with the generator: the same tracker and gates; the first grounded draft whose
    # act a candidate template allows is sent, otherwise the contact is handed off.
    return _neural("generator", mode="generator")


def _hybrid() -> Agent:
    # The ranker chooses among the candidate templates and the grounded drafts.
    return _neural("hybrid", mode="hybrid")


ARMS: dict[str, Callable[[], Agent]] = {
    "rules": _rules,
    "rules_no_descriptions": _rules_no_descriptions,
    "human": _human,
    "ranker": _ranker,
    "ranker_handoff": _ranker_handoff,
    "ranker_no_meaning": _ranker_no_meaning,
    "ranker_word_orders": _ranker_word_orders,
    "generator": _generator,
    "hybrid": _hybrid,
}


# The arms whose agent loads the trained ranker, and of those the ones that also load the
# generator (the checkpoints ``_neural`` reads).
RANKER_ARMS = frozenset(
    {"ranker", "ranker_handoff", "ranker_no_meaning", "ranker_word_orders", "generator", "hybrid"}
)
GENERATOR_ARMS = frozenset({"generator", "hybrid"})


def checkpoints_for(name: str, settings: Settings) -> list[Path]:
    """The model files the arm ``name`` loads (none for the rule-based and human arms)."""
    paths = [settings.resolved_ranker_checkpoint()] if name in RANKER_ARMS else []
    if name in GENERATOR_ARMS:
        paths.append(settings.resolved_generator_checkpoint())
    return paths


class UnknownArm(ValueError):
    pass


class ArmNotReady(RuntimeError):
    """The arm exists but cannot be built here (e.g. its model checkpoint is missing)."""


_BUILT: dict[tuple[str, Callable[[], Agent]], Agent] = {}


def build_agent(name: str) -> Agent:
    """The agent of the registered arm ``name``, built once per process.

    Agents keep no per-conversation state (everything lives in DialogueState and the store), so
    one instance serves every contact; building one trains the NLU and loads the catalog.

    Raises:
        UnknownArm: no arm of that name is registered.
        ArmNotReady: its model cannot be loaded (missing or corrupt checkpoint).
    """
    try:
        factory = ARMS[name]
    except KeyError:
        raise UnknownArm(f"unknown arm {name!r}; known arms: {', '.join(sorted(ARMS))}") from None
    key = (name, factory)
    if key not in _BUILT:
        from generator.checkpoint import GeneratorCheckpointError
        from ranker.checkpoint import CheckpointError
        from ranker.encoder import EncoderUnavailable

        try:
            _BUILT[key] = factory()
        except (CheckpointError, EncoderUnavailable, GeneratorCheckpointError) as exc:
            raise ArmNotReady(f"arm {name!r} is not ready: {exc}") from exc
    return _BUILT[key]
