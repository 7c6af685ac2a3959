"""GET/DELETE /api/v1/mapillary/account: see and undo the link, never the tokens."""

from __future__ import annotations

from typing import Any

import pytest
from fake_mapillary import FakeMapillary, fake_mapillary_fixture  # noqa: F401
from flask.testing import FlaskClient
from helpers import bearer
from mapillary_support import (  # noqa: F401
    link_account,
    make_mapillary_app_fixture,
    mly_app_fixture,
    mly_client_fixture,
)
from sqlalchemy import Engine, text

URL = "/api/v1/mapillary/account"


@pytest.fixture(autouse=True)
def _insecure_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def test_account_link_is_visible_and_can_be_undone(
    mly_client: FlaskClient, make_user: Any, engine: Engine, fake_mapillary: FakeMapillary
) -> None:
    _, token = make_user("linker")
    before = mly_client.get(URL, headers=bearer(token))
    assert before.status_code == 200
    assert before.get_json()["linked"] is False
    assert before.get_json()["login_url"].endswith("/auth/mapillary/login")

    assert link_account(mly_client, token).status_code == 200
    shown = mly_client.get(URL, headers=bearer(token))
    body = shown.get_json()
    assert body["linked"] is True and body["username"] == "pierregeo"
    text_body = shown.get_data(as_text=True)
    assert "access_token" not in text_body and fake_mapillary.token not in text_body

    assert mly_client.delete(URL, headers=bearer(token)).status_code == 204
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM mapillary_accounts")).scalar() == 0
    assert mly_client.get(URL, headers=bearer(token)).get_json()["linked"] is False
    again = mly_client.delete(URL, headers=bearer(token))
    assert again.status_code == 404
    assert again.mimetype == "application/problem+json"
    listing = mly_client.get("/api/v1/mapillary/sequences", headers=bearer(token))
    assert listing.status_code == 409


def test_account_needs_a_token(mly_client: FlaskClient) -> None:
    assert mly_client.get(URL).status_code == 401
    assert mly_client.delete(URL).status_code == 401
