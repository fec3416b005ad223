"""The agent-assist metrics of Lu et al. (2019), over the log of every rep reply
(``assist_choices``): turn acceptance at top 1 and top 4, response coverage and edit rate."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialogue.store import models


@dataclass(frozen=True)
class Metrics:
    rep_replies: int
    # Replies sent while suggestions were shown.
    with_suggestions: int
    # Of those: the top suggestion / any of the top 4 sent unedited.
    top1_acceptance: float | None
    top4_acceptance: float | None
    # Of all replies: built from a suggestion or the draft, edited or not.
    response_coverage: float | None
    # Of the replies built from a suggestion or the draft: the share edited.
    edit_rate: float | None
    draft_offered: int
    draft_used: int


def assist_metrics(session: Session) -> Metrics:
    """The metrics over every logged rep reply (None where a rate has no denominator)."""
    rows = session.execute(
        select(
            models.AssistChoice.kind,
            models.AssistChoice.source,
            models.AssistChoice.rank,
            models.AssistChoice.offered,
            models.AssistChoice.draft_offered,
        )
    ).all()
    offered = [r for r in rows if r.offered]
    used = [r for r in rows if r.kind in ("accepted", "edited")]
    return Metrics(
        rep_replies=len(rows),
        with_suggestions=len(offered),
        top1_acceptance=_share(
            sum(r.kind == "accepted" and r.rank == 1 for r in offered), len(offered)
        ),
        top4_acceptance=_share(
            sum(r.kind == "accepted" and r.rank is not None for r in offered), len(offered)
        ),
        response_coverage=_share(len(used), len(rows)),
        edit_rate=_share(sum(r.kind == "edited" for r in used), len(used)),
        draft_offered=sum(bool(r.draft_offered) for r in rows),
        draft_used=sum(r.source == "draft" for r in used),
    )


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
