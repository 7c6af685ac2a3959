"""GEOAPI_DATABASE_REPLICA_URLS without a real replica (tests/api/test_replicas.py has one):
the setting's checks, a replica that never answers, and what the lag rule costs, with the
primary's own database standing in for a replica that is exactly up to date."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from helpers import free_port
from sqlalchemy import Engine, event

from geoapi import create_app
from geoapi.config import ConfigError, load_settings
from geoapi.db import dispose_engines, get_replicas, get_session, get_tile_engine, read_session
from geoapi.store.importer import import_feature_collection
from geoapi.store.users import create_user
from geoapi.store.versions import engine_data_version

ENV = "GEOAPI_DATABASE_REPLICA_URLS"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("mysql://h/db", r"entry 1 \('mysql://h/db'\) must be a postgresql:// URL"),
        ("postgresql://a/db,,postgresql://b/db", "entry 2 is empty"),
        ("postgresql://a/db,", "entry 2 is empty"),
        ("postgresql://a:99999/db", r"entry 1 .* has a port that is not a number"),
        ("postgresql://a:x/db", r"entry 1 .* has a port that is not a number"),
        ("postgresql://u:hunter2@a:5432", r"entry 1 \('postgresql://u:\*\*\*@a:5432'\) names no"),
    ],
)
def test_bad_replica_urls_fail_at_start(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{ENV}: {message}") as info:
        load_settings({ENV: value})
    assert "hunter2" not in str(info.value)


def test_replica_urls_are_normalized_like_the_primary_url() -> None:
    settings = load_settings({ENV: " postgresql://a/db , postgres://u:p@b:5433/db"})
    assert settings.database_replica_urls == (
        "postgresql+psycopg2://a/db",
        "postgresql+psycopg2://u:p@b:5433/db",
    )
    assert load_settings({ENV: ""}).database_replica_urls == ()
    assert load_settings({}, {"DATABASE_REPLICA_URLS": ["postgresql://c/db"]}).database_replica_urls
    with pytest.raises(ConfigError, match="REPLICA_RETRY_AFTER_S must be > 0"):
        load_settings({"GEOAPI_REPLICA_RETRY_AFTER_S": "0"})


def _app(database_url: str, replicas: str) -> Flask:
    return create_app(
        {
            "DATABASE_URL": database_url,
            "DATABASE_REPLICA_URLS": replicas,
            "TESTING": True,
            "REPLICA_RETRY_AFTER_S": 30,
        }
    )


@pytest.fixture
def dead_replica_app(database_url: str, engine: Engine) -> Iterator[Flask]:
    """A replica on a port where nothing listens."""
    app = _app(database_url, f"postgresql://postgres@127.0.0.1:{free_port()}/geoapi")
    yield app
    dispose_engines(app)


def test_a_replica_that_never_answers_is_skipped(
    dead_replica_app: Flask, engine: Engine, seed_feature: dict[str, Any]
) -> None:
    client = dead_replica_app.test_client()
    started = time.monotonic()
    for path in ("/tiles/0/0/0.mvt", "/api/v1/sequences", "/collections/sequences/items"):
        assert client.get(path).status_code in (200, 204), path
    (replica,) = get_replicas(dead_replica_app).members
    assert not replica.healthy()  # marked down by the first read, skipped by the others
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.get_json()["replicas"][0]["status"] == "down"
    assert health.get_json()["replicas"][0]["url"].startswith("127.0.0.1:")
    assert time.monotonic() - started < 5  # refused at once, never a wait per request


@pytest.fixture
def mirror_app(database_url: str, engine: Engine) -> Iterator[Flask]:
    """The primary's own database as the only "replica": exactly as fresh as the primary."""
    app = _app(database_url, database_url.replace("+psycopg2", ""))
    yield app
    dispose_engines(app)


def _statements(engine: Engine) -> list[str]:
    """The statements sent on ``engine``, less the PREPAREs of tile statements (made once per
    connection; geoapi.store.tiles)."""
    seen: list[str] = []

    def record(*args: object) -> None:
        if not str(args[2]).startswith("PREPARE geoapi_tile_"):
            seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    return seen


def test_the_lag_rule_costs_a_query_only_for_a_version_not_yet_seen(
    mirror_app: Flask, engine: Engine, seed_feature: dict[str, Any]
) -> None:
    with mirror_app.app_context():
        with get_session() as session:
            user = create_user(session, "lag")
            session.commit()
        import_feature_collection(engine, user.id, seed_feature)
        primary_tiles = _statements(get_tile_engine())
    (replica,) = get_replicas(mirror_app).members
    replica_tiles = _statements(replica.tile_engine)
    version = engine_data_version(engine)
    client = mirror_app.test_client()

    assert client.get("/tiles/0/0/0.mvt").status_code == 200  # no version asked: one statement
    assert len(replica_tiles) == 1 and not primary_tiles
    # A pinned tile (its area's version, which the import set): the replica's version checked
    # once, then the area version and the tile.
    assert client.get(f"/tiles/0/0/0.mvt?v={version}").status_code == 200
    assert len(replica_tiles) == 4 and "data_version" in replica_tiles[1]
    assert client.get(f"/tiles/0/0/0.mvt?v={version}").status_code == 200  # ... then known
    assert len(replica_tiles) == 6
    # Not a version: redirected to the pinned URL after one small query, no tile built.
    moved = client.get("/tiles/0/0/0.mvt?v=not-a-version")
    assert moved.status_code == 302 and f"v={version}" in moved.headers["Location"]
    assert len(replica_tiles) == 7 and not primary_tiles
    # A version the replica has not got (its check says so; nor has the primary): the primary
    # answers it, with a redirect to the current pinned URL.
    assert client.get(f"/tiles/0/0/0.mvt?v={version + 1}").status_code == 302
    assert len(replica_tiles) == 8 and len(primary_tiles) == 1


def test_writes_and_non_get_requests_read_on_the_primary(mirror_app: Flask) -> None:
    with mirror_app.test_request_context("/api/v1/sequences"):
        assert read_session() is not get_session()  # a GET: the replica's session
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        with mirror_app.test_request_context("/api/v1/sequences", method=method):
            assert read_session() is get_session()


def test_a_replica_of_another_database_is_skipped_when_asked_for_a_version(
    database_url: str, engine: Engine
) -> None:
    """A URL naming a database without geoapi's tables: its version cannot be read."""
    other = database_url.replace("+psycopg2", "").rsplit("/", 1)[0] + "/postgres"
    app = _app(database_url, other)
    try:
        client = app.test_client()
        moved = client.get("/tiles/0/0/0.mvt?v=1")  # not the area's version: redirected
        assert moved.status_code == 302
        assert client.get(moved.headers["Location"]).status_code == 204
        assert client.get("/collections/sequences/items?limit=1").status_code == 200
        (replica,) = get_replicas(app).members
        assert not replica.healthy()
        assert client.get("/healthz").get_json()["replicas"][0]["status"] == "down"
    finally:
        dispose_engines(app)
