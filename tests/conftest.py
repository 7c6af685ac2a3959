"""Fixtures: a throwaway PostGIS database (migrated once), app, client, runner and users.

The database comes from GEOAPI_TEST_DATABASE_URL, else the PostgreSQL server on 127.0.0.1:5432,
else a testcontainers PostGIS (see geoapi.provision). Every test session creates its own
database and drops it at the end; every test starts from empty tables.
"""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from geoapi import create_app
from geoapi.store.bulkload import build_photo_indexes
from geoapi.store.migrations import upgrade
from geoapi.store.provision import drop_database, ensure_database, resolve_database_url
from geoapi.store.users import UserInfo, create_token, create_user

FIXTURES = Path(__file__).parent / "fixtures"
DATA_TABLES = (
    "users, api_tokens, mapillary_accounts, mapillary_link_attempts, tags, sequences, "
    "sequence_tags, photos, likes, "
    "tours, tour_sequences, tour_tags, import_jobs"
)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    server = resolve_database_url(os.environ.get("GEOAPI_TEST_DATABASE_URL"), "postgres")
    url = make_url(server).set(database=f"geoapi_test_{uuid.uuid4().hex[:12]}")
    ensure_database(url)
    engine = create_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    rendered = url.render_as_string(hide_password=False)
    yield rendered
    drop_database(rendered)


@pytest.fixture(scope="session")
def _session_app(database_url: str) -> Iterator[Flask]:
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "TESTING": True,
            "SECRET_KEY": "test-secret-for-the-suite-only-0123456789",
            "MAX_IMPORT_BYTES": 2 * 1024 * 1024,
        }
    )
    yield app
    app.extensions["geoapi.engine"].dispose()


@pytest.fixture
def engine(_session_app: Flask) -> Engine:
    """The app's engine, with every data table emptied before the test."""
    engine: Engine = _session_app.extensions["geoapi.engine"]
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {DATA_TABLES} RESTART IDENTITY CASCADE"))
    build_photo_indexes(engine)  # any that a test's bulk load deferred and left
    return engine


@pytest.fixture
def app(_session_app: Flask, engine: Engine) -> Flask:
    return _session_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def make_user(engine: Engine) -> Callable[[str], tuple[UserInfo, str]]:
    """Create a user and return it with a fresh API token."""

    def make(username: str) -> tuple[UserInfo, str]:
        with Session(engine) as session:
            user = create_user(session, username)
            token = create_token(session, user.id)
            session.commit()
        return user, token

    return make


@pytest.fixture
def seed_collection() -> dict[str, Any]:
    """The Mapillary v3 example of the seed document (a fresh copy per test)."""
    path = FIXTURES / "mapillary" / "v3-sequences-example.json"
    document: dict[str, Any] = json.loads(path.read_text())
    return document


@pytest.fixture
def seed_feature(seed_collection: dict[str, Any]) -> dict[str, Any]:
    feature: dict[str, Any] = copy.deepcopy(seed_collection["features"][0])
    return feature
