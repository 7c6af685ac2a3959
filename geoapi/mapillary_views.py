"""Linking a Mapillary account (OAuth login and callback) and listing the caller's sequences.

``GET /auth/mapillary/login`` (Bearer) redirects to Mapillary's authorize page; ``POST`` answers
``{"authorize_url": ...}`` for clients that open the browser themselves (a token never goes in a
URL). The ``state`` is signed, expires after ten minutes and names the user, so the callback
(a plain browser redirect, without a Bearer header) knows whose account it links.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, request
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from geoapi.auth import optional_user, require_user
from geoapi.config import Settings
from geoapi.db import get_session
from geoapi.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    ServiceUnavailableError,
    UpstreamError,
    field_error,
)
from geoapi.jobs import imported_keys
from geoapi.mapillary import MapillaryAuthError, MapillaryError, MapillaryHTTPError, redact
from geoapi.mapillary_accounts import (
    STATE_MAX_AGE_S,
    AccountError,
    LinkedAccount,
    StateError,
    active_account,
    load_account,
    make_state,
    mapillary_config,
    open_source,
    read_state,
    store_account,
)
from geoapi.mapillary_oauth import authorization_url, exchange_code, protect_logs

bp = Blueprint("mapillary", __name__)
LOGIN_PATH = "/auth/mapillary/login"
CALLBACK_PATH = "/auth/mapillary/callback"
ACCOUNT_PATH = "/api/v1/mapillary/account"


@bp.record_once
def _quiet_token_logs(_state: BlueprintSetupState) -> None:
    protect_logs()


def _settings() -> Settings:
    settings: Settings = current_app.config["GEOAPI"]
    return settings


def _absolute(path: str) -> str:
    base = _settings().public_url or request.url_root
    return base.rstrip("/") + path


def login_url() -> str:
    """Where a client starts linking a Mapillary account (Bearer: GET redirects, POST JSON)."""
    return _absolute(LOGIN_PATH)


def not_linked(detail: str) -> ConflictError:
    """409 problem+json carrying ``login_url``: the caller must link (or re-link) an account."""
    return ConflictError(detail, extra={"login_url": login_url()})


def linked_account(user_id: uuid.UUID) -> LinkedAccount:
    """The caller's account with a fresh token (committed if refreshed); 409/502 otherwise."""
    session = get_session()
    try:
        account = active_account(session, _settings(), user_id)
    except AccountError as exc:
        session.rollback()
        raise not_linked(str(exc)) from None
    except MapillaryError as exc:
        session.rollback()
        raise UpstreamError(f"Mapillary could not renew the account's token: {exc}") from None
    session.commit()
    return account


def _require_configured(settings: Settings) -> None:
    if not settings.mapillary_client_id or not settings.mapillary_client_secret:
        raise ServiceUnavailableError(
            "Mapillary is not configured on this server "
            "(GEOAPI_MAPILLARY_CLIENT_ID and GEOAPI_MAPILLARY_CLIENT_SECRET)"
        )


