"""Linking a Mapillary account (OAuth login and callback) and listing the caller's sequences.

``GET /auth/mapillary/login`` (Bearer) redirects to Mapillary's authorize page; ``POST`` answers
``{"authorize_url": ...}`` for clients that open the browser themselves (a token never goes in a
URL). The ``state`` is signed, expires after ten minutes and names the user, so the callback
(a plain browser redirect, without a Bearer header) knows whose account it links.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from html import escape
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, request
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue

from geoapi.api._http import MAPILLARY_LOGIN_PATH, not_linked, public_url, settings
from geoapi.auth import optional_user, require_user
from geoapi.config import Settings
from geoapi.db import get_session
from geoapi.errors import (
    BadRequestError,
    NotFoundError,
    ServiceUnavailableError,
    UpstreamError,
    bad_parameter,
)
from geoapi.mapillary.accounts import (
    STATE_MAX_AGE_S,
    AccountError,
    StateError,
    fresh_account,
    make_state,
    mapillary_config,
    open_source,
    read_state,
)
from geoapi.mapillary.errors import MapillaryAuthError, MapillaryError, MapillaryHTTPError
from geoapi.mapillary.http import redact
from geoapi.mapillary.oauth import authorization_url, exchange_code, protect_logs
from geoapi.store.accounts import LinkedAccount, delete_account, load_link, save_account
from geoapi.store.jobs import imported_keys
from geoapi.store.users import user_exists
from geoapi.times import (
    InvalidTimestampError,
    TimestampOutOfRangeError,
    format_timestamp,
    parse_timestamp,
)

bp = Blueprint("mapillary", __name__)
CALLBACK_PATH = "/auth/mapillary/callback"
ACCOUNT_PATH = "/api/v1/mapillary/account"


@bp.record_once
def _quiet_token_logs(_state: BlueprintSetupState) -> None:
    protect_logs()


def linked_account(user_id: uuid.UUID) -> LinkedAccount:
    """The caller's account with a fresh token (stored if refreshed); 409/502 otherwise."""
    try:
        return fresh_account(get_session(), settings(), user_id)
    except AccountError as exc:
        raise not_linked(str(exc)) from None
    except MapillaryError as exc:
        raise UpstreamError(f"Mapillary could not renew the account's token: {exc}") from None


def _require_configured(config: Settings) -> None:
    if not config.mapillary_client_id or not config.mapillary_client_secret:
        raise ServiceUnavailableError(
            "Mapillary is not configured on this server "
            "(GEOAPI_MAPILLARY_CLIENT_ID and GEOAPI_MAPILLARY_CLIENT_SECRET)"
        )


