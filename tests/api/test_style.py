"""``/style.json`` and its sprite: a valid MapLibre style (checked by ``gl-style-validate`` from
the pinned npm package) over the bundled Natural Earth basemap or a fetched basemap style.

The fetched basemap is served over real HTTP by a small local WSGI app, so nothing leaves the
machine; its failures must be 502 problems, never cached.
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import serve_in_thread
from PIL import Image
from werkzeug.wrappers import Request, Response

from geoapi import create_app
from geoapi.mapstyle import TRANSPORT_COLOURS

REPO = Path(__file__).resolve().parents[2]
VALIDATOR = REPO / "node_modules" / ".bin" / "gl-style-validate"
GEOAPI_LAYERS = [
    "overview",
    "sequence-hover",
    "sequence-selected",
    "sequences-casing",
    "sequences",
    "photos-hover",
    "photo-dots",
    "photos-pano",
    "photos-no-ca",
    "photos",
]


def gl_style_validate(style: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run the style spec's own validator (``.ci/build-web`` installs it) on ``style``."""
    assert VALIDATOR.exists(), f"{VALIDATOR} is missing: run bash .ci/build-web"
    path = tmp_path / "style.json"
    path.write_text(json.dumps(style))
    return subprocess.run(
        [str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=60, check=False
    )


def assert_valid(style: dict[str, Any], tmp_path: Path) -> None:
    result = gl_style_validate(style, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def layer_ids(style: dict[str, Any]) -> list[str]:
    return [layer["id"] for layer in style["layers"]]


# The bundled basemap -------------------------------------------------------------------------


def test_style_is_valid_with_the_bundled_basemap(client: FlaskClient, tmp_path: Path) -> None:
    response = client.get("/style.json", headers={"Origin": "https://elsewhere.example"})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    style = response.get_json()
    assert_valid(style, tmp_path)
    assert style["version"] == 8
    assert style["sources"]["geoapi"] == {"type": "vector", "url": "http://localhost/tiles.json"}
    assert style["sprite"] == [{"id": "geoapi", "url": "http://localhost/style/sprite"}]
    assert "glyphs" not in style  # names use the browser's fonts: nothing to fetch
    ids = layer_ids(style)
    assert ids[0] == "background"
    assert ids[-len(GEOAPI_LAYERS) :] == GEOAPI_LAYERS  # geoapi's layers on top, in this order
    assert {"land-110m", "land-50m", "borders-50m", "country-names-50m"} <= set(ids)
    for name in ("natural-earth-110m", "natural-earth-50m"):
        source = style["sources"][name]
        assert source["type"] == "geojson"
        assert "Natural Earth" in source["attribution"]
        data = source["data"]
        assert data.startswith("http://localhost/map/static/vendor/basemap/ne-")
        served = client.get(data.removeprefix("http://localhost"))
        assert served.status_code == 200
        assert any(f["properties"]["kind"] == "land" for f in served.get_json()["features"])
    legend = style["metadata"]["geoapi:legend"]
    assert [row[0] for row in legend[:3]] == ["Walk", "Bicycle", "Car"]


def test_the_validator_catches_a_broken_style(client: FlaskClient, tmp_path: Path) -> None:
    style = client.get("/style.json").get_json()
    style["layers"][-1]["paint"]["icon-color"] = ["get"]  # a malformed expression
    result = gl_style_validate(style, tmp_path)
    assert result.returncode != 0
    assert "icon-color" in result.stdout + result.stderr


def test_lines_and_photos_share_the_transport_colours(client: FlaskClient) -> None:
    layers = {layer["id"]: layer for layer in client.get("/style.json").get_json()["layers"]}
    expression = layers["sequences"]["paint"]["line-color"]
    assert expression[:2] == ["match", ["coalesce", ["get", "transport_type"], ""]]
    for _label, colour, names in TRANSPORT_COLOURS:
        assert expression[expression.index(list(names)) + 1] == colour
    assert layers["photo-dots"]["paint"]["circle-color"] == expression
    assert layers["photos"]["paint"]["icon-color"] == expression
    assert "maxzoom" not in layers["sequences"]  # lines at every zoom from z6
    assert (layers["photo-dots"]["minzoom"], layers["photo-dots"]["maxzoom"]) == (14, 16)
    assert layers["photos"]["minzoom"] == 16
    assert layers["photos"]["layout"]["icon-image"] == "geoapi:photo-arrow"
    assert layers["photos"]["layout"]["icon-rotate"] == ["get", "ca"]
    assert layers["photos-pano"]["filter"] == ["to-boolean", ["get", "pano"]]


def test_filters_pass_on_to_the_tilejson(client: FlaskClient, tmp_path: Path) -> None:
    response = client.get("/style.json?transport_type=Walk&tag=city&tag=night&pano=false&x=1")
    assert response.status_code == 200
    style = response.get_json()
    url = style["sources"]["geoapi"]["url"]
    assert url == "http://localhost/tiles.json?transport_type=Walk&tag=city&tag=night&pano=false"
    assert client.get(url.removeprefix("http://localhost")).status_code == 200
    assert_valid(style, tmp_path)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("pano=maybe", "pano"),
        ("transport_type=Spaceship", "transport_type"),
        ("tag=Not%20A%20Tag!", "tag"),
        ("datetime=yesterday", "datetime"),
        ("basemap=osm", "basemap"),
    ],
)
def test_bad_arguments_are_400_problems(client: FlaskClient, query: str, field: str) -> None:
    response = client.get(f"/style.json?{query}")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert [e["field"] for e in response.get_json()["errors"]] == [field]


