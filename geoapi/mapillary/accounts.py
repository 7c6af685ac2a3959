"""A user's linked Mapillary account: linking it, keeping its token fresh, sequence ownership.

Linking (:func:`begin_link`, :func:`finish_link`) is bound to the browser that started it: the
state is random and single-use, and the callback must present the secret the login left in
that browser's cookie (``geoapi.store.links``). The tokens live encrypted in
``mapillary_accounts`` (``geoapi.store.accounts``); here they are refreshed before they expire,
or when Mapillary says the session expired. Nothing here logs or returns a token.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from geoapi.config import Settings
from geoapi.crypto import DecryptionError
from geoapi.mapillary.client import create_source
from geoapi.mapillary.errors import MapillaryAuthError, MapillaryHTTPError
from geoapi.mapillary.http import MapillaryConfig
from geoapi.mapillary.oauth import (
    TokenSet,
    authorization_url,
    exchange_code,
    new_code_verifier,
    refresh_token,
)
from geoapi.mapillary.source import MapillarySource, MapillaryUser
from geoapi.store import transaction
from geoapi.store.accounts import LinkedAccount, load_account, save_account, save_tokens
from geoapi.store.links import claim_link, start_link

LINK_LIFETIME_S = 600  # a login must finish within ten minutes
# Refresh a little before the expiry, so a token never dies in the middle of an import.
REFRESH_MARGIN = timedelta(minutes=5)
Conn = Connection | Session
T = TypeVar("T")


class AccountError(Exception):
    """The caller's Mapillary account cannot be used; the message says what to do."""


class AccountNotLinkedError(AccountError):
    """No Mapillary account is linked to this user."""


class RelinkRequiredError(AccountError):
    """The stored token is expired, revoked or unreadable: the user must log in again."""


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
        pkce=settings.mapillary_pkce,
    )


def open_source(
    settings: Settings, api_version: str, sleep: Callable[[float], None] = time.sleep
) -> MapillarySource:
    """A Mapillary client for ``api_version`` configured from settings; close it when done."""
    return create_source(mapillary_config(settings), api_version, sleep=sleep)


# Linking -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkStart:
    """A login just started: where to send the browser, and the secret that browser keeps."""

    authorize_url: str
    browser_secret: str = field(repr=False)


def begin_link(
    session: Session, settings: Settings, user_id: uuid.UUID, redirect_uri: str
) -> LinkStart:
    """Start linking ``user_id``'s Mapillary account: a random single-use state (it names no
    one), a PKCE verifier, and a browser secret for the cookie; recorded, then the URL."""
    state, browser_secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = new_code_verifier()
    url = authorization_url(mapillary_config(settings), redirect_uri, state, verifier)
    start_link(
        session,
        settings,
        user_id,
        state=state,
        browser_secret=browser_secret,
        code_verifier=verifier,
        lifetime_s=LINK_LIFETIME_S,
    )
    return LinkStart(url, browser_secret)


@dataclass(frozen=True)
class Linked:
    user_id: uuid.UUID
    who: MapillaryUser
    tokens: TokenSet


def finish_link(
    session: Session,
    settings: Settings,
    *,
    state: str,
    browser_secret: str | None,
    code: str,
    redirect_uri: str,
) -> Linked:
    """Complete a link started in this browser: claim the state (once), trade the code (once,
    with the PKCE verifier), ask Mapillary whose it is, store the tokens encrypted.

    LinkRefusedError before Mapillary is asked anything when the state is unknown, used,
    expired or from another browser: then no code is exchanged and no token stored.
    """
    claim = claim_link(session, settings, state=state, browser_secret=browser_secret)
    tokens = exchange_code(mapillary_config(settings), code, redirect_uri, claim.code_verifier)
    with open_source(settings, settings.mapillary_api_version) as source:
        who = source.me(tokens.access_token)
    save_account(
        session,
        settings,
        claim.user_id,
        mapillary_user_key=who.key,
        mapillary_username=who.username,
        api_version=settings.mapillary_api_version,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_at=tokens.expires_at,
    )
    return Linked(claim.user_id, who, tokens)


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
    conn: Conn,
    settings: Settings,
    user_id: uuid.UUID,
    *,
    now: datetime | None = None,
    stale_token: str | None = None,
) -> LinkedAccount:
    """The linked account with a usable token, refreshed (and re-stored) when about to expire,
    or when it is ``stale_token``, the one Mapillary just called an expired session.

    Runs in the caller's transaction, which must commit to keep a refreshed token. Concurrent
    refreshes are serialised by the account row's lock. AccountNotLinkedError without a link,
    RelinkRequiredError when Mapillary refuses the refresh; transient failures raise the
    MapillaryError for the caller to retry.
    """
    now = now or datetime.now(UTC)

    def due(account: LinkedAccount) -> bool:
        return account.access_token == stale_token or _needs_refresh(account.expires_at, now)

    account = stored_account(conn, settings, user_id)
    if not due(account):
        return account
    try:
        locked = load_account(conn, settings, user_id, lock=True)
    except DecryptionError:
        raise RelinkRequiredError(
            "the stored Mapillary token cannot be read; log in to Mapillary again"
        ) from None
    if locked is None:
        raise AccountNotLinkedError("no Mapillary account is linked; log in to Mapillary first")
    if not due(locked):  # another request refreshed it meanwhile
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


def fresh_account(
    session: Session, settings: Settings, user_id: uuid.UUID, stale_token: str | None = None
) -> LinkedAccount:
    """:func:`active_account` as one unit of work: a refreshed token is committed."""
    with transaction(session):
        return active_account(session, settings, user_id, stale_token=stale_token)


def with_session(
    renew: Callable[[str | None], LinkedAccount], call: Callable[[LinkedAccount], T]
) -> T:
    """``call`` with the account ``renew(None)`` gives; when Mapillary answers that the session
    expired, once more with ``renew(that token)`` (one refresh, one retry). Any other refusal,
    or a second one, reaches the caller."""
    account = renew(None)
    try:
        return call(account)
    except MapillaryAuthError as exc:
        if not exc.session_expired:
            raise
    return call(renew(account.access_token))


def owns_sequence(feature: dict[str, Any], key: str | None, username: str | None) -> bool:
    """Whether a v3 sequence Feature belongs to the Mapillary user (by user key, else username)."""
    props = feature.get("properties") or {}
    owner_key, owner_name = props.get("user_key"), props.get("username")
    if owner_key and key:
        return str(owner_key) == key
    if owner_name and username:
        return str(owner_name).lower() == username.lower()
    return False
