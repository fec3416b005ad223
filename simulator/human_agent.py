"""A simulated expert human rep: the policy's decisions, written in free text of its own.

Its transcripts are the training corpus of the ranker and the generator, which must learn from
"many replies that fit no template" (DESIGN.md). The rep never decides anything itself: every turn
goes through an inner agent (the rule-based agent, i.e. the policy in code), which picks the act,
runs the action and updates the state. Like a human, it understands what the customer means: the
inner agent takes the intent of each message from the simulated customer's meaning
(``TurnContext.customer_meaning``) rather than from the intent classifier (docs/simulator.md).
The rep only rewrites the reply's text from its act and slot
values (:mod:`simulator.human_agent_phrases`), so the facts it states are the store's facts,
verbatim, and its acts are exactly the policy's. Now and then (``off_catalog_rate``) it does
something no template covers (an apology for the wait, a generic policy tip, a summary of the
order, two questions in one message, a sign-off) and flags the reply ``off_catalog``.

The text of a turn depends only on the seed, the conversation's phrasing key (or id) and the turn
index (see :func:`turn_rng`), so a rerun of the same contacts gives the same transcripts.
"""

from __future__ import annotations

import functools
import random
import string
from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from dialogue.agent import Agent, AgentReply, TurnContext, TurnOutcome
from dialogue.rules import RulesAgent
from dialogue.slots import SlotValue
from dialogue.state import DialogueState
from dialogue.text import CustomerMessage
from simulator.human_agent_phrases import (
    OFF_CATALOG_KINDS,
    ORDER_OPTION_FORMATS,
    ORDER_OPTION_LISTS,
    PHRASES,
    ActPhrases,
    OffCatalog,
)
from templates import ORDER_OPTION_KEYS

__all__ = [
    "CLOSER_RATE",
    "DEFAULT_OFF_CATALOG_RATE",
    "OPENER_RATE",
    "HumanAgent",
    "turn_rng",
    "write_reply",
]

DEFAULT_OFF_CATALOG_RATE = 0.12
# How often a reply gets an opener ("Let me pull that up...") and a closer ("Hope that helps!").
OPENER_RATE = 0.6
CLOSER_RATE = 0.4


class HumanAgent:
    """A rep who follows the policy exactly (through ``inner``) and writes varied free text.

    Implements :class:`dialogue.agent.Agent`.

    Args:
        inner: The agent that makes every decision; defaults to :class:`RulesAgent`.
        seed: Seeds the phrasing; the same seed gives the same transcripts.
        off_catalog_rate: Probability that a reply includes an off-catalog behaviour.

    Raises:
        ValueError: ``off_catalog_rate`` is outside [0, 1].
    """

    def __init__(
        self,
        inner: Agent | None = None,
        *,
        seed: int = 0,
        off_catalog_rate: float = DEFAULT_OFF_CATALOG_RATE,
    ) -> None:
        _check_rate(off_catalog_rate)
        # The policy in code, understanding what the customer means as a human would.
        self.inner: Agent = inner if inner is not None else RulesAgent(read_meaning=True)
        self.seed = seed
        self.off_catalog_rate = off_catalog_rate
        self.name = "human"

    def respond(
        self, session: Session, state: DialogueState, message: CustomerMessage, ctx: TurnContext
    ) -> TurnOutcome:
        """Let the inner agent decide the turn, then say it in the rep's own words.

        Args:
            session: The store session; the inner agent's writes go through it.
            state: The dialogue state before the turn.
            message: The customer's message.
            ctx: Where the turn happens; seeds the phrasing.

        Returns:
            The inner agent's outcome with the text rewritten: same act, action, slots and next
            state; no template id and no scores.
        """
        outcome = self.inner.respond(session, state, message, ctx)
        reply = outcome.reply
        text, off_catalog = write_reply(
            reply.act,
            reply.slots or {},
            turn_rng(self.seed, ctx),
            off_catalog_rate=self.off_catalog_rate,
        )
        rewritten = AgentReply(
            text=text,
            act=reply.act,
            template_id=None,
            action=reply.action,
            scores=None,
            slots=reply.slots,
            off_catalog=off_catalog,
            facts=reply.facts,
        )
        return TurnOutcome(reply=rewritten, state=outcome.state)


def turn_rng(seed: int, ctx: TurnContext) -> random.Random:
    """The random source of one turn's phrasing.

    Keyed on the conversation (its phrasing key where the harness sets one, else its id) and the
    turn index separately, unlike :attr:`TurnContext.variant`, whose ``key * 7 + turn`` makes
    different conversations share a phrasing stream.

    Args:
        seed: The rep's seed.
        ctx: The turn.

    Returns:
        A generator seeded from a string, so it is the same in every process.
    """
    key = ctx.conversation_id if ctx.phrasing_key is None else ctx.phrasing_key
    return random.Random(f"human:{seed}:{key}:{ctx.turn_index}")


