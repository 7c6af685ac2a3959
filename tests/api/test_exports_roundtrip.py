"""Exports in the Mapillary v3 shape re-import into an empty database as the same sequences."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from flask.testing import FlaskClient
from helpers import bearer, make_feature
from sqlalchemy import Engine, text

from geoapi.times import format_timestamp
from geoapi.validation import parse_feature

IMPORT_URL = "/api/v1/imports/geojson"
MakeUser = Callable[[str], tuple[Any, str]]
EVERYTHING = (
    "users, api_tokens, mapillary_accounts, tags, sequences, sequence_tags, photos, likes, "
    "tours, tour_sequences, tour_tags, import_jobs"
)
STATE_SQL = """
SELECT s.mapillary_key, s.mapillary_user_key, s.mapillary_username, s.title, s.description,
       tt.name AS transport_type, s.camera_make, s.captured_at, s.mapillary_created_at, s.pano,
       s.status, s.photo_count, s.length_m, ST_AsEWKT(s.geom) AS geom,
       ARRAY(SELECT t.name FROM sequence_tags st JOIN tags t ON t.id = st.tag_id
             WHERE st.sequence_id = s.id ORDER BY t.name) AS tags,
       ARRAY(SELECT p.image_key FROM photos p WHERE p.sequence_id = s.id ORDER BY p.position)
           AS image_keys,
       ARRAY(SELECT p.ca FROM photos p WHERE p.sequence_id = s.id ORDER BY p.position) AS cas,
       ARRAY(SELECT ST_X(p.geom) FROM photos p WHERE p.sequence_id = s.id ORDER BY p.position)
           AS lons,
       ARRAY(SELECT ST_Y(p.geom) FROM photos p WHERE p.sequence_id = s.id ORDER BY p.position)
           AS lats
