"""OGC API - Features over HTTP on real PostGIS: landing, collections, items, paging, errors."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from helpers import make_feature
from sqlalchemy import Engine, text

from geoapi.store.importer import import_feature_collection
from geoapi.validation import ImportOptions

MakeUser = Callable[[str], Any]
CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"


def load(engine: Engine, owner_id: uuid.UUID, *features: dict[str, Any]) -> list[str]:
    """Import Mapillary-shaped features for ``owner_id``; return the new sequence ids."""
    document = {"type": "FeatureCollection", "features": list(features)}
    report = import_feature_collection(engine, owner_id, document, ImportOptions())
    assert report.count("imported") == len(features), report.to_json()
    return [str(outcome.sequence_id) for outcome in report.outcomes]


def local(href: str) -> str:
    """An absolute link as a path + query the test client can follow."""
    parts = urlsplit(href)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def rel(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((item for item in body["links"] if item["rel"] == name), None)


def get_json(client: FlaskClient, url: str, status: int = 200, **kw: Any) -> Any:
    response = client.get(url, **kw)
    assert response.status_code == status, response.data[:500]
    return response.json


def line(lon: float, lat: float, n: int, step: float = 0.0001) -> list[tuple[float, float]]:
    return [(round(lon + i * step, 6), round(lat + i * step, 6)) for i in range(n)]


@pytest.fixture
def lisbon(engine: Engine, make_user: MakeUser) -> dict[str, Any]:
    """Three sequences by two users with known metadata, plus a draft that must stay hidden."""
    ana, _ = make_user("ana")
    ben, _ = make_user("ben")
    walk = make_feature(
        "walk-1",
        line(-9.14, 38.71, 3),
        title="Alfama walk",
        description="Up the hill",
        transport_type="walk",
        tags=["City", "old-town"],
        camera_make="Apple",
        captured_at="2020-05-01T10:00:00.123Z",
        created_at="2020-05-02T11:00:00Z",
    )
    kayak = make_feature(
        "kayak-1",
        line(-9.20, 38.69, 2),
        title="Tagus kayak",
        transport_type="Kayak",
        tags=["river"],
        camera_make="GoPro",
        pano=True,
        captured_at="2021-07-01T08:00:00Z",
    )
    drive = make_feature(
        "drive-1",
        line(-8.60, 41.15, 4),
        title="Porto drive",
        transport_type="Car",
        tags=["city"],
        captured_at="2019-01-01T00:00:00Z",
    )
    walk_id, kayak_id = load(engine, ana.id, walk, kayak)
    (drive_id,) = load(engine, ben.id, drive)
    (draft_id,) = load(
        engine, ben.id, make_feature("draft-1", line(-9.15, 38.72, 2), title="Draft")
    )
    with engine.begin() as conn:
        conn.execute(text("UPDATE sequences SET status = 'draft' WHERE id = :id"), {"id": draft_id})
    return {"walk": walk_id, "kayak": kayak_id, "drive": drive_id, "draft": draft_id}


# Landing page, conformance, collections ---------------------------------------------------------


def test_landing_page_links(client: FlaskClient) -> None:
    body = get_json(client, "/")
    assert rel(body, "self")["type"] == "application/json"  # type: ignore[index]
    desc = rel(body, "service-desc")
    assert desc is not None and local(desc["href"]) == "/api/openapi.json"
    assert desc["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert local(rel(body, "conformance")["href"]) == "/conformance"  # type: ignore[index]
    assert local(rel(body, "data")["href"]) == "/collections"  # type: ignore[index]


def test_landing_page_html_for_browsers(client: FlaskClient) -> None:
    response = client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for href in ("/collections", "/api/openapi.json", "/tiles.json", "/docs", "/map"):
        assert href in page
    assert client.get("/?f=html").mimetype == "text/html"
    assert client.get("/", headers={"Accept": "*/*"}).mimetype == "application/json"


def test_unsupported_format_is_400_naming_f(client: FlaskClient) -> None:
    # HTML is served everywhere since issue 12; other formats are still refused.
    for url in ("/?f=xml", "/collections?f=xml", "/collections/sequences/items?f=csv"):
        body = get_json(client, url, 400)
        assert body["errors"][0]["field"] == "f"


def test_conformance(client: FlaskClient) -> None:
    classes = get_json(client, "/conformance")["conformsTo"]
    assert CORE in classes
    assert any(c.endswith("/conf/geojson") for c in classes)
    assert any(c.endswith("/conf/oas30") for c in classes)


def test_openapi_document(client: FlaskClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/vnd.oai.openapi+json")
    doc = response.json
    assert doc["openapi"].startswith("3.0")
    items = doc["paths"]["/collections/{collectionId}/items"]["get"]
    names = {p["name"] for p in items["parameters"]}
    assert {"bbox", "datetime", "limit", "cursor", "transport_type", "tag"} <= names


def test_collections_with_extent_from_the_data(client: FlaskClient, lisbon: dict[str, str]) -> None:
    body = get_json(client, "/collections")
    assert [c["id"] for c in body["collections"]] == ["sequences", "photos"]
    for doc in body["collections"]:
        assert doc["itemType"] == "feature"
        assert doc["crs"][0] == "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
        assert doc["storageCrs"] == "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
        # the draft at -9.15 lies inside; Porto's drive is the north-east corner
        assert doc["extent"]["spatial"]["bbox"] == [[-9.2, 38.69, -8.5997, 41.1503]]
        assert doc["extent"]["temporal"]["interval"] == [
            ["2019-01-01T00:00:00.000Z", "2021-07-01T08:00:00.000Z"]
        ]
        items = rel(doc, "items")
        assert items is not None and items["type"] == "application/geo+json"
        assert local(items["href"]) == f"/collections/{doc['id']}/items"
    assert get_json(client, "/collections/photos")["id"] == "photos"


def test_extent_follows_writes(client: FlaskClient, lisbon: dict[str, str], engine: Engine) -> None:
    before = get_json(client, "/collections/sequences")["extent"]["spatial"]["bbox"]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM sequences WHERE id = :id"), {"id": lisbon["drive"]})
    after = get_json(client, "/collections/sequences")["extent"]["spatial"]["bbox"]
    assert before != after and after[0][3] < 39


def test_unknown_collection_is_404(client: FlaskClient) -> None:
    for url in ("/collections/tours", "/collections/tours/items", "/collections/x/items/1"):
        response = client.get(url)
        assert response.status_code == 404 and response.mimetype == "application/problem+json"


# Items ------------------------------------------------------------------------------------------


def test_sequence_features_carry_their_metadata(
    client: FlaskClient, lisbon: dict[str, str]
) -> None:
    response = client.get("/collections/sequences/items")
    assert response.mimetype == "application/geo+json"
    body = response.json
    assert body["type"] == "FeatureCollection"
    assert body["numberReturned"] == 3 and body["numberMatched"] == 3
    assert "timeStamp" in body and rel(body, "next") is None
    by_id = {f["id"]: f for f in body["features"]}
    assert lisbon["draft"] not in by_id
    walk = by_id[lisbon["walk"]]
    assert walk["geometry"] == {
        "type": "LineString",
        "coordinates": [[-9.14, 38.71], [-9.1399, 38.7101], [-9.1398, 38.7102]],
    }
    props = walk["properties"]
    assert props == {
        "title": "Alfama walk",
        "description": "Up the hill",
        "transport_type": "Walk",
        "transport_type_parent": "Earth",
        "tags": ["city", "old-town"],
        "camera_make": "Apple",
        "captured_at": "2020-05-01T10:00:00.123Z",
        "created_at": "2020-05-02T11:00:00.000Z",
        "mapillary_key": "walk-1",
        "username": "ana",
        "pano": False,
        "photo_count": 3,
        "length_m": props["length_m"],
        "like_count": 0,
    }
    assert 25 < props["length_m"] < 35
    assert by_id[lisbon["kayak"]]["properties"]["pano"] is True


def test_photo_features(client: FlaskClient, lisbon: dict[str, str]) -> None:
    url = f"/collections/photos/items?sequence_id={lisbon['walk']}"
    features = get_json(client, url)["features"]
    assert [f["properties"]["position"] for f in features] == [0, 1, 2]
    first = features[0]
    assert first["geometry"] == {"type": "Point", "coordinates": [-9.14, 38.71]}
    assert first["properties"] == {
        "image_key": "walk-1-img-0",
        "ca": 0.0,
        "sequence_id": lisbon["walk"],
        "position": 0,
        "captured_at": "2020-05-01T10:00:00.123Z",
        "pano": False,
    }
    assert features[2]["properties"]["ca"] == 20.0
    all_photos = get_json(client, "/collections/photos/items")["features"]
    assert len(all_photos) == 3 + 2 + 4  # the draft's photos stay hidden
    assert lisbon["draft"] not in {f["properties"]["sequence_id"] for f in all_photos}


def test_photo_captured_at_is_its_own_when_known(
    client: FlaskClient, lisbon: dict[str, str], engine: Engine
) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE photos SET captured_at = '2020-05-01T10:00:05Z'"
                " WHERE sequence_id = :id AND position = 1"
            ),
            {"id": lisbon["walk"]},
        )
    url = f"/collections/photos/items?sequence_id={lisbon['walk']}"
    times = [f["properties"]["captured_at"] for f in get_json(client, url)["features"]]
    assert times == ["2020-05-01T10:00:00.123Z", "2020-05-01T10:00:05.000Z", times[0]]
    later = get_json(client, url + "&datetime=2020-05-01T10:00:01Z/..")["features"]
    assert [f["properties"]["position"] for f in later] == [1]


def ids(client: FlaskClient, url: str) -> set[str]:
    return {f["id"] for f in get_json(client, url)["features"]}


def test_bbox_selects_sequences_and_photos(client: FlaskClient, lisbon: dict[str, str]) -> None:
    assert ids(client, "/collections/sequences/items?bbox=-9.3,38.6,-9.0,38.8") == {
        lisbon["walk"],
        lisbon["kayak"],
    }
    assert ids(client, "/collections/sequences/items?bbox=-8.7,41.1,-8.5,41.2") == {lisbon["drive"]}
    assert ids(client, "/collections/sequences/items?bbox=10,10,11,11") == set()
    # photos are cut by their own point, not by their sequence's line
    url = "/collections/photos/items?bbox=-9.14005,38.70995,-9.13985,38.71015"
    photos = get_json(client, url)["features"]
    assert [(p["properties"]["sequence_id"], p["properties"]["position"]) for p in photos] == [
        (lisbon["walk"], 0),
        (lisbon["walk"], 1),
    ]


def test_bbox_needs_the_line_itself_not_just_its_box(
    client: FlaskClient, engine: Engine, make_user: MakeUser
) -> None:
    user, _ = make_user("diagonal")
    (diagonal,) = load(engine, user.id, make_feature("diag", [(0.0, 0.0), (1.0, 1.0)]))
    # the corner box overlaps the line's bounding box but not the line
    assert ids(client, "/collections/sequences/items?bbox=0.8,0.0,1.0,0.2") == set()
    assert ids(client, "/collections/sequences/items?bbox=0.4,0.4,0.6,0.6") == {diagonal}


def test_bbox_across_the_antimeridian(
    client: FlaskClient, engine: Engine, make_user: MakeUser
) -> None:
    user, _ = make_user("fiji")
    east, west, far = load(
        engine,
        user.id,
        make_feature("east", line(179.5, -17.0, 2)),
        make_feature("west", line(-179.5, -17.0, 2)),
        make_feature("far", line(0.0, -17.0, 2)),
    )
    assert ids(client, "/collections/sequences/items?bbox=179,-18,-179,-16") == {east, west}
    photos = get_json(client, "/collections/photos/items?bbox=179,-18,-179,-16")["features"]
    assert {p["properties"]["sequence_id"] for p in photos} == {east, west}
    assert far not in ids(client, "/collections/sequences/items?bbox=179,-18,-179,-16")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("transport_type=Earth", {"walk", "drive"}),  # a parent includes its children
        ("transport_type=kayak", {"kayak"}),
        ("tag=city", {"walk", "drive"}),
        ("tag=city&tag=old-town", {"walk"}),  # AND
        ("tag=city,old-town", {"walk"}),
        ("username=BEN", {"drive"}),
        ("camera_make=gopro", {"kayak"}),
        ("pano=true", {"kayak"}),
        ("pano=false", {"walk", "drive"}),
        ("datetime=2020-05-01T10:00:00.123Z", {"walk"}),
        ("datetime=2020-01-01T00:00:00Z/2021-12-31T00:00:00Z", {"walk", "kayak"}),
        ("datetime=../2020-01-01T00:00:00Z", {"drive"}),
        ("datetime=2021-01-01T00:00:00Z/..", {"kayak"}),
        ("bbox=-9.3,38.6,-9.0,38.8&tag=city", {"walk"}),
    ],
)
def test_property_filters(
    client: FlaskClient, lisbon: dict[str, str], query: str, expected: set[str]
) -> None:
    assert ids(client, f"/collections/sequences/items?{query}") == {lisbon[n] for n in expected}
    photos = get_json(client, f"/collections/photos/items?{query}")["features"]
    assert {p["properties"]["sequence_id"] for p in photos} == {lisbon[n] for n in expected}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("bbox=1,2,3", "bbox"),
        ("bbox=a,b,c,d", "bbox"),
        ("bbox=3,2,1,1", "bbox"),
        ("bbox=-200,0,10,10", "bbox"),
        ("bbox=0,-95,10,10", "bbox"),
        ("bbox=1,2,3,4&bbox-crs=EPSG:32633", "bbox-crs"),  # EPSG:3857 is supported since #12
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("limit=-5", "limit"),
        ("datetime=yesterday", "datetime"),
        ("datetime=2021-01-01T00:00:00Z/2020-01-01T00:00:00Z", "datetime"),
        ("datetime=../..", "datetime"),
        ("cursor=garbage", "cursor"),
        ("pano=maybe", "pano"),
        ("transport_type=Teleport", "transport_type"),
        ("tag=NOT%20A%20TAG", "tag"),
        ("zoom=3", "zoom"),
        ("sequence_id=abc", "sequence_id"),
        ("username=a%00b", "username"),
        ("camera_make=%00", "camera_make"),
    ],
)
def test_bad_parameters_are_400_naming_them(client: FlaskClient, query: str, field: str) -> None:
    collection = "photos" if field == "sequence_id" else "sequences"
    response = client.get(f"/collections/{collection}/items?{query}")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body["status"] == 400 and body["errors"][0]["field"] == field


def test_sequence_id_selects_one_sequence(client: FlaskClient, lisbon: dict[str, str]) -> None:
    wanted = str(lisbon["walk"])
    body = get_json(client, f"/collections/sequences/items?sequence_id={wanted}")
    assert [feature["id"] for feature in body["features"]] == [wanted]
    assert body.get("numberMatched", 1) == 1
    for hidden in (uuid.uuid4(), lisbon["draft"]):
        url = f"/collections/sequences/items?sequence_id={hidden}"
        assert get_json(client, url)["features"] == []
    body = get_json(client, "/collections/sequences/items?sequence_id=nope", 400)
    assert body["errors"][0]["field"] == "sequence_id"


def test_f_json_and_geojson_are_accepted(client: FlaskClient, lisbon: dict[str, str]) -> None:
    for f in ("json", "geojson"):
        assert get_json(client, f"/collections/sequences/items?f={f}")["numberReturned"] == 3


def test_cursor_of_the_other_collection_is_refused(
    client: FlaskClient, lisbon: dict[str, str]
) -> None:
    page = get_json(client, "/collections/sequences/items?limit=1")
    cursor = local(rel(page, "next")["href"]).split("cursor=")[1]  # type: ignore[index]
    body = get_json(client, f"/collections/photos/items?cursor={cursor}", 400)
    assert body["errors"][0]["field"] == "cursor"


# Keyset paging ----------------------------------------------------------------------------------


def walk_pages(client: FlaskClient, url: str) -> tuple[list[str], int]:
    """Follow ``next`` links from ``url``; return every feature id in order and the page count."""
    seen: list[str] = []
    pages = 0
    next_url: str | None = url
    while next_url:
        body = get_json(client, next_url)
        pages += 1
        assert body["numberReturned"] == len(body["features"])
        assert local(rel(body, "self")["href"]).startswith("/collections/")  # type: ignore[index]
        seen += [f["id"] for f in body["features"]]
        nxt = rel(body, "next")
        if nxt is not None:  # counted within the budget: the total of the whole walk
            assert body["numberMatched"] >= body["numberReturned"]
        next_url = local(nxt["href"]) if nxt else None
        assert pages < 100
    return seen, pages


@pytest.fixture
def many(engine: Engine, make_user: MakeUser) -> None:
    """23 sequences of 1 to 7 photos (92 photos), some in a bbox, some out."""
    user, _ = make_user("many")
    features = [
        make_feature(
            f"many-{i}",
            line(10.0 + (i % 5) * 0.01, 45.0 + (i // 5) * 0.01, 1 + i % 7),
            tags=["even"] if i % 2 == 0 else [],
        )
        for i in range(23)
    ]
    load(engine, user.id, *features)


@pytest.mark.parametrize(
    "query",
    ["", "bbox=9.9,44.9,10.025,45.5", "tag=even", "bbox=9.9,44.9,10.025,45.5&tag=even"],
)
@pytest.mark.parametrize("collection", ["sequences", "photos"])
def test_pages_together_equal_the_full_result(
    client: FlaskClient, many: None, collection: str, query: str
) -> None:
    full = [
        f["id"]
        for f in get_json(client, f"/collections/{collection}/items?limit=1000&{query}")["features"]
    ]
    assert len(full) == len(set(full)) > 0
    paged, pages = walk_pages(client, f"/collections/{collection}/items?limit=4&{query}")
    assert len(paged) == len(set(paged)), "a feature was repeated across pages"
    assert paged == full, "pages skipped or reordered features"
    assert pages >= len(full) // 4


def test_photo_pages_cut_inside_a_sequence(
    client: FlaskClient, engine: Engine, make_user: MakeUser
) -> None:
    user, _ = make_user("seven")
    (seven,) = load(engine, user.id, make_feature("seven", line(5.0, 5.0, 7)))
    body = get_json(client, f"/collections/photos/items?sequence_id={seven}&limit=3")
    pages = [[f["properties"]["position"] for f in body["features"]]]
    while (nxt := rel(body, "next")) is not None:
        body = get_json(client, local(nxt["href"]))
        pages.append([f["properties"]["position"] for f in body["features"]])
    assert pages == [[0, 1, 2], [3, 4, 5], [6]]


def test_no_next_link_when_nothing_follows(client: FlaskClient, many: None) -> None:
    exact = get_json(client, "/collections/sequences/items?limit=23")
    assert exact["numberReturned"] == 23 and exact["numberMatched"] == 23
    assert rel(exact, "next") is None
    short = get_json(client, "/collections/sequences/items?limit=22")
    assert short["numberMatched"] == 23  # counted (within the budget) since issue 12
    last = get_json(client, local(rel(short, "next")["href"]))  # type: ignore[index]
    assert last["numberReturned"] == 1 and rel(last, "next") is None
    assert last["numberMatched"] == 23


def test_next_link_keeps_the_query(client: FlaskClient, many: None) -> None:
    body = get_json(client, "/collections/sequences/items?limit=2&tag=even&bbox=9,44,11,46")
    href = rel(body, "next")["href"]  # type: ignore[index]
    assert href.startswith("http://localhost/collections/sequences/items?")
    assert "tag=even" in href and "limit=2" in href and "bbox=9%2C44%2C11%2C46" in href
    assert rel(body, "collection") is not None


def test_limit_above_the_maximum_is_clamped_and_streamed(
    client: FlaskClient, engine: Engine, make_user: MakeUser
) -> None:
    user, _ = make_user("bulk")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sequences (owner_id, title, geom, photo_count)"
                " SELECT :owner, 'bulk ' || i, ST_SetSRID(ST_MakeLine("
                "  ST_MakePoint(i * 0.001, 0), ST_MakePoint(i * 0.001, 0.1)), 4326), 101"
                " FROM generate_series(1, 100) i"
            ).bindparams(owner=user.id)
        )
        conn.execute(
            text(
                "INSERT INTO photos (sequence_id, image_key, position, geom)"
                " SELECT s.id, s.title || '-' || p, p, ST_SetSRID(ST_MakePoint(0, p * 0.001), 4326)"
                " FROM sequences s, generate_series(0, 100) p"
            )
        )
    response = client.get("/collections/photos/items?limit=50000")
    assert response.status_code == 200
    assert "Content-Length" not in response.headers  # streamed
    body = response.json
    assert body["numberReturned"] == len(body["features"]) == 10_000
    nxt = rel(body, "next")
    assert nxt is not None
    rest = get_json(client, local(nxt["href"]))
    assert rest["numberReturned"] == 100 and rel(rest, "next") is None


# Single items -----------------------------------------------------------------------------------


def test_single_items(client: FlaskClient, lisbon: dict[str, str]) -> None:
    feature = get_json(client, f"/collections/sequences/items/{lisbon['walk']}")
    assert feature["type"] == "Feature" and feature["id"] == lisbon["walk"]
    assert feature["properties"]["title"] == "Alfama walk"
    assert local(rel(feature, "collection")["href"]) == "/collections/sequences"  # type: ignore[index]
    photos = get_json(client, f"/collections/photos/items?sequence_id={lisbon['kayak']}")
    photo_id = photos["features"][1]["id"]
    photo = get_json(client, f"/collections/photos/items/{photo_id}")
    assert photo["properties"]["position"] == 1
    assert photo["properties"]["sequence_id"] == lisbon["kayak"]
    assert photo["properties"]["captured_at"] == "2021-07-01T08:00:00.000Z"


def test_missing_single_items_are_404(
    client: FlaskClient, lisbon: dict[str, str], engine: Engine
) -> None:
    with engine.connect() as conn:
        draft_photo = conn.execute(
            text("SELECT id FROM photos WHERE sequence_id = :id LIMIT 1"), {"id": lisbon["draft"]}
        ).scalar_one()
    for url in (
        "/collections/sequences/items/not-a-uuid",
        f"/collections/sequences/items/{uuid.uuid4()}",
        f"/collections/sequences/items/{lisbon['draft']}",
        f"/collections/photos/items/{draft_photo}",
        f"/collections/photos/items/{lisbon['walk']}",  # a sequence id is not a photo id
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.mimetype == "application/problem+json"
