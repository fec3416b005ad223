"""Reps and experiment owners sign in and out."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from dialogue.api import schemas
from dialogue.api.deps import SESSION_COOKIE, CurrentUser, ServicesDep, bearer_token, utcnow
from dialogue.service import accounts

router = APIRouter(prefix="/api/auth", tags=["sign-in"])


@router.post("/login", responses={401: {"model": schemas.Problem}})
def login(body: schemas.LoginIn, response: Response, services: ServicesDep) -> schemas.LoginOut:
    """A bearer token (also set as an HttpOnly, SameSite=Strict cookie for the pages)."""
    now = utcnow()
    with services.sessions() as session, session.begin():
        signed = accounts.sign_in(session, username=body.username, password=body.password, now=now)
        if signed is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="wrong username or password")
        token, user, expires = signed
        role = schemas.role_of(user.role)
        username = user.username
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int((expires - now).total_seconds()),
        httponly=True,
        samesite="strict",
        path="/",
    )
    return schemas.LoginOut(token=token, username=username, role=role, expires_at=expires)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, response: Response, services: ServicesDep) -> None:
    token = bearer_token(request)
    if token is not None and len(token) <= 256:
        with services.sessions() as session, session.begin():
            accounts.sign_out(session, token)
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/me")
def me(user: CurrentUser) -> schemas.Me:
    return schemas.Me(username=user.username, role=schemas.role_of(user.role))