FROM sequences s LEFT JOIN transport_types tt ON tt.id = s.transport_type_id
ORDER BY s.mapillary_key
"""


def database_state(engine: Engine) -> list[dict[str, Any]]:
    """Every sequence as stored, without ids or owners (which differ after a re-import)."""
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(text(STATE_SQL))]


def empty_database(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {EVERYTHING} RESTART IDENTITY CASCADE"))


def import_for(client: FlaskClient, token: str, document: Any, **meta: Any) -> list[str]:
    body = {"geojson": document, **meta} if meta else document
    response = client.post(IMPORT_URL, json=body, headers=bearer(token))
    assert response.status_code == 201, response.json
    assert response.json["failed"] == 0
    return [r["sequence_id"] for r in response.json["results"]]


def export(client: FlaskClient, sequence_id: str, headers: dict[str, str] | None = None) -> Any:
    response = client.get(f"/api/v1/sequences/{sequence_id}/export.geojson", headers=headers or {})
    assert response.status_code == 200, response.json
    assert response.mimetype == "application/geo+json"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="sequence-{sequence_id}.geojson"'
    )
    return response.json


META = {
    "title": "Pierre's walk — Moundou",
    "description": 'Le marché, puis la rivière.\nSecond line; 100% "quoted".',
    "transport_type": "walk",
    "tags": ["Market", "  chad ", "river-side"],
}


def test_export_is_the_v3_feature_plus_metadata(
    client: FlaskClient, make_user: MakeUser, seed_collection: dict[str, Any]
) -> None:
    _, token = make_user("pierre")
    [sequence_id] = import_for(client, token, copy.deepcopy(seed_collection), **META)
    document = export(client, sequence_id)
    assert document["type"] == "FeatureCollection" and len(document["features"]) == 1
    seed = seed_collection["features"][0]
    feature = document["features"][0]
    assert feature["type"] == "Feature"
    assert feature["geometry"] == seed["geometry"]
    assert feature["properties"] == {
        **seed["properties"],
        "title": META["title"],
        "description": META["description"],
        "transport_type": "Walk",
        "tags": ["chad", "market", "river-side"],
    }
    # Mapillary's own timestamp form, to the character.
    assert feature["properties"]["captured_at"] == "2016-03-14T13:44:53.860Z"
    assert feature["properties"]["created_at"] == "2016-03-17T10:47:53.106Z"


def test_round_trip_into_an_empty_database(
    client: FlaskClient,
    make_user: MakeUser,
    engine: Engine,
    seed_collection: dict[str, Any],
) -> None:
    _, token = make_user("pierre")
    [sequence_id] = import_for(client, token, copy.deepcopy(seed_collection), **META)
    before = database_state(engine)
    first = export(client, sequence_id)

    empty_database(engine)
    assert database_state(engine) == []
    _, new_token = make_user("someone-else")
    [new_id] = import_for(client, new_token, first)

    assert new_id != sequence_id
    assert database_state(engine) == before
    assert export(client, new_id) == first
    seed = seed_collection["features"][0]["properties"]
    [after] = database_state(engine)
    assert after["mapillary_key"] == seed["key"]
    assert after["image_keys"] == seed["coordinateProperties"]["image_keys"]
    assert after["cas"] == seed["coordinateProperties"]["cas"]
    assert after["transport_type"] == "Walk" and after["tags"] == ["chad", "market", "river-side"]


EDGE_CASES = [
    # One photo, no compass angle, panorama, sub-millisecond time, nothing optional.
    make_feature(
        "one-photo",
        [(-0.1276, 51.5072)],
        coordinateProperties={"cas": [None], "image_keys": ["only-image"]},
        pano=True,
        captured_at="2021-07-04T23:59:59.123456Z",
        created_at=None,
        camera_make=None,
        user_key=None,
        username=None,
    ),
    # Long line, mixed angles, extreme coordinates, metadata in the feature itself.
    make_feature(
        "dateline",
        [(179.999999, -89.5), (-179.999999, -89.49), (0.0, 0.0), (12.3456789, 45.6789012)],
        coordinateProperties={
            "cas": [0.0, None, 359.999, 180.5],
            "image_keys": ["d0", "d1", "d2", "d3"],
        },
        captured_at="2000-01-01T00:00:00Z",
        created_at="2000-01-02T03:04:05.006+02:00",
        title="Around the pole",
        description=None,
        transport_type="Unlisted",
        tags=["polar", "x"],
    ),
]


@pytest.mark.parametrize("feature", EDGE_CASES, ids=["one-photo", "dateline"])
def test_round_trip_edge_cases(
    client: FlaskClient, make_user: MakeUser, engine: Engine, feature: dict[str, Any]
) -> None:
    _, token = make_user("ann")
    [sequence_id] = import_for(client, token, copy.deepcopy(feature))
    before = database_state(engine)
    exported = export(client, sequence_id)
    [out] = exported["features"]
    # parse_feature on the export reproduces the record the original import produced (a
    # feature without a title got the importer's default title, which the export carries).
    expected = parse_feature(feature)
    if expected.title is None:
        assert out["properties"]["title"] == "Sequence 2021-07-04 one-photo"
        expected = replace(expected, title=out["properties"]["title"])
    assert parse_feature(out) == expected
    empty_database(engine)
    _, other = make_user("bob")
    [new_id] = import_for(client, other, exported)
    assert database_state(engine) == before
    assert export(client, new_id) == exported


def test_timestamps_are_iso_utc_with_milliseconds() -> None:
    parsed = parse_feature(make_feature("k", [(0, 0)], captured_at="2016-03-14T14:44:53.86+01:00"))
    assert format_timestamp(parsed.captured_at) == "2016-03-14T13:44:53.860Z"
    assert format_timestamp(None) is None


def test_tour_export_keeps_tour_order_and_round_trips(
    client: FlaskClient, make_user: MakeUser, engine: Engine
) -> None:
    owner, token = make_user("owner")
    features = [
        make_feature(
            f"seq-{i}", [(5.0 + i, 45.0), (5.0 + i, 45.001)], title=f"S{i}", tags=[f"t{i}"]
        )
        for i in range(3)
    ]
    ids = import_for(client, token, {"type": "FeatureCollection", "features": features})
    order = [ids[2], ids[0], ids[1]]
    with engine.begin() as conn:  # an owner's draft in the tour is not exported
        draft = str(
            conn.execute(
                text(
                    "INSERT INTO sequences (owner_id, title, status) VALUES (:o, 'd', 'draft')"
                    " RETURNING id"
                ),
                {"o": owner.id},
            ).scalar_one()
        )
    tour = client.post(
        "/api/v1/tours",
        json={"title": "Tour", "sequence_ids": [order[0], draft, order[1], order[2]]},
        headers=bearer(token),
    ).json
    response = client.get(f"/api/v1/tours/{tour['id']}/export.geojson")
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="tour-{tour["id"]}.geojson"'
    )
    exported = response.json
    assert [f["properties"]["key"] for f in exported["features"]] == ["seq-2", "seq-0", "seq-1"]
    for out in exported["features"]:
        original = next(f for f in features if f["properties"]["key"] == out["properties"]["key"])
        assert parse_feature(out) == parse_feature(original)
    before = database_state(engine)

    empty_database(engine)
    _, new_token = make_user("newcomer")
    new_ids = import_for(client, new_token, exported)
    assert database_state(engine) == [row for row in before if row["status"] == "published"]
    assert len(new_ids) == 3


def test_draft_export_is_409_for_its_owner_and_404_for_others(
    client: FlaskClient, make_user: MakeUser, engine: Engine
) -> None:
    owner, token = make_user("owner")
    _, other = make_user("other")
    with engine.begin() as conn:
        draft = conn.execute(
            text(
                "INSERT INTO sequences (owner_id, title, status) VALUES (:o, 'd', 'draft')"
                " RETURNING id"
            ),
            {"o": owner.id},
        ).scalar_one()
    url = f"/api/v1/sequences/{draft}/export.geojson"
    assert client.get(url, headers=bearer(token)).status_code == 409
    for headers in ({}, bearer(other)):
        response = client.get(url, headers=headers)
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"


def test_unknown_exports_are_404(client: FlaskClient, engine: Engine) -> None:
    for path in (
        f"/api/v1/sequences/{uuid.uuid4()}/export.geojson",
        f"/api/v1/tours/{uuid.uuid4()}/export.geojson",
        "/api/v1/tours/x/export.geojson",
    ):
        response = client.get(path)
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"
