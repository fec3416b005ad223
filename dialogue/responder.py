"""Replies from the template catalog: pick a template of an act whose preconditions hold,
render it with store-formatted slots, and apply its bound action to the dialogue state."""

from __future__ import annotations

from collections.abc import Mapping

from dialogue.agent import AgentReply, TurnContext, TurnOutcome
from dialogue.slots import SlotValue
from dialogue.state import DialogueState
from templates import Catalog


class TemplateResponder:
    """Turns (act, facts, slots) into a rendered reply and the next state."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def say(
        self,
        act: str,
        state: DialogueState,
        ctx: TurnContext,
        *,
        facts: frozenset[str] = frozenset(),
        slots: Mapping[str, SlotValue] | None = None,
        **changes: object,
    ) -> TurnOutcome:
        """Render a template of ``act`` whose preconditions hold; vary phrasing by turn."""
        auth = "authenticated" if state.customer_id is not None else "not_authenticated"
        all_facts = facts | {auth}
        options = [e for e in self.catalog.by_act(act) if e.applicable(all_facts)]
        if not options:
            raise LookupError(f"no template of act {act!r} applies to facts {sorted(all_facts)}")
        entry = options[ctx.variant % len(options)]
        values = dict(slots or {})
        text = self.catalog.render(entry.id, values)
        next_state = state.update(last_act=act, **changes)
        if entry.action == "handoff":
            next_state = next_state.update(handed_off=True, ended=True, awaiting=None)
        elif entry.action == "end_conversation":
            next_state = next_state.update(ended=True, awaiting=None)
        reply = AgentReply(
            text=text,
            act=act,
            template_id=entry.id,
            action=entry.action,
            slots=values,
            facts=all_facts,
        )
        return TurnOutcome(reply=reply, state=next_state)