def test_style_answers_if_none_match(client: FlaskClient) -> None:
    first = client.get("/style.json")
    assert first.headers["Cache-Control"] == "no-cache"
    again = client.get("/style.json", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    other = client.get("/style.json?pano=true", headers={"If-None-Match": first.headers["ETag"]})
    assert other.status_code == 200


def _app(database_url: str, **settings: Any) -> Flask:
    return create_app({"DATABASE_URL": database_url, "TESTING": True, **settings})


def _dispose(app: Flask) -> None:
    app.extensions["geoapi.engine"].dispose()
    app.extensions["geoapi.tile_engine"].dispose()


def test_every_url_is_under_the_public_url(database_url: str, tmp_path: Path) -> None:
    app = _app(database_url, PUBLIC_URL="https://maps.example.org/geo/")
    try:
        style = app.test_client().get("/style.json").get_json()
    finally:
        _dispose(app)
    urls = [style["sources"]["geoapi"]["url"], style["sprite"][0]["url"]]
    urls += [s["data"] for s in style["sources"].values() if s["type"] == "geojson"]
    assert all(url.startswith("https://maps.example.org/geo/") for url in urls), urls
    assert_valid(style, tmp_path)


# The sprite ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("suffix", "ratio"), [("", 1), ("@2x", 2)])
def test_sprite_holds_the_photo_arrow_as_sdf(client: FlaskClient, suffix: str, ratio: int) -> None:
    index = client.get(f"/style/sprite{suffix}.json")
    assert index.status_code == 200 and index.mimetype == "application/json"
    side = 24 * ratio
    assert index.get_json() == {
        "photo-arrow": {
            "x": 0,
            "y": 0,
            "width": side,
            "height": side,
            "pixelRatio": ratio,
            "sdf": True,
        }
    }
    png = client.get(f"/style/sprite{suffix}.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.headers["Cache-Control"] == "public, max-age=86400"
    image = Image.open(io.BytesIO(png.data))
    assert image.size == (side, side) and image.mode == "RGBA"
    alpha = image.getchannel("A")

    def at(x: float, y: float) -> int:  # logical pixels
        value: int = alpha.getpixel((int(x * ratio), int(y * ratio)))  # type: ignore[assignment]
        return value

    # The distance field: full inside the arrow, ~0.75 on its outline, zero far outside.
    assert at(12, 12) == 255
    assert 150 < at(12, 4) < 230  # at the tip
    assert at(1, 1) == 0 and at(22, 5) == 0
    assert at(12, 17.5) < 191  # the notch at the back is outside


def test_unknown_sprite_file_is_a_problem_404(client: FlaskClient) -> None:
    response = client.get("/style/sprite@3x.png")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


# A fetched basemap style ---------------------------------------------------------------------

BASE_STYLE: dict[str, Any] = {
    "version": 8,
    "name": "Streets",
    "glyphs": "fonts/{fontstack}/{range}.pbf",
    "sprite": "sprites/streets",
    "sources": {
        "openmaptiles": {
            "type": "vector",
            "url": "tiles.json",
            "attribution": "© OpenStreetMap contributors",
        },
        "geoapi": {"type": "geojson", "data": {"type": "FeatureCollection", "features": []}},
        "hills": {"type": "raster", "tiles": ["/hills/{z}/{x}/{y}.png"], "tileSize": 256},
    },
    "layers": [
        {"id": "background", "type": "background", "paint": {"background-color": "#f8f4f0"}},
        {"id": "water", "type": "fill", "source": "openmaptiles", "source-layer": "water"},
        {"id": "overview", "type": "line", "source": "geoapi"},
        {"id": "hills", "type": "raster", "source": "hills"},
    ],
}


class FakeBasemap:
    """A WSGI app serving ``/styles/streets.json`` (what it serves can be changed); counts hits."""

    def __init__(self) -> None:
        self.status = 200
        self.body: bytes = json.dumps(BASE_STYLE).encode()
        self.hits = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        if request.path != "/styles/streets.json":
            return Response("no", status=404)(environ, start_response)
        self.hits += 1
        response = Response(self.body, status=self.status, mimetype="application/json")
        return response(environ, start_response)


@pytest.fixture
def basemap() -> Iterator[tuple[FakeBasemap, str]]:
    fake = FakeBasemap()
    with serve_in_thread(fake) as url:
        yield fake, url


@pytest.fixture
def basemap_app(database_url: str, basemap: tuple[FakeBasemap, str]) -> Iterator[Flask]:
    app = _app(database_url, BASEMAP_STYLE_URL=basemap[1] + "/styles/streets.json")
    yield app
    _dispose(app)


def test_a_configured_basemap_is_under_geoapi_layers(
    basemap_app: Flask, basemap: tuple[FakeBasemap, str], tmp_path: Path
) -> None:
    fake, base = basemap
    client = basemap_app.test_client()
    style = client.get("/style.json").get_json()
    assert_valid(style, tmp_path)
    assert style["name"] == "geoapi over Streets"
    # The base first, with the ids geoapi uses renamed (and their layers following them).
    ids = layer_ids(style)
    assert ids == ["background", "water", "basemap-overview", "hills", *GEOAPI_LAYERS]
    layers = {layer["id"]: layer for layer in style["layers"]}
    assert layers["basemap-overview"]["source"] == "basemap-geoapi"
    assert style["sources"]["basemap-geoapi"]["type"] == "geojson"
    assert style["sources"]["geoapi"] == {"type": "vector", "url": "http://localhost/tiles.json"}
    # Relative URLs resolved against the style's own URL; attribution kept.
    assert style["glyphs"] == f"{base}/styles/fonts/{{fontstack}}/{{range}}.pbf"
    assert style["sources"]["openmaptiles"]["url"] == f"{base}/styles/tiles.json"
    assert style["sources"]["openmaptiles"]["attribution"] == "© OpenStreetMap contributors"
    assert style["sources"]["hills"]["tiles"] == [f"{base}/hills/{{z}}/{{x}}/{{y}}.png"]
    assert style["sprite"] == [
        {"id": "default", "url": f"{base}/styles/sprites/streets"},
        {"id": "geoapi", "url": "http://localhost/style/sprite"},
    ]
    # Fetched once, then kept; the bundled basemap is still there on request.
    client.get("/style.json?transport_type=Walk")
    assert fake.hits == 1
    bundled = client.get("/style.json?basemap=natural-earth").get_json()
    assert "natural-earth-50m" in bundled["sources"] and "openmaptiles" not in bundled["sources"]


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (500, b"{}", "500"),
        (200, b"<html>not json</html>", "could not be used"),
        (200, json.dumps({**BASE_STYLE, "version": 7}).encode(), "version 8"),
        (200, json.dumps({**BASE_STYLE, "layers": {}}).encode(), "layers"),
        (200, json.dumps([1, 2]).encode(), "not a JSON object"),
    ],
)
def test_an_unusable_basemap_is_a_502_and_is_not_kept(
    basemap_app: Flask, basemap: tuple[FakeBasemap, str], status: int, body: bytes, reason: str
) -> None:
    fake, base = basemap
    fake.status, fake.body = status, body
    client = basemap_app.test_client()
    response = client.get("/style.json")
    assert response.status_code == 502
    assert response.mimetype == "application/problem+json"
    detail = response.get_json()["detail"]
    assert f"{base}/styles/streets.json" in detail and reason in detail
    assert client.get("/style.json?basemap=natural-earth").status_code == 200
    fake.status, fake.body = 200, json.dumps(BASE_STYLE).encode()
    assert client.get("/style.json").status_code == 200  # the failure was not kept


def test_an_unreachable_basemap_is_a_502(database_url: str) -> None:
    with serve_in_thread(FakeBasemap()) as url:
        pass  # the port is closed again
    app = _app(database_url, BASEMAP_STYLE_URL=url + "/styles/streets.json")
    try:
        response = app.test_client().get("/style.json")
    finally:
        _dispose(app)
    assert response.status_code == 502
    assert response.get_json()["title"] == "Bad Gateway"
