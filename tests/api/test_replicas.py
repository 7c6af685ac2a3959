"""Read replicas against a real streaming replica (``tests/replica_support.py``): reads served
there, writes on the primary, a replica behind the asked-for data version passed over, and
fail-over to the primary when it stops.

What proves the replica served a read is what only it can answer: ``pg_is_in_recovery()`` on
the session a view reads from, the app's connections in the replica's ``pg_stat_activity``,
and, while its WAL replay is paused, the data as it was before the primary changed it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import bearer, make_feature
from replica_support import Standby, drop_standby, make_standby, why_not_possible
from sqlalchemy import Engine, create_engine, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from geoapi import create_app
from geoapi.db import dispose_engines, get_session, read_session
from geoapi.paging import cursor_version, encode_cursor
from geoapi.store.models import Tag
from geoapi.store.users import UserInfo

MakeUser = Callable[[str], tuple[UserInfo, str]]
LJUBLJANA = [(14.505, 46.05), (14.5052, 46.0502)]
LJUBLJANA_TOO = [(14.506, 46.051), (14.5062, 46.0512)]
LISBON = [(-9.14, 38.72), (-9.1402, 38.7202)]
IMPORT = "/api/v1/imports/geojson"
RETRY_AFTER_S = 0.2  # the replica app's GEOAPI_REPLICA_RETRY_AFTER_S


def tile_path(points: list[tuple[float, float]], z: int = 14) -> str:
    lon, lat = points[0]
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return f"/tiles/{z}/{x}/{y}.mvt"


@pytest.fixture(scope="module")
def standby(database_url: str) -> Iterator[Standby]:
    reason = why_not_possible(database_url)
    if reason is not None:
        pytest.skip(f"no real replica here: {reason}")
    primary = create_engine(database_url, poolclass=NullPool)
    made = make_standby(primary, str(make_url(database_url).database))
    try:
        yield made
    finally:
        drop_standby(made, primary)
        primary.dispose()


@pytest.fixture(scope="module")
def replica_app(database_url: str, standby: Standby) -> Iterator[Flask]:
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "DATABASE_REPLICA_URLS": standby.url,
            "REPLICA_RETRY_AFTER_S": RETRY_AFTER_S,
            "TESTING": True,
            "SECRET_KEY": "test-secret-for-the-suite-only-0123456789",
        }
    )
    yield app
    dispose_engines(app)


@pytest.fixture
def primary(engine: Engine, standby: Standby) -> Iterator[Engine]:
    """The primary (tables emptied) with the standby running, replaying and caught up; left
    so after the test."""
    standby.catch_up(engine)
    yield engine
    if not standby.running:
        standby.start()
    standby.resume()
    standby.catch_up(engine)


@pytest.fixture
def replica_client(replica_app: Flask, primary: Engine) -> FlaskClient:
    return replica_app.test_client()


def _import(
    client: FlaskClient, token: str, key: str, points: list[tuple[float, float]], **props: Any
) -> str:
    response = client.post(IMPORT, json=make_feature(key, points, **props), headers=bearer(token))
    assert response.status_code == 201, response.get_data(as_text=True)
    sequence_id: str = response.get_json()["results"][0]["sequence_id"]
    return sequence_id


def _version_on(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT version FROM data_version")).scalar_one())


def _in_recovery(session: Any) -> bool:
    return bool(session.execute(text("SELECT pg_is_in_recovery()")).scalar_one())


def _status(client: FlaskClient, path: str) -> int:
    """The status of a GET, its body read and the response closed (streams end in their
    request)."""
    with client.get(path) as response:
        response.get_data()
        return response.status_code


def _next_path(page: dict[str, Any]) -> str:
    (href,) = [link["href"] for link in page["links"] if link["rel"] == "next"]
    parts = urlsplit(href)
    return f"{parts.path}?{parts.query}"


def test_reads_go_to_the_replica_and_writes_to_the_primary(
    primary: Engine,
    standby: Standby,
    replica_app: Flask,
    replica_client: FlaskClient,
    make_user: MakeUser,
) -> None:
    _user, token = make_user("ana")
    with replica_app.test_request_context("/api/v1/sequences"):
        assert _in_recovery(read_session())  # a pure read of a GET: the replica
        assert not _in_recovery(get_session())  # writes and authentication: the primary
    with replica_app.test_request_context("/api/v1/tours", method="POST"):
        assert read_session() is get_session()

    standby.pause()
    sequence_id = _import(replica_client, token, "rep-a", LJUBLJANA)  # written on the primary
    query = "SELECT count(*) FROM sequences WHERE id = CAST(:i AS uuid)"
    with primary.connect() as conn:
        assert conn.execute(text(query), {"i": sequence_id}).scalar_one() == 1
    assert standby.sql(query, i=sequence_id) == 0
    # Every read answers what the paused replica has: not that sequence yet.
    assert replica_client.get(f"/api/v1/sequences/{sequence_id}").status_code == 404
    assert replica_client.get("/api/v1/sequences").get_json()["features"] == []
    assert replica_client.get("/collections/sequences/items").get_json()["features"] == []
    assert replica_client.get(f"/collections/sequences/items/{sequence_id}").status_code == 404
    with replica_client.get("/api/v1/exports/sequences.geojson") as export:
        assert export.status_code == 200 and export.get_json()["features"] == []
    tile = replica_client.get(tile_path(LJUBLJANA))
    assert tile.status_code == 204
    # Its canonical (pinned) URL names the replica's version of the area, not the primary's.
    assert "v=" in tile.headers["Link"] and f"v={_version_on(primary)}" not in tile.headers["Link"]
    names = standby.sql(
        "SELECT array_agg(DISTINCT application_name) FROM pg_stat_activity WHERE datname = :d",
        d=standby.database,
    )
    assert {"geoapi", "geoapi-tiles"} <= set(names)

    standby.resume()
    standby.catch_up(primary)
    assert replica_client.get(f"/api/v1/sequences/{sequence_id}").status_code == 200
    assert replica_client.get(tile_path(LJUBLJANA)).status_code == 200
    standby.pause()
    edit = {"title": "Renamed on the primary"}
    patched = replica_client.patch(
        f"/api/v1/sequences/{sequence_id}", json=edit, headers=bearer(token)
    )
    assert patched.status_code == 200
    # The PATCH read its result back in the same request: from the primary, so it is new ...
    assert patched.get_json()["properties"]["title"] == edit["title"]
    # ... while a later GET reads on the paused replica.
    again = replica_client.get(f"/api/v1/sequences/{sequence_id}").get_json()
    assert again["properties"]["title"] != edit["title"]


def test_reads_after_a_write_in_the_same_request_use_the_primary(
    primary: Engine, replica_app: Flask
) -> None:
    with replica_app.test_request_context("/api/v1/tags"):
        assert _in_recovery(read_session())
        get_session().execute(insert(Tag).values(name="uncommitted"))
        reader = read_session()
        assert reader is get_session()  # the same transaction: it sees its own write
        assert reader.execute(select(Tag.name)).scalars().all() == ["uncommitted"]
    with replica_app.test_request_context("/api/v1/tags"):
        session = get_session()
        session.execute(text("INSERT INTO tags (name) VALUES ('committed')"))
        session.commit()
        assert read_session() is session
    with replica_app.test_request_context("/api/v1/tags"):
        assert _in_recovery(read_session())  # the next request reads on the replica again


def test_a_replica_behind_the_asked_version_is_not_used(
    primary: Engine,
    standby: Standby,
    client: FlaskClient,
    replica_client: FlaskClient,
    make_user: MakeUser,
) -> None:
    _user, token = make_user("bo")
    _import(replica_client, token, "lag-a", LJUBLJANA)
    _import(replica_client, token, "lag-b", LJUBLJANA_TOO)
    standby.catch_up(primary)
    early = replica_client.get("/collections/sequences/items?limit=1").get_json()
    standby.pause()
    with primary.begin() as conn:
        conn.execute(text("UPDATE sequences SET camera_make = 'Leica'"))
    # (Pages run in id order, which is random: the new sequence may be any page.)
    _import(replica_client, token, "lag-c", LISBON, camera_make="Leica")
    new, old = _version_on(primary), _version_on(standby.engine)
    assert old < new

    # Tiles: the area version a tile's pinned URL names decides. The primary's new one (the
    # Lisbon import's) only the primary serves; the replica's (it has no Lisbon yet) and an
    # unpinned tile come from the replica.
    lisbon = tile_path(LISBON)
    current = client.get(lisbon).headers["Link"]
    assert f"v={new}" in current
    pinned = replica_client.get(f"{lisbon}?v={new}")
    assert pinned.status_code == 200 and "immutable" in pinned.headers["Cache-Control"]
    behind = replica_client.get(lisbon)
    assert behind.status_code == 204 and f"v={new}" not in behind.headers["Link"]
    replica_pinned = behind.headers["Link"].split(">")[0].lstrip("<")
    assert replica_client.get(replica_pinned).status_code == 204
    # TileJSON carries the data version of whoever answered: asked for the new one, the
    # primary; else the replica's.
    assert f"v={new}" in replica_client.get(f"/tiles.json?v={new}").get_json()["tiles"][0]
    assert f"v={old}" in replica_client.get("/tiles.json").get_json()["tiles"][0]

    # Items: a cursor carries the data version of its first page. One read on the primary (by
    # the app without replicas) carries the new version: its next page comes from the primary.
    first = client.get("/collections/sequences/items?limit=1").get_json()
    assert cursor_version(_next_path(first).split("cursor=")[1]) == new
    second = replica_client.get(_next_path(first)).get_json()
    assert second["features"][0]["properties"]["camera_make"] == "Leica"
    # A cursor from the replica carries its version, and an old cursor none: the replica.
    assert cursor_version(_next_path(early).split("cursor=")[1]) == old
    stale = replica_client.get(_next_path(early)).get_json()
    assert stale["features"][0]["properties"]["camera_make"] == "Apple"
    unversioned = encode_cursor("sequences", early["features"][0]["id"])
    path = f"/collections/sequences/items?limit=1&cursor={unversioned}"
    assert replica_client.get(path).get_json()["features"][0]["properties"]["camera_make"] == (
        "Apple"
    )

    # /api/v1/sequences pages likewise.
    listed = client.get("/api/v1/sequences?limit=1").get_json()
    assert cursor_version(listed["next_cursor"]) == new
    page = replica_client.get(f"/api/v1/sequences?limit=1&cursor={listed['next_cursor']}")
    assert page.get_json()["features"][0]["properties"]["camera_make"] == "Leica"
    standby.resume()


def test_fail_over_to_the_primary_when_the_replica_stops(
    primary: Engine,
    standby: Standby,
    replica_client: FlaskClient,
    make_user: MakeUser,
) -> None:
    _user, token = make_user("cy")
    sequence_id = _import(replica_client, token, "fail-a", LJUBLJANA)
    standby.catch_up(primary)
    line = {"url": f"127.0.0.1:{standby.port}/{standby.database}", "status": "ok"}
    health = replica_client.get("/healthz").get_json()
    assert health["replicas"] == [{**line, "lag_versions": 0}]
    standby.pause()
    with primary.begin() as conn:
        conn.execute(text("UPDATE sequences SET pano = true"))
    assert replica_client.get("/healthz").get_json()["replicas"][0]["lag_versions"] >= 1
    standby.resume()

    standby.stop()
    edit = {"title": "While the replica was down"}
    patched = replica_client.patch(
        f"/api/v1/sequences/{sequence_id}", json=edit, headers=bearer(token)
    )
    assert patched.status_code == 200
    reads = [
        f"/api/v1/sequences/{sequence_id}",
        "/api/v1/sequences",
        f"/collections/sequences/items/{sequence_id}",
        "/collections/sequences/items",
        "/collections",
        "/api/v1/exports/sequences.geojson",
        tile_path(LJUBLJANA),
        f"{tile_path(LJUBLJANA)}?v={_version_on(primary)}",
        "/tiles.json",
        "/api/v1/transport-types",
        "/api/v1/tags",
        "/api/v1/tours",
    ]
    for path in reads:  # each past the backoff: each read path meets the dead replica itself
        time.sleep(RETRY_AFTER_S + 0.05)
        assert _status(replica_client, path) == 200, path
    for path in reads:  # within the backoff: passed over at once
        assert _status(replica_client, path) == 200, path
    title = replica_client.get(f"/api/v1/sequences/{sequence_id}").get_json()["properties"]
    assert title["title"] == edit["title"]  # the primary's answer
    health = replica_client.get("/healthz")
    assert health.status_code == 200
    assert health.get_json()["replicas"] == [{**line, "status": "down", "lag_versions": None}]

    standby.start()
    standby.catch_up(primary)
    time.sleep(RETRY_AFTER_S + 0.1)  # past the backoff, without /healthz noticing first
    standby.pause()
    renamed = {"title": "After the replica came back"}
    answer = replica_client.patch(
        f"/api/v1/sequences/{sequence_id}", json=renamed, headers=bearer(token)
    )
    assert answer.status_code == 200
    back = replica_client.get(f"/api/v1/sequences/{sequence_id}").get_json()["properties"]
    assert back["title"] == edit["title"]  # the paused replica is read again
    assert replica_client.get(tile_path(LJUBLJANA)).status_code == 200
    standby.resume()
    standby.catch_up(primary)
    assert replica_client.get("/healthz").get_json()["replicas"] == [{**line, "lag_versions": 0}]
