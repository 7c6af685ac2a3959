"""The application shell: config validation, problem+json on every error path, /healthz."""

from __future__ import annotations

import logging

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from geoapi import create_app
from geoapi.config import ConfigError, load_settings
from geoapi.db import get_session

PROBLEM = "application/problem+json"


def test_settings_come_from_prefixed_environment() -> None:
    settings = load_settings({"GEOAPI_POOL_SIZE": "7", "GEOAPI_JIT": "on", "OTHER": "x"})
    assert settings.pool_size == 7 and settings.jit is True


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"GEOAPI_POOL_SIZE": "many"}, "GEOAPI_POOL_SIZE must be an integer"),
        ({"GEOAPI_POOL_SIZE": "0"}, "GEOAPI_POOL_SIZE must be > 0"),
        ({"GEOAPI_JIT": "maybe"}, "GEOAPI_JIT must be true or false"),
        ({"GEOAPI_DATABASE_URL": "mysql://x"}, "GEOAPI_DATABASE_URL must be a postgresql"),
        ({"GEOAPI_MAPILLARY_API_VERSION": "v5"}, "must be v3 or v4"),
        ({"GEOAPI_BASEMAP_STYLE_URL": "tiles.example.org/style.json"}, "BASEMAP_STYLE_URL must"),
        ({"GEOAPI_BASEMAP_STYLE_URL": "file:///etc/style.json"}, "BASEMAP_STYLE_URL must be"),
    ],
)
def test_bad_settings_fail_at_start(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ)


def test_healthz_ok(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_healthz_503_without_database() -> None:
    app = create_app({"DATABASE_URL": "postgresql+psycopg2://postgres@127.0.0.1:1/none"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.mimetype == PROBLEM
    assert response.json["detail"] == "the database is unreachable"


def test_unknown_path_is_problem_json(client: FlaskClient) -> None:
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.mimetype == PROBLEM
    assert response.json["status"] == 404 and response.json["title"] == "Not Found"


def test_wrong_method_is_problem_json(client: FlaskClient) -> None:
    response = client.delete("/healthz")
    assert response.status_code == 405
    assert response.mimetype == PROBLEM
    assert "GET" in response.headers["Allow"]


def test_unexpected_error_is_logged_500_problem(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app({"DATABASE_URL": database_url, "TESTING": True})
    rolled_back = []

    @app.get("/_boom")
    def boom() -> str:
        session = get_session()
        session.execute(text("SELECT 1"))
        session.rollback = lambda: rolled_back.append(True)  # type: ignore[method-assign]
        raise RuntimeError("secret internals")

    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/_boom")
    app.extensions["geoapi.engine"].dispose()
    assert rolled_back == [True]
    assert response.status_code == 500
    assert response.mimetype == PROBLEM
    assert "secret internals" not in response.get_data(as_text=True)
    assert any("unhandled error" in r.message for r in caplog.records)


def test_browsers_may_call_the_api_from_any_origin(client: FlaskClient) -> None:
    """Bearer tokens, not cookies: a cross-origin page gains nothing it lacks without CORS."""
    response = client.get("/collections", headers={"Origin": "https://example.org"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Link" in response.headers["Access-Control-Expose-Headers"]
    preflight = client.options(
        "/api/v1/tours",
        headers={
            "Origin": "https://example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    problem = client.get("/no/such/path", headers={"Origin": "https://example.org"})
    assert problem.headers["Access-Control-Allow-Origin"] == "*"
