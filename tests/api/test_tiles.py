"""Vector tiles and TileJSON: decoded tiles from the real PostGIS, HTTP caching, bad input."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import mapbox_vector_tile
import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import make_feature, tile_lonlat, tile_of
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError

from geoapi import create_app
from geoapi.filters import SequenceFilters
from geoapi.store.importer import import_feature_collection
from geoapi.store.taxonomy import replace_tags
from geoapi.store.tiles import get_tile, tile_sql
from geoapi.store.users import UserInfo
from geoapi.tiling import TileLimits

MakeUser = Callable[[str], tuple[UserInfo, str]]
LJUBLJANA = (14.505, 46.05)
LISBON = (-9.14, 38.72)
KATHMANDU = (85.32, 27.71)


def epoch_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def decode(data: bytes) -> dict[str, Any]:
    layers: dict[str, Any] = mapbox_vector_tile.decode(data)
    return layers


def get_layers(client: FlaskClient, z: int, x: int, y: int, **args: Any) -> dict[str, Any]:
    response = client.get(f"/tiles/{z}/{x}/{y}.mvt", query_string=args)
    if response.status_code == 204:
        return {}
    assert response.status_code == 200, response.get_data(as_text=True)
    return decode(response.data)


def features(layers: dict[str, Any], layer: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = layers.get(layer, {}).get("features", [])
    return found


def ids(layers: dict[str, Any], layer: str, key: str = "id") -> set[str]:
    return {f["properties"][key] for f in features(layers, layer)}


# The world of these tests -------------------------------------------------------------------------

# Sequence A (alice, Walk, 5 photos) and B (alice, Kayak, one photo, pano) lie in one z15 tile
# of Ljubljana; C (bob, Car) in Lisbon; D (bob, Walk, one photo) alone in Kathmandu; E is alice's
# draft far south, which no tile and no bound may show.
Z15 = tile_of(*LJUBLJANA, 15)


def _spot(fx: float, fy: float) -> tuple[float, float]:
    west, south, east, north = tile_lonlat(15, *Z15)
    return round(west + fx * (east - west), 6), round(south + fy * (north - south), 6)


A_POINTS = [_spot(0.2 + 0.1 * i, 0.5) for i in range(5)]
B_POINT = _spot(0.8, 0.8)
A_TIME, B_TIME, C_TIME, D_TIME = (
    "2020-05-01T10:00:00.000Z",
    "2019-06-01T08:30:00.000Z",
    "2021-03-01T12:00:00.000Z",
    "2018-01-15T06:00:00.000Z",
)


def _import(engine: Engine, user: UserInfo, *feats: dict[str, Any]) -> None:
    report = import_feature_collection(
        engine, user.id, {"type": "FeatureCollection", "features": list(feats)}
    )
    assert [o.status for o in report.outcomes] == ["imported"] * len(feats), report.to_json()


def _sequence_id(engine: Engine, key: str) -> str:
    with engine.connect() as conn:
        found = conn.execute(text("SELECT id FROM sequences WHERE mapillary_key = :k"), {"k": key})
        return str(found.scalar_one())


@pytest.fixture
def world(engine: Engine, make_user: MakeUser) -> dict[str, str]:
    alice, _ = make_user("alice")
    bob, _ = make_user("bob")
    a = make_feature("seq-a", A_POINTS, captured_at=A_TIME, transport_type="Walk", tags=["city"])
    b = make_feature(
        "seq-b",
        [B_POINT],
        captured_at=B_TIME,
        transport_type="Kayak",
        tags=["lake"],
        pano=True,
        camera_make="GoPro",
    )
    e = make_feature("seq-e", [(14.5, -60.0), (14.501, -60.0)], captured_at=A_TIME)
    _import(engine, alice, a, b, e)
    c = make_feature(
        "seq-c",
        [LISBON, (LISBON[0] + 0.001, LISBON[1] + 0.001), (LISBON[0] + 0.002, LISBON[1])],
        captured_at=C_TIME,
        transport_type="Car",
        tags=["city", "night"],
        camera_make="Samsung",
    )
    d = make_feature("seq-d", [KATHMANDU], captured_at=D_TIME, transport_type="Walk")
    _import(engine, bob, c, d)
    with engine.begin() as conn:
        conn.execute(text("UPDATE sequences SET status = 'draft' WHERE mapillary_key = 'seq-e'"))
    return {key: _sequence_id(engine, f"seq-{key}") for key in "abcde"}


# Zoom bands ---------------------------------------------------------------------------------------


def test_overview_band_one_point_per_sequence(client: FlaskClient, world: dict[str, str]) -> None:
    layers = get_layers(client, 3, *tile_of(*KATHMANDU, 3))
    assert set(layers) == {"overview"}
    [point] = features(layers, "overview")
    assert point["geometry"]["type"] == "Point"
    assert point["properties"] == {"id": world["d"], "captured_at": epoch_ms(D_TIME), "pano": False}
    lisbon = get_layers(client, 5, *tile_of(*LISBON, 5))
    assert ids(lisbon, "overview") == {world["c"]}


def test_overview_keeps_the_newest_sequence_of_a_pixel(
    client: FlaskClient, world: dict[str, str]
) -> None:
    # A and B are metres apart: at z3 they share a pixel, and the newer (A) stands for both.
    layers = get_layers(client, 3, *tile_of(*LJUBLJANA, 3))
    assert ids(layers, "overview") == {world["a"]}
    # At z0 the whole world is one tile: one point per place, never the draft.
    assert ids(get_layers(client, 0, 0, 0), "overview") == {world["a"], world["c"], world["d"]}


def test_sequences_band_lines_with_attributes(client: FlaskClient, world: dict[str, str]) -> None:
    layers = get_layers(client, 8, *tile_of(*LJUBLJANA, 8))
    assert set(layers) == {"sequences"}
    by_id = {f["properties"]["id"]: f for f in features(layers, "sequences")}
    assert set(by_id) == {world["a"], world["b"]}
    a = by_id[world["a"]]
    assert a["geometry"]["type"] == "LineString"
    assert a["properties"] == {
        "id": world["a"],
        "mapillary_key": "seq-a",
        "captured_at": epoch_ms(A_TIME),
        "pano": False,
        "transport_type": "Walk",
        "username": "alice",
    }
    assert by_id[world["b"]]["properties"]["transport_type"] == "Kayak"
    assert by_id[world["b"]]["properties"]["pano"] is True
    assert "like_count" not in a["properties"]


@pytest.mark.parametrize("z", [6, 10, 14, 18, 22])
def test_one_photo_sequence_is_a_visible_line_at_every_zoom(
    client: FlaskClient, world: dict[str, str], z: int
) -> None:
    layers = get_layers(client, z, *tile_of(*KATHMANDU, z))
    [line] = features(layers, "sequences")
    assert line["properties"]["id"] == world["d"]
    assert line["geometry"]["type"] == "LineString"
    (x0, y0), (x1, y1) = line["geometry"]["coordinates"]
    assert (x0, y0) != (x1, y1)
    assert 0 <= x0 < 4096 and 0 <= y0 < 4096


def test_photos_band_points_with_attributes(client: FlaskClient, world: dict[str, str]) -> None:
    layers = get_layers(client, 15, *Z15)
    assert set(layers) == {"sequences", "photos"}
    assert ids(layers, "sequences") == {world["a"], world["b"]}
    photos = {f["properties"]["image_key"]: f for f in features(layers, "photos")}
    assert set(photos) == {f"seq-a-img-{i}" for i in range(5)} | {"seq-b-img-0"}
    third = photos["seq-a-img-2"]
    assert third["geometry"]["type"] == "Point"
    assert third["properties"] == {
        "image_key": "seq-a-img-2",
        "ca": 20.0,
        "sequence_id": world["a"],
        "position": 2,
        "captured_at": epoch_ms(A_TIME),
        "pano": False,
        "transport_type": "Walk",
    }
    lone = photos["seq-b-img-0"]["properties"]
    assert (lone["sequence_id"], lone["position"], lone["pano"]) == (world["b"], 0, True)
    assert lone["transport_type"] == "Kayak"
    # Photos run west to east along A, in tile coordinates.
    xs = [photos[f"seq-a-img-{i}"]["geometry"]["coordinates"][0] for i in range(5)]
    assert xs == sorted(xs) and xs[0] < xs[-1]


def test_photos_start_at_z14(client: FlaskClient, world: dict[str, str]) -> None:
    assert "photos" not in get_layers(client, 13, *tile_of(*LJUBLJANA, 13))
    assert len(features(get_layers(client, 14, *tile_of(*LJUBLJANA, 14)), "photos")) == 6


def test_lines_are_simplified_to_the_zoom(
    client: FlaskClient, engine: Engine, make_user: MakeUser
) -> None:
    owner, _ = make_user("walker")
    # 100 photos ~30 m apart on a zigzag 11 m wide: many vertices up close, few from afar.
    points = [(14.5 + i * 0.0004, 46.05 + 0.0001 * (i % 2)) for i in range(100)]
    _import(engine, owner, make_feature("wavy", points))
    far = features(get_layers(client, 8, *tile_of(14.52, 46.05, 8)), "sequences")
    near = features(get_layers(client, 15, *tile_of(14.52, 46.05, 15)), "sequences")
    assert len(far[0]["geometry"]["coordinates"]) <= 4
    assert len(near[0]["geometry"]["coordinates"]) >= 20


def test_drafts_never_appear(client: FlaskClient, world: dict[str, str]) -> None:
    draft_tile = (5, *tile_of(14.5, -60.0, 5)), (9, *tile_of(14.5, -60.0, 9))
    for z, x, y in draft_tile:
        assert client.get(f"/tiles/{z}/{x}/{y}.mvt").status_code == 204
    assert world["e"] not in ids(get_layers(client, 0, 0, 0), "overview")


# Filters ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({}, "ab"),
        ({"transport_type": "Walk"}, "a"),
        ({"transport_type": "water"}, "b"),  # a parent includes its children
        ({"tag": "city"}, "a"),
        ({"tag": ["city", "lake"]}, ""),  # tags AND
        ({"username": "ALICE"}, "ab"),
        ({"username": "bob"}, ""),
        ({"pano": "true"}, "b"),
        ({"camera_make": "gopro"}, "b"),
        ({"datetime": "2020-01-01T00:00:00Z/.."}, "a"),
        ({"datetime": "../2019-12-31"}, "b"),
    ],
)
def test_filters_narrow_every_band(
    client: FlaskClient, world: dict[str, str], args: dict[str, Any], expected: str
) -> None:
    wanted = {world[k] for k in expected}
    assert ids(get_layers(client, 8, *tile_of(*LJUBLJANA, 8), **args), "sequences") == wanted
    photos = get_layers(client, 15, *Z15, **args)
    assert ids(photos, "photos", "sequence_id") == wanted
    overview = get_layers(client, 4, *tile_of(*LJUBLJANA, 4), **args)
    # The newest matching sequence stands for the pixel.
    newest = {world["a"]} if "a" in expected else wanted
    assert ids(overview, "overview") == newest


# HTTP -------------------------------------------------------------------------------------------


def test_empty_tile_is_204_without_body(client: FlaskClient, world: dict[str, str]) -> None:
    response = client.get("/tiles/10/0/0.pbf")
    assert response.status_code == 204
    assert response.data == b""
    assert "Content-Type" not in response.headers
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_tile_response_headers(client: FlaskClient, world: dict[str, str]) -> None:
    response = client.get(f"/tiles/15/{Z15[0]}/{Z15[1]}.pbf")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.mapbox-vector-tile"
    assert response.headers["Cache-Control"] == "public, max-age=60, stale-while-revalidate=600"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Accept-Encoding" in response.headers["Vary"]
    assert "Content-Encoding" not in response.headers
    etag = response.headers["ETag"]
    assert etag.startswith('"a') and not etag.startswith("W/")
    # The pinned URL (the area's version as v) is immutable and holds the same bytes.
    canonical = response.headers["Link"].split(">")[0].lstrip("<")
    assert canonical.startswith("http://localhost/tiles/15/") and "?v=" in canonical
    pinned = client.get(canonical)
    assert pinned.status_code == 200
    assert pinned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert pinned.data == response.data and "Link" not in pinned.headers
    # Any other v is sent to the pinned URL.
    stale = client.get(f"/tiles/15/{Z15[0]}/{Z15[1]}.pbf?v=42&pano=false")
    assert stale.status_code == 302
    assert stale.headers["Cache-Control"] == "public, max-age=60, stale-while-revalidate=600"
    assert stale.headers["Location"].endswith(canonical.split("?v=")[1] + "&pano=false")


def test_a_write_changes_only_the_tiles_of_its_area(
    client: FlaskClient, engine: Engine, make_user: MakeUser, world: dict[str, str]
) -> None:
    """A sequence added in Lisbon changes the ETags of the tiles that show Lisbon (every
    zoom, and the world), not those of Ljubljana from z1 on."""
    ljubljana = [(z, *tile_of(*LJUBLJANA, z)) for z in (1, 5, 8, 12, 15, 17)]
    lisbon = [(z, *tile_of(*LISBON, z)) for z in (0, 1, 5, 8, 12, 15, 17)]

    def etags(tiles: list[tuple[int, int, int]]) -> list[str]:
        return [client.get(f"/tiles/{z}/{x}/{y}.mvt").headers["ETag"] for z, x, y in tiles]

    before_here, before_there = etags(ljubljana), etags(lisbon)
    owner, _ = make_user("elsewhere")
    _import(engine, owner, make_feature("lisbon-2", [LISBON, (LISBON[0] + 0.0002, LISBON[1])]))
    assert etags(ljubljana) == before_here
    after_there = etags(lisbon)
    assert all(a != b for a, b in zip(after_there, before_there, strict=True))
    # A tag (tiles filter by tags) changes its sequence's area too.
    with engine.begin() as conn:
        replace_tags(conn, "sequence", world["a"], ["changed"])
    assert etags(ljubljana)[1:] != before_here[1:]
    assert etags(lisbon)[1:] == after_there[1:]


def test_tilejson_url_changes_with_the_data_but_untouched_areas_stay_cached(
    client: FlaskClient, engine: Engine, make_user: MakeUser, world: dict[str, str]
) -> None:
    """TileJSON's template carries the data version; a tile fetched through it is redirected
    to its area's pinned URL, which a write elsewhere leaves as it was (so caches keep it)."""
    z, (x, y) = 12, tile_of(*LJUBLJANA, 12)

    def through_tilejson() -> tuple[str, str]:
        template = client.get("/tiles.json").get_json()["tiles"][0]
        url = template.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))
        moved = client.get(url)
        location = moved.headers.get("Location", url) if moved.status_code == 302 else url
        pinned = client.get(location)
        assert pinned.status_code == 200, (moved.status_code, location)
        assert pinned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        return template, location

    template, pinned = through_tilejson()
    owner, _ = make_user("lisbon-writer")
    _import(engine, owner, make_feature("lisbon-3", [LISBON, (LISBON[0] + 0.0003, LISBON[1])]))
    template_after, pinned_after = through_tilejson()
    assert template_after != template  # the data changed: so did TileJSON's URL
    assert pinned_after == pinned  # ... but not Ljubljana's tile


