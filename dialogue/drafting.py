"""What one turn's choice reads, and how a generated draft stands in for a template.

A draft speaks for its act's candidate template (``act_entry``): the template's bound action and
its effect on the dialogue state are the draft's, so a draft passes exactly the gates that
template would. In mode "hybrid" a grounded draft is ranked beside the templates as an entry of
its own words (``draft_entry``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch import Tensor

from generator.drafter import Draft
from generator.grounding import StoreFacts
from ranker.data import RankTurn
from templates import TemplateEntry
from templates.catalog import SLOTS

__all__ = ["TurnView", "act_entry", "draft_entry"]


@dataclass(frozen=True)
class TurnView:
    """What one turn's choice reads: the ranker's turn, soft tokens per model, the candidates
    and the store's facts for grounding."""

    turn: RankTurn
    soft: Tensor | None  # the ranker's
    generator_soft: Tensor | None  # the generator's (its own vectors)
    candidates: list[TemplateEntry]
    store: StoreFacts


def act_entry(view: TurnView, draft: Draft) -> TemplateEntry:
    """The candidate template a draft speaks for: the first of its act (its bound action and
    its effect on the dialogue state are the act's)."""
    for entry in view.candidates:
        if entry.act == draft.act:
            return entry
    raise LookupError(f"no candidate of act {draft.act!r}")  # drafts are constrained to these


def draft_entry(key: str, draft: Draft, view: TurnView) -> TemplateEntry:
    """A grounded draft as a rankable entry: its words, with placeholders as the ranker reads
    template variables."""
    base = act_entry(view, draft)
    source = re.sub(r"\[([a-z_]+)\]", r"{{ \1 }}", draft.template_text)
    used = tuple(sorted(set(re.findall(r"\[([a-z_]+)\]", draft.template_text)) & set(SLOTS)))
    return TemplateEntry(
        id=key,
        intent=base.intent,
        act=base.act,
        slots=used,
        preconditions=frozenset(),
        action=base.action,
        source=source,
    )
