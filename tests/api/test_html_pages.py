"""HTML for every OGC API resource (f=html or Accept: text/html), alternate links in JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import make_feature, serve_in_thread
from sqlalchemy import Engine
from test_features import MakeUser, get_json, line, load, local

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
def ids(engine: Engine, make_user: MakeUser) -> list[str]:
    user, _ = make_user("html")
    return load(
        engine,
        user.id,
        make_feature("h-1", line(-9.14, 38.71, 3), title="Alfama </script><b>walk</b>"),
    )


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/conformance",
        "/collections",
        "/collections/sequences",
        "/collections/photos/queryables",
        "/collections/sequences/items",
        "/collections/photos/items?limit=2",
    ],
)
def test_every_resource_has_html_and_json_alternates(
    client: FlaskClient, ids: list[str], path: str
) -> None:
    page = client.get(path, headers=BROWSER)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.get_data(as_text=True).startswith("<!doctype html>")
    sep = "&" if "?" in path else "?"
    assert client.get(f"{path}{sep}f=html").mimetype == "text/html"
    body = get_json(client, path)
    alternates = [link for link in body["links"] if link["rel"] == "alternate"]
    assert any(link["type"] == "text/html" for link in alternates), body["links"]
    html = next(link for link in alternates if link["type"] == "text/html")
    assert client.get(local(html["href"])).mimetype == "text/html"


def test_items_page_maps_its_features_with_the_bundled_maplibre(
    client: FlaskClient, ids: list[str]
) -> None:
    html = client.get("/collections/sequences/items?f=html").get_data(as_text=True)
    assert '<script src="/map/static/vendor/maplibre-gl.js">' in html
    assert "https://" not in html.split("<body>", 1)[1]  # nothing from the internet
    data = re.search(
        r'<script id="features" type="application/geo\+json">(.*?)</script>', html, re.S
    )
    assert data is not None
    features = json.loads(data.group(1))["features"]
    assert features[0]["id"] == ids[0]
    assert features[0]["properties"]["title"] == "Alfama </script><b>walk</b>"  # kept, escaped
    assert "<b>walk</b>" not in html.replace(data.group(1), "")
    item = client.get(f"/collections/sequences/items/{ids[0]}", headers=BROWSER)
    assert item.mimetype == "text/html" and "maplibre-gl.js" in item.get_data(as_text=True)


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian's chromium is missing")
def test_items_map_renders_in_a_browser(app: Flask, ids: list[str]) -> None:
    """Chromium (headless, software GL) draws the page's features on the items page's map."""
    from playwright.sync_api import sync_playwright
    from test_browser import ARTIFACTS, CHROMIUM_ARGS

    errors: list[str] = []
    with serve_in_thread(app) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 900, "height": 700})
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{url}/collections/sequences/items?f=html")
            page.wait_for_function("() => window.geoapiMapReady === true", timeout=30_000)
            drawn = page.evaluate(
                "() => window.geoapiPageMap.queryRenderedFeatures({layers: ['lines']}).length"
            )
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "items-page-map.png"))
        finally:
            browser.close()
    assert errors == []
    assert drawn >= 1