@bp.route(LOGIN_PATH, methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Start linking: GET redirects to Mapillary, POST returns the URL to open."""
    user = require_user()
    settings = _settings()
    _require_configured(settings)
    state = make_state(settings.secret_key, user.id)
    try:
        url = authorization_url(mapillary_config(settings), _absolute(CALLBACK_PATH), state)
    except MapillaryError as exc:
        raise ServiceUnavailableError(f"cannot start a Mapillary login: {exc}") from None
    if request.method == "POST":
        return jsonify({"authorize_url": url, "expires_in": STATE_MAX_AGE_S}), 200
    return redirect(url, 302)


def _state_user(settings: Settings) -> uuid.UUID:
    try:
        user_id = read_state(settings.secret_key, request.args.get("state"))
    except StateError as exc:
        raise BadRequestError(str(exc), errors=[field_error("state", str(exc))]) from None
    caller = optional_user()
    if caller is not None and caller.id != user_id:
        detail = "the state was issued to another user"
        raise BadRequestError(detail, errors=[field_error("state", detail)])
    exists = get_session().execute(text("SELECT 1 FROM users WHERE id = :u"), {"u": user_id})
    if exists.first() is None:
        detail = "the state names a user that no longer exists"
        raise BadRequestError(detail, errors=[field_error("state", detail)])
    return user_id


@bp.get(CALLBACK_PATH)
def callback() -> Response | tuple[Response, int]:
    """Mapillary's redirect back: check state, trade the code, store the token encrypted."""
    settings = _settings()
    user_id = _state_user(settings)
    if request.args.get("error"):
        detail = request.args.get("error_description") or request.args["error"]
        raise BadRequestError(f"Mapillary did not grant access: {detail[:200]}")
    code = request.args.get("code")
    if not code:
        raise BadRequestError(
            "the code parameter is missing", errors=[field_error("code", "required")]
        )
    _require_configured(settings)
    config = mapillary_config(settings)
    try:
        tokens = exchange_code(config, code, _absolute(CALLBACK_PATH))
        with open_source(settings, settings.mapillary_api_version) as source:
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
    session = get_session()
    store_account(session, settings, user_id, tokens, who, settings.mapillary_api_version)
    session.commit()
    body = {
        "linked": True,
        "mapillary_username": who.username,
        "mapillary_user_key": who.key,
        "api_version": settings.mapillary_api_version,
        "expires_at": tokens.expires_at.isoformat() if tokens.expires_at else None,
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
        moment = datetime.fromisoformat(raw)
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        if end and len(raw) == 10:  # "2021-06-30": the whole day
            moment += timedelta(days=1) - timedelta(milliseconds=1)
    except ValueError:
        detail = f"{name} must be an ISO 8601 date or date-time, got {raw!r}"
        raise BadRequestError(detail, errors=[field_error(name, detail)]) from None
    except OverflowError:
        if end:  # the end of time: no upper bound
            return None
        detail = f"{name} is out of range: {raw!r}"
        raise BadRequestError(detail, errors=[field_error(name, detail)]) from None
    return moment


@bp.get("/api/v1/mapillary/sequences")
def list_mapillary_sequences() -> Response:
    """The caller's Mapillary sequences (all pages) with ``imported`` flags; 409 if not linked."""
    user = require_user()
    start, end = parse_time("start_time"), parse_time("end_time", end=True)
    if start is not None and end is not None and start > end:
        detail = "end_time must not be before start_time"
        raise BadRequestError(detail, errors=[field_error("end_time", detail)])
    account = linked_account(user.id)
    try:
        with open_source(_settings(), account.api_version) as source:
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
    return jsonify({"account": account.to_json(), "count": len(items), "sequences": items})


@bp.get(ACCOUNT_PATH)
def get_mapillary_account() -> Response:
    """Whether the caller has linked a Mapillary account, and which one (never its tokens)."""
    user = require_user()
    row = (
        get_session()
        .execute(
            text(
                "SELECT mapillary_user_key, mapillary_username, api_version, expires_at,"
                " updated_at FROM mapillary_accounts WHERE user_id = :u"
            ),
            {"u": user.id},
        )
        .one_or_none()
    )
    if row is None:
        return jsonify({"linked": False, "login_url": login_url()})
    return jsonify(
        {
            "linked": True,
            "username": row.mapillary_username,
            "user_key": row.mapillary_user_key,
            "api_version": row.api_version,
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            "linked_at": row.updated_at.isoformat(),
        }
    )


@bp.delete(ACCOUNT_PATH)
def unlink_mapillary_account() -> Response:
    """Forget the caller's Mapillary tokens; queued jobs then fail with a clear reason."""
    user = require_user()
    session = get_session()
    deleted = session.execute(
        text("DELETE FROM mapillary_accounts WHERE user_id = :u RETURNING user_id"),
        {"u": user.id},
    ).first()
    session.commit()
    if deleted is None:
        raise NotFoundError("no Mapillary account is linked")
    return Response(status=204)


def require_linked(user_id: uuid.UUID) -> LinkedAccount:
    """The caller's stored account (not refreshed, no upstream call); 409 with login_url if none."""
    try:
        account = load_account(get_session(), _settings(), user_id)
    except AccountError as exc:
        raise not_linked(str(exc)) from None
    if account is None:
        raise not_linked("no Mapillary account is linked; log in to Mapillary first")
    return account
