"""/api/v1/sequences: read, list, edit and delete through HTTP against real PostGIS."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from helpers import bearer, make_feature
from sqlalchemy import Engine, text

from geoapi.store.importer import import_feature_collection
from geoapi.validation import ImportOptions

PROBLEM = "application/problem+json"
GEOJSON = "application/geo+json"
WALK = [(2.35, 48.85), (2.3501, 48.8502), (2.3503, 48.8505)]

MakeUser = Callable[[str], tuple[Any, str]]


def add_sequence(
    engine: Engine,
    owner_id: uuid.UUID,
    key: str,
    points: list[tuple[float, float]] = WALK,
    options: ImportOptions | None = None,
    **props: Any,
) -> uuid.UUID:
    """Import one sequence with the real importer; return its id."""
    feature = make_feature(key, points, **props)
    report = import_feature_collection(engine, owner_id, feature, options or ImportOptions())
    outcome = report.outcomes[0]
    assert outcome.status == "imported", outcome
    assert outcome.sequence_id is not None
    return outcome.sequence_id


def add_draft(engine: Engine, owner_id: uuid.UUID, title: str = "Draft") -> uuid.UUID:
    """A desktop-uploader draft: no photos yet, invisible to everyone but its owner."""
    with engine.begin() as conn:
        draft_id: uuid.UUID = conn.execute(
            text(
                "INSERT INTO sequences (owner_id, title, status, source)"
                " VALUES (:o, :t, 'draft', 'uploader') RETURNING id"
            ),
            {"o": owner_id, "t": title},
        ).scalar_one()
    return draft_id


def row(engine: Engine, sequence_id: uuid.UUID) -> dict[str, Any] | None:
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT s.title, s.description, s.transport_type_id, s.updated_at,"
                " ARRAY(SELECT t.name FROM sequence_tags st JOIN tags t ON t.id = st.tag_id"
                "       WHERE st.sequence_id = s.id ORDER BY t.name) AS tags"
                " FROM sequences s WHERE s.id = :id"
            ),
            {"id": sequence_id},
        ).one_or_none()
    return dict(found._mapping) if found else None


def assert_problem(response: Any, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    assert response.json["status"] == status
    if field is not None:
        assert field in [e["field"] for e in response.json.get("errors", [])], response.json


# Reading --------------------------------------------------------------------------------------


def test_get_sequence_is_a_geojson_feature(
    client: FlaskClient, make_user: MakeUser, engine: Engine, seed_collection: dict[str, Any]
) -> None:
    owner, _ = make_user("pierre")
    report = import_feature_collection(
        engine,
        owner.id,
        seed_collection,
        ImportOptions(title="Market walk", transport_type="walk", tags=("market", "old-town")),
    )
    sequence_id = report.outcomes[0].sequence_id
    response = client.get(f"/api/v1/sequences/{sequence_id}")
    assert response.status_code == 200
    assert response.mimetype == GEOJSON
    feature = response.json
    assert feature["type"] == "Feature" and feature["id"] == str(sequence_id)
    seed = seed_collection["features"][0]
    assert feature["geometry"] == seed["geometry"]
    props = feature["properties"]
    assert props["title"] == "Market walk"
    assert props["transport_type"] == "Walk" and props["transport_type_parent"] == "Earth"
    assert props["tags"] == ["market", "old-town"]
    assert props["camera_make"] == "Apple"
    assert props["captured_at"] == "2016-03-14T13:44:53.860Z"
    assert props["created_at"] == "2016-03-17T10:47:53.106Z"
    assert props["mapillary_key"] == "LMlIPUNhaj24h_q9v4ArNw"
    assert props["mapillary_user_key"] == "AGfe-07BEJX0-kxpu9J3rA"
    assert props["mapillary_username"] == "pierregeo"
    assert props["username"] == "pierre"
    assert props["pano"] is False and props["photo_count"] == 4
    # ~ 280 m northwards along a meridian at 7.25 N (0.00253 degrees of latitude).
    assert 270 < props["length_m"] < 290
    assert props["like_count"] == 0 and props["tour_ids"] == []
    assert "liked_by_me" not in props


def test_liked_by_me_and_tour_ids_when_authenticated(
    client: FlaskClient, make_user: MakeUser, engine: Engine
) -> None:
    owner, owner_token = make_user("owner")
    _, fan_token = make_user("fan")
    sequence_id = add_sequence(engine, owner.id, "k1")
    tour = client.post(
        "/api/v1/tours",
        json={"title": "T", "sequence_ids": [str(sequence_id)]},
        headers=bearer(owner_token),
    )
    assert tour.status_code == 201
    url = f"/api/v1/sequences/{sequence_id}"
    assert client.get(url, headers=bearer(fan_token)).json["properties"]["liked_by_me"] is False
    client.put(f"{url}/like", json={"liked": True}, headers=bearer(fan_token))
    props = client.get(url, headers=bearer(fan_token)).json["properties"]
    assert props["liked_by_me"] is True and props["like_count"] == 1
    assert props["tour_ids"] == [tour.json["id"]]
    assert client.get(url, headers=bearer(owner_token)).json["properties"]["liked_by_me"] is False


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sequences/not-a-uuid",
        "/api/v1/sequences/123",
        "/api/v1/sequences/' OR 1=1 --",
        "/api/v1/sequences/not-a-uuid/export.geojson",
        f"/api/v1/sequences/{uuid.uuid4()}",
        f"/api/v1/sequences/{uuid.uuid4()}/export.geojson",
    ],
)
def test_unknown_or_malformed_id_is_404(client: FlaskClient, path: str) -> None:
    assert_problem(client.get(path), 404)


@pytest.mark.parametrize("method", ["patch", "delete"])
def test_writes_to_malformed_or_unknown_ids_are_404(
    client: FlaskClient, make_user: MakeUser, method: str
) -> None:
    _, token = make_user("writer")
    for sequence_id in ("zzz", str(uuid.uuid4())):
        response = getattr(client, method)(
            f"/api/v1/sequences/{sequence_id}", json={"title": "x"}, headers=bearer(token)
        )
        assert_problem(response, 404)


def test_a_bad_token_is_401_even_on_reads(client: FlaskClient, engine: Engine) -> None:
    response = client.get(f"/api/v1/sequences/{uuid.uuid4()}", headers=bearer("gapi_nope"))
    assert_problem(response, 401)


def test_drafts_are_invisible_to_everyone_but_the_owner(
    client: FlaskClient, make_user: MakeUser, engine: Engine
) -> None:
    owner, owner_token = make_user("owner")
    _, other_token = make_user("other")
    draft_id = add_draft(engine, owner.id)
    url = f"/api/v1/sequences/{draft_id}"
    mine = client.get(url, headers=bearer(owner_token))
    assert mine.status_code == 200
    assert mine.json["properties"]["status"] == "draft" and mine.json["geometry"] is None
    assert_problem(client.get(url), 404)
    assert_problem(client.get(url, headers=bearer(other_token)), 404)
    assert_problem(client.get(f"{url}/export.geojson", headers=bearer(other_token)), 404)
    assert_problem(client.patch(url, json={"title": "mine"}, headers=bearer(other_token)), 404)
    assert_problem(client.delete(url, headers=bearer(other_token)), 404)
    assert row(engine, draft_id)["title"] == "Draft"  # type: ignore[index]
    listed = client.get("/api/v1/sequences", headers=bearer(other_token)).json
    assert listed["features"] == []


# Editing --------------------------------------------------------------------------------------


def test_owner_patches_metadata(client: FlaskClient, make_user: MakeUser, engine: Engine) -> None:
    owner, token = make_user("owner")
    sequence_id = add_sequence(engine, owner.id, "k1", options=ImportOptions(description="old"))
    url = f"/api/v1/sequences/{sequence_id}"
    body = {
        "title": "  Along the Seine ",
        "transport_type": "ELECTRIC bicycle",
        "tags": [" River ", "PARIS", "river", "bike-path"],
    }
    response = client.patch(url, json=body, headers=bearer(token))
    assert response.status_code == 200 and response.mimetype == GEOJSON
    props = response.json["properties"]
    assert props["title"] == "Along the Seine"
    assert props["description"] == "old"  # absent fields are left alone
    assert props["transport_type"] == "Electric Bicycle"
    assert props["transport_type_parent"] == "Earth"
    assert props["tags"] == ["bike-path", "paris", "river"]
    assert client.get(url, headers=bearer(token)).json["properties"] == props
    stored = row(engine, sequence_id)
    assert stored is not None and stored["tags"] == ["bike-path", "paris", "river"]

    cleared = client.patch(
        url,
        json={"description": None, "tags": [], "transport_type": "other"},
        headers=bearer(token),
    ).json["properties"]
    assert cleared["description"] is None and cleared["tags"] == []
    assert cleared["transport_type"] == "Unlisted" and cleared["transport_type_parent"] == "Other"
    assert cleared["title"] == "Along the Seine"


def test_patch_description_up_to_the_limit(
    client: FlaskClient, make_user: MakeUser, engine: Engine
) -> None:
    owner, token = make_user("owner")
    sequence_id = add_sequence(engine, owner.id, "k1")
    text_10k = "é" * 10_000
    response = client.patch(
        f"/api/v1/sequences/{sequence_id}",
        json={"description": text_10k, "title": "t" * 200},
        headers=bearer(token),
    )
    assert response.status_code == 200
    assert response.json["properties"]["description"] == text_10k


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "t" * 201}, "title"),
        ({"title": None}, "title"),
        ({"title": 42}, "title"),
        ({"title": "nul\x00byte"}, "title"),
        ({"description": "nul\x00byte"}, "description"),
        ({"tags": ["nul\x00"]}, "tags[0]"),
        ({"description": "d" * 10_001}, "description"),
        ({"description": ["x"]}, "description"),
        ({"transport_type": "Spaceship"}, "transport_type"),
        ({"transport_type": "Earth"}, "transport_type"),
        ({"transport_type": 3}, "transport_type"),
        ({"transport_type": "w" * 5000}, "transport_type"),
        ({"tags": "walk"}, "tags"),
        ({"tags": ["fine", "not fine!"]}, "tags[1]"),
        ({"tags": ["ok", 7]}, "tags[1]"),
        ({"tags": ["t" * 65]}, "tags[0]"),
        ({"tags": [""]}, "tags[0]"),
        ({"tags": [f"t{i}" for i in range(51)]}, "tags"),
        ({"owner_id": str(uuid.uuid4())}, "owner_id"),
        ({"like_count": 1000}, "like_count"),
        ([], "body"),
        ("title", "body"),
    ],
)
def test_patch_rejects_bad_values_and_changes_nothing(
    client: FlaskClient, make_user: MakeUser, engine: Engine, body: Any, field: str
) -> None:
    owner, token = make_user("owner")
    sequence_id = add_sequence(engine, owner.id, "k1", options=ImportOptions(tags=("keep",)))
    before = row(engine, sequence_id)
    # A valid title rides along: nothing is half-written when another field is bad.
    payload = (
        {"title": "changed", **body} if isinstance(body, dict) and "title" not in body else body
    )
    response = client.patch(f"/api/v1/sequences/{sequence_id}", json=payload, headers=bearer(token))
    assert_problem(response, 422, field)
    assert row(engine, sequence_id) == before


def test_patch_invalid_json_is_422(
    client: FlaskClient, make_user: MakeUser, engine: Engine
) -> None:
    owner, token = make_user("owner")
    sequence_id = add_sequence(engine, owner.id, "k1")
    response = client.patch(
        f"/api/v1/sequences/{sequence_id}",
        data=b"{title:",
        headers=bearer(token),
        content_type="application/json",
    )
    assert_problem(response, 422, "body")


def test_only_the_owner_patches(client: FlaskClient, make_user: MakeUser, engine: Engine) -> None:
    owner, _ = make_user("owner")
    _, other_token = make_user("other")
    sequence_id = add_sequence(engine, owner.id, "k1", options=ImportOptions(tags=("keep",)))
    before = row(engine, sequence_id)
    url = f"/api/v1/sequences/{sequence_id}"
    assert_problem(
        client.patch(url, json={"title": "hijacked", "tags": []}, headers=bearer(other_token)), 403
    )
    assert_problem(client.patch(url, json={"title": "anonymous"}), 401)
    assert_problem(client.patch(url, json={"title": "bad"}, headers=bearer("gapi_bad")), 401)
    assert row(engine, sequence_id) == before


def test_only_the_owner_deletes(client: FlaskClient, make_user: MakeUser, engine: Engine) -> None:
    owner, _ = make_user("owner")
    _, other_token = make_user("other")
    sequence_id = add_sequence(engine, owner.id, "k1")
    url = f"/api/v1/sequences/{sequence_id}"
    assert_problem(client.delete(url, headers=bearer(other_token)), 403)
    assert_problem(client.delete(url), 401)
    assert row(engine, sequence_id) is not None


def test_delete_takes_photos_likes_and_tour_places_with_it(
    client: FlaskClient, make_user: MakeUser, engine: Engine
) -> None:
    owner, token = make_user("owner")
    _, fan_token = make_user("fan")
    a, b, c = (add_sequence(engine, owner.id, key) for key in ("ka", "kb", "kc"))
    client.put(f"/api/v1/sequences/{b}/like", json={"liked": True}, headers=bearer(fan_token))
    tour_1 = client.post(
        "/api/v1/tours",
        json={"title": "1", "sequence_ids": [str(a), str(b), str(c)]},
        headers=bearer(token),
    ).json["id"]
    tour_2 = client.post(
        "/api/v1/tours",
        json={"title": "2", "sequence_ids": [str(b), str(a)]},
        headers=bearer(token),
    ).json["id"]

    response = client.delete(f"/api/v1/sequences/{b}", headers=bearer(token))
    assert response.status_code == 204 and response.get_data() == b""
    assert_problem(client.get(f"/api/v1/sequences/{b}"), 404)
    with engine.connect() as conn:
        for table in ("photos", "likes", "tour_sequences", "sequence_tags"):
            left = conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE sequence_id = :s"), {"s": b}
            ).scalar_one()
            assert left == 0, table
        positions = conn.execute(
            text(
                "SELECT tour_id, sequence_id, position FROM tour_sequences"
                " ORDER BY tour_id, position"
            )
        ).all()
        # Both tours stay dense 0..n-1 in their original order.
        by_tour: dict[str, list[tuple[uuid.UUID, int]]] = {}
        for tour_id, seq_id, position in positions:
            by_tour.setdefault(str(tour_id), []).append((seq_id, position))
        assert by_tour[tour_1] == [(a, 0), (c, 1)]
        assert by_tour[tour_2] == [(a, 0)]
        assert conn.execute(text("SELECT count(*) FROM photos")).scalar_one() == 6
    assert [s["id"] for s in client.get(f"/api/v1/tours/{tour_1}").json["sequences"]] == [
        str(a),
        str(c),
    ]
    assert_problem(client.delete(f"/api/v1/sequences/{b}", headers=bearer(token)), 404)


# Listing --------------------------------------------------------------------------------------


def list_ids(client: FlaskClient, query: str, **kw: Any) -> list[str]:
    response = client.get(f"/api/v1/sequences{query}", **kw)
    assert response.status_code == 200, response.json
    assert response.mimetype == GEOJSON
    return [f["id"] for f in response.json["features"]]


def test_list_newest_captured_first_nulls_last(
    client: FlaskClient, make_user: MakeUser, engine: Engine
) -> None:
    owner, _ = make_user("owner")
    old = add_sequence(engine, owner.id, "old", captured_at="2019-01-01T00:00:00.000Z")
    new = add_sequence(engine, owner.id, "new", captured_at="2021-01-01T00:00:00.000Z")
    undated = add_sequence(engine, owner.id, "undated", captured_at=None)
    mid = add_sequence(engine, owner.id, "mid", captured_at="2020-01-01T00:00:00.000Z")
    assert list_ids(client, "") == [str(new), str(mid), str(old), str(undated)]


def test_list_pages_with_an_opaque_cursor(
    client: FlaskClient, make_user: MakeUser, engine: Engine
) -> None:
    owner, _ = make_user("owner")
    ids = []
    # Ties on captured_at and NULLs must page without loss or repeats.
    for i in range(7):
        when = None if i % 3 == 0 else f"2020-01-0{1 + i % 2}T00:00:00.000Z"
        ids.append(str(add_sequence(engine, owner.id, f"k{i}", captured_at=when)))
    seen: list[str] = []
    url: str | None = "/api/v1/sequences?limit=2&username=owner"
    pages = 0
    while url:
        body = client.get(url).json
        assert body["numberReturned"] == len(body["features"]) <= 2
        seen += [f["id"] for f in body["features"]]
        assert body["links"][0] == {
            "rel": "self",
            "type": GEOJSON,
            "href": "http://localhost" + url,
        }
        nexts = [link["href"] for link in body["links"] if link["rel"] == "next"]
        assert (body["next_cursor"] is None) == (not nexts)
        url = nexts[0].replace("http://localhost", "") if nexts else None
        if url:
            assert "username=owner" in url and "limit=2" in url
        pages += 1
    assert pages == 4
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    assert seen == list_ids(client, "?limit=100")


def test_list_most_liked(client: FlaskClient, make_user: MakeUser, engine: Engine) -> None:
    owner, _ = make_user("owner")
    fans = [make_user(f"fan{i}")[1] for i in range(3)]
    ids = [add_sequence(engine, owner.id, f"k{i}") for i in range(3)]
    for count, sequence_id in zip((1, 3, 2), ids, strict=True):
        for token in fans[:count]:
            client.put(
                f"/api/v1/sequences/{sequence_id}/like", json={"liked": True}, headers=bearer(token)
            )
    expected = [str(ids[1]), str(ids[2]), str(ids[0])]
    assert list_ids(client, "?sort=most_liked") == expected
    first = client.get("/api/v1/sequences?sort=most_liked&limit=2").json
    assert [f["properties"]["like_count"] for f in first["features"]] == [3, 2]
    rest = list_ids(client, f"?sort=most_liked&limit=2&cursor={first['next_cursor']}")
    assert rest == [str(ids[0])]


def test_list_filters(client: FlaskClient, make_user: MakeUser, engine: Engine) -> None:
    ann, _ = make_user("ann")
    bob, _ = make_user("bob")
    kayak = add_sequence(
        engine,
        ann.id,
        "kayak",
        options=ImportOptions(transport_type="Kayak", tags=("lake",)),
        captured_at="2019-06-01T08:00:00.000Z",
    )
    walk = add_sequence(
        engine, ann.id, "walk", options=ImportOptions(transport_type="Walk", tags=("lake", "dog"))
    )
    pano = add_sequence(engine, bob.id, "pano", pano=True)
    assert list_ids(client, "?username=ANN") == [str(walk), str(kayak)]
    assert list_ids(client, "?username=bob") == [str(pano)]
    assert list_ids(client, "?username=nobody") == []
    assert list_ids(client, "?transport_type=water") == [str(kayak)]
    assert list_ids(client, "?transport_type=walk") == [str(walk)]
    assert list_ids(client, "?tag=lake") == [str(walk), str(kayak)]
    assert list_ids(client, "?tag=lake&tag=DOG") == [str(walk)]
    assert list_ids(client, "?pano=true") == [str(pano)]
    assert list_ids(client, "?pano=false&username=bob") == []


def test_list_by_bbox_as_documented(
    client: FlaskClient, make_user: MakeUser, engine: Engine
) -> None:
    owner, _ = make_user("owner")
    lisbon = add_sequence(engine, owner.id, "lisbon", [(-9.14, 38.71), (-9.13, 38.72)])
    fiji = add_sequence(engine, owner.id, "fiji", [(179.9, -17.0), (179.95, -17.01)])
    add_sequence(engine, owner.id, "porto", [(-8.61, 41.15)])
    assert list_ids(client, "?bbox=-9.2,38.6,-9.0,38.8") == [str(lisbon)]
    assert list_ids(client, "?bbox=179,-18,-179,-16") == [str(fiji)]  # across the antimeridian
    assert list_ids(client, "?bbox=0,0,1,1") == []
    assert list_ids(client, "?bbox=-9.2,38.6,-9.0,38.8&sort=most_liked") == [str(lisbon)]
    assert_problem(client.get("/api/v1/sequences?bbox=1,2,3"), 400, "bbox")


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("sort=oldest", "sort"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("cursor=garbage", "cursor"),
        ("cursor=" + "A" * 600, "cursor"),
        ("cursor=WyJuZXdlc3QiLDEsMl0", "cursor"),  # base64 JSON with a malformed id
        ("cursor=WyJ0b3VycyIsbnVsbCwiYSJd", "cursor"),  # another listing's cursor
        ("transport_type=Spaceship", "transport_type"),
        ("tag=no%20spaces", "tag"),
        ("pano=maybe", "pano"),
        ("username=" + "u" * 201, "username"),
        ("username=k%00q", "username"),
        ("camera_make=%00", "camera_make"),
    ],
)
def test_list_bad_parameters_are_400(
    client: FlaskClient, make_user: MakeUser, engine: Engine, query: str, parameter: str
) -> None:
    owner, _ = make_user("owner")
    add_sequence(engine, owner.id, "k1")
    assert_problem(client.get(f"/api/v1/sequences?{query}"), 400, parameter)


def test_most_liked_cursor_is_refused_by_newest(
    client: FlaskClient, make_user: MakeUser, engine: Engine
) -> None:
    owner, _ = make_user("owner")
    for i in range(3):
        add_sequence(engine, owner.id, f"k{i}")
    cursor = client.get("/api/v1/sequences?sort=most_liked&limit=1").json["next_cursor"]
    assert cursor
    assert_problem(client.get(f"/api/v1/sequences?cursor={cursor}"), 400, "cursor")
