"""A user's linked Mapillary account: the OAuth state, a token kept fresh, sequence ownership.

The tokens themselves live encrypted in ``mapillary_accounts`` (``geoapi.store.accounts``);
here they are refreshed before they expire. Nothing here logs or returns a token.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from geoapi.config import Settings
from geoapi.crypto import DecryptionError
from geoapi.mapillary.client import create_source
from geoapi.mapillary.errors import MapillaryHTTPError
from geoapi.mapillary.http import MapillaryConfig
from geoapi.mapillary.oauth import refresh_token
from geoapi.mapillary.source import MapillarySource
from geoapi.store import transaction
from geoapi.store.accounts import LinkedAccount, load_account, save_tokens

STATE_SALT = "geoapi.mapillary.oauth-state"
STATE_MAX_AGE_S = 600
# Refresh a little before the expiry, so a token never dies in the middle of an import.
REFRESH_MARGIN = timedelta(minutes=5)
Conn = Connection | Session


class AccountError(Exception):
    """The caller's Mapillary account cannot be used; the message says what to do."""


class AccountNotLinkedError(AccountError):
    """No Mapillary account is linked to this user."""


class RelinkRequiredError(AccountError):
    """The stored token is expired, revoked or unreadable: the user must log in again."""


class StateError(ValueError):
    """An OAuth ``state`` that is missing, forged, expired or not for this user."""


def mapillary_config(settings: Settings) -> MapillaryConfig:
    """The client configuration from settings (URLs, credentials, timeout, retry policy)."""
    return MapillaryConfig(
        api_v3_url=settings.mapillary_api_v3_url.rstrip("/"),
        api_v4_url=settings.mapillary_api_v4_url.rstrip("/"),
        authorize_url=settings.mapillary_authorize_url,
        token_url=settings.mapillary_token_url,
        client_id=settings.mapillary_client_id,
        client_secret=settings.mapillary_client_secret,
        timeout=settings.mapillary_timeout_s,
        max_retries=settings.mapillary_max_retries,
        backoff=settings.mapillary_backoff_s,
        max_retry_after=settings.mapillary_max_retry_after_s,
    )


def open_source(
    settings: Settings, api_version: str, sleep: Callable[[float], None] = time.sleep
) -> MapillarySource:
    """A Mapillary client for ``api_version`` configured from settings; close it when done."""
    return create_source(mapillary_config(settings), api_version, sleep=sleep)


# OAuth state ------------------------------------------------------------------------------------


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=STATE_SALT)


def make_state(secret_key: str, user_id: uuid.UUID) -> str:
    """A signed, timestamped state naming the user, with a random nonce (unguessable, unique)."""
    return str(_serializer(secret_key).dumps({"u": str(user_id), "n": secrets.token_urlsafe(16)}))


def read_state(secret_key: str, state: str | None, max_age_s: int = STATE_MAX_AGE_S) -> uuid.UUID:
    """The user id a state was issued to; StateError if missing, forged or older than max_age."""
    if not state:
        raise StateError("the state parameter is missing; start again at /auth/mapillary/login")
    try:
        payload = _serializer(secret_key).loads(state, max_age=max_age_s)
    except SignatureExpired:
        raise StateError(
            f"the login took longer than {max_age_s} seconds; start again at /auth/mapillary/login"
        ) from None
    except BadSignature:
        raise StateError("the state parameter is not one this server issued") from None
    try:
        return uuid.UUID(payload["u"])
    except (KeyError, TypeError, ValueError):
        raise StateError("the state parameter is not one this server issued") from None


# A fresh token --------------------------------------------------------------------------------


def stored_account(conn: Conn, settings: Settings, user_id: uuid.UUID) -> LinkedAccount:
    """The account as stored (maybe expired); AccountNotLinkedError, RelinkRequiredError."""
    try:
        account = load_account(conn, settings, user_id)
    except DecryptionError:
        raise RelinkRequiredError(
            "the stored Mapillary token cannot be read (the server's key changed); "
            "log in to Mapillary again"
        ) from None
    if account is None:
        raise AccountNotLinkedError("no Mapillary account is linked; log in to Mapillary first")
    return account


def _needs_refresh(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at <= now + REFRESH_MARGIN


def active_account(
    conn: Conn, settings: Settings, user_id: uuid.UUID, *, now: datetime | None = None
) -> LinkedAccount:
    """The linked account with a usable token, refreshed (and re-stored) when about to expire.

    Runs in the caller's transaction, which must commit to keep a refreshed token. Concurrent
    refreshes are serialised by the account row's lock. AccountNotLinkedError without a link,
    RelinkRequiredError when Mapillary refuses the refresh; transient failures raise the
    MapillaryError for the caller to retry.
    """
    now = now or datetime.now(UTC)
    account = stored_account(conn, settings, user_id)
    if not _needs_refresh(account.expires_at, now):
        return account
    try:
        locked = load_account(conn, settings, user_id, lock=True)
    except DecryptionError:
        raise RelinkRequiredError(
            "the stored Mapillary token cannot be read; log in to Mapillary again"
        ) from None
    if locked is None:
        raise AccountNotLinkedError("no Mapillary account is linked; log in to Mapillary first")
    if not _needs_refresh(locked.expires_at, now):  # another request refreshed it meanwhile
        return locked
    if locked.refresh_token is None:
        raise RelinkRequiredError("the Mapillary token has expired; log in to Mapillary again")
    try:
        tokens = refresh_token(mapillary_config(settings), locked.refresh_token)
    except MapillaryHTTPError as exc:
        if exc.status_code is not None and 400 <= exc.status_code < 500 and exc.status_code != 429:
            raise RelinkRequiredError(
                "Mapillary refused to renew the expired token; log in to Mapillary again"
            ) from None
        raise
    renewed = replace(
        locked,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token or locked.refresh_token,
        expires_at=tokens.expires_at,
    )
    save_tokens(
        conn,
        settings,
        user_id,
        access_token=renewed.access_token,
        refresh_token=renewed.refresh_token,
        expires_at=renewed.expires_at,
    )
    return renewed


def fresh_account(session: Session, settings: Settings, user_id: uuid.UUID) -> LinkedAccount:
    """:func:`active_account` as one unit of work: a refreshed token is committed."""
    with transaction(session):
        return active_account(session, settings, user_id)


def owns_sequence(feature: dict[str, Any], key: str | None, username: str | None) -> bool:
    """Whether a v3 sequence Feature belongs to the Mapillary user (by user key, else username)."""
    props = feature.get("properties") or {}
    owner_key, owner_name = props.get("user_key"), props.get("username")
    if owner_key and key:
        return str(owner_key) == key
    if owner_name and username:
        return str(owner_name).lower() == username.lower()
    return False
