"""The map viewer page, its assets and the /docs page: served locally, no external URLs."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask, render_template
from flask.testing import FlaskClient

from geoapi.api.openapi import openapi_document
from geoapi.api.viewer import STATIC_DIR, WEB_DIR

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
    assert '"tilejson": "/tiles.json"' in html
    assert '"sequences": "/api/v1/sequences/"' in html
    assert "/docs" in refs.links
    assert "not-built" not in html  # .ci/build-web has run (CI's setup runs it)


def test_every_asset_the_page_references_is_served(client: FlaskClient) -> None:
    refs = _refs(client.get("/map").get_data(as_text=True))
    types = {}
    for url in [*refs.scripts, *refs.styles]:
        with client.get(url) as response:
            assert response.status_code == 200, url
            assert response.headers["Cache-Control"] == "public, max-age=86400"
            types[url.split("?")[0]] = response.mimetype
            body = response.get_data(as_text=True)
        if url.startswith("/map/static/vendor/maplibre-gl.js"):
            assert "maplibregl" in body and len(body) > 500_000
    assert types["/map/map.js"] == types["/map/static/vendor/maplibre-gl.js"] == "text/javascript"
    assert types["/map/map.css"] == types["/map/static/vendor/maplibre-gl.css"] == "text/css"


def test_vendor_files_are_the_pinned_npm_build() -> None:
    dist = REPO / "node_modules" / "maplibre-gl" / "dist"
    for name in ("maplibre-gl.js", "maplibre-gl.css"):
        built = STATIC_DIR / "vendor" / name
        assert built.is_file(), f"{built} is missing: run bash .ci/build-web"
        if dist.is_dir():
            assert built.read_bytes() == (dist / name).read_bytes()
    assert '"maplibre-gl": "5.' in (REPO / "package.json").read_text()  # pinned, not a range


def test_asset_urls_change_with_their_content(client: FlaskClient, tmp_path: Path) -> None:
    from geoapi.api.viewer import asset_version

    path = tmp_path / "a.js"
    path.write_text("one")
    first = asset_version(path)
    path.write_text("two!")
    assert asset_version(path) != first
    assert asset_version(tmp_path / "missing.js") == "missing"


def test_no_external_urls_in_the_viewer(client: FlaskClient) -> None:
    texts = {
        "/map": client.get("/map").get_data(as_text=True),
        "map.js": (WEB_DIR / "map.js").read_text(),
        "map.css": (WEB_DIR / "map.css").read_text(),
    }
    for name, text in texts.items():
        assert EXTERNAL_URL.findall(text) == [], name
    assert "glyphs" not in texts["map.js"]  # no text layers needing fonts from a server
    assert EXTERNAL_URL.findall("<script src='https://unpkg.com/x.js'>") != []  # the check works


def test_viewer_script_draws_the_required_layers() -> None:
    script = (WEB_DIR / "map.js").read_text()
    assert "hash: true" in script
    assert '"source-layer": "sequences"' in script
    assert '"source-layer": "overview"' in script
    assert '"source-layer": "photos"' in script
    assert '"icon-rotate": ["get", "ca"]' in script
    assert '"icon-rotation-alignment": "map"' in script
    assert '["match", ["coalesce", ["get", "transport_type"], ""]]' in script
    assert "window.geoapiMap = map" in script
    assert "/export.geojson" in script


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
