"""TileJSON's maxzoom is the shallowest zoom at which a dense city's tiles hold every photo.

The dense city is the benchmark's (bench/common.py): generated sequences of 100 photos around
Ljubljana. The test imports the sequences near its densest z15 tile, then decodes that tile's
z16 and z17 descendants from the real PostGIS: at TileJSON's maxzoom (z17) every tile carries
every photo of its buffered area (no thinning, so a client may overzoom it); one zoom up (z16)
the densest tile is thinned, so a shallower maxzoom would hide photos.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mapbox_vector_tile
import pytest
from flask.testing import FlaskClient
from helpers import tile_lonlat, tile_of
from sqlalchemy import Engine, text

from geoapi.store.importer import import_feature_collection
from geoapi.store.users import UserInfo
from geoapi.synthetic import generate_features
from geoapi.tiling import TILE_BUFFER, TILE_EXTENT, TILEJSON_MAXZOOM

LJUBLJANA = (14.5058, 46.0569)  # bench/common.py CITY
SEED, SEQUENCES, PHOTOS = 7, 1_000, 100  # bench/common.py: 10% of 10,000 sequences x 100 photos
MAX_TILE_BYTES = 500_000
# Photos of published sequences that fall in the tile's buffered extent once snapped to its
# grid: what the tile carries when nothing is thinned.
HELD = text(
    "SELECT count(*) FROM photos p JOIN sequences s ON s.id = p.sequence_id,"
    " (SELECT ST_TileEnvelope(:z, :x, :y) AS env) e"
    " WHERE s.status = 'published'"
    " AND p.geom_3857 && ST_Expand(e.env, ST_XMax(e.env) - ST_XMin(e.env))"
    " AND ST_AsMVTGeom(p.geom_3857, e.env, :extent, :buffer, true) IS NOT NULL"
)


@dataclass(frozen=True)
class DenseCity:
    x15: int
    y15: int
    photos: int  # imported


def _children(z: int, x: int, y: int, depth: int) -> list[tuple[int, int, int]]:
    """Every tile ``depth`` zooms below z/x/y."""
    n = 2**depth
    return [(z + depth, x * n + i, y * n + j) for i in range(n) for j in range(n)]


@pytest.fixture
def dense_city(engine: Engine, make_user: Callable[[str], tuple[UserInfo, str]]) -> DenseCity:
    """The city sequences with a photo in (or just around) the densest z15 tile."""
    features = list(generate_features(SEQUENCES, PHOTOS, seed=SEED, city=LJUBLJANA, city_share=1))
    counts = Counter(
        tile_of(lon, lat, 15) for f in features for lon, lat in f["geometry"]["coordinates"]
    )
    (x15, y15), _ = counts.most_common(1)[0]
    west, south, east, north = tile_lonlat(15, x15, y15)
    dx, dy = (east - west) * 0.05, (north - south) * 0.05

    def near(feature: dict[str, Any]) -> bool:
        return any(
            west - dx <= lon <= east + dx and south - dy <= lat <= north + dy
            for lon, lat in feature["geometry"]["coordinates"]
        )

    chosen = [f for f in features if near(f)]
    user, _ = make_user("city")
    report = import_feature_collection(
        engine, user.id, {"type": "FeatureCollection", "features": chosen}
    )
    assert report.count("imported") == len(chosen)
    return DenseCity(x15, y15, sum(len(f["geometry"]["coordinates"]) for f in chosen))


def _photo_keys(client: FlaskClient, z: int, x: int, y: int) -> tuple[list[str], int]:
    """The image keys of a tile's photo layer (repeats kept) and the tile's size in bytes."""
    response = client.get(f"/tiles/{z}/{x}/{y}.mvt")
    if response.status_code == 204:
        return [], 0
    assert response.status_code == 200
    again = client.get(f"/tiles/{z}/{x}/{y}.mvt")
    assert again.data == response.data  # the same bytes for the same data
    layers = mapbox_vector_tile.decode(response.data)
    photos = layers.get("photos", {}).get("features", [])
    return [p["properties"]["image_key"] for p in photos], len(response.data)


def test_tilejson_maxzoom_is_the_zoom_where_dense_tiles_hold_every_photo(
    client: FlaskClient, engine: Engine, dense_city: DenseCity
) -> None:
    doc = client.get("/tiles.json").get_json()
    assert doc["maxzoom"] == TILEJSON_MAXZOOM == 17
    photos_layer = next(layer for layer in doc["vector_layers"] if layer["id"] == "photos")
    assert photos_layer["maxzoom"] == TILEJSON_MAXZOOM

    def held(z: int, x: int, y: int) -> int:
        with engine.connect() as conn:
            params = {"z": z, "x": x, "y": y, "extent": TILE_EXTENT, "buffer": TILE_BUFFER}
            return int(conn.execute(HELD, params).scalar_one())

    # At the maxzoom: every tile under the densest z15 tile carries every photo, once.
    deepest = _children(15, dense_city.x15, dense_city.y15, TILEJSON_MAXZOOM - 15)
    most = 0
    for z, x, y in deepest:
        keys, size = _photo_keys(client, z, x, y)
        assert len(keys) == len(set(keys)) == held(z, x, y), (z, x, y)
        assert size < MAX_TILE_BYTES
        most = max(most, len(keys))
    assert most > 1_000  # really dense: the densest z17 tile of the city holds ~1,900

    # One zoom up, the densest tile is thinned: a z16 maxzoom would hide photos when overzoomed.
    shallower = _children(15, dense_city.x15, dense_city.y15, TILEJSON_MAXZOOM - 16)
    thinned = 0
    for z, x, y in shallower:
        keys, size = _photo_keys(client, z, x, y)
        assert size < MAX_TILE_BYTES
        if len(keys) < held(z, x, y):
            thinned += 1
    assert thinned >= 1
