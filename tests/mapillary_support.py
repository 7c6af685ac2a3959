"""Fixtures and helpers for tests of the Mapillary connection: an app wired to the fake Mapillary.

Import the fixtures into a test module with
``from mapillary_support import make_mapillary_app_fixture, mly_app_fixture, mly_client_fixture``
(together with ``fake_mapillary_fixture`` from ``fake_mapillary``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from fake_mapillary import FakeMapillary
from flask import Flask
from flask.testing import FlaskClient
from helpers import bearer
from sqlalchemy import Engine, text
from werkzeug.test import TestResponse

from geoapi import create_app

SECRET_KEY = "test-secret-for-the-suite-only-0123456789"
AppFactory = Callable[..., Flask]


@pytest.fixture(name="make_mapillary_app")
def make_mapillary_app_fixture(
    database_url: str,
    engine: Engine,
    fake_mapillary: FakeMapillary,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[AppFactory]:
    """Build apps pointing at the fake (jobs inline, no waiting between retries by default)."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake speaks http://
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        config: dict[str, Any] = {
            "DATABASE_URL": database_url,
            "TESTING": True,
            "SECRET_KEY": SECRET_KEY,
            **fake_mapillary.settings(),
            "MAPILLARY_API_VERSION": "v4",
            "MAPILLARY_TIMEOUT_S": 2.0,
            "JOBS_INLINE": True,
            "JOB_MAX_ATTEMPTS": 3,
            # Test-only retry knobs (Settings.extra): retry once, never sleep.
            "MAPILLARY_MAX_RETRIES": 1,
            "MAPILLARY_BACKOFF_S": 0.0,
            "MAPILLARY_MAX_RETRY_AFTER_S": 0.0,
            "JOB_RETRY_DELAY_S": 0.0,
        }
        config.update(overrides)
        app = create_app(config)
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["geoapi.engine"].dispose()


@pytest.fixture(name="mly_app")
def mly_app_fixture(make_mapillary_app: AppFactory) -> Flask:
    return make_mapillary_app()


@pytest.fixture(name="mly_client")
def mly_client_fixture(mly_app: Flask) -> FlaskClient:
    return mly_app.test_client()


def follow_authorize(authorize_url: str) -> str:
    """Play the browser at Mapillary: open the authorize URL, return where it redirects to."""
    with requests.get(authorize_url, allow_redirects=False, timeout=5) as answer:
        assert answer.status_code == 302, answer.text
        return answer.headers["Location"]


def link_account(client: FlaskClient, api_token: str) -> TestResponse:
    """Login, consent at the fake's /connect, then our callback; the callback's answer."""
    answer = client.post("/auth/mapillary/login", headers=bearer(api_token))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    location = urlsplit(follow_authorize(answer.get_json()["authorize_url"]))
    return client.get(f"{location.path}?{location.query}")


def count_rows(engine: Engine) -> dict[str, int]:
    """Rows in the tables an import writes to."""
    with engine.connect() as conn:
        return {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("sequences", "photos", "sequence_tags")
        }


NOTHING = {"sequences": 0, "photos": 0, "sequence_tags": 0}