def write_reply(
    act: str,
    slots: Mapping[str, SlotValue],
    rng: random.Random,
    *,
    off_catalog_rate: float,
) -> tuple[str, bool]:
    """Free text for one act (and whether it is an off-catalog behaviour).

    The core sentence is drawn among the act's phrasings whose slots are all present, preferring
    those that state the most of the act's slots; opener, closer and off-catalog fragment are
    drawn among those whose slots are present. Slot values are inserted verbatim.

    Args:
        act: The dialogue act (one of the catalog's acts).
        slots: Store-formatted slot values; strings, and ``order_options`` as a list of dicts.
        rng: The random source (see :func:`turn_rng`).
        off_catalog_rate: Probability of adding an off-catalog behaviour.

    Returns:
        ``(text, off_catalog)``: the plain-text reply, and ``True`` when it includes an
        off-catalog behaviour.

    Raises:
        ValueError: An unknown act, or ``off_catalog_rate`` outside [0, 1].
    """
    _check_rate(off_catalog_rate)
    phrases = PHRASES.get(act)
    if phrases is None:
        raise ValueError(f"no phrasings for act {act!r}")
    values = _usable_values(slots, rng)
    core = rng.choice(_best_cores(phrases, values))
    opener = _maybe(rng, OPENER_RATE, _fitting(phrases.openers, values))
    closer = _maybe(rng, CLOSER_RATE, _fitting(phrases.closers, values))
    off: OffCatalog | None = None
    if rng.random() < off_catalog_rate:
        options = [o for o in phrases.off_catalog if _off_fits(o, phrases, core, values)]
        off = rng.choice(options) if options else None
    parts = _compose(opener, core, closer, off)
    return " ".join(part.format_map(values) for part in parts), off is not None


# ---- composition ----------------------------------------------------------------------------
def _compose(
    opener: str | None, core: str, closer: str | None, off: OffCatalog | None
) -> list[str]:
    position = OFF_CATALOG_KINDS[off.kind] if off is not None else None
    extra = off.text if off is not None else ""
    parts = [opener or ""]
    parts.append(extra if position == "before" else "")
    parts.append(extra if position == "replace" else core)
    parts.append(extra if position == "after" else "")
    parts.append(extra if position == "end" else closer or "")
    return [part for part in parts if part]


def _maybe(rng: random.Random, rate: float, pool: Sequence[str]) -> str | None:
    if pool and rng.random() < rate:
        return rng.choice(pool)
    return None


@functools.cache
def _needed(fragment: str) -> frozenset[str]:
    """The slot names a fragment's ``{placeholders}`` use."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(fragment) if name)


def _coverage(fragment: str, phrases: ActPhrases) -> int:
    return len(_needed(fragment) & set(phrases.states))


def _fitting(fragments: Sequence[str], values: Mapping[str, str]) -> list[str]:
    return [f for f in fragments if _needed(f) <= values.keys()]


def _best_cores(phrases: ActPhrases, values: Mapping[str, str]) -> list[str]:
    """The usable cores that state the most of the act's slots (ties all kept, for variety)."""
    usable = _fitting(phrases.cores, values)
    if not usable:
        raise ValueError(f"no phrasing fits slots {sorted(values)}")  # data error: no fallback
    best = max(_coverage(core, phrases) for core in usable)
    return [core for core in usable if _coverage(core, phrases) == best]


def _off_fits(off: OffCatalog, phrases: ActPhrases, core: str, values: Mapping[str, str]) -> bool:
    if not _needed(off.text) <= values.keys():
        return False
    # A fragment that replaces the core must state at least as much as the core it replaces.
    return OFF_CATALOG_KINDS[off.kind] != "replace" or _coverage(off.text, phrases) >= _coverage(
        core, phrases
    )


# ---- slot values ----------------------------------------------------------------------------
def _usable_values(slots: Mapping[str, SlotValue], rng: random.Random) -> dict[str, str]:
    """The slot values a phrasing may state: non-empty strings, and a rendered order list."""
    values: dict[str, str] = {}
    for name, value in slots.items():
        if isinstance(value, str):
            if value.strip():
                values[name] = value
        elif name == "order_options":
            listed = _order_options_text(value, rng)
            if listed is not None:
                values[name] = listed
    return values


def _order_options_text(options: object, rng: random.Random) -> str | None:
    """The candidate orders in one of the rep's list styles; None if the value is malformed."""
    if not isinstance(options, list) or not options:
        return None
    for option in options:
        if not isinstance(option, Mapping):
            return None
        if not all(isinstance(option.get(key), str) for key in ORDER_OPTION_KEYS):
            return None
    form = rng.choice(ORDER_OPTION_FORMATS)
    items = [form.format_map({key: option[key] for key in ORDER_OPTION_KEYS}) for option in options]
    style = rng.choice(ORDER_OPTION_LISTS)
    if style == "numbered":
        return ", ".join(f"{index}) {item}" for index, item in enumerate(items, start=1))
    if style == "or" and len(items) > 1:
        return f"{', '.join(items[:-1])} or {items[-1]}"
    return "; ".join(items)


def _check_rate(rate: float) -> None:
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"off_catalog_rate must be in [0, 1], got {rate}")