@bp.route(MAPILLARY_LOGIN_PATH, methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Start linking: GET redirects to Mapillary, POST returns the URL to open."""
    user = require_user()
    config = settings()
    _require_configured(config)
    state = make_state(config.secret_key, user.id)
    try:
        url = authorization_url(mapillary_config(config), public_url(CALLBACK_PATH), state)
    except MapillaryError as exc:
        raise ServiceUnavailableError(f"cannot start a Mapillary login: {exc}") from None
    if request.method == "POST":
        return jsonify({"authorize_url": url, "expires_in": STATE_MAX_AGE_S}), 200
    return redirect(url, 302)


def _state_user(config: Settings) -> uuid.UUID:
    try:
        user_id = read_state(config.secret_key, request.args.get("state"))
    except StateError as exc:
        raise bad_parameter("state", str(exc)) from None
    caller = optional_user()
    if caller is not None and caller.id != user_id:
        raise bad_parameter("state", "the state was issued to another user")
    if not user_exists(get_session(), user_id):
        raise bad_parameter("state", "the state names a user that no longer exists")
    return user_id


@bp.get(CALLBACK_PATH)
def callback() -> Response | tuple[Response, int]:
    """Mapillary's redirect back: check state, trade the code, store the token encrypted."""
    config = settings()
    user_id = _state_user(config)
    if request.args.get("error"):
        detail = request.args.get("error_description") or request.args["error"]
        raise BadRequestError(f"Mapillary did not grant access: {detail[:200]}")
    code = request.args.get("code")
    if not code:
        raise bad_parameter("code", "required")
    _require_configured(config)
    try:
        tokens = exchange_code(mapillary_config(config), code, public_url(CALLBACK_PATH))
        with open_source(config, config.mapillary_api_version) as source:
            who = source.me(tokens.access_token)
    except MapillaryHTTPError as exc:
        message = redact(str(exc), (code,))
        if exc.status_code == 400:  # an unknown, used or expired code
            raise BadRequestError(f"Mapillary refused the authorization code: {message}") from None
        raise UpstreamError(f"Mapillary did not complete the login: {message}") from None
    except MapillaryError as exc:
        raise UpstreamError(
            f"Mapillary did not complete the login: {redact(str(exc), (code,))}"
        ) from None
    save_account(
        get_session(),
        config,
        user_id,
        mapillary_user_key=who.key,
        mapillary_username=who.username,
        api_version=config.mapillary_api_version,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_at=tokens.expires_at,
    )
    body = {
        "linked": True,
        "mapillary_username": who.username,
        "mapillary_user_key": who.key,
        "api_version": config.mapillary_api_version,
        "expires_at": format_timestamp(tokens.expires_at),
    }
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        page = (
            "<!doctype html><meta charset=utf-8><title>Mapillary linked</title>"
            f"<p>Your Mapillary account <b>{escape(who.username)}</b> is linked. "
            "You can close this window.</p>"
        )
        return Response(page, 200, mimetype="text/html")
    return jsonify(body), 200


def parse_time(name: str, *, end: bool = False) -> datetime | None:
    """An ISO 8601 date or date-time parameter (UTC if naive); a bare end date is inclusive."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        moment = parse_timestamp(raw)
    except TimestampOutOfRangeError:
        if end:  # the end of time: no upper bound
            return None
        raise bad_parameter(name, f"{name} is out of range: {raw[:64]!r}") from None
    except InvalidTimestampError as exc:
        raise bad_parameter(name, f"{name} must be an ISO 8601 date or date-time: {exc}") from None
    if end and len(raw.strip()) == 10:  # "2021-06-30": the whole day
        try:
            moment += timedelta(days=1) - timedelta(milliseconds=1)
        except OverflowError:  # the end of time: no upper bound
            return None
    return moment


@bp.get("/api/v1/mapillary/sequences")
def list_mapillary_sequences() -> Response:
    """The caller's Mapillary sequences (all pages) with ``imported`` flags; 409 if not linked."""
    user = require_user()
    start, end = parse_time("start_time"), parse_time("end_time", end=True)
    if start is not None and end is not None and start > end:
        raise bad_parameter("end_time", "end_time must not be before start_time")
    account = linked_account(user.id)
    try:
        with open_source(settings(), account.api_version) as source:
            summaries = source.list_sequences(
                account.access_token,
                user_key=account.mapillary_user_key if account.api_version == "v3" else None,
                username=account.mapillary_username,
                start_time=start,
                end_time=end,
            )
    except MapillaryAuthError:
        raise not_linked(
            "Mapillary refused the linked account's token; log in to Mapillary again"
        ) from None
    except MapillaryError as exc:
        detail = redact(str(exc), (account.access_token,))
        raise UpstreamError(f"Mapillary could not list your sequences: {detail}") from None
    done = imported_keys(get_session(), user.id, [s.key for s in summaries])
    items: list[dict[str, Any]] = [
        {
            "key": s.key,
            "captured_at": s.captured_at,
            "photo_count": s.photo_count,
            "username": s.username,
            "user_key": s.user_key,
            "imported": s.key in done,
            "sequence_id": str(done[s.key]) if s.key in done else None,
        }
        for s in sorted(summaries, key=lambda s: s.captured_at or "", reverse=True)
    ]
    linked = {
        "mapillary_user_key": account.mapillary_user_key,
        "mapillary_username": account.mapillary_username,
        "api_version": account.api_version,
        "expires_at": format_timestamp(account.expires_at),
    }
    return jsonify({"account": linked, "count": len(items), "sequences": items})


@bp.get(ACCOUNT_PATH)
def get_mapillary_account() -> Response:
    """Whether the caller has linked a Mapillary account, and which one (never its tokens)."""
    user = require_user()
    link = load_link(get_session(), user.id)
    if link is None:
        return jsonify({"linked": False, "login_url": public_url(MAPILLARY_LOGIN_PATH)})
    return jsonify(
        {
            "linked": True,
            "username": link.mapillary_username,
            "user_key": link.mapillary_user_key,
            "api_version": link.api_version,
            "expires_at": format_timestamp(link.expires_at),
            "linked_at": format_timestamp(link.linked_at),
        }
    )


@bp.delete(ACCOUNT_PATH)
def unlink_mapillary_account() -> Response:
    """Forget the caller's Mapillary tokens; queued jobs then fail with a clear reason."""
    user = require_user()
    if not delete_account(get_session(), user.id):
        raise NotFoundError("no Mapillary account is linked")
    return Response(status=204)
