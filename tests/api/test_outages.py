"""Outages are 503 problem+json with Retry-After on every route, logged in one line each:
a database that cannot be reached, a statement cancelled by its timeout, a full pool."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from helpers import bearer, make_feature
from sqlalchemy import Engine, text

from geoapi import create_app

# A port nothing listens on: every connection attempt is refused.
NOWHERE = "postgresql://postgres@127.0.0.1:9/geoapi"
READS = [
    "/collections",
    "/collections/sequences/items",
    "/collections/photos/items",
    "/collections/sequences/items/6f0c2b1e-0000-4000-8000-000000000000",
    "/api/v1/sequences",
    "/api/v1/sequences/6f0c2b1e-0000-4000-8000-000000000000",
    "/api/v1/tours",
    "/api/v1/tags",
    "/api/v1/transport-types",
    "/api/v1/exports/sequences.geojson",
    "/tiles/0/0/0.mvt",
    "/tiles/14/8710/5972.mvt",
    "/tiles.json",
    "/healthz",
]
WRITES = [
    ("POST", "/api/v1/imports/geojson", make_feature("k", [(1.0, 1.0)])),
    ("POST", "/api/v1/tours", {"title": "t"}),
    ("PUT", "/api/v1/sequences/6f0c2b1e-0000-4000-8000-000000000000/like", {"liked": True}),
    ("POST", "/api/v1/sequence/create/", {"name": "draft"}),
]


@pytest.fixture(name="down")
def down_fixture() -> Iterator[Flask]:
    app = create_app({"DATABASE_URL": NOWHERE, "TESTING": True, "POOL_TIMEOUT_S": 1.0})
    yield app
    app.extensions["geoapi.engine"].dispose()


def _unavailable(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 503, (answer.request.path, answer.get_data(as_text=True))
    assert answer.headers["Retry-After"].isdigit()
    body: dict[str, Any] = answer.get_json(force=True)
    return body


def test_a_database_that_cannot_be_reached_is_503_everywhere(
    down: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    client = down.test_client()
    caplog.set_level(logging.WARNING)
    for path in READS:
        answer = client.get(path)
        body = _unavailable(answer)
        assert answer.mimetype == "application/problem+json", path
        assert "database" in body["detail"]
    for method, path, body_ in WRITES:
        answer = client.open(path, method=method, json=body_, headers=bearer("gapi_x"))
        _unavailable(answer)
    assert not [r for r in caplog.records if r.exc_info], "an outage logs no traceback"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) >= len(READS) and all("\n" not in r.getMessage() for r in warnings)
    # The uploader keeps its own shape for the same 503.
    legacy = client.post("/api/v1/sequence/create/", json={"name": "x"}, headers=bearer("t"))
    assert legacy.get_json()["status"] is False


def test_a_statement_cancelled_by_its_timeout_is_503(
    database_url: str, engine: Engine, make_user: Any
) -> None:
    _user, token = make_user("waiter")
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "STATEMENT_TIMEOUT_MS": 300})
    client = app.test_client()
    locked, release = threading.Event(), threading.Event()

    def hold_the_table() -> None:
        with engine.begin() as conn:
            conn.execute(text("LOCK TABLE sequences IN ACCESS EXCLUSIVE MODE"))
            locked.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_table)
    holder.start()
    try:
        assert locked.wait(10)
        body = _unavailable(client.get("/api/v1/sequences", headers=bearer(token)))
        assert "did not answer in time" in body["detail"]
    finally:
        release.set()
        holder.join(10)
        app.extensions["geoapi.engine"].dispose()
    assert client.get("/api/v1/sequences").status_code == 200  # and it recovers at once
