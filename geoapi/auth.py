"""The request's caller: a bearer API token (``Authorization: Bearer <token>``) → its user."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g, request

from geoapi.db import get_engine, get_session
from geoapi.errors import UnauthorizedError
from geoapi.store.users import TOKEN_USE_RESOLUTION, UserInfo, authenticate, touch_token


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer`` header (tokens are never taken from URLs)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def optional_user() -> UserInfo | None:
    """The authenticated caller, or None without a token; a wrong token is still a 401."""
    if "current_user" in g:
        user: UserInfo | None = g.current_user
        return user
    token = bearer_token()
    user = None
    if token is not None:
        found = authenticate(get_session(), token)
        if found is None:
            raise UnauthorizedError("the bearer token is invalid or revoked")
        user = found.user
        if (
            found.last_used_at is None
            or found.last_used_at < datetime.now(UTC) - TOKEN_USE_RESOLUTION
        ):
            touch_token(get_engine(), found.token_id)
    elif request.headers.get("Authorization"):
        raise UnauthorizedError("the Authorization header must be 'Bearer <token>'")
    g.current_user = user
    return user


def require_user() -> UserInfo:
    """The authenticated caller; 401 problem+json without a valid bearer token."""
    user = optional_user()
    if user is None:
        raise UnauthorizedError()
    return user
