"""A user's linked Mapillary account: OAuth state, tokens encrypted at rest, refresh on expiry.

Tokens are Fernet-encrypted (``geoapi.crypto``) before they reach ``mapillary_accounts``; they
are decrypted only to call Mapillary, never logged and never returned by the API.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from geoapi.config import Settings
from geoapi.crypto import DecryptionError, decrypt, encrypt
from geoapi.mapillary import (
    MapillaryConfig,
    MapillaryHTTPError,
    MapillarySource,
    MapillaryUser,
    create_source,
)
from geoapi.mapillary_oauth import TokenSet, refresh_token
from geoapi.validation import MAX_KEY

STATE_SALT = "geoapi.mapillary.oauth-state"
STATE_MAX_AGE_S = 600
# Refresh a little before the expiry, so a token never dies in the middle of an import.
REFRESH_MARGIN = timedelta(minutes=5)
Conn = Connection | Session
# A sequence key: v3 keys are URL-safe base64 (22 characters), v4 ids are digits.
KEY_RE = re.compile(rf"^[A-Za-z0-9_-]{{1,{MAX_KEY}}}$")


class AccountError(Exception):
    """The caller's Mapillary account cannot be used; the message says what to do."""


class AccountNotLinkedError(AccountError):
    """No Mapillary account is linked to this user."""


class RelinkRequiredError(AccountError):
    """The stored token is expired, revoked or unreadable: the user must log in again."""


class StateError(ValueError):
    """An OAuth ``state`` that is missing, forged, expired or not for this user."""


@dataclass(frozen=True)
class LinkedAccount:
    """A linked account with its decrypted access token (kept out of repr)."""

    user_id: uuid.UUID
    mapillary_user_key: str | None
    mapillary_username: str | None
    api_version: str
    expires_at: datetime | None
    access_token: str = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        """The public view of the link: who, which API, until when. Never the token."""
        return {
            "mapillary_user_key": self.mapillary_user_key,
            "mapillary_username": self.mapillary_username,
            "api_version": self.api_version,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


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


# Storage ----------------------------------------------------------------------------------------


def store_account(
    conn: Conn,
    settings: Settings,
    user_id: uuid.UUID,
    tokens: TokenSet,
    who: MapillaryUser,
    api_version: str,
) -> None:
    """Link (or re-link) ``user_id`` to the Mapillary account ``who``; tokens stored encrypted."""
    conn.execute(
        text(
            "INSERT INTO mapillary_accounts (user_id, mapillary_user_key, mapillary_username,"
            " api_version, access_token_encrypted, refresh_token_encrypted, expires_at)"
            " VALUES (:u, :key, :name, :v, :access, :refresh, :expires)"
            " ON CONFLICT (user_id) DO UPDATE SET mapillary_user_key = EXCLUDED.mapillary_user_key,"
            " mapillary_username = EXCLUDED.mapillary_username, api_version = EXCLUDED.api_version,"
            " access_token_encrypted = EXCLUDED.access_token_encrypted,"
            " refresh_token_encrypted = EXCLUDED.refresh_token_encrypted,"
            " expires_at = EXCLUDED.expires_at"
        ),
        {
            "u": user_id,
            "key": who.key,
            "name": who.username,
            "v": api_version,
            "access": encrypt(settings, tokens.access_token),
            "refresh": encrypt(settings, tokens.refresh_token) if tokens.refresh_token else None,
            "expires": tokens.expires_at,
        },
    )


_SELECT = (
    "SELECT user_id, mapillary_user_key, mapillary_username, api_version, access_token_encrypted,"
    " refresh_token_encrypted, expires_at FROM mapillary_accounts WHERE user_id = :u"
)


def load_account(conn: Conn, settings: Settings, user_id: uuid.UUID) -> LinkedAccount | None:
    """The account as stored (maybe expired), or None; RelinkRequiredError if unreadable."""
    row = conn.execute(text(_SELECT), {"u": user_id}).one_or_none()
    if row is None:
        return None
    return _account(settings, row)


def _account(settings: Settings, row: Any) -> LinkedAccount:
    try:
        token = decrypt(settings, row.access_token_encrypted)
    except DecryptionError:
        raise RelinkRequiredError(
            "the stored Mapillary token cannot be read (the server's key changed); "
            "log in to Mapillary again"
        ) from None
    return LinkedAccount(
        user_id=row.user_id,
        mapillary_user_key=row.mapillary_user_key,
        mapillary_username=row.mapillary_username,
        api_version=row.api_version,
        expires_at=row.expires_at,
        access_token=token,
    )


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
    account = load_account(conn, settings, user_id)
    if account is None:
        raise AccountNotLinkedError("no Mapillary account is linked; log in to Mapillary first")
    if not _needs_refresh(account.expires_at, now):
        return account
    row = conn.execute(text(_SELECT + " FOR UPDATE"), {"u": user_id}).one_or_none()
    if row is None:
        raise AccountNotLinkedError("no Mapillary account is linked; log in to Mapillary first")
    if not _needs_refresh(row.expires_at, now):  # another request refreshed it meanwhile
        return _account(settings, row)
    if row.refresh_token_encrypted is None:
        raise RelinkRequiredError("the Mapillary token has expired; log in to Mapillary again")
    try:
        old_refresh = decrypt(settings, row.refresh_token_encrypted)
        tokens = refresh_token(mapillary_config(settings), old_refresh)
    except DecryptionError:
        raise RelinkRequiredError(
            "the stored Mapillary token cannot be read; log in to Mapillary again"
        ) from None
    except MapillaryHTTPError as exc:
        if exc.status_code is not None and 400 <= exc.status_code < 500 and exc.status_code != 429:
            raise RelinkRequiredError(
                "Mapillary refused to renew the expired token; log in to Mapillary again"
            ) from None
        raise
    conn.execute(
        text(
            "UPDATE mapillary_accounts SET access_token_encrypted = :access,"
            " refresh_token_encrypted = :refresh, expires_at = :expires WHERE user_id = :u"
        ),
        {
            "u": user_id,
            "access": encrypt(settings, tokens.access_token),
            "refresh": encrypt(settings, tokens.refresh_token or old_refresh),
            "expires": tokens.expires_at,
        },
    )
    return LinkedAccount(
        user_id=row.user_id,
        mapillary_user_key=row.mapillary_user_key,
        mapillary_username=row.mapillary_username,
        api_version=row.api_version,
        expires_at=tokens.expires_at,
        access_token=tokens.access_token,
    )


def owns_sequence(feature: dict[str, Any], key: str | None, username: str | None) -> bool:
    """Whether a v3 sequence Feature belongs to the Mapillary user (by user key, else username)."""
    props = feature.get("properties") or {}
    owner_key, owner_name = props.get("user_key"), props.get("username")
    if owner_key and key:
        return str(owner_key) == key
    if owner_name and username:
        return str(owner_name).lower() == username.lower()
    return False
