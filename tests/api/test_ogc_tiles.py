"""OGC API Tiles on real PostGIS: matrix sets, tilesets, and tiles from the same tile code."""

from __future__ import annotations

from typing import Any

import mapbox_vector_tile
import pytest
from flask.testing import FlaskClient
from helpers import make_feature
from sqlalchemy import Engine
from test_features import MakeUser, get_json, line, load, local

# Lisbon's Alfama at zoom 14 (x 7, y 6 at zoom 4).
Z, X, Y = 14, 7776, 6278


@pytest.fixture
def data(engine: Engine, make_user: MakeUser) -> None:
    user, _ = make_user("tiler")
    load(engine, user.id, make_feature("t-1", line(-9.14, 38.71, 5), title="Alfama"))


def test_tile_matrix_set(client: FlaskClient) -> None:
    sets = get_json(client, "/tileMatrixSets")["tileMatrixSets"]
    assert [s["id"] for s in sets] == ["WebMercatorQuad"]
    tms = get_json(client, local(sets[0]["links"][0]["href"]))
    assert tms["crs"] == "http://www.opengis.net/def/crs/EPSG/0/3857"
    matrices = tms["tileMatrices"]
    assert [m["id"] for m in matrices] == [str(z) for z in range(23)]
    assert matrices[0]["scaleDenominator"] == pytest.approx(559082264.028717)
    assert matrices[14]["matrixWidth"] == 2**14
    assert client.get("/tileMatrixSets/WorldCRS84Quad").status_code == 404


@pytest.mark.parametrize("root", ["/tiles", "/collections/sequences/tiles"])
def test_tilesets_and_metadata(client: FlaskClient, data: None, root: str) -> None:
    listing = get_json(client, root)["tilesets"]
    assert listing[0]["dataType"] == "vector"
    assert listing[0]["tileMatrixSetURI"].endswith("/WebMercatorQuad")
    meta = get_json(client, local(listing[0]["links"][0]["href"]))
    links = {link["rel"]: link for link in meta["links"]}
    scheme = links["http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"]
    assert local(scheme["href"]) == "/tileMatrixSets/WebMercatorQuad"
    item = links["item"]
    assert item["type"] == "application/vnd.mapbox-vector-tile" and item["templated"] is True
    # No version in the template: each tile revalidates by its area's ETag.
    assert "{tileMatrix}/{tileRow}/{tileCol}" in item["href"] and "v=" not in item["href"]
    limits = {entry["tileMatrix"]: entry for entry in meta["tileMatrixSetLimits"]}
    assert limits["14"]["minTileCol"] <= X <= limits["14"]["maxTileCol"]
    assert limits["14"]["minTileRow"] <= Y <= limits["14"]["maxTileRow"]
    layers = [layer["id"] for layer in meta["layers"]]
    assert layers == (
        ["overview", "sequences", "photos"] if root == "/tiles" else ["overview", "sequences"]
    )


def _decode(client: FlaskClient, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    assert response.mimetype == "application/vnd.mapbox-vector-tile"
    decoded: dict[str, Any] = mapbox_vector_tile.decode(response.data)
    return decoded


def test_ogc_tiles_are_the_xyz_tiles(client: FlaskClient, data: None) -> None:
    xyz = client.get(f"/tiles/{Z}/{X}/{Y}.mvt").data
    ogc = client.get(f"/tiles/WebMercatorQuad/{Z}/{Y}/{X}?f=mvt")
    assert ogc.status_code == 200 and ogc.data == xyz
    assert set(_decode(client, f"/tiles/WebMercatorQuad/{Z}/{Y}/{X}")) == {"sequences", "photos"}
    assert set(_decode(client, f"/collections/sequences/tiles/WebMercatorQuad/{Z}/{Y}/{X}")) == {
        "sequences"
    }
    photos = _decode(client, f"/collections/photos/tiles/WebMercatorQuad/{Z}/{Y}/{X}")
    assert set(photos) == {"photos"} and len(photos["photos"]["features"]) == 5
    # photos start at zoom 14: below it a photos tile is empty
    assert client.get("/collections/photos/tiles/WebMercatorQuad/4/6/7").status_code == 204


@pytest.mark.parametrize(
    ("url", "status", "field"),
    [
        ("/tiles/WebMercatorQuad/23/0/0", 400, "tileMatrix"),
        ("/tiles/WebMercatorQuad/2/4/0", 400, "tileRow"),
        ("/tiles/WebMercatorQuad/2/0/x", 400, "tileCol"),
        ("/tiles/WebMercatorQuad/2/0/0?f=png", 400, "f"),
        ("/tiles/GoogleCRS84Quad/2/0/0", 404, None),
        ("/collections/tours/tiles/WebMercatorQuad/2/0/0", 404, None),
    ],
)
def test_bad_ogc_tile_addresses(
    client: FlaskClient, url: str, status: int, field: str | None
) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    if field:
        assert response.json["errors"][0]["field"] == field