def test_etag_and_if_none_match(client: FlaskClient, engine: Engine, world: dict[str, str]) -> None:
    path = f"/tiles/15/{Z15[0]}/{Z15[1]}.mvt"
    first = client.get(path)
    etag = first.headers["ETag"]
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    assert client.get(path, headers={"If-None-Match": "*"}).status_code == 304
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    # Changing what the tile shows changes its ETag.
    with engine.begin() as conn:
        conn.execute(text("UPDATE sequences SET pano = true WHERE mapillary_key = 'seq-a'"))
    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag


def test_gzip_when_accepted(client: FlaskClient, world: dict[str, str]) -> None:
    path = f"/tiles/15/{Z15[0]}/{Z15[1]}.mvt"
    plain = client.get(path)
    zipped = client.get(path, headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert gzip.decompress(zipped.data) == plain.data
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    again = client.get(
        path, headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]}
    )
    assert again.status_code == 304
    refused = client.get(path, headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers
    assert refused.data == plain.data


def test_cors_preflight(client: FlaskClient) -> None:
    response = client.options(
        "/tiles/0/0/0.mvt",
        headers={
            "Origin": "https://maps.example.org",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "if-none-match",
        },
    )
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
    assert "if-none-match" in response.headers["Access-Control-Allow-Headers"].lower()


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/tiles/a/b/c.mvt", "z"),
        ("/tiles/1/b/0.mvt", "x"),
        ("/tiles/1/0/c.mvt", "y"),
        ("/tiles/-1/0/0.mvt", "z"),
        ("/tiles/1.5/0/0.mvt", "z"),
        ("/tiles/23/0/0.mvt", "z"),
        ("/tiles/99999999999/0/0.mvt", "z"),
        ("/tiles/1/2/0.mvt", "x"),
        ("/tiles/1/0/2.mvt", "y"),
        ("/tiles/0/0/-0.mvt", "y"),
        ("/tiles/1/0/0.png", "format"),
        ("/tiles/1/0/0", "format"),
        ("/tiles/1/0/0.mvt?pano=maybe", "pano"),
        ("/tiles/1/0/0.mvt?transport_type=Spaceship", "transport_type"),
        ("/tiles/1/0/0.mvt?tag=Not%20A%20Tag!", "tag"),
        ("/tiles/1/0/0.mvt?datetime=yesterday", "datetime"),
        ("/tiles/1/0/0.mvt?datetime=2021-01-01/2020-01-01", "datetime"),
        ("/tiles/1/0/0.mvt?username=" + "u" * 201, "username"),
        ("/tiles.json?pano=maybe", "pano"),
        ("/tiles.json?tag=%23hash", "tag"),
    ],
)
def test_bad_parameters_are_400_problems(client: FlaskClient, path: str, field: str) -> None:
    response = client.get(path)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == 400
    assert [e["field"] for e in problem["errors"]] == [field]
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_one_sql_statement_per_tile(client: FlaskClient, app: Flask, world: dict[str, str]) -> None:
    statements: list[str] = []
    engine: Engine = app.extensions["geoapi.tile_engine"]

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    path = f"/tiles/15/{Z15[0]}/{Z15[1]}.mvt?tag=city"
    engine.dispose()  # a fresh connection: it prepares the band's statement once ...
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get(path).status_code == 200
        assert len(statements) == 2
        assert statements[0].startswith("PREPARE geoapi_tile_") and "ST_AsMVT" in statements[0]
        assert client.get(path).status_code == 200  # ... and then executes it, one statement
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 3
    name = statements[0].split()[1]
    assert f"EXECUTE {name}(" in statements[1] and "ST_AsMVT" not in statements[1]
    assert statements[2] == statements[1]


