"""Dependencies every route reads like prose: the services, who is asking, whose conversation.

Ownership is checked here, once: a customer's token opens only its own conversation (anything
else is the same 404 as a conversation that does not exist), and reps' and owners' routes need a
signed-in user of that role (a customer's conversation token is not a user's session).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status

from dialogue.service import accounts
from dialogue.service.wiring import Services
from dialogue.store import models

SESSION_COOKIE = "csbot_session"
MAX_ID = 2**31 - 1  # the store's integer ids; a larger one names nothing

NOT_FOUND = "no such conversation"


async def get_services(request: Request) -> Services:  # async: no thread for a lookup
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def bearer_token(request: Request) -> str | None:
    """The token of ``Authorization: Bearer …``, else the session cookie (the web pages)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(SESSION_COOKIE) or None


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def current_user(request: Request, services: ServicesDep) -> models.User:
    token = bearer_token(request)
    if token is not None and len(token) <= 256:
        with services.chats.reads() as session:  # a read: no SQLite write lock
            user = accounts.user_for_token(session, token, now=utcnow())
            if user is not None:
                return user
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail="sign in first",
        headers={"WWW-Authenticate": "Bearer"},
    )


CurrentUser = Annotated[models.User, Depends(current_user)]


def rep_user(user: CurrentUser) -> models.User:
    if user.role != "rep":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="reps only")
    return user


def owner_user(user: CurrentUser) -> models.User:
    if user.role != "owner":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="experiment owners only")
    return user


RepUser = Annotated[models.User, Depends(rep_user)]
OwnerUser = Annotated[models.User, Depends(owner_user)]

ConversationId = Annotated[int, Path(ge=1, le=MAX_ID, description="the conversation's id")]


def customer_conversation(
    conversation_id: ConversationId, request: Request, services: ServicesDep
) -> int:
    """The conversation id, when the request carries that conversation's token."""
    token = bearer_token(request)
    with services.chats.reads() as session:  # a read: no SQLite write lock
        if services.chats.authorized(session, conversation_id, token):
            return conversation_id
    raise HTTPException(status.HTTP_404_NOT_FOUND, detail=NOT_FOUND)


CustomerConversation = Annotated[int, Depends(customer_conversation)]


async def request_token(request: Request) -> str | None:
    """:func:`bearer_token`, as a dependency (async: no thread for reading a header)."""
    return bearer_token(request)


RequestToken = Annotated[str | None, Depends(request_token)]
