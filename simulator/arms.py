"""The agents an experiment can name as arms, each built in-process behind the Agent interface."""

from __future__ import annotations

from collections.abc import Callable

from dialogue.agent import Agent
from dialogue.rules import RulesAgent, RulesConfig


def _rules() -> Agent:
    return RulesAgent()


def _rules_no_descriptions() -> Agent:
    # The known-defect arm: orders by id or "my last order" only, never by description.
    return RulesAgent(RulesConfig(match_descriptions=False), name="rules_no_descriptions")


def _human() -> Agent:
    from simulator.human_agent import HumanAgent

    return HumanAgent()


ARMS: dict[str, Callable[[], Agent]] = {
    "rules": _rules,
    "rules_no_descriptions": _rules_no_descriptions,
    "human": _human,
}


class UnknownArm(ValueError):
    pass


_BUILT: dict[tuple[str, Callable[[], Agent]], Agent] = {}


def build_agent(name: str) -> Agent:
    """The agent of the registered arm ``name``, built once per process.

    Agents keep no per-conversation state (everything lives in DialogueState and the store), so
    one instance serves every contact; building one trains the NLU and loads the catalog.

    Raises:
        UnknownArm: no arm of that name is registered.
    """
    try:
        factory = ARMS[name]
    except KeyError:
        raise UnknownArm(f"unknown arm {name!r}; known arms: {', '.join(sorted(ARMS))}") from None
    key = (name, factory)
    if key not in _BUILT:
        _BUILT[key] = factory()
    return _BUILT[key]