@pytest.mark.parametrize(
    ("band", "layers", "reads"),
    [
        ("overview", ["overview"], ["FROM overview_cells c"]),
        ("overview_filtered", ["overview"], ["s.overview_3857 && tile.area"]),
        ("sequences", ["sequences"], ["FROM line_tiles lt", "s.geom_z8"]),
        ("photos", ["sequences", "photos"], ["FROM line_tiles lt", "p.thin = ANY(pl.classes)"]),
    ],
)
def test_tile_statements_read_the_tile_structures(
    band: str, layers: list[str], reads: list[str]
) -> None:
    """Each band reads what bounds its cost (migration 0008), never transforming a column."""
    sql = tile_sql(band)
    assert "st_transform" not in sql.lower()
    assert all(read in sql for read in reads)
    assert [name for name in ("overview", "sequences", "photos") if f"'{name}'" in sql] == layers
    assert sql.count("ST_AsMVT(q,") == len(layers)
    assert ("status = 'published'" in sql) == (band != "overview")  # the cells hold only those


# Caps ---------------------------------------------------------------------------------------------


@pytest.fixture
def dense(engine: Engine, make_user: MakeUser) -> tuple[int, int, int]:
    """30 sequences x 100 photos inside one z14 tile (3,000 photos, over the 2,500 cap)."""
    owner, _ = make_user("dense")
    x, y = tile_of(*LJUBLJANA, 14)
    west, south, east, north = tile_lonlat(14, x, y)
    feats = []
    for i in range(30):
        lat = south + (0.2 + 0.02 * i) * (north - south)
        points = [(west + (0.1 + 0.008 * j) * (east - west), lat) for j in range(100)]
        day = f"2020-01-{i + 1:02d}T10:00:00.000Z"
        feats.append(make_feature(f"dense-{i:02d}", points, captured_at=day))
    _import(engine, owner, *feats)
    return 14, x, y


