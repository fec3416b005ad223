"""Reps' and experiment owners' accounts: argon2id password hashes and bearer sessions.

Passwords are hashed with argon2-cffi (argon2id, its default parameters); session tokens are
random (``secrets``), handed out once and stored only as their SHA-256. Functions here never
commit: the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from dialogue.store import models

ROLES = ("rep", "owner")
SESSION_LIFETIME = timedelta(hours=12)
MIN_PASSWORD_CHARS = 8

_HASHER = PasswordHasher()
# Verified against when the user does not exist, so a wrong name costs what a wrong password does.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


class AccountError(ValueError):
    """An account cannot be created as asked (bad name, weak password, taken, unknown role)."""


def token_digest(token: str) -> str:
    """The stored form of a bearer token."""
    return hashlib.sha256(token.encode("utf-8", errors="replace")).hexdigest()


def tokens_match(token: str, digest: str | None) -> bool:
    """Whether ``token`` is the one ``digest`` was made from (constant time)."""
    return digest is not None and hmac.compare_digest(token_digest(token), digest)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def create_user(
    session: Session, *, username: str, password: str, role: str, now: datetime
) -> models.User:
    """Add a user.

    Raises:
        AccountError: an unknown role, an empty or over-long name, a short password, or the name
            is taken.
    """
    name = username.strip()
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if not name or len(name) > 64 or not name.isprintable():
        raise AccountError("a username is 1 to 64 printable characters")
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"a password has at least {MIN_PASSWORD_CHARS} characters")
    if session.scalar(select(models.User.id).where(models.User.username == name)) is not None:
        raise AccountError(f"user {name!r} exists")
    user = models.User(
        username=name, password_hash=_HASHER.hash(password), role=role, created_at=now
    )
    session.add(user)
    session.flush()
    return user


def sign_in(
    session: Session, *, username: str, password: str, now: datetime
) -> tuple[str, models.User, datetime] | None:
    """A new session token for the right name and password (and the user and expiry); else None."""
    user = session.scalar(select(models.User).where(models.User.username == username.strip()))
    try:
        _HASHER.verify(user.password_hash if user is not None else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    token = new_token()
    expires = now + SESSION_LIFETIME
    session.add(
        models.UserSession(
            token_hash=token_digest(token), user_id=user.id, created_at=now, expires_at=expires
        )
    )
    return token, user, expires


def user_for_token(session: Session, token: str, *, now: datetime) -> models.User | None:
    """The signed-in user a token belongs to, while its session lasts."""
    row = session.scalar(
        select(models.UserSession).where(models.UserSession.token_hash == token_digest(token))
    )
    if row is None or row.expires_at <= now:
        return None
    return session.get(models.User, row.user_id)


def sign_out(session: Session, token: str) -> None:
    session.execute(
        delete(models.UserSession).where(models.UserSession.token_hash == token_digest(token))
    )
