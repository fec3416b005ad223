"""Customers: start a conversation, send a message, read the conversation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from fastapi.concurrency import run_in_threadpool

from dialogue.api import schemas
from dialogue.api.deps import (
    MAX_ID,
    ConversationId,
    CustomerConversation,
    RequestToken,
    ServicesDep,
)
from dialogue.text import shown_text

router = APIRouter(prefix="/api/conversations", tags=["customers"])

# What sending a message may answer besides its reply: no such conversation (or not this token's),
# a closed one, an empty message in assist mode (a sentence) or a field error, and a turn worker
# lost mid-turn (send it again).
_SEND_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": schemas.Problem},
    409: {"model": schemas.Problem},
    422: {"model": schemas.Unprocessable},
    503: {"model": schemas.Problem},
}


@router.post("", status_code=status.HTTP_201_CREATED)
def start_conversation(services: ServicesDep) -> schemas.ConversationStarted:
    """Open a conversation; its token is shown once and opens only this conversation."""
    started = services.chats.start()
    return schemas.ConversationStarted(
        conversation_id=started.conversation_id,
        token=started.token,
        status="open",
        mode="assist" if started.mode == "assist" else "auto",
    )


@router.post("/{conversation_id}/messages", responses=_SEND_ERRORS)
async def send_message(
    conversation_id: ConversationId,
    message: schemas.CustomerMessageIn,
    services: ServicesDep,
    token: RequestToken,
) -> schemas.MessageResult:
    """Send a message. In auto mode the reply comes back, committed with the message; in assist
    mode the message is committed and a rep answers (poll the conversation)."""
    # The token is checked in the turn's own read (the same 404 as a missing conversation).
    if services.turns is not None:
        sent = await services.turns.send(conversation_id, message.text, token=token or "")
    else:
        sent = await run_in_threadpool(
            services.chats.send, conversation_id, message.text, token=token or ""
        )
    reply = (
        schemas.BotReply(text=shown_text("agent", sent.reply.text), speaker="agent")
        if sent.reply is not None
        else None
    )
    return schemas.MessageResult(
        conversation_id=conversation_id,
        index=sent.index,
        reply=reply,
        status=schemas.status_of(sent.status),
        mode=schemas.mode_of(sent.mode),
    )


@router.get("/{conversation_id}")
def read_conversation(
    conversation_id: CustomerConversation,
    services: ServicesDep,
    after: Annotated[int, Query(ge=-1, le=MAX_ID, description="only turns after this index")] = -1,
) -> schemas.CustomerTranscript:
    row, turns = services.chats.transcript(conversation_id, after=after)
    return schemas.CustomerTranscript(
        conversation_id=conversation_id,
        status=schemas.status_of(row.status),
        mode=schemas.mode_of(row.mode),
        turns=[
            schemas.TranscriptTurn(
                index=t.index,
                speaker=schemas.speaker_of(t.speaker),
                text=shown_text(t.speaker, t.text),
                created_at=t.created_at,
            )
            for t in turns
        ],
    )