def test_dense_tile_thins_photos_evenly_and_stably(
    client: FlaskClient, dense: tuple[int, int, int]
) -> None:
    z, x, y = dense
    first = client.get(f"/tiles/{z}/{x}/{y}.mvt")
    second = client.get(f"/tiles/{z}/{x}/{y}.mvt")
    assert first.data == second.data
    assert len(first.data) < 500_000
    photos = features(decode(first.data), "photos")
    # 3,000 photos over a cap of 2,500: every second photo of every sequence.
    assert len(photos) == 1_500
    assert {p["properties"]["position"] % 2 for p in photos} == {0}
    assert len({p["properties"]["sequence_id"] for p in photos}) == 30


def test_sequence_budget_keeps_the_newest_lines(
    engine: Engine, dense: tuple[int, int, int]
) -> None:
    z, x, y = dense
    limits = TileLimits(sequence_budget=1_000, photo_band_sequence_budget=1_000, photo_cap=10)
    with engine.connect() as conn:
        data = get_tile(conn, z, x, y, SequenceFilters(), limits)
        again = get_tile(conn, z, x, y, SequenceFilters(), limits)
    assert data == again
    layers = decode(data)
    kept = [f["properties"] for f in features(layers, "sequences")]
    assert 0 < len(kept) < 30
    newest_first = sorted(range(30), reverse=True)[: len(kept)]
    assert [k["mapillary_key"] for k in kept] == [f"dense-{i:02d}" for i in newest_first]
    # Photos of the kept lines only, thinned to the classes the cap allows: 30 first photos
    # (class 7) are already over 10, so only class 7 is kept, one photo per kept line.
    photos = [f["properties"] for f in features(layers, "photos")]
    assert sorted(p["image_key"] for p in photos) == sorted(
        f"{k['mapillary_key']}-img-0" for k in kept
    )


