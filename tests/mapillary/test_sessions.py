"""Mapillary sessions, against the fake in the modes issue 10 names: a session Mapillary calls
expired before its stored expiry (refresh once, retry once), and an image search that does not
page (split the query until everything is listed)."""

from __future__ import annotations

from typing import Any

from fake_mapillary import FakeMapillary, fake_mapillary_fixture  # noqa: F401
from flask import Flask
from flask.testing import FlaskClient
from helpers import bearer
from mapillary_support import (  # noqa: F401
    AppFactory,
    link_account,
    make_mapillary_app_fixture,
    mly_app_fixture,
    mly_client_fixture,
)
from sqlalchemy import Engine, text

from geoapi.crypto import decrypt
from geoapi.mapillary.client import create_source

MakeUser = Any
LISTING = "/api/v1/mapillary/sequences"


def _stored_token(app: Flask, engine: Engine) -> str:
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT access_token_encrypted FROM mapillary_accounts"))
        return decrypt(app.config["GEOAPI"], stored.scalar_one())


def test_an_expired_session_is_refreshed_once_and_the_listing_retried(
    mly_app: Flask,
    mly_client: FlaskClient,
    fake_mapillary: FakeMapillary,
    make_user: MakeUser,
    engine: Engine,
) -> None:
    _user, token = make_user("alice")
    assert link_account(mly_client, token).status_code == 200
    first = _stored_token(mly_app, engine)
    fake_mapillary.expire_session(first)  # long before the stored expiry (60 days)
    answer = mly_client.get(LISTING, headers=bearer(token))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["count"] == 1
    grants = [call.form["grant_type"] for call in fake_mapillary.calls("/token")]
    assert grants == ["authorization_code", "refresh_token"]
    renewed = _stored_token(mly_app, engine)
    assert renewed != first and renewed in fake_mapillary.tokens  # stored, encrypted
    # The next listing uses the renewed token directly: no second refresh.
    assert mly_client.get(LISTING, headers=bearer(token)).status_code == 200
    assert len(fake_mapillary.calls("/token")) == 2


def test_only_then_is_it_409_with_the_login_url(
    mly_app: Flask,
    mly_client: FlaskClient,
    fake_mapillary: FakeMapillary,
    make_user: MakeUser,
    engine: Engine,
) -> None:
    _user, token = make_user("alice")
    link_account(mly_client, token)
    fake_mapillary.expire_session(_stored_token(mly_app, engine))
    fake_mapillary.refresh_tokens.clear()  # Mapillary refuses the refresh as well
    answer = mly_client.get(LISTING, headers=bearer(token))
    assert answer.status_code == 409
    body = answer.get_json()
    assert "log in to Mapillary again" in body["detail"] and body["login_url"]
    assert len(fake_mapillary.calls("/token")) == 2  # the code, one refresh


def test_a_session_expired_twice_is_not_retried_forever(
    mly_app: Flask,
    mly_client: FlaskClient,
    fake_mapillary: FakeMapillary,
    make_user: MakeUser,
    engine: Engine,
) -> None:
    _user, token = make_user("alice")
    link_account(mly_client, token)
    fake_mapillary.expire_session(_stored_token(mly_app, engine))
    original = fake_mapillary.issue_token

    def expired_at_once(user: Any) -> str:
        issued = original(user)
        fake_mapillary.expire_session(issued)
        return issued

    fake_mapillary.issue_token = expired_at_once  # type: ignore[method-assign]
    answer = mly_client.get(LISTING, headers=bearer(token))
    assert answer.status_code == 409
    assert len(fake_mapillary.calls("/images")) == 2  # one try, one retry, no more


def test_an_import_job_refreshes_an_expired_session(
    make_mapillary_app: AppFactory,
    fake_mapillary: FakeMapillary,
    make_user: MakeUser,
    engine: Engine,
) -> None:
    app = make_mapillary_app()
    client = app.test_client()
    _user, token = make_user("alice")
    link_account(client, token)
    fake_mapillary.expire_session(_stored_token(app, engine))
    assert fake_mapillary.fixture_sequence is not None
    answer = client.post(
        "/api/v1/imports/mapillary",
        json={"sequence_keys": [fake_mapillary.fixture_sequence.key]},
        headers=bearer(token),
    )
    assert answer.status_code == 202
    (job,) = answer.get_json()["jobs"]
    assert (job["status"], job["attempts"]) == ("imported", 1), job
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM photos")).scalar_one() == 4


def test_a_2500_image_user_is_listed_completely_when_search_does_not_page(
    fake_mapillary: FakeMapillary,
) -> None:
    fake_mapillary.search_pages = False  # no paging.next, at most 2000 images per answer
    busy = fake_mapillary.add_user("busy")
    made = [
        fake_mapillary.add_sequence(
            busy, 100, start=f"2021-{1 + n // 28:02d}-{1 + n % 28:02d}T08:00:00.000Z"
        )
        for n in range(25)
    ]
    token = fake_mapillary.issue_token(busy)
    with create_source(fake_mapillary.config(max_retries=0), "v4") as source:
        summaries = source.list_sequences(token, username="busy")
    assert sorted(s.key for s in summaries) == sorted(s.key for s in made)
    assert sum(s.photo_count or 0 for s in summaries) == 2500
    searches = fake_mapillary.calls("/images")
    assert len(searches) > 2  # split into windows
    assert all("after" not in call.args for call in searches)


def test_the_listing_view_is_complete_without_paging_too(
    mly_client: FlaskClient, fake_mapillary: FakeMapillary, make_user: MakeUser
) -> None:
    _user, token = make_user("alice")
    link_account(mly_client, token)
    assert fake_mapillary.user is not None
    for n in range(22):
        fake_mapillary.add_sequence(
            fake_mapillary.user, 100, start=f"2022-03-{1 + n:02d}T09:00:00.000Z"
        )
    fake_mapillary.search_pages = False
    body = mly_client.get(LISTING, headers=bearer(token)).get_json()
    assert body["count"] == 23  # the fixture sequence and the 22 new ones
    assert sum(s["photo_count"] for s in body["sequences"]) == 2204
