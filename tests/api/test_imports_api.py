"""POST /api/v1/imports/geojson over HTTP against real PostGIS."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from helpers import bearer, make_feature
from sqlalchemy import Engine, text

URL = "/api/v1/imports/geojson"
WALK = [(2.35, 48.85), (2.3501, 48.8502)]


def sequence_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM sequences")).scalar_one())


def test_import_seed_example(
    client: FlaskClient,
    make_user: Callable[..., Any],
    seed_collection: dict[str, Any],
    engine: Engine,
) -> None:
    _, token = make_user("pierre")
    response = client.post(URL, json=seed_collection, headers=bearer(token))
    assert response.status_code == 201
    body = response.json
    assert body["imported"] == 1 and body["failed"] == 0
    assert body["results"][0]["key"] == "LMlIPUNhaj24h_q9v4ArNw"
    assert body["results"][0]["photos"] == 4
    again = client.post(URL, json=seed_collection, headers=bearer(token))
    assert again.status_code == 200
    assert again.json["results"][0]["status"] == "exists"
    assert again.json["results"][0]["sequence_id"] == body["results"][0]["sequence_id"]
    assert sequence_count(engine) == 1


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}]
)
def test_import_needs_a_valid_token(
    client: FlaskClient, seed_collection: dict[str, Any], headers: dict[str, str], engine: Engine
) -> None:
    response = client.post(URL, json=seed_collection, headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert sequence_count(engine) == 0


def test_body_over_the_limit_is_413(client: FlaskClient, make_user: Callable[..., Any]) -> None:
    _, token = make_user("big")
    body = b'{"type": "FeatureCollection", "features": [' + b" " * (3 * 1024 * 1024) + b"]}"
    response = client.post(URL, data=body, headers=bearer(token), content_type="application/json")
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert "limit" in response.json["detail"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"type": "Point", "coordinates": [0, 0]}', "expected a GeoJSON FeatureCollection"),
        (b'{"type": "FeatureCollection", "features": []}', "no features"),
        (b"[1, 2]", "not a GeoJSON object"),
    ],
)
def test_invalid_document_is_422(
    client: FlaskClient, make_user: Callable[..., Any], body: bytes, detail: str
) -> None:
    _, token = make_user("doc")
    response = client.post(URL, data=body, headers=bearer(token), content_type="application/json")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert detail in response.json["detail"]
    assert response.json["errors"][0]["field"] == "body"


def test_every_feature_failing_is_422_naming_each(
    client: FlaskClient, make_user: Callable[..., Any], engine: Engine
) -> None:
    _, token = make_user("bad")
    first = make_feature("a", WALK)
    first["geometry"]["coordinates"][0][0] = 200
    second = make_feature("b", WALK)
    second["properties"]["coordinateProperties"]["cas"] = [1.0]
    document = {"type": "FeatureCollection", "features": [first, second]}
    response = client.post(URL, json=document, headers=bearer(token))
    assert response.status_code == 422
    fields = [e["field"] for e in response.json["errors"]]
    assert fields == [
        "features[0].geometry.coordinates[0][0]",
        "features[1].properties.coordinateProperties.cas",
    ]
    assert response.json["failed"] == 2
    assert sequence_count(engine) == 0


def test_one_invalid_feature_anywhere_is_422_and_nothing_is_written(
    client: FlaskClient, make_user: Callable[..., Any], engine: Engine
) -> None:
    """The whole document is validated before anything is written ([good, bad, good])."""
    _, token = make_user("mix")
    bad = make_feature("bad", WALK, captured_at="0001-01-01T00:00:00+01:00")  # year 0 in UTC
    features = [make_feature("ok", WALK), bad, make_feature("ok2", [(1.0, 1.0)])]
    document = {"type": "FeatureCollection", "features": features}
    response = client.post(URL, json=document, headers=bearer(token))
    assert response.status_code == 422
    assert response.json["errors"] == [
        {
            "field": "features[1].properties.captured_at",
            "message": response.json["errors"][0]["message"],
        }
    ]
    assert "years 1-9999" in response.json["errors"][0]["message"]
    assert (response.json["imported"], response.json["failed"]) == (0, 1)
    assert sequence_count(engine) == 0


def test_partial_success_at_write_time_lists_every_outcome(
    client: FlaskClient, make_user: Callable[..., Any], engine: Engine
) -> None:
    _, token = make_user("mix")
    assert (
        client.post(URL, json=make_feature("old", WALK), headers=bearer(token)).status_code == 201
    )
    document = {
        "type": "FeatureCollection",
        "features": [make_feature("old", WALK), make_feature("new", WALK[:1])],
    }
    response = client.post(URL, json=document, headers=bearer(token))
    assert response.status_code == 201
    statuses = [(r["index"], r["status"]) for r in response.json["results"]]
    assert statuses == [(0, "exists"), (1, "imported")]
    assert sequence_count(engine) == 2


def test_key_of_another_user_is_409(
    client: FlaskClient, make_user: Callable[..., Any], seed_collection: dict[str, Any]
) -> None:
    _, owner = make_user("owner")
    _, other = make_user("other")
    client.post(URL, json=seed_collection, headers=bearer(owner))
    response = client.post(URL, json=seed_collection, headers=bearer(other))
    assert response.status_code == 409
    assert "another user" in response.json["errors"][0]["message"]


def test_metadata_from_query_string(
    client: FlaskClient, make_user: Callable[..., Any], engine: Engine
) -> None:
    _, token = make_user("q")
    response = client.post(
        URL + "?title=River+walk&transport_type=Kayak&tags=River,%20summer",
        json=make_feature("q1", WALK),
        headers=bearer(token),
    )
    assert response.status_code == 201
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT s.title, t.name, array(SELECT g.name FROM sequence_tags st JOIN tags g"
                " ON g.id = st.tag_id WHERE st.sequence_id = s.id ORDER BY g.name) AS tags"
                " FROM sequences s JOIN transport_types t ON t.id = s.transport_type_id"
            )
        ).one()
    assert tuple(row) == ("River walk", "Kayak", ["river", "summer"])


def test_metadata_from_wrapper(
    client: FlaskClient, make_user: Callable[..., Any], engine: Engine
) -> None:
    _, token = make_user("w")
    wrapper = {
        "title": "Wrapped",
        "description": "d",
        "transport_type": "car",
        "tags": ["x"],
        "geojson": {"type": "FeatureCollection", "features": [make_feature("w1", WALK)]},
    }
    response = client.post(URL, json=wrapper, headers=bearer(token))
    assert response.status_code == 201
    with engine.connect() as conn:
        assert conn.execute(text("SELECT title FROM sequences")).scalar() == "Wrapped"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("transport_type=Teleport", "transport_type"),
        ("transport_type=Water", "transport_type"),
        ("tags=ok,not%20ok", "tags"),
        ("title=" + "x" * 201, "title"),
    ],
)
def test_bad_options_are_422_and_write_nothing(
    client: FlaskClient, make_user: Callable[..., Any], engine: Engine, query: str, field: str
) -> None:
    _, token = make_user("opts")
    response = client.post(f"{URL}?{query}", json=make_feature("o1", WALK), headers=bearer(token))
    assert response.status_code == 422
    assert [e["field"] for e in response.json["errors"]] == [field]
    assert sequence_count(engine) == 0


def test_nan_in_json_body_is_rejected(
    client: FlaskClient, make_user: Callable[..., Any], engine: Engine
) -> None:
    _, token = make_user("nan")
    text_body = json.dumps(make_feature("n1", WALK)).replace("2.35,", "NaN,", 1)
    assert "NaN" in text_body
    response = client.post(
        URL, data=text_body, headers=bearer(token), content_type="application/json"
    )
    assert response.status_code == 422
    # NaN is not JSON (RFC 8259): the streaming parser refuses the body outright.
    assert "not valid JSON" in response.json["errors"][0]["message"]
    assert sequence_count(engine) == 0


def test_nul_characters_are_refused_not_500(
    client: FlaskClient, make_user: Callable[..., Any], engine: Engine
) -> None:
    """PostgreSQL text cannot hold NUL: the caller hears which field, nothing is written."""
    _, token = make_user("nul")
    response = client.post(
        URL + "?title=a%00b", json=make_feature("n", WALK), headers=bearer(token)
    )
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "title"
    feature = make_feature("n", WALK, camera_make="a\x00b")
    response = client.post(URL, json=feature, headers=bearer(token))
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "features[0].properties.camera_make"
    feature = make_feature("n", WALK)
    feature["properties"]["coordinateProperties"]["image_keys"][1] = "x\x00"
    response = client.post(URL, json=feature, headers=bearer(token))
    assert response.status_code == 422
    assert sequence_count(engine) == 0