def _dispose(app: Flask) -> None:
    app.extensions["geoapi.engine"].dispose()
    app.extensions["geoapi.tile_engine"].dispose()


@pytest.fixture
def tuned_app(database_url: str, engine: Engine) -> Iterator[Flask]:
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "TESTING": True,
            "TILE_CACHE_CONTROL": "public, max-age=60, stale-while-revalidate=30",
            "TILE_MAX_FEATURES": 100,
            "PUBLIC_URL": "https://maps.example.org/geo/",
        }
    )
    yield app
    _dispose(app)


def test_settings_shape_tiles(tuned_app: Flask, dense: tuple[int, int, int]) -> None:
    z, x, y = dense
    client = tuned_app.test_client()
    response = client.get(f"/tiles/{z}/{x}/{y}.mvt")
    assert response.headers["Cache-Control"] == "public, max-age=60, stale-while-revalidate=30"
    # 30 x 100 photos, cap 100: the classes 7 and 6 (positions 0 and 64: 60 photos); with
    # class 5 too (32 and 96) it would be 120.
    photos = features(decode(response.data), "photos")
    assert sorted({p["properties"]["position"] for p in photos}) == [0, 64]
    assert len(photos) == 60
    tiles_url = client.get("/tiles.json").get_json()["tiles"][0]
    assert tiles_url.startswith("https://maps.example.org/geo/tiles/{z}/{x}/{y}.mvt?v=")


