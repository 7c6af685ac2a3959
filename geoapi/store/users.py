"""Users and their API tokens (stored as SHA-256 digests: a token is shown once, at creation)."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geoapi.errors import ConflictError, ValidationError, field_error
from geoapi.store.models import ApiToken, User

TOKEN_PREFIX = "gapi_"  # noqa: S105 - a prefix, not a secret
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class UserInfo:
    id: uuid.UUID
    username: str


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def create_user(session: Session, username: str) -> UserInfo:
    """Insert a user (the caller commits); 422 for a malformed name, 409 when it is taken
    (case-insensitively)."""
    if not USERNAME_RE.match(username):
        raise ValidationError(
            "invalid username",
            errors=[field_error("username", "1-64 characters: letters, digits, '_', '.', '-'")],
        )
    try:
        with session.begin_nested():
            user_id = session.execute(
                insert(User).values(username=username).returning(User.id)
            ).scalar_one()
    except IntegrityError:
        raise ConflictError(f"username {username!r} is taken") from None
    return UserInfo(user_id, username)


def create_token(session: Session, user_id: uuid.UUID, name: str = "default") -> str:
    """Issue a new API token (the caller commits); only its digest is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.execute(
        insert(ApiToken).values(user_id=user_id, token_hash=hash_token(token), name=name)
    )
    return token


def find_user(session: Session, username: str) -> UserInfo | None:
    """The user named ``username`` (case-insensitive), or None."""
    row = session.execute(
        select(User.id, User.username).where(func.lower(User.username) == username.lower())
    ).one_or_none()
    return UserInfo(row.id, row.username) if row else None


def user_for_token(session: Session, token: str) -> UserInfo | None:
    """The user owning an unrevoked token, or None."""
    row = session.execute(
        select(User.id, User.username)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    ).one_or_none()
    return UserInfo(row.id, row.username) if row else None


def user_exists(session: Session, user_id: uuid.UUID) -> bool:
    return session.execute(select(User.id).where(User.id == user_id)).first() is not None
