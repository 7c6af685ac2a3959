"""Users, bearer API tokens (stored as SHA-256 digests) and the request's current user."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass

from flask import g, request
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geoapi.db import get_session
from geoapi.errors import ConflictError, UnauthorizedError, ValidationError, field_error

TOKEN_PREFIX = "gapi_"  # noqa: S105 - a prefix, not a secret
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class CurrentUser:
    id: uuid.UUID
    username: str


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def create_user(session: Session, username: str) -> CurrentUser:
    """Insert a user; 422 for a malformed name, 409 when the name (case-insensitive) is taken."""
    if not USERNAME_RE.match(username):
        raise ValidationError(
            "invalid username",
            errors=[field_error("username", "1-64 characters: letters, digits, '_', '.', '-'")],
        )
    try:
        with session.begin_nested():
            user_id = session.execute(
                text("INSERT INTO users (username) VALUES (:u) RETURNING id"), {"u": username}
            ).scalar_one()
    except IntegrityError:
        raise ConflictError(f"username {username!r} is taken") from None
    return CurrentUser(user_id, username)


def create_token(session: Session, user_id: uuid.UUID, name: str = "default") -> str:
    """Issue a new API token; only its digest is stored, so the caller must show it now."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.execute(
        text("INSERT INTO api_tokens (user_id, token_hash, name) VALUES (:u, :h, :n)"),
        {"u": user_id, "h": hash_token(token), "n": name},
    )
    return token


def find_user(session: Session, username: str) -> CurrentUser | None:
    row = session.execute(
        text("SELECT id, username FROM users WHERE lower(username) = lower(:u)"), {"u": username}
    ).one_or_none()
    return CurrentUser(row.id, row.username) if row else None


def user_for_token(session: Session, token: str) -> CurrentUser | None:
    """The user owning an unrevoked token, or None."""
    row = session.execute(
        text(
            "SELECT u.id, u.username FROM api_tokens t JOIN users u ON u.id = t.user_id"
            " WHERE t.token_hash = :h AND t.revoked_at IS NULL"
        ),
        {"h": hash_token(token)},
    ).one_or_none()
    return CurrentUser(row.id, row.username) if row else None


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def optional_user() -> CurrentUser | None:
    """The authenticated caller, or None without a token; a wrong token is still a 401."""
    if "current_user" in g:
        user: CurrentUser | None = g.current_user
        return user
    token = _bearer_token()
    user = None
    if token is not None:
        user = user_for_token(get_session(), token)
        if user is None:
            raise UnauthorizedError("the bearer token is invalid or revoked")
    elif request.headers.get("Authorization"):
        raise UnauthorizedError("the Authorization header must be 'Bearer <token>'")
    g.current_user = user
    return user


def require_user() -> CurrentUser:
    """The authenticated caller; 401 problem+json without a valid bearer token."""
    user = optional_user()
    if user is None:
        raise UnauthorizedError()
    return user