def test_slow_tile_is_503_after_the_tile_timeout(
    database_url: str, dense: tuple[int, int, int]
) -> None:
    app = create_app({"DATABASE_URL": database_url, "TILE_STATEMENT_TIMEOUT_MS": 1})
    try:
        z, x, y = dense
        response = app.test_client().get(f"/tiles/{z}/{x}/{y}.mvt")
        assert response.status_code == 503
        assert response.mimetype == "application/problem+json"
        assert response.headers["Retry-After"]
    finally:
        _dispose(app)


def test_tile_timeout_is_for_the_tile_statement_only(
    engine: Engine, dense: tuple[int, int, int]
) -> None:
    z, x, y = dense
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        with pytest.raises(OperationalError) as caught:
            get_tile(conn, z, x, y, SequenceFilters(), timeout_ms=1)
        assert getattr(caught.value.orig, "pgcode", None) == "57014"  # query_canceled
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "15s"
        assert get_tile(conn, z, x, y, SequenceFilters(), timeout_ms=60_000)


def test_a_dead_pooled_connection_is_replaced(
    client: FlaskClient, app: Flask, world: dict[str, str]
) -> None:
    path = f"/tiles/15/{Z15[0]}/{Z15[1]}.mvt"
    assert client.get(path).status_code == 200
    with app.extensions["geoapi.engine"].begin() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'geoapi-tiles' AND datname = current_database()"
            )
        )
    assert client.get(path).status_code == 200


