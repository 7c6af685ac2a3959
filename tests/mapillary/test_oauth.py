"""Linking a Mapillary account (login, state, callback, encrypted tokens, refresh) and listing.

Everything runs against the fake Mapillary over real HTTP; requests-oauthlib does the OAuth.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from fake_mapillary import FakeMapillary, fake_mapillary_fixture  # noqa: F401
from flask import Flask
from flask.testing import FlaskClient
from helpers import bearer
from mapillary_support import (  # noqa: F401
    SECRET_KEY,
    AppFactory,
    follow_authorize,
    link_account,
    make_mapillary_app_fixture,
    mly_app_fixture,
    mly_client_fixture,
)
from sqlalchemy import Engine, text

from geoapi.crypto import decrypt
from geoapi.mapillary.oauth import code_challenge
from geoapi.store.importer import import_feature_collection
from geoapi.store.links import digest
from geoapi.validation import ImportOptions

CALLBACK = "http://localhost/auth/mapillary/callback"
MakeUser = Any


def _account_row(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(text("SELECT * FROM mapillary_accounts")).one_or_none()


def _issued_tokens(fake: FakeMapillary) -> list[str]:
    """Access tokens the fake issued at /token (not the one the fixture made)."""
    return [token for token in fake.tokens if token != fake.token]


def _authorize(client: FlaskClient, api_token: str) -> tuple[str, dict[str, list[str]]]:
    """Login and consent at the fake; the callback path and its query (code, state)."""
    answer = client.get("/auth/mapillary/login", headers=bearer(api_token))
    assert answer.status_code == 302
    location = urlsplit(follow_authorize(answer.headers["Location"]))
    return location.path, parse_qs(location.query)


def _problem(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    body: dict[str, Any] = answer.get_json()
    return body


# --- login -----------------------------------------------------------------------------------


def _attempt(engine: Engine, state: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT * FROM mapillary_link_attempts WHERE state_hash = :h"),
            {"h": digest(state)},
        ).one_or_none()


def test_login_redirects_to_mapillary_with_a_random_state_and_pkce(
    mly_client: FlaskClient, fake_mapillary: FakeMapillary, make_user: MakeUser, engine: Engine
) -> None:
    user, token = make_user("alice")
    answer = mly_client.get("/auth/mapillary/login", headers=bearer(token))
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    query = parse_qs(location.query)
    assert (
        f"{location.scheme}://{location.netloc}{location.path}" == f"{fake_mapillary.url}/connect"
    )
    assert query["client_id"] == [fake_mapillary.client_id]
    assert query["response_type"] == ["code"]
    assert query["redirect_uri"] == [CALLBACK]
    state = query["state"][0]
    assert len(state) >= 43 and str(user.id) not in state and user.id.hex not in state
    # Only digests are stored: of the state, and of the secret the browser's cookie holds.
    attempt = _attempt(engine, state)
    assert attempt.user_id == user.id and attempt.used_at is None
    assert timedelta(minutes=9) < attempt.expires_at - attempt.created_at <= timedelta(minutes=10)
    cookie = mly_client.get_cookie("geoapi_mapillary_link", path="/auth/mapillary")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    assert bytes(attempt.browser_hash) == digest(cookie.value)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    again = parse_qs(
        urlsplit(
            mly_client.get("/auth/mapillary/login", headers=bearer(token)).headers["Location"]
        ).query
    )
    assert again["state"] != query["state"]  # a fresh state every time


def test_login_post_answers_the_authorize_url_as_json(
    make_mapillary_app: AppFactory,
    fake_mapillary: FakeMapillary,
    make_user: MakeUser,
    engine: Engine,
) -> None:
    client = make_mapillary_app(PUBLIC_URL="https://geo.example/").test_client()
    user, token = make_user("alice")
    answer = client.post("/auth/mapillary/login", headers=bearer(token))
    assert answer.status_code == 200
    url = answer.get_json()["authorize_url"]
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{fake_mapillary.url}/connect?")
    assert query["redirect_uri"] == ["https://geo.example/auth/mapillary/callback"]
    assert _attempt(engine, query["state"][0]).user_id == user.id
    assert "Secure" in answer.headers["Set-Cookie"]  # the public URL is https


def test_login_uses_no_pkce_where_configured_off(
    make_mapillary_app: AppFactory, fake_mapillary: FakeMapillary, make_user: MakeUser
) -> None:
    client = make_mapillary_app(MAPILLARY_PKCE=False).test_client()
    _user, token = make_user("alice")
    assert link_account(client, token).status_code == 200
    assert "code_challenge" not in fake_mapillary.calls("/connect")[0].args
    assert "code_verifier" not in fake_mapillary.calls("/token")[0].form


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_login_needs_a_bearer_token_never_one_in_the_url(
    mly_client: FlaskClient, make_user: MakeUser, method: str
) -> None:
    _user, token = make_user("alice")
    for answer in (
        mly_client.open("/auth/mapillary/login", method=method),
        mly_client.open(f"/auth/mapillary/login?token={token}", method=method),
        mly_client.open(f"/auth/mapillary/login?access_token={token}", method=method),
    ):
        _problem(answer, 401)


def test_login_without_mapillary_credentials_is_503(
    make_mapillary_app: AppFactory, make_user: MakeUser
) -> None:
    client = make_mapillary_app(MAPILLARY_CLIENT_ID="").test_client()
    _user, token = make_user("alice")
    body = _problem(client.get("/auth/mapillary/login", headers=bearer(token)), 503)
    assert "GEOAPI_MAPILLARY_CLIENT_ID" in body["detail"]


# --- callback --------------------------------------------------------------------------------


def test_callback_links_the_account_with_tokens_encrypted_at_rest(
    mly_app: Flask,
    mly_client: FlaskClient,
    fake_mapillary: FakeMapillary,
    make_user: MakeUser,
    engine: Engine,
) -> None:
    user, token = make_user("alice")
    before = datetime.now(UTC)
    answer = link_account(mly_client, token)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["linked"] is True
    assert (body["mapillary_username"], body["mapillary_user_key"]) == (
        "pierregeo",
        "102153268628347",
    )
    assert body["api_version"] == "v4"
    # The app authenticated itself at the token endpoint the Mapillary way.
    call = fake_mapillary.calls("/token")[0]
    assert call.headers["Authorization"] == f"OAuth {fake_mapillary.client_secret}"
    assert call.form["redirect_uri"] == CALLBACK

    (issued,) = _issued_tokens(fake_mapillary)
    (refresh,) = fake_mapillary.refresh_tokens
    row = _account_row(engine)
    assert row.user_id == user.id
    assert (row.mapillary_user_key, row.mapillary_username) == ("102153268628347", "pierregeo")
    assert issued.encode() not in bytes(row.access_token_encrypted)
    assert refresh.encode() not in bytes(row.refresh_token_encrypted)
    settings = mly_app.config["GEOAPI"]
    assert decrypt(settings, row.access_token_encrypted) == issued
    assert decrypt(settings, row.refresh_token_encrypted) == refresh
    assert timedelta(days=59) < row.expires_at - before < timedelta(days=61)
    text_ = answer.get_data(as_text=True)
    assert issued not in text_ and refresh not in text_


def test_callback_answers_html_to_a_browser(mly_client: FlaskClient, make_user: MakeUser) -> None:
    _user, token = make_user("alice")
    path, query = _authorize(mly_client, token)
    answer = mly_client.get(
        path,
        query_string={k: v[0] for k, v in query.items()},
        headers={"Accept": "text/html,*/*;q=0.8"},
    )
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    assert "pierregeo" in answer.get_data(as_text=True)


def test_linking_again_replaces_the_account(
    mly_client: FlaskClient, fake_mapillary: FakeMapillary, make_user: MakeUser, engine: Engine
) -> None:
    _user, token = make_user("alice")
    assert link_account(mly_client, token).status_code == 200
    fake_mapillary.authorizing_user = fake_mapillary.add_user("bob")
    assert link_account(mly_client, token).get_json()["mapillary_username"] == "bob"
    with engine.connect() as conn:
        assert conn.execute(
            text("SELECT mapillary_username FROM mapillary_accounts")
        ).scalars().all() == ["bob"]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "missing"),
        ("forged", "not one this server issued"),
        ("expired", "took longer than 600 seconds"),
        ("no-cookie", "started in another browser"),
        ("other-cookie", "started in another browser"),
    ],
)
def test_callback_refuses_a_bad_state_and_stores_nothing(
    mly_client: FlaskClient,
    fake_mapillary: FakeMapillary,
    make_user: MakeUser,
    engine: Engine,
    case: str,
    message: str,
) -> None:
    _user, token = make_user("alice")
    path, query = _authorize(mly_client, token)
    state = query["state"][0]
    params = {"code": query["code"][0], "state": state}
    if case == "missing":
        del params["state"]
    if case == "forged":
        params["state"] = "a" * 43
    if case == "expired":
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE mapillary_link_attempts SET expires_at = now() - interval '1 s'")
            )
    if case == "no-cookie":
        mly_client.delete_cookie("geoapi_mapillary_link", path="/auth/mapillary")
    if case == "other-cookie":
        mly_client.set_cookie("geoapi_mapillary_link", "x" * 43, path="/auth/mapillary")
    body = _problem(mly_client.get(path, query_string=params), 400)
    assert message in body["detail"]
    assert body["errors"][0]["field"] == "state"
    assert _account_row(engine) is None
    assert fake_mapillary.calls("/token") == []  # the code was never even exchanged


def test_callback_for_a_deleted_user_is_refused(
    mly_client: FlaskClient, make_user: MakeUser, engine: Engine
) -> None:
    user, token = make_user("alice")
    path, query = _authorize(mly_client, token)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM users WHERE id = :u"), {"u": user.id})
    _problem(mly_client.get(path, query_string={k: v[0] for k, v in query.items()}), 400)
    assert _account_row(engine) is None


def test_the_code_is_exchanged_once_with_its_pkce_verifier(
    mly_client: FlaskClient, fake_mapillary: FakeMapillary, make_user: MakeUser
) -> None:
    _user, token = make_user("alice")
    path, query = _authorize(mly_client, token)
    params = {k: v[0] for k, v in query.items()}
    assert mly_client.get(path, query_string=params).status_code == 200
    (exchange,) = fake_mapillary.calls("/token")
    challenge = fake_mapillary.calls("/connect")[0].args["code_challenge"]
    assert code_challenge(exchange.form["code_verifier"]) == challenge
    assert fake_mapillary.verified_codes == [params["code"]]


def test_callback_when_the_user_declined_or_without_code(
    mly_client: FlaskClient, make_user: MakeUser, engine: Engine
) -> None:
    _user, token = make_user("alice")
    path, query = _authorize(mly_client, token)
    state = query["state"][0]
    declined = mly_client.get(path, query_string={"state": state, "error": "access_denied"})
    assert "did not grant access: access_denied" in _problem(declined, 400)["detail"]
    assert (
        _problem(mly_client.get(path, query_string={"state": state}), 400)["errors"][0]["field"]
        == "code"
    )
    assert _account_row(engine) is None


def test_a_used_state_is_refused_and_the_code_not_exchanged_again(
    mly_client: FlaskClient, fake_mapillary: FakeMapillary, make_user: MakeUser
) -> None:
    _user, token = make_user("alice")
    path, query = _authorize(mly_client, token)
    params = {k: v[0] for k, v in query.items()}
    assert mly_client.get(path, query_string=params).status_code == 200
    # The callback deleted the cookie; a replay with it restored is still refused.
    mly_client.set_cookie("geoapi_mapillary_link", "replayed", path="/auth/mapillary")
    body = _problem(mly_client.get(path, query_string=params), 400)
    assert "completed (or refused) already" in body["detail"] or "another browser" in body["detail"]
    assert params["code"] not in body["detail"] and params["state"] not in body["detail"]
    assert len(fake_mapillary.calls("/token")) == 1


@pytest.mark.parametrize("fault", ["wrong-secret", "token-500", "me-500"])
def test_upstream_failure_during_callback_is_502_and_stores_nothing(
    make_mapillary_app: AppFactory,
    fake_mapillary: FakeMapillary,
    make_user: MakeUser,
    engine: Engine,
    fault: str,
) -> None:
    overrides = (
        {"MAPILLARY_CLIENT_SECRET": "MLY|wrong-secret-never-shown"}
        if fault == "wrong-secret"
        else {}
    )
    client = make_mapillary_app(**overrides).test_client()
    _user, token = make_user("alice")
    if fault == "token-500":
        fake_mapillary.server_error("/token")
    if fault == "me-500":
        fake_mapillary.server_error("/me", times=5)
    answer = link_account(client, token)
    body = _problem(answer, 502)
    assert "Mapillary" in body["detail"]
    text_ = answer.get_data(as_text=True)
    assert "wrong-secret-never-shown" not in text_ and fake_mapillary.client_secret not in text_
    assert all(issued not in text_ for issued in _issued_tokens(fake_mapillary))
    assert _account_row(engine) is None


# --- listing ---------------------------------------------------------------------------------


def test_listing_without_a_linked_account_is_409_with_a_login_link(
    mly_client: FlaskClient, make_user: MakeUser
) -> None:
    _user, token = make_user("alice")
    body = _problem(mly_client.get("/api/v1/mapillary/sequences", headers=bearer(token)), 409)
    assert body["login_url"] == "http://localhost/auth/mapillary/login"


def test_listing_returns_every_page_with_imported_flags(
    mly_client: FlaskClient, fake_mapillary: FakeMapillary, make_user: MakeUser, engine: Engine
) -> None:
    user, token = make_user("alice")
    link_account(mly_client, token)
    me = fake_mapillary.user
    assert me is not None
    made = [
        fake_mapillary.add_sequence(me, n, start=f"2021-06-0{n}T08:00:00.000Z") for n in (2, 3, 4)
    ]
    fake_mapillary.add_sequence(fake_mapillary.add_user("bob"), 3)  # not ours: never listed
    import_feature_collection(engine, user.id, fake_mapillary.v3_feature(made[1]), ImportOptions())
    fake_mapillary.page_size = 2

    answer = mly_client.get("/api/v1/mapillary/sequences", headers=bearer(token))
    assert answer.status_code == 200
    body = answer.get_json()
    assert len(fake_mapillary.calls("/images")) == 7  # 13 images, 2 per page
    expected = {s.key: len(s.images) for s in [*made, fake_mapillary.fixture_sequence]}
    assert body["count"] == 4
    assert {s["key"]: s["photo_count"] for s in body["sequences"]} == expected
    flags = {s["key"]: (s["imported"], s["sequence_id"] is not None) for s in body["sequences"]}
    assert flags.pop(made[1].key) == (True, True)
    assert set(flags.values()) == {(False, False)}
    assert body["account"]["mapillary_username"] == "pierregeo"
    assert "access_token" not in body["account"]


def test_listing_passes_the_time_window_with_an_inclusive_end_date(
    mly_client: FlaskClient, fake_mapillary: FakeMapillary, make_user: MakeUser
) -> None:
    _user, token = make_user("alice")
    link_account(mly_client, token)
    assert fake_mapillary.user is not None
    inside = fake_mapillary.add_sequence(fake_mapillary.user, start="2021-06-02T23:00:00.000Z")
    fake_mapillary.add_sequence(fake_mapillary.user, start="2021-06-03T00:00:01.000Z")
    answer = mly_client.get(
        "/api/v1/mapillary/sequences?start_time=2021-06-02&end_time=2021-06-02",
        headers=bearer(token),
    )
    assert [s["key"] for s in answer.get_json()["sequences"]] == [inside.key]
    args = fake_mapillary.calls("/images")[0].args
    assert (args["start_captured_at"], args["end_captured_at"]) == (
        "2021-06-02T00:00:00.000Z",
        "2021-06-02T23:59:59.999Z",
    )


def test_listing_up_to_the_last_representable_day(
    mly_client: FlaskClient, fake_mapillary: FakeMapillary, make_user: MakeUser
) -> None:
    _user, token = make_user("alice")
    link_account(mly_client, token)
    for end, sent in (
        ("9999-12-31", "9999-12-31T23:59:59.999Z"),
        ("9999-12-31T23:30:00-01:00", None),  # past year 9999 in UTC: no upper bound at all
    ):
        answer = mly_client.get(
            "/api/v1/mapillary/sequences", query_string={"end_time": end}, headers=bearer(token)
        )
        assert answer.status_code == 200 and answer.get_json()["count"] == 1
        assert fake_mapillary.calls("/images")[-1].args.get("end_captured_at") == sent


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start_time=yesterday", "start_time"),
        ("end_time=2021-13-01", "end_time"),
        ("start_time=2021-06-02&end_time=2021-06-01", "end_time"),
        ("start_time=0001-01-01T00:00:00%2B01:00", "start_time"),
    ],
)
def test_listing_refuses_bad_dates(
    mly_client: FlaskClient,
    fake_mapillary: FakeMapillary,
    make_user: MakeUser,
    query: str,
    field: str,
) -> None:
    _user, token = make_user("alice")
    link_account(mly_client, token)
    body = _problem(
        mly_client.get(f"/api/v1/mapillary/sequences?{query}", headers=bearer(token)), 400
    )
    assert body["errors"][0]["field"] == field
    assert fake_mapillary.calls("/images") == []


def test_listing_upstream_failure_is_502_without_the_token(
    mly_client: FlaskClient, fake_mapillary: FakeMapillary, make_user: MakeUser
) -> None:
    _user, token = make_user("alice")
    link_account(mly_client, token)
    assert fake_mapillary.user is not None
    fake_mapillary.add_sequence(fake_mapillary.user, 4)
    fake_mapillary.page_size = 2
    fake_mapillary.server_error("/images", times=10, skip=1)  # the second page keeps failing
    answer = mly_client.get("/api/v1/mapillary/sequences", headers=bearer(token))
    body = _problem(answer, 502)
    assert body["detail"].startswith("Mapillary could not list your sequences")
    assert "500" in body["detail"]
    (issued,) = _issued_tokens(fake_mapillary)
    assert fake_mapillary.calls("/images")[1].args["access_token"] == issued  # it was in the URL
    assert issued not in answer.get_data(as_text=True)


def test_listing_with_a_revoked_token_asks_to_link_again(
    mly_client: FlaskClient, fake_mapillary: FakeMapillary, make_user: MakeUser
) -> None:
    _user, token = make_user("alice")
    link_account(mly_client, token)
    for issued in _issued_tokens(fake_mapillary):
        del fake_mapillary.tokens[issued]
    body = _problem(mly_client.get("/api/v1/mapillary/sequences", headers=bearer(token)), 409)
    assert "log in to Mapillary again" in body["detail"] and body["login_url"]


def _expire(engine: Engine, *, drop_refresh: bool = False) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE mapillary_accounts SET expires_at = now() - interval '1 hour'"
                + (", refresh_token_encrypted = NULL" if drop_refresh else "")
            )
        )


def test_an_expired_token_is_refreshed_and_stored_encrypted(
    mly_app: Flask,
    mly_client: FlaskClient,
    fake_mapillary: FakeMapillary,
    make_user: MakeUser,
    engine: Engine,
) -> None:
    _user, token = make_user("alice")
    link_account(mly_client, token)
    (first,) = _issued_tokens(fake_mapillary)
    (refresh,) = fake_mapillary.refresh_tokens
    _expire(engine)
    assert mly_client.get("/api/v1/mapillary/sequences", headers=bearer(token)).status_code == 200
    call = fake_mapillary.calls("/token")[-1]
    assert call.form["grant_type"] == "refresh_token"
    assert call.headers["Authorization"] == f"OAuth {fake_mapillary.client_secret}"
    row = _account_row(engine)
    settings = mly_app.config["GEOAPI"]
    renewed = decrypt(settings, row.access_token_encrypted)
    assert renewed != first and renewed in fake_mapillary.tokens
    assert decrypt(settings, row.refresh_token_encrypted) == refresh  # none sent back: kept
    assert row.expires_at > datetime.now(UTC) + timedelta(days=59)
    # The listing used the new token.
    assert fake_mapillary.calls("/images")[-1].headers["Authorization"] == f"OAuth {renewed}"


@pytest.mark.parametrize("case", ["refused", "no-refresh-token", "key-changed"])
def test_an_unusable_account_asks_to_link_again(
    make_mapillary_app: AppFactory,
    fake_mapillary: FakeMapillary,
    make_user: MakeUser,
    engine: Engine,
    case: str,
) -> None:
    client = make_mapillary_app().test_client()
    _user, token = make_user("alice")
    link_account(client, token)
    if case == "refused":
        fake_mapillary.refresh_tokens.clear()
        _expire(engine)
    elif case == "no-refresh-token":
        _expire(engine, drop_refresh=True)
    else:
        client = make_mapillary_app(SECRET_KEY="rotated-without-keeping-the-old-key").test_client()
    body = _problem(client.get("/api/v1/mapillary/sequences", headers=bearer(token)), 409)
    assert "log in to Mapillary again" in body["detail"]
    assert body["login_url"].endswith("/auth/mapillary/login")


def test_v3_listing_follows_link_headers(
    make_mapillary_app: AppFactory, fake_mapillary: FakeMapillary, make_user: MakeUser
) -> None:
    client = make_mapillary_app(MAPILLARY_API_VERSION="v3").test_client()
    _user, token = make_user("alice")
    linked = link_account(client, token).get_json()
    assert (linked["api_version"], linked["mapillary_user_key"]) == ("v3", "AGfe-07BEJX0-kxpu9J3rA")
    assert fake_mapillary.user is not None
    for n in range(3):
        fake_mapillary.add_sequence(fake_mapillary.user, 2, start=f"2021-06-0{n + 1}T08:00:00.000Z")
    fake_mapillary.page_size = 2
    body = client.get("/api/v1/mapillary/sequences", headers=bearer(token)).get_json()
    assert body["count"] == 4
    calls = fake_mapillary.calls("/v3/sequences")
    assert len(calls) == 2 and calls[0].args["userkeys"] == "AGfe-07BEJX0-kxpu9J3rA"


# --- secrets stay out of logs ----------------------------------------------------------------


def test_no_token_or_secret_reaches_the_logs(
    mly_client: FlaskClient,
    fake_mapillary: FakeMapillary,
    make_user: MakeUser,
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    _user, token = make_user("alice")
    path, query = _authorize(mly_client, token)
    code = query["code"][0]
    assert mly_client.get(path, query_string={k: v[0] for k, v in query.items()}).status_code == 200
    assert fake_mapillary.user is not None
    fake_mapillary.add_sequence(fake_mapillary.user, 5)
    fake_mapillary.page_size = 2  # next links carry ?access_token=
    _expire(engine)  # and a refresh on the way
    answer = mly_client.get("/api/v1/mapillary/sequences", headers=bearer(token))
    assert answer.status_code == 200
    secrets = [
        *fake_mapillary.tokens,
        *fake_mapillary.refresh_tokens,
        fake_mapillary.client_secret,
        code,
        token,
    ]
    logged = caplog.text
    # The libraries did log the requests (so this test can fail) ...
    assert "Request headers were" in logged and "access_token=***" in logged
    # ... but with every secret scrubbed.
    for secret in secrets:
        assert secret not in logged and quote(secret, safe="") not in logged
        assert secret not in answer.get_data(as_text=True)
