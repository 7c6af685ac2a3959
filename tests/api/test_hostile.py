"""Issue 11's hostile inputs, each family on every route it reached: always a 4xx problem
naming the parameter or field, never a 500, and nothing written."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from helpers import bearer, make_feature
from sqlalchemy import Engine, text

from geoapi.store.importer import import_feature_collection
from geoapi.validation import ImportOptions

MakeUser = Any
DEEP = b"[" * 100_000 + b"]" * 100_000
OVERFLOWING = "0001-01-01T00:00:00+01:00"  # year 0 once in UTC
WALK = [(2.35, 48.85), (2.3501, 48.8502)]


def _client_error(answer: Any, field: str | None = None) -> dict[str, Any]:
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.get_data(as_text=True))
    body: dict[str, Any] = answer.get_json(force=True)
    if field is not None and "errors" in body:
        assert any(field in error["field"] for error in body["errors"]), body
    return body


@pytest.fixture(name="world")
def world_fixture(engine: Engine, make_user: MakeUser) -> dict[str, Any]:
    """A user with a sequence, a tour and an uploader draft of their own."""
    user, token = make_user("target")
    report = import_feature_collection(engine, user.id, make_feature("mine", WALK), ImportOptions())
    sequence_id = report.outcomes[0].sequence_id
    with engine.begin() as conn:
        tour_id = conn.execute(
            text("INSERT INTO tours (owner_id, title) VALUES (:o, 't') RETURNING id"),
            {"o": user.id},
        ).scalar_one()
        draft_id = conn.execute(
            text(
                "INSERT INTO sequences (owner_id, title, status, source)"
                " VALUES (:o, 'd', 'draft', 'uploader') RETURNING id"
            ),
            {"o": user.id},
        ).scalar_one()
    return {"token": token, "sequence": sequence_id, "tour": tour_id, "draft": draft_id}


def _body_routes(world: dict[str, Any]) -> list[tuple[str, str]]:
    """The nine routes that read a JSON body."""
    return [
        ("POST", "/api/v1/imports/geojson"),
        ("POST", "/api/v1/imports/mapillary"),
        ("PATCH", f"/api/v1/sequences/{world['sequence']}"),
        ("PUT", f"/api/v1/sequences/{uuid.uuid4()}/like"),
        ("POST", "/api/v1/tours"),
        ("PATCH", f"/api/v1/tours/{world['tour']}"),
        ("PUT", f"/api/v1/tours/{world['tour']}/sequences"),
        ("POST", "/api/v1/sequence/create/"),
        ("PUT", f"/api/v1/sequence/import/{world['draft']}/"),
    ]


def test_deeply_nested_json_is_a_client_error_on_every_body_route(
    client: FlaskClient, world: dict[str, Any], engine: Engine
) -> None:
    for method, path in _body_routes(world):
        answer = client.open(
            path,
            method=method,
            data=DEEP,
            content_type="application/json",
            headers=bearer(world["token"]),
        )
        _client_error(answer)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sequences")).scalar_one() == 2


def test_lone_surrogates_are_client_errors(
    client: FlaskClient, world: dict[str, Any], engine: Engine
) -> None:
    token = bearer(world["token"])
    surrogate = "\\ud800"  # JSON text: decodes to a lone surrogate, which is not UTF-8

    def send(method: str, path: str, body: str) -> Any:
        return client.open(
            path, method=method, data=body, content_type="application/json", headers=token
        )

    probes = [
        ("POST", "/api/v1/tours", '{"title": "a%sb"}', "title"),
        ("POST", "/api/v1/tours", '{"title": "ok", "tags": ["a%s"]}', "tags"),
        ("PATCH", f"/api/v1/sequences/{world['sequence']}", '{"title": "%s"}', "title"),
        ("PATCH", f"/api/v1/sequences/{world['sequence']}", '{"description": "%s"}', "description"),
        ("PATCH", f"/api/v1/sequences/{world['sequence']}", '{"tags": ["%s"]}', "tags"),
        ("POST", "/api/v1/sequence/create/", '{"name": "x%s"}', None),
    ]
    for method, path, template, field in probes:
        _client_error(send(method, path, template % surrogate), field)
    feature = json.dumps(make_feature("sur", WALK))
    for where in ("sur-img-1", "someone", "Apple"):  # an image key, a username, a camera make
        hostile = feature.replace(where, f"x{surrogate}")
        _client_error(send("POST", "/api/v1/imports/geojson", hostile), "body")  # unparsed
    # In a URL a surrogate can only arrive as bytes that are not UTF-8; never a 5xx.
    for path in ("/api/v1/sequences", "/api/v1/tours", "/collections/sequences/items"):
        answer = client.get(f"{path}?username=%ED%A0%80")
        assert answer.status_code < 500
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tours")).scalar_one() == 1


@pytest.mark.parametrize(
    "path",
    [
        "/collections/sequences/items",
        "/collections/photos/items",
        "/api/v1/sequences",
        "/api/v1/exports/sequences.geojson",
        "/tiles/3/4/2.mvt",
        "/tiles.json",
    ],
)
def test_a_datetime_that_overflows_in_utc_is_400(client: FlaskClient, path: str) -> None:
    for value in (OVERFLOWING, f"{OVERFLOWING}/..", "../9999-12-31T23:30:00-01:00"):
        body = _client_error(client.get(path, query_string={"datetime": value}), "datetime")
        assert body["status"] == 400


def test_an_import_date_that_overflows_is_422_naming_it(
    client: FlaskClient, world: dict[str, Any]
) -> None:
    feature = make_feature("old", WALK, captured_at=OVERFLOWING)
    answer = client.post("/api/v1/imports/geojson", json=feature, headers=bearer(world["token"]))
    assert answer.status_code == 422
    _client_error(answer, "properties.captured_at")


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/collections/sequences/items", "²"),
        ("/api/v1/sequences", "²"),
        ("/api/v1/tours", "٣"),
        ("/api/v1/tags", "²"),
        ("/api/v1/exports/sequences.geojson", "²"),
        ("/api/v1/exports/sequences.geojson", "99999999999999999999"),
        ("/collections/photos/items", "1" * 400),
    ],
)
def test_limits_are_ascii_digits_within_range(client: FlaskClient, path: str, limit: str) -> None:
    _client_error(client.get(path, query_string={"limit": limit}), "limit")


def test_a_400_digit_integer_coordinate_or_angle_is_422(
    client: FlaskClient, world: dict[str, Any], engine: Engine
) -> None:
    huge = "1" * 400
    base = json.dumps(make_feature("big", WALK))
    collection = json.dumps(
        {"type": "FeatureCollection", "features": [make_feature("ok", WALK), json.loads(base)]}
    )
    for replaced, field in (
        (base.replace("2.35,", f"{huge},", 1), "geometry.coordinates"),
        (base.replace('"cas": [0.0', f'"cas": [{huge}', 1), "properties.coordinateProperties.cas"),
        (collection.replace('"cas": [0.0', f'"cas": [{"9" * 20}', 1), "features[0].prop"),
        (_last_replaced(collection, '"cas": [0.0', f'"cas": [{"9" * 20}'), "features[1].prop"),
    ):
        answer = client.post(
            "/api/v1/imports/geojson",
            data=replaced,
            content_type="application/json",
            headers=bearer(world["token"]),
        )
        assert answer.status_code == 422, answer.get_data(as_text=True)
        (error,) = answer.get_json()["errors"]
        assert error["field"].startswith(field) and "64 bits" in error["message"], error
    assert _client_error(client.get(f"/collections/sequences/items?bbox={huge},1,2,3"), "bbox")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sequences")).scalar_one() == 2


def _last_replaced(text_: str, old: str, new: str) -> str:
    head, found, tail = text_.rpartition(old)
    assert found
    return head + new + tail


def _cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_hostile_cursors_are_400(client: FlaskClient, world: dict[str, Any]) -> None:
    some_id = str(uuid.uuid4())
    nested: Any = []
    for _ in range(250):
        nested = [nested]
    probes = [
        ("/api/v1/sequences", _cursor(["newest", nested, some_id])),
        ("/api/v1/sequences?sort=most_liked", _cursor(["most_liked", 2**40, some_id])),
        ("/api/v1/sequences?sort=most_liked", _cursor(["most_liked", -1, some_id])),
        ("/collections/photos/items", _cursor(["photos", some_id, 2**40])),
        ("/collections/photos/items", _cursor(["photos", some_id, 10**400])),
        ("/collections/sequences/items", _cursor(nested)),
        ("/api/v1/tours", _cursor(["tours", "2020-01-01T00:00:00+01:00", some_id[:-1]])),
    ]
    for path, cursor in probes:
        joiner = "&" if "?" in path else "?"
        _client_error(client.get(f"{path}{joiner}cursor={cursor}"), "cursor")


def test_import_max_features_is_enforced(
    make_user: MakeUser, engine: Engine, database_url: str
) -> None:
    from geoapi import create_app

    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "IMPORT_MAX_FEATURES": 10})
    _user, token = make_user("many")
    features = [make_feature(f"f{i}", WALK) for i in range(11)]
    for feature, i in zip(features, range(11), strict=True):
        feature["properties"]["coordinateProperties"]["image_keys"] = [f"m{i}a", f"m{i}b"]
    document = {"type": "FeatureCollection", "features": features}
    answer = app.test_client().post("/api/v1/imports/geojson", json=document, headers=bearer(token))
    assert answer.status_code == 413
    assert "10" in answer.get_json()["detail"]
    document["features"] = features[:10]
    fits = app.test_client().post("/api/v1/imports/geojson", json=document, headers=bearer(token))
    assert fits.status_code == 201 and fits.get_json()["imported"] == 10
    app.extensions["geoapi.engine"].dispose()


def test_a_database_failure_midway_answers_503_listing_what_was_committed(
    client: FlaskClient, make_user: MakeUser, engine: Engine
) -> None:
    """The 120th sequence's insert meets a server shutting down (SQLSTATE 57P01)."""
    _user, token = make_user("midway")
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION fail_midway() RETURNS trigger LANGUAGE plpgsql AS $$"
                " BEGIN IF NEW.mapillary_key = 'mid-119' THEN"
                " RAISE EXCEPTION 'terminating connection due to administrator command'"
                " USING ERRCODE = '57P01'; END IF; RETURN NEW; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER fail_midway BEFORE INSERT ON sequences"
                " FOR EACH ROW EXECUTE FUNCTION fail_midway()"
            )
        )
    try:
        features = [make_feature(f"mid-{i}", [(i * 0.001, 1.0)]) for i in range(200)]
        answer = client.post(
            "/api/v1/imports/geojson",
            json={"type": "FeatureCollection", "features": features},
            headers=bearer(token),
        )
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER fail_midway ON sequences"))
            conn.execute(text("DROP FUNCTION fail_midway()"))
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    body = answer.get_json()
    committed = [r["key"] for r in body["results"] if r["status"] == "imported"]
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT mapillary_key FROM sequences ORDER BY mapillary_key")
        ).scalars()
        assert sorted(committed) == list(stored)
    assert len(committed) == body["imported"] == 100  # two batches of 50 committed
    assert "post the document again" in body["detail"]
    again = client.post(
        "/api/v1/imports/geojson",
        json={"type": "FeatureCollection", "features": features},
        headers=bearer(token),
    )
    assert again.status_code == 201
    assert (again.get_json()["exists"], again.get_json()["imported"]) == (100, 100)