# TileJSON ---------------------------------------------------------------------------------------


def _version(url: str) -> str:
    return url.split("?v=", 1)[1].split("&", 1)[0].split(">", 1)[0]


def test_tilejson_document(client: FlaskClient, world: dict[str, str]) -> None:
    response = client.get("/tiles.json")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    doc = response.get_json()
    assert doc["tilejson"] == "3.0.0"
    assert (doc["minzoom"], doc["maxzoom"]) == (0, 17)
    [url] = doc["tiles"]
    with client.application.extensions["geoapi.engine"].connect() as conn:
        version = conn.execute(text("SELECT version FROM data_version")).scalar_one()
    assert url == f"http://localhost/tiles/{{z}}/{{x}}/{{y}}.mvt?v={version}"
    layers = {layer["id"]: layer for layer in doc["vector_layers"]}
    assert list(layers) == ["overview", "sequences", "photos"]
    assert (layers["overview"]["minzoom"], layers["overview"]["maxzoom"]) == (0, 5)
    assert (layers["sequences"]["minzoom"], layers["sequences"]["maxzoom"]) == (6, 17)
    assert (layers["photos"]["minzoom"], layers["photos"]["maxzoom"]) == (14, 17)
    assert set(layers["overview"]["fields"]) == {"id", "captured_at", "pano"}
    assert set(layers["sequences"]["fields"]) == {
        "id",
        "mapillary_key",
        "captured_at",
        "pano",
        "transport_type",
        "username",
    }
    assert set(layers["photos"]["fields"]) == {
        "image_key",
        "ca",
        "sequence_id",
        "position",
        "captured_at",
        "pano",
        "transport_type",
    }
    # Bounds of the published data only (the draft lies far south at -60).
    published = [*A_POINTS, B_POINT, LISBON, (LISBON[0] + 0.002, LISBON[1] + 0.001), KATHMANDU]
    lons, lats = [p[0] for p in published], [p[1] for p in published]
    assert doc["bounds"] == pytest.approx([min(lons), min(lats), max(lons), max(lats)], abs=1e-6)
    lon, lat, zoom = doc["center"]
    assert min(lons) <= lon <= max(lons) and min(lats) <= lat <= max(lats)
    assert 0 <= zoom <= 14


def test_tilejson_carries_filters_into_the_tile_url(
    client: FlaskClient, world: dict[str, str]
) -> None:
    doc = client.get(
        "/tiles.json?transport_type=Walk&tag=city&tag=night&pano=false&bogus=1"
    ).get_json()
    url = doc["tiles"][0]
    assert "transport_type=Walk" in url and "tag=city&tag=night" in url and "pano=false" in url
    assert "bogus" not in url
    assert "{z}/{x}/{y}" in url


