"""The Desktop Uploader wire contract: drafts, then a fill from Mapillary v3 with the user's token.

Requests are shaped as the uploader sends them (form-encoded create, JSON import, trailing
slashes); answers keep its legacy ``{"status", "message", "unique_id"}`` / ``{"status": false,
"error"}`` shape instead of problem+json.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fake_mapillary import FakeMapillary, fake_mapillary_fixture  # noqa: F401
from flask.testing import FlaskClient
from helpers import bearer
from mapillary_support import (  # noqa: F401
    count_rows,
    make_mapillary_app_fixture,
    mly_app_fixture,
    mly_client_fixture,
)
from sqlalchemy import Engine, text

from geoapi.store.importer import import_feature_collection
from geoapi.validation import ImportOptions

MakeUser = Any
CREATE = "/api/v1/sequence/create/"
FIXTURE_KEY = "LMlIPUNhaj24h_q9v4ArNw"


def _legacy_error(answer: Any, status: int) -> str:
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.mimetype == "application/json"
    body = answer.get_json()
    assert body["status"] is False and set(body) == {"status", "error"}
    error: str = body["error"]
    return error


def _sequence(engine: Engine, sequence_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT s.*, t.name AS transport, ST_SRID(s.geom) AS srid,"
                " array(SELECT g.name FROM sequence_tags st JOIN tags g ON g.id = st.tag_id"
                "       WHERE st.sequence_id = s.id ORDER BY g.name) AS tags"
                " FROM sequences s LEFT JOIN transport_types t ON t.id = s.transport_type_id"
                " WHERE s.id = :id"
            ),
            {"id": sequence_id},
        ).one()


def _draft(client: FlaskClient, token: str, **fields: str) -> str:
    data = {"name": "Harbour walk", "transport_type": "Walk", "tag": "harbour,Sunny", **fields}
    answer = client.post(CREATE, data=data, headers=bearer(token))
    assert answer.status_code == 201, answer.get_data(as_text=True)
    unique_id: str = answer.get_json()["unique_id"]
    return unique_id


def _put(client: FlaskClient, token: str, unique_id: str, body: Any, slash: str = "/") -> Any:
    return client.put(
        f"/api/v1/sequence/import/{unique_id}{slash}", json=body, headers=bearer(token)
    )


def _import_body(fake: FakeMapillary, key: str = FIXTURE_KEY) -> dict[str, str]:
    return {"mapillary_user_token": fake.token, "mapillary_sequence_key": key}


# --- create ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [CREATE, "/api/v1/sequence/create"])
def test_create_a_draft_form_encoded_as_the_uploader_does(
    mly_client: FlaskClient, make_user: MakeUser, engine: Engine, path: str
) -> None:
    user, token = make_user("alice")
    data = {
        "name": "Harbour walk",
        "description": "Along the quay",
        "transport_type": "walk",
        "tag": "Harbour, sunny,harbour",
        "source": "mtpdu",
    }
    answer = mly_client.post(path, data=data, headers=bearer(token))
    assert answer.status_code == 201
    body = answer.get_json()
    assert body["status"] == "success" and body["message"]
    row = _sequence(engine, body["unique_id"])
    assert str(uuid.UUID(body["unique_id"])) == body["unique_id"]
    assert (row.owner_id, row.status, row.title, row.description) == (
        user.id,
        "draft",
        "Harbour walk",
        "Along the quay",
    )
    assert (row.transport, row.tags, row.source) == ("Walk", ["harbour", "sunny"], "mtpdu")
    assert (row.geom, row.photo_count, row.mapillary_key) == (None, 0, None)


def test_create_accepts_json_and_defaults_the_source(
    mly_client: FlaskClient, make_user: MakeUser, engine: Engine
) -> None:
    _user, token = make_user("alice")
    answer = mly_client.post(CREATE, json={"name": "Kayak", "tag": ["sea"]}, headers=bearer(token))
    assert answer.status_code == 201
    row = _sequence(engine, answer.get_json()["unique_id"])
    assert (row.title, row.transport, row.tags, row.source) == ("Kayak", None, ["sea"], "uploader")


def test_a_draft_is_invisible_to_others(mly_client: FlaskClient, make_user: MakeUser) -> None:
    _user, token = make_user("alice")
    _bob, bob_token = make_user("bob")
    unique_id = _draft(mly_client, token)
    assert (
        mly_client.get(f"/api/v1/sequences/{unique_id}", headers=bearer(token)).status_code == 200
    )
    assert (
        mly_client.get(f"/api/v1/sequences/{unique_id}", headers=bearer(bob_token)).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({}, "name is required"),
        ({"name": "   "}, "name is required"),
        ({"name": "x" * 201}, "name must be at most 200"),
        ({"name": "ok", "description": "d" * 10_001}, "description must be at most"),
        ({"name": "ok", "transport_type": "Earth"}, "is a category"),
        ({"name": "ok", "transport_type": "Teleport"}, "unknown transport type"),
        ({"name": "ok", "tag": "fine,not a tag!"}, "tag:"),
        ({"name": "ok", "source": "desk top"}, "source must be"),
        ({"name": "nul\x00"}, "NUL"),
    ],
)
def test_create_refuses_bad_fields_in_the_legacy_shape(
    mly_client: FlaskClient, make_user: MakeUser, engine: Engine, data: dict[str, str], needle: str
) -> None:
    _user, token = make_user("alice")
    assert needle in _legacy_error(mly_client.post(CREATE, data=data, headers=bearer(token)), 400)
    assert count_rows(engine)["sequences"] == 0


def test_create_needs_a_valid_token(mly_client: FlaskClient, engine: Engine) -> None:
    answer = mly_client.post(CREATE, data={"name": "x"})
    assert "bearer token" in _legacy_error(answer, 401)
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    _legacy_error(mly_client.post(CREATE, data={"name": "x"}, headers=bearer("gapi_wrong")), 401)
    _legacy_error(mly_client.post(CREATE, json=["x"], headers=bearer("gapi_wrong")), 401)
    assert count_rows(engine)["sequences"] == 0


def test_create_refuses_a_json_body_that_is_not_an_object(
    mly_client: FlaskClient, make_user: MakeUser
) -> None:
    _user, token = make_user("alice")
    assert "JSON object" in _legacy_error(
        mly_client.post(CREATE, json=["x"], headers=bearer(token)), 400
    )


# --- import ------------------------------------------------------------------------------------


@pytest.mark.parametrize("slash", ["/", ""])
def test_import_fills_the_draft_from_mapillary_v3(
    mly_client: FlaskClient,
    fake_mapillary: FakeMapillary,
    make_user: MakeUser,
    engine: Engine,
    seed_feature: dict[str, Any],
    slash: str,
) -> None:
    _user, token = make_user("alice")
    unique_id = _draft(mly_client, token, description="Along the quay")
    answer = _put(mly_client, token, unique_id, _import_body(fake_mapillary), slash)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert (body["status"], body["unique_id"]) == ("success", unique_id)
    assert "4 photos" in body["message"]
    # Mapillary v3, with the user's own token, as the uploader's contract says.
    for path in ("/v3/me", f"/v3/sequences/{FIXTURE_KEY}"):
        (call,) = fake_mapillary.calls(path)
        assert call.headers["Authorization"] == f"Bearer {fake_mapillary.token}"
    row = _sequence(engine, unique_id)
    props = seed_feature["properties"]
    assert (row.status, row.mapillary_key, row.photo_count, row.srid) == (
        "published",
        FIXTURE_KEY,
        4,
        4326,
    )
    assert (row.mapillary_user_key, row.mapillary_username) == (
        props["user_key"],
        props["username"],
    )
    assert (row.camera_make, row.pano) == ("Apple", False)
    assert row.captured_at.isoformat() == "2016-03-14T13:44:53.860000+00:00"
    assert row.mapillary_created_at.isoformat() == "2016-03-17T10:47:53.106000+00:00"
    assert row.length_m == pytest.approx(279.8, abs=0.1)  # geodesic metres along the 4 photos
    # The draft's own metadata is kept.
    assert (row.title, row.description, row.transport, row.tags) == (
        "Harbour walk",
        "Along the quay",
        "Walk",
        ["harbour", "sunny"],
    )
    with engine.connect() as conn:
        photos = conn.execute(
            text(
                "SELECT image_key, ca, position, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM photos"
                " WHERE sequence_id = :id ORDER BY position"
            ),
            {"id": unique_id},
        ).all()
    assert [p.image_key for p in photos] == props["coordinateProperties"]["image_keys"]
    assert [p.ca for p in photos] == props["coordinateProperties"]["cas"]
    assert [[p.lon, p.lat] for p in photos] == seed_feature["geometry"]["coordinates"]
    assert fake_mapillary.token not in answer.get_data(as_text=True)


def test_import_accepts_a_form_encoded_body(
    mly_client: FlaskClient, fake_mapillary: FakeMapillary, make_user: MakeUser, engine: Engine
) -> None:
    _user, token = make_user("alice")
    unique_id = _draft(mly_client, token)
    answer = mly_client.put(
        f"/api/v1/sequence/import/{unique_id}/",
        data=_import_body(fake_mapillary),
        headers=bearer(token),
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert _sequence(engine, unique_id).photo_count == 4


def test_import_again_with_the_same_key_is_idempotent(
    mly_client: FlaskClient, fake_mapillary: FakeMapillary, make_user: MakeUser, engine: Engine
) -> None:
    _user, token = make_user("alice")
    unique_id = _draft(mly_client, token)
    assert _put(mly_client, token, unique_id, _import_body(fake_mapillary)).status_code == 200
    again = _put(mly_client, token, unique_id, _import_body(fake_mapillary))
    assert again.status_code == 200 and again.get_json()["status"] == "success"
    assert count_rows(engine)["photos"] == 4
    assert len(fake_mapillary.calls("/v3/me")) == 1  # nothing fetched the second time
    assert fake_mapillary.user is not None
    other = fake_mapillary.add_sequence(fake_mapillary.user, 2)
    assert "not a draft" in _legacy_error(
        _put(mly_client, token, unique_id, _import_body(fake_mapillary, other.key)), 409
    )


def _unchanged_draft(engine: Engine, unique_id: str) -> None:
    row = _sequence(engine, unique_id)
    assert (row.status, row.geom, row.photo_count, row.mapillary_key) == ("draft", None, 0, None)
    with engine.connect() as conn:
        photos = conn.execute(
            text("SELECT count(*) FROM photos WHERE sequence_id = :id"), {"id": unique_id}
        ).scalar_one()
    assert photos == 0


def test_only_the_owner_may_import_and_unknown_ids_are_404(
    mly_client: FlaskClient, fake_mapillary: FakeMapillary, make_user: MakeUser, engine: Engine
) -> None:
    _user, token = make_user("alice")
    _bob, bob_token = make_user("bob")
    unique_id = _draft(mly_client, token)
    assert "owner" in _legacy_error(
        _put(mly_client, bob_token, unique_id, _import_body(fake_mapillary)), 403
    )
    _legacy_error(_put(mly_client, token, str(uuid.uuid4()), _import_body(fake_mapillary)), 404)
    _legacy_error(_put(mly_client, token, "not-a-uuid", _import_body(fake_mapillary)), 404)
    _legacy_error(mly_client.put(f"/api/v1/sequence/import/{unique_id}/", json={}), 401)
    _unchanged_draft(engine, unique_id)
    assert fake_mapillary.calls("/v3/me") == []


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"mapillary_sequence_key": FIXTURE_KEY}, "mapillary_user_token is required"),
        (
            {"mapillary_user_token": "", "mapillary_sequence_key": FIXTURE_KEY},
            "mapillary_user_token",
        ),
        ({"mapillary_user_token": "t"}, "mapillary_sequence_key is required"),
        ({"mapillary_user_token": "t", "mapillary_sequence_key": 12}, "mapillary_sequence_key"),
        ({"strava": True}, "mapillary_user_token is required"),
        ({"mapillary_user_token": "t", "mapillary_sequence_key": "a b"}, "mapillary_sequence_key"),
        ({"mapillary_user_token": "t\x00", "mapillary_sequence_key": "ab"}, "printable"),
        (["not", "an", "object"], "JSON object"),
    ],
)
def test_import_refuses_missing_fields(
    mly_client: FlaskClient, make_user: MakeUser, engine: Engine, body: Any, needle: str
) -> None:
    _user, token = make_user("alice")
    unique_id = _draft(mly_client, token)
    assert needle in _legacy_error(_put(mly_client, token, unique_id, body), 400)
    _unchanged_draft(engine, unique_id)


def test_import_refuses_a_sequence_the_token_user_does_not_own(
    mly_client: FlaskClient, fake_mapillary: FakeMapillary, make_user: MakeUser, engine: Engine
) -> None:
    _user, token = make_user("alice")
    unique_id = _draft(mly_client, token)
    bob = fake_mapillary.add_user("bob")
    answer = _put(
        mly_client,
        token,
        unique_id,
        {
            "mapillary_user_token": fake_mapillary.issue_token(bob),
            "mapillary_sequence_key": FIXTURE_KEY,
        },
    )
    assert "does not belong to the Mapillary user 'bob'" in _legacy_error(answer, 403)
    _unchanged_draft(engine, unique_id)


def test_import_with_a_token_mapillary_refuses_is_403(
    mly_client: FlaskClient, fake_mapillary: FakeMapillary, make_user: MakeUser, engine: Engine
) -> None:
    _user, token = make_user("alice")
    unique_id = _draft(mly_client, token)
    bad = "MLY|revoked-token-do-not-echo"
    answer = _put(
        mly_client,
        token,
        unique_id,
        {"mapillary_user_token": bad, "mapillary_sequence_key": FIXTURE_KEY},
    )
    assert "refused mapillary_user_token" in _legacy_error(answer, 403)
    assert "do-not-echo" not in answer.get_data(as_text=True)
    _unchanged_draft(engine, unique_id)


def test_import_of_an_unknown_mapillary_sequence_is_404(
    mly_client: FlaskClient, fake_mapillary: FakeMapillary, make_user: MakeUser, engine: Engine
) -> None:
    _user, token = make_user("alice")
    unique_id = _draft(mly_client, token)
    answer = _put(
        mly_client, token, unique_id, _import_body(fake_mapillary, "NoSuchSequence0000000")
    )
    assert "Mapillary has no sequence NoSuchSequence0000000" in _legacy_error(answer, 404)
    _unchanged_draft(engine, unique_id)


@pytest.mark.parametrize("fault", ["500", "malformed", "bad-angle"])
def test_upstream_failure_is_502_and_the_draft_is_unchanged(
    mly_client: FlaskClient,
    fake_mapillary: FakeMapillary,
    make_user: MakeUser,
    engine: Engine,
    seed_feature: dict[str, Any],
    fault: str,
) -> None:
    _user, token = make_user("alice")
    unique_id = _draft(mly_client, token)
    path = f"/v3/sequences/{FIXTURE_KEY}"
    if fault == "500":
        fake_mapillary.server_error(path, times=5)
    elif fault == "malformed":
        fake_mapillary.malformed(path)
    else:
        seed_feature["properties"]["coordinateProperties"]["cas"][2] = 400.0
        fake_mapillary.respond(path, seed_feature)
    answer = _put(mly_client, token, unique_id, _import_body(fake_mapillary))
    error = _legacy_error(answer, 502)
    assert "Mapillary" in error and fake_mapillary.token not in answer.get_data(as_text=True)
    _unchanged_draft(engine, unique_id)


def test_a_key_imported_as_another_sequence_is_409(
    mly_client: FlaskClient,
    fake_mapillary: FakeMapillary,
    make_user: MakeUser,
    engine: Engine,
    seed_feature: dict[str, Any],
) -> None:
    bob, _bob_token = make_user("bob")
    import_feature_collection(engine, bob.id, seed_feature, ImportOptions())
    _user, token = make_user("alice")
    unique_id = _draft(mly_client, token)
    answer = _put(mly_client, token, unique_id, _import_body(fake_mapillary))
    assert "imported as another sequence" in _legacy_error(answer, 409)
    _unchanged_draft(engine, unique_id)
    assert count_rows(engine) == {"sequences": 2, "photos": 4, "sequence_tags": 2}
    assert fake_mapillary.calls("/v3/me") == []


def test_image_keys_taken_by_another_sequence_is_409_and_nothing_half_written(
    mly_client: FlaskClient,
    fake_mapillary: FakeMapillary,
    make_user: MakeUser,
    engine: Engine,
    seed_feature: dict[str, Any],
) -> None:
    bob, _bob_token = make_user("bob")
    seed_feature["properties"]["key"] = "AnotherKeyWithTheSameImages"
    import_feature_collection(engine, bob.id, seed_feature, ImportOptions())
    _user, token = make_user("alice")
    unique_id = _draft(mly_client, token)
    answer = _put(mly_client, token, unique_id, _import_body(fake_mapillary))
    assert "image" in _legacy_error(answer, 409)
    _unchanged_draft(engine, unique_id)
    assert count_rows(engine)["photos"] == 4
