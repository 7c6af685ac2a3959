"""The request's caller: a bearer API token (``Authorization: Bearer <token>``) → its user."""

from __future__ import annotations

from flask import g, request

from geoapi.db import get_session
from geoapi.errors import UnauthorizedError
from geoapi.store.users import UserInfo, user_for_token


def _bearer_token() -> str | None:
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


def require_user() -> UserInfo:
    """The authenticated caller; 401 problem+json without a valid bearer token."""
    user = optional_user()
    if user is None:
        raise UnauthorizedError()
    return user