def test_tilejson_of_an_empty_database(client: FlaskClient) -> None:
    doc = client.get("/tiles.json").get_json()
    assert doc["bounds"] == [-180.0, -85.051129, 180.0, 85.051129]
    assert doc["center"] == [0.0, 0.0, 0]


def test_tile_versions_change_with_every_tile_write(
    client: FlaskClient, engine: Engine, make_user: MakeUser, world: dict[str, str]
) -> None:
    def version() -> str:
        """The world tile's version (its pinned URL's v): every write anywhere moves it."""
        return _version(client.get("/tiles/0/0/0.mvt").headers["Link"])

    start = version()
    assert version() == start  # stable while nothing changes
    carol, _ = make_user("carol")
    _import(engine, carol, make_feature("seq-f", [(2.35, 48.85), (2.351, 48.851)]))
    after_import = version()
    assert after_import != start
    with engine.begin() as conn:
        replace_tags(conn, "sequence", uuid.UUID(world["a"]), ["city", "river"])
    after_tags = version()
    assert after_tags != after_import
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE sequences SET status = 'draft' WHERE id = :id"), {"id": world["c"]}
        )
    after_status = version()
    assert after_status != after_tags
    with engine.begin() as conn:  # usernames are in every tile
        conn.execute(
            text("UPDATE users SET username = 'caroline' WHERE id = :id"), {"id": carol.id}
        )
    after_rename = version()
    assert after_rename != after_status
    # A like changes like_count only, which tiles do not show: same version, same cached tiles.
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO likes (user_id, sequence_id) VALUES (:u, :s)"),
            {"u": carol.id, "s": world["a"]},
        )
    assert version() == after_rename
    # New bounds (Paris is now in).
    assert client.get("/tiles.json").get_json()["bounds"][3] >= 48.851


def test_version_moves_again_when_a_write_commits(engine: Engine, world: dict[str, str]) -> None:
    read = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM data_version_seq"
    with engine.connect() as writer, engine.connect() as reader:
        writer.execute(text("UPDATE sequences SET pano = true WHERE id = :id"), {"id": world["a"]})
        during = reader.execute(text(read)).scalar_one()  # bumped, but the change is not visible
        writer.commit()
        after = reader.execute(text(read)).scalar_one()
    assert after > during


@pytest.mark.parametrize("v", ["abc", "9" * 400, "%ED%A0%80", "-1", "", "1e3", "%F0%9F%97%BA"])
def test_a_hostile_v_is_redirected_to_the_pinned_url(
    client: FlaskClient, world: dict[str, str], v: str
) -> None:
    """``v`` is only ever compared with the area's version: any other value, however odd, is a
    302 to the pinned URL, which carries the area's version and nothing of the value sent."""
    path = f"/tiles/15/{Z15[0]}/{Z15[1]}.mvt"
    pinned = client.get(path).headers["Link"].split(">")[0].lstrip("<")
    moved = client.get(f"{path}?v={v}&pano=false")
    assert moved.status_code == 302, moved.get_data(as_text=True)
    assert moved.headers["Location"] == pinned + "&pano=false"
    assert client.get(moved.headers["Location"]).status_code == 200


def test_a_foreign_host_cannot_steer_the_pinned_url(
    client: FlaskClient, tuned_app: Flask, world: dict[str, str]
) -> None:
    path = f"/tiles/15/{Z15[0]}/{Z15[1]}.mvt?v=1"
    # Without GEOAPI_PUBLIC_URL only local hosts are served ...
    assert client.get(path, headers={"Host": "evil.example"}).status_code == 400
    # ... and with it, redirects and links name the public URL whatever Host says.
    moved = tuned_app.test_client().get(path, headers={"Host": "evil.example"})
    assert moved.status_code == 302
    assert moved.headers["Location"].startswith("https://maps.example.org/geo/tiles/15/")
    tile = tuned_app.test_client().get(path.split("?")[0], headers={"Host": "evil.example"})
    assert tile.headers["Link"].startswith("<https://maps.example.org/geo/tiles/15/")
