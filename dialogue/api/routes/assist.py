"""Reps: the queue, a conversation with its suggestions and draft, the reply, the metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from dialogue.api import schemas
from dialogue.api.deps import ConversationId, RepUser, ServicesDep
from dialogue.domain import CustomerRecord
from dialogue.service.desk import DeskView, RepChoice
from dialogue.text import shown_text

router = APIRouter(prefix="/api/assist", tags=["agent-assist"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": schemas.Problem}}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": schemas.Problem},
    404: {"model": schemas.Problem},
}


@router.get("/queue")
def queue(user: RepUser, services: ServicesDep) -> list[schemas.QueueItem]:
    """Handed-off and assisted conversations not closed: waiting ones first, oldest first."""
    return [
        schemas.QueueItem(
            conversation_id=e.conversation.id,
            status=schemas.status_of(e.conversation.status),
            waiting=e.waiting,
            last_customer_text=e.last_customer_text,
            customer_name=e.customer_name,
            started_at=e.conversation.started_at,
            last_activity_at=e.last_activity_at,
            assigned_to=e.assigned_to,
            turns=e.turns,
        )
        for e in services.desk.queue()
    ]


@router.get("/conversations/{conversation_id}", responses=_NOT_FOUND)
def conversation(
    conversation_id: ConversationId, user: RepUser, services: ServicesDep
) -> schemas.AssistView:
    """The transcript, the customer (once authenticated) and the top 4 + draft for what is
    pending."""
    return _assist_view(services.desk.view(conversation_id))


@router.post("/conversations/{conversation_id}/reply", responses=_CONFLICT)
def reply(
    conversation_id: ConversationId,
    body: schemas.RepReplyIn,
    user: RepUser,
    services: ServicesDep,
) -> schemas.RepReplyOut:
    """Send a suggestion (as is or edited), the draft, or the rep's own words; logged."""
    choice = RepChoice(source=body.source, text=body.text, template_id=body.template_id)
    sent = services.desk.reply(conversation_id, user.id, choice)
    return schemas.RepReplyOut(
        conversation_id=conversation_id,
        index=sent.index,
        kind=schemas.choice_of(sent.kind),
        action=sent.action,
        status=schemas.status_of(sent.status),
    )


@router.post(
    "/conversations/{conversation_id}/close",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_CONFLICT,
)
def close(conversation_id: ConversationId, user: RepUser, services: ServicesDep) -> None:
    services.desk.close(conversation_id, user.id)


@router.get("/metrics")
def metrics(user: RepUser, services: ServicesDep) -> schemas.AssistMetrics:
    """Turn acceptance (top 1, top 4), response coverage and edit rate (Lu et al., 2019)."""
    m = services.desk.metrics()
    return schemas.AssistMetrics(
        rep_replies=m.rep_replies,
        with_suggestions=m.with_suggestions,
        top1_acceptance=m.top1_acceptance,
        top4_acceptance=m.top4_acceptance,
        response_coverage=m.response_coverage,
        edit_rate=m.edit_rate,
        draft_offered=m.draft_offered,
        draft_used=m.draft_used,
    )


def _assist_view(view: DeskView) -> schemas.AssistView:
    row, offer, state = view.conversation, view.offer, view.state
    draft = offer.draft
    return schemas.AssistView(
        conversation_id=row.id,
        status=schemas.status_of(row.status),
        mode=schemas.mode_of(row.mode),
        assigned_to=view.assigned_to,
        turns=[
            schemas.RepTurn(
                index=t.index,
                speaker=schemas.speaker_of(t.speaker),
                text=shown_text(t.speaker, t.text),
                act=t.act,
                template_id=t.template_id,
                created_at=t.created_at,
            )
            for t in view.turns
        ],
        customer=_customer(view.record) if view.record is not None else None,
        tracker=schemas.TrackerOut(
            intent=state.intent.value if state.intent is not None else None,
            authenticated=state.customer_id is not None,
            order_number=state.order_number,
            awaiting=state.awaiting.value if state.awaiting is not None else None,
        ),
        pending=offer.pending,
        suggestions=[
            schemas.SuggestionOut(
                rank=n,
                template_id=s.template_id,
                act=s.act,
                text=s.text,
                score=s.score,
                action=s.action,
            )
            for n, s in enumerate(offer.suggestions, start=1)
        ],
        list_probability=offer.list_probability,
        draft=schemas.DraftOut(
            text=draft.text,
            act=draft.act,
            grounded=draft.grounded,
            problems=list(draft.grounding.problems),
        )
        if draft is not None
        else None,
        suggestions_note=offer.note,
    )


def _customer(record: CustomerRecord) -> schemas.CustomerOut:
    profile = record.profile
    return schemas.CustomerOut(
        name=f"{profile.first_name} {profile.last_name}",
        email=profile.email,
        membership=profile.membership.value,
        customer_since=profile.created_at,
        orders=[
            schemas.OrderOut(
                order_number=o.order_number,
                status=o.status.value,
                total=o.total,
                placed_at=o.placed_at,
                payment=o.payment.label,
                lines=[
                    schemas.OrderLineOut(
                        title=ln.title, quantity=ln.quantity, unit_price=ln.unit_price
                    )
                    for ln in o.lines
                ],
                refunds=[
                    schemas.RefundOut(
                        status=r.status.value,
                        amount=r.amount,
                        method=r.method.value,
                        expected_at=r.expected_at,
                        completed_at=r.completed_at,
                    )
                    for r in o.refunds
                ],
            )
            for o in record.orders
        ],
    )
