"""Linking a Mapillary account (OAuth login and callback) and listing the caller's sequences.

The login is started with the caller's Bearer token, by the browser that will consent at
Mapillary: ``POST /auth/mapillary/login`` (a page's ``fetch``) answers ``{"authorize_url"}``,
``GET`` redirects there. Either sets an HttpOnly, SameSite=Lax cookie holding a secret bound
to the login's random, single-use, ten-minute ``state``. The callback links only when that
browser brings that cookie back: an ``authorize_url`` handed to someone else links nothing, and
their code is never exchanged.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from html import escape
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, request
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response as BaseResponse

from geoapi.api._http import MAPILLARY_LOGIN_PATH, not_linked, public_url, settings
from geoapi.auth import require_user
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
    LINK_LIFETIME_S,
    AccountError,
    begin_link,
    finish_link,
    fresh_account,
    open_source,
    with_session,
)
from geoapi.mapillary.errors import MapillaryAuthError, MapillaryError, MapillaryHTTPError
from geoapi.mapillary.http import redact
from geoapi.mapillary.oauth import protect_logs
from geoapi.mapillary.source import SequenceSummary
from geoapi.store.accounts import LinkedAccount, delete_account, load_link
from geoapi.store.jobs import imported_keys
from geoapi.store.links import LinkRefusedError
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


def linked_account(user_id: uuid.UUID, stale_token: str | None = None) -> LinkedAccount:
    """The caller's account with a fresh token (stored if refreshed); 409/502 otherwise."""
    try:
        return fresh_account(get_session(), settings(), user_id, stale_token)
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


LINK_COOKIE = "geoapi_mapillary_link"
REFUSALS = {
    "unknown": "the state is not one this server issued; start again at /auth/mapillary/login",
    "expired": f"the login took longer than {LINK_LIFETIME_S} seconds; start again",
    "used": "this login was completed (or refused) already; start again",
    "other_browser": (
        "this login was started in another browser (or without its cookie): only the browser "
        "that started it can finish it; start again from the browser you consent in"
    ),
}


def _cookie_path() -> str:
    return (request.script_root or "") + "/auth/mapillary"


@bp.route(MAPILLARY_LOGIN_PATH, methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Start linking: GET redirects to Mapillary, POST returns the URL to open; both leave
    the cookie that the callback must bring back."""
    user = require_user()
    config = settings()
    _require_configured(config)
    try:
        start = begin_link(get_session(), config, user.id, public_url(CALLBACK_PATH))
    except MapillaryError as exc:
        raise ServiceUnavailableError(f"cannot start a Mapillary login: {exc}") from None
    response: BaseResponse = (
        jsonify({"authorize_url": start.authorize_url, "expires_in": LINK_LIFETIME_S})
        if request.method == "POST"
        else redirect(start.authorize_url, 302)
    )
    response.set_cookie(
        LINK_COOKIE,
        start.browser_secret,
        max_age=LINK_LIFETIME_S,
        path=_cookie_path(),
        secure=public_url("/").startswith("https:") or request.is_secure,
        httponly=True,
        samesite="Lax",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get(CALLBACK_PATH)
def callback() -> Response | tuple[Response, int]:
    """Mapillary's redirect back: only the browser that started the login links (once)."""
    config = settings()
    state = request.args.get("state")
    if not state:
        raise bad_parameter("state", "the state parameter is missing; start at the login")
    if request.args.get("error"):
        detail = request.args.get("error_description") or request.args["error"]
        raise BadRequestError(f"Mapillary did not grant access: {detail[:200]}")
    code = request.args.get("code")
    if not code:
        raise bad_parameter("code", "required")
    _require_configured(config)
    try:
        linked = finish_link(
            get_session(),
            config,
            state=state,
            browser_secret=request.cookies.get(LINK_COOKIE),
            code=code,
            redirect_uri=public_url(CALLBACK_PATH),
        )
    except LinkRefusedError as exc:
        raise bad_parameter("state", REFUSALS[exc.reason]) from None
    except MapillaryHTTPError as exc:
        message = redact(str(exc), (code, state))
        if exc.status_code == 400:  # an unknown, used or expired code
            raise BadRequestError(f"Mapillary refused the authorization code: {message}") from None
        raise UpstreamError(f"Mapillary did not complete the login: {message}") from None
    except MapillaryError as exc:
        raise UpstreamError(
            f"Mapillary did not complete the login: {redact(str(exc), (code, state))}"
        ) from None
    who, tokens = linked.who, linked.tokens
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
        response = Response(page, 200, mimetype="text/html")
    else:
        response = jsonify(body)
    response.delete_cookie(LINK_COOKIE, path=_cookie_path())
    response.headers["Cache-Control"] = "no-store"
    return response


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
    used: list[LinkedAccount] = []

    def renew(stale: str | None) -> LinkedAccount:
        used.append(linked_account(user.id, stale))
        return used[-1]

    def list_all(account: LinkedAccount) -> list[SequenceSummary]:
        with open_source(settings(), account.api_version) as source:
            return source.list_sequences(
                account.access_token,
                user_key=account.mapillary_user_key if account.api_version == "v3" else None,
                username=account.mapillary_username,
                start_time=start,
                end_time=end,
            )

    try:
        summaries = with_session(renew, list_all)
    except MapillaryAuthError:
        raise not_linked(
            "Mapillary refused the linked account's token; log in to Mapillary again"
        ) from None
    except MapillaryError as exc:
        detail = redact(str(exc), tuple(a.access_token for a in used))
        raise UpstreamError(f"Mapillary could not list your sequences: {detail}") from None
    account = used[-1]
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
