"""The map viewer page, its assets and the /docs page: served locally, nothing loaded from
the internet (the one external URL is the Mapillary link a photo popup shows)."""

from __future__ import annotations

import gzip
import itertools
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask, render_template
from flask.testing import FlaskClient

from geoapi.api.openapi import openapi_document
from geoapi.api.viewer import MAPILLARY_PHOTO_URL, STATIC_DIR, WEB_DIR

# An absolute or protocol-relative URL naming a host, e.g. https://unpkg.com or //cdn.example.org
EXTERNAL_URL = re.compile(r"(?:[a-z][a-z0-9+.-]*:)?//[a-z0-9-]+(?:\.[a-z0-9-]+)+", re.IGNORECASE)
REPO = Path(__file__).resolve().parents[2]


class _Refs(HTMLParser):
    """Collects ``src`` and ``href`` attribute values of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.scripts.append(str(values["src"]))
        if tag == "link" and values.get("rel") == "stylesheet":
            self.styles.append(str(values["href"]))
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))


def _refs(html: str) -> _Refs:
    parser = _Refs()
    parser.feed(html)
    return parser


def test_map_page_loads_local_maplibre_and_the_tilejson(client: FlaskClient) -> None:
    response = client.get("/map")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    refs = _refs(html)
    assert [src.split("?")[0] for src in refs.scripts] == [
        "/map/static/vendor/maplibre-gl.js",
        "/map/map.js",
    ]
    assert [href.split("?")[0] for href in refs.styles] == [
        "/map/static/vendor/maplibre-gl.css",
        "/map/map.css",
    ]
    assert '"style": "/style.json"' in html
    assert '"tilejson": "/tiles.json"' in html
    assert '"sequences": "/api/v1/sequences/"' in html
    assert '"photo_items": "/collections/photos/items"' in html
    assert "/docs" in refs.links
    assert "not-built" not in html  # .ci/build-web has run (CI's setup runs it)


def test_every_asset_the_page_references_is_served(client: FlaskClient) -> None:
    refs = _refs(client.get("/map").get_data(as_text=True))
    types = {}
    basemap = [f"/map/static/vendor/basemap/ne-{scale}.geojson" for scale in ("110m", "50m")]
    for url in [*refs.scripts, *refs.styles, *basemap]:
        with client.get(url) as response:
            assert response.status_code == 200, url
            assert response.headers["Cache-Control"] == "public, max-age=86400"
            types[url.split("?")[0]] = response.mimetype
            body = response.get_data(as_text=True)
        if url.startswith("/map/static/vendor/maplibre-gl.js"):
            assert "maplibregl" in body and len(body) > 500_000
    assert types["/map/map.js"] == types["/map/static/vendor/maplibre-gl.js"] == "text/javascript"
    assert types["/map/map.css"] == types["/map/static/vendor/maplibre-gl.css"] == "text/css"
    assert types[basemap[0]] == types[basemap[1]] == "application/geo+json"


def test_static_text_is_gzipped_when_accepted(client: FlaskClient) -> None:
    url = "/map/static/vendor/basemap/ne-50m.geojson"
    plain = client.get(url)
    zipped = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert gzip.decompress(zipped.data) == plain.data
    assert len(zipped.data) < len(plain.data) / 2
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    again = client.get(
        url, headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]}
    )
    assert again.status_code == 304
    text = client.get(
        "/map/static/vendor/maplibre-gl.LICENSE.txt", headers={"Accept-Encoding": "gzip"}
    )
    assert text.headers["Content-Encoding"] == "gzip"


def test_vendor_files_are_the_pinned_npm_build() -> None:
    dist = REPO / "node_modules" / "maplibre-gl" / "dist"
    for name in ("maplibre-gl.js", "maplibre-gl.css"):
        built = STATIC_DIR / "vendor" / name
        assert built.is_file(), f"{built} is missing: run bash .ci/build-web"
        if dist.is_dir():
            assert built.read_bytes() == (dist / name).read_bytes()
    package = json.loads((REPO / "package.json").read_text())
    pinned = {**package["dependencies"], **package["devDependencies"]}
    for name in ("maplibre-gl", "world-atlas", "@maplibre/maplibre-gl-style-spec"):
        assert re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", pinned[name]), name  # pinned, not a range


@pytest.mark.parametrize("scale", ["110m", "50m"])
def test_bundled_basemap_is_natural_earth_land_borders_and_names(scale: str) -> None:
    path = STATIC_DIR / "vendor" / "basemap" / f"ne-{scale}.geojson"
    assert path.is_file(), f"{path} is missing: run bash .ci/build-web"
    document = json.loads(path.read_text())
    kinds: dict[str, set[str]] = {}
    for feature in document["features"]:
        kinds.setdefault(feature["properties"]["kind"], set()).add(feature["geometry"]["type"])
    assert kinds == {"land": {"Polygon"}, "border": {"LineString"}, "country": {"Point"}}
    names = {f["properties"]["name"] for f in document["features"] if "name" in f["properties"]}
    assert {"Portugal", "Slovenia", "Nepal", "Brazil"} <= names
    for feature in document["features"]:
        if feature["geometry"]["type"] == "Polygon":
            for ring in feature["geometry"]["coordinates"]:
                assert ring[0] == ring[-1]  # closed, also the rings around a pole
                # No edge crosses the world (the antimeridian is unwrapped) but along a pole.
                for a, b in itertools.pairwise(ring):
                    assert abs(a[0] - b[0]) < 180 or abs(a[1]) == abs(b[1]) >= 89.99, (a, b)


def test_asset_urls_change_with_their_content(client: FlaskClient, tmp_path: Path) -> None:
    from geoapi.api.viewer import asset_version

    path = tmp_path / "a.js"
    path.write_text("one")
    first = asset_version(path)
    path.write_text("two!")
    assert asset_version(path) != first
    assert asset_version(tmp_path / "missing.js") == "missing"


def test_no_external_urls_in_the_viewer(client: FlaskClient) -> None:
    page = client.get("/map").get_data(as_text=True)
    assert page.count(MAPILLARY_PHOTO_URL) == 1  # the photo link template, in the page's config
    texts = {
        "/map": page.replace(MAPILLARY_PHOTO_URL, ""),
        "map.js": (WEB_DIR / "map.js").read_text(),
        "map.css": (WEB_DIR / "map.css").read_text(),
    }
    for name, text in texts.items():
        assert EXTERNAL_URL.findall(text) == [], name
    assert "glyphs" not in texts["map.js"]  # no text layers needing fonts from a server
    assert EXTERNAL_URL.findall("<script src='https://unpkg.com/x.js'>") != []  # the check works


def test_viewer_script_opens_the_service_style() -> None:
    script = (WEB_DIR / "map.js").read_text()
    assert "hash: true" in script
    assert "config.style" in script and "style," in script  # the map is made from /style.json
    assert "map.setStyle(nextStyle)" in script  # filters: the same style, other TileJSON URL
    assert '"geoapi:legend"' in script  # the legend comes from the style's metadata
    assert "window.geoapiMap = map" in script
    assert "/export.geojson" in script and "config.photo_items" in script
    assert "config.mapillary_photo" in script


def test_unknown_assets_are_problem_404s(client: FlaskClient) -> None:
    for url in (
        "/map/secret.py",
        "/map/static/vendor/nope.js",
        "/map/static/../viewer.py",
        "/map/static/%2e%2e/viewer.py",
        "/map/static/vendor/../../viewer.py",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.mimetype == "application/problem+json", url


def test_landing_page_links_the_map(client: FlaskClient) -> None:
    html = client.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert any(href.endswith("/map") for href in _refs(html).links)


def test_docs_page_lists_every_operation(client: FlaskClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    document = openapi_document()
    count = 0
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            count += 1
            anchor = op.get("operationId")
            assert f"<code>{method.upper()} {path}</code>" in html, (method, path)
            assert f'id="{anchor}"' in html, anchor
            for param in op.get("parameters", []):
                assert f"<code>{param['name']}</code>" in html, (path, param["name"])
            for status in op["responses"]:
                assert f"<code>{status}</code>" in html
    assert count > 0 and html.count('<section class="op"') == count
    assert "<script" not in html
    refs = _refs(html)
    assert refs.styles == [] and not [u for u in refs.links if EXTERNAL_URL.match(u)]
    assert 'href="/api/openapi.json"' in html


def test_docs_page_escapes_document_text(app: Flask) -> None:
    from geoapi.api.openapi import operations, schema_label

    document = {
        "paths": {
            "/x": {"get": {"summary": "<b>bold</b>", "responses": {"200": {"description": "ok"}}}}
        },
        "components": {"schemas": {"Thing": {"type": "object"}}},
    }
    ops = operations(document)
    assert [(op.method, op.path, op.summary) for op in ops] == [("GET", "/x", "<b>bold</b>")]
    assert schema_label(document, {"$ref": "#/components/schemas/Thing"}) == "Thing"
    assert schema_label(document, {"type": "array", "items": {"type": "string"}}) == (
        "array of string"
    )
    label = schema_label(document, {"type": "integer", "minimum": 1, "maximum": 5, "default": 2})
    assert label == "integer (1-5; default 2)"
    with app.test_request_context("/docs"):
        html = render_template("docs.html", info={}, operations=ops, openapi_url="/o.json")
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold" not in html


def test_map_page_says_how_to_build_when_maplibre_is_missing(
    client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("geoapi.api.viewer.STATIC_DIR", tmp_path)
    html = client.get("/map").get_data(as_text=True)
    assert 'id="not-built"' in html and "bash .ci/build-web" in html
    assert client.get("/map/static/vendor/maplibre-gl.js").status_code == 404


def test_assets_answer_conditional_requests(client: FlaskClient) -> None:
    first = client.get("/map/map.js")
    etag = first.headers["ETag"]
    assert first.status_code == 200 and etag
    again = client.get("/map/map.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
