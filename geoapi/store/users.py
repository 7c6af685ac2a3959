"""Users and their API tokens (stored as SHA-256 digests: a token is shown once, at creation).

A token works until it is revoked (by its user over HTTP, or by an operator with ``geoapi
users revoke`` / ``geoapi tokens revoke``); revocation takes effect on the next request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geoapi.errors import ConflictError, ValidationError, field_error
from geoapi.store import transaction
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


# A token's last use is recorded at most this often (a write per request would be too many).
TOKEN_USE_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Authenticated:
    user: UserInfo
    token_id: uuid.UUID
    last_used_at: datetime | None


@dataclass(frozen=True)
class TokenInfo:
    """What an operator may see of a token: never the token (only its digest is stored)."""

    id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def authenticate(session: Session, token: str) -> Authenticated | None:
    """The user and token row of an unrevoked token, or None."""
    row = session.execute(
        select(User.id, User.username, ApiToken.id.label("token_id"), ApiToken.last_used_at)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    ).one_or_none()
    if row is None:
        return None
    return Authenticated(UserInfo(row.id, row.username), row.token_id, row.last_used_at)


def user_for_token(session: Session, token: str) -> UserInfo | None:
    """The user owning an unrevoked token, or None."""
    found = authenticate(session, token)
    return found.user if found else None


def touch_token(engine: Engine, token_id: uuid.UUID) -> None:
    """Record that a token was used now, on its own autocommitted statement (so a read-only
    request records it too), at most once per TOKEN_USE_RESOLUTION."""
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            update(ApiToken)
            .where(
                ApiToken.id == token_id,
                or_(
                    ApiToken.last_used_at.is_(None),
                    ApiToken.last_used_at < func.now() - TOKEN_USE_RESOLUTION,
                ),
            )
            .values(last_used_at=func.now())
        )


def list_tokens(session: Session, user_id: uuid.UUID) -> list[TokenInfo]:
    """The user's tokens, oldest first: id, name, creation, last use, revocation."""
    rows = session.execute(
        select(
            ApiToken.id,
            ApiToken.name,
            ApiToken.created_at,
            ApiToken.last_used_at,
            ApiToken.revoked_at,
        )
        .where(ApiToken.user_id == user_id)
        .order_by(ApiToken.created_at, ApiToken.id)
    ).all()
    return [TokenInfo(*row) for row in rows]


def _revoke(session: Session, *conditions: object) -> int:
    with transaction(session):
        revoked = session.execute(
            update(ApiToken)
            .where(ApiToken.revoked_at.is_(None), *conditions)  # type: ignore[arg-type]
            .values(revoked_at=func.now())
            .returning(ApiToken.id)
        ).all()
    return len(revoked)


def revoke_user_tokens(session: Session, user_id: uuid.UUID) -> int:
    """Revoke every token of a user, in one transaction; how many were live."""
    return _revoke(session, ApiToken.user_id == user_id)


def revoke_token(session: Session, token_id: uuid.UUID) -> bool:
    """Revoke one token by its id, in one transaction; whether it was live."""
    return _revoke(session, ApiToken.id == token_id) == 1


def revoke_presented_token(session: Session, token: str) -> bool:
    """Revoke the token a client presents, in one transaction; whether it was live."""
    return _revoke(session, ApiToken.token_hash == hash_token(token)) == 1


def user_exists(session: Session, user_id: uuid.UUID) -> bool:
    return session.execute(select(User.id).where(User.id == user_id)).first() is not None
