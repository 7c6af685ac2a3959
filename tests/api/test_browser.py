"""The map viewer in a real browser: Debian's Chromium (headless, SwiftShader GL) via Playwright.

A threaded werkzeug server runs the app on a free port with imported data; the test opens
``/map#zoom/lat/lon`` on a known sequence, checks that tiles were requested and sequences
rendered (``queryRenderedFeatures``), clicks the sequence for its details popup, applies a
transport type filter, zooms to the photo arrows and saves screenshots under ``test-artifacts/``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from helpers import serve_in_thread
from sqlalchemy import Engine, text

from geoapi.store.importer import import_feature_collection
from geoapi.store.users import UserInfo
from geoapi.synthetic import demo_features

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TRANSPORT_TYPES = ("Walk", "Bicycle", "Car")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-gpu-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# The vertex of the target's rendered line nearest the centre whose click box hits only that
# line (and lies right of the filter panel), in screen pixels.
CLICK_POINT_JS = """id => {
    const map = window.geoapiMap;
    const c = map.project(map.getCenter());
    const dist = p => Math.hypot(p.x - c.x, p.y - c.y);
    const points = [];
    for (const f of map.queryRenderedFeatures({layers: ['sequences']})) {
        if (f.properties.id !== id) continue;
        const g = f.geometry;
        const lines = g.type === 'LineString' ? [g.coordinates] : g.coordinates;
        for (const line of lines) for (const pt of line) points.push(map.project(pt));
    }
    points.sort((a, b) => dist(a) - dist(b));
    const layers = ['sequences', 'photos', 'photos-no-ca'];
    const alone = points.find(p => p.x > 280 && map.queryRenderedFeatures(
        [[p.x - 6, p.y - 6], [p.x + 6, p.y + 6]], {layers}).every(f => f.properties.id === id));
    const best = alone || points[0];
    return [best.x, best.y];
}"""

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/setup installs it)"
)


@dataclass(frozen=True)
class Target:
    id: str
    title: str
    transport_type: str
    lon: float
    lat: float
    photo_count: int
    day: str  # captured date, UTC
    even_that_day: frozenset[str]  # ids tagged "even" captured that day


@pytest.fixture
def demo_data(
    engine: Engine,
    make_user: Callable[[str], tuple[UserInfo, str]],
    seed_collection: dict[str, Any],
) -> Target:
    """The seed example plus 30 demo sequences with titles, transport types and tags."""
    user, _ = make_user("mapper")
    features = []
    for index, feature in enumerate(demo_features(30)):
        feature = copy.deepcopy(feature)
        feature["properties"].update(
            title=f"Demo sequence {index:02d}",
            transport_type=TRANSPORT_TYPES[index % len(TRANSPORT_TYPES)],
            tags=["demo", "even" if index % 2 == 0 else "odd"],
        )
        features.append(feature)
    for document in (seed_collection, {"type": "FeatureCollection", "features": features}):
        report = import_feature_collection(engine, user.id, document)
        assert report.count("failed") == 0
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT s.id::text AS id, s.title, tt.name AS transport_type, s.photo_count,"
                " ST_X(ST_PointN(s.geom, (ST_NPoints(s.geom) + 1) / 2)) AS lon,"
                " ST_Y(ST_PointN(s.geom, (ST_NPoints(s.geom) + 1) / 2)) AS lat"
                " FROM sequences s JOIN transport_types tt ON tt.id = s.transport_type_id"
                " WHERE s.title = 'Demo sequence 00'"
            )
        ).one()
        day = conn.execute(
            text(
                "SELECT (captured_at AT TIME ZONE 'UTC')::date::text FROM sequences WHERE id = :id"
            ),
            {"id": row.id},
        ).scalar_one()
        same_day = conn.execute(
            text(
                "SELECT s.id::text FROM sequences s"
                " JOIN sequence_tags st ON st.sequence_id = s.id JOIN tags t ON t.id = st.tag_id"
                " WHERE t.name = 'even' AND (s.captured_at AT TIME ZONE 'UTC')::date::text = :day"
            ),
            {"day": day},
        ).scalars()
        even_that_day = frozenset(same_day)
    return Target(
        row.id, row.title, row.transport_type, row.lon, row.lat, row.photo_count, day, even_that_day
    )


@pytest.fixture
def live_server(app: Flask, demo_data: Target) -> Iterator[str]:
    with serve_in_thread(app) as url:
        yield url


def _tile_request(needle: str | None) -> Callable[[Any], bool]:
    """A predicate for the first tile request carrying ``needle`` (None: no filter at all)."""

    def matches(request: Any) -> bool:
        parts = urlsplit(request.url)
        if not parts.path.startswith("/tiles/"):
            return False
        if needle is not None:
            return needle in parts.query
        return set(parse_qs(parts.query)) <= {"v"}

    return matches


def _wait_idle(page: Any) -> None:
    """Wait until the map has loaded its tiles and rendered them."""
    page.wait_for_function(
        "() => window.geoapiMap && window.geoapiMap.loaded() && window.geoapiMap.areTilesLoaded()",
        timeout=20_000,
    )
    page.evaluate(
        "() => new Promise(done => {"
        " const map = window.geoapiMap; map.once('idle', done); map.triggerRepaint(); })"
    )


def _rendered(page: Any, layer: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate(
        """layer => window.geoapiMap.queryRenderedFeatures({layers: [layer]})
                .map(f => ({properties: f.properties, geometry: f.geometry}))""",
        layer,
    )
    return result


def _jump(page: Any, zoom: float, lon: float, lat: float) -> None:
    page.evaluate(
        "([z, lon, lat]) => window.geoapiMap.jumpTo({zoom: z, center: [lon, lat]})",
        [zoom, lon, lat],
    )
    _wait_idle(page)


def test_map_renders_sequences_and_opens_details(live_server: str, demo_data: Target) -> None:
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    ARTIFACTS.mkdir(exist_ok=True)
    target = demo_data
    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.on("request", lambda request: requests.append(request.url))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on(
                "console",
                lambda message: errors.append(message.text) if message.type == "error" else None,
            )
            page.goto(f"{live_server}/map#12.5/{target.lat:.5f}/{target.lon:.5f}")
            page.wait_for_function("() => document.body.dataset.state === 'ready'", timeout=30_000)
            _wait_idle(page)

            # Only the local server was contacted; the TileJSON and tiles were requested.
            local = (live_server, "blob:" + live_server, "data:")
            assert all(url.startswith(local) for url in requests), requests
            paths = [urlsplit(url).path for url in requests]
            assert "/tiles.json" in paths
            tiles = [p for p in paths if p.startswith("/tiles/12/")]
            assert tiles, paths

            # Sequences are rendered, coloured by their transport type.
            sequences = _rendered(page, "sequences")
            by_id = {f["properties"]["id"]: f for f in sequences}
            assert target.id in by_id, sorted(by_id)
            assert by_id[target.id]["properties"]["transport_type"] == target.transport_type
            colour = page.evaluate(
                "id => window.geoapiMap.queryRenderedFeatures({layers: ['sequences'], "
                "filter: ['==', ['get', 'id'], id]})[0].layer.paint['line-color']",
                target.id,
            )
            assert colour is not None

            # Clicking the line opens its details from the sequence API.
            x, y = page.evaluate(CLICK_POINT_JS, target.id)
            page.mouse.click(x, y)
            details = page.locator(".maplibregl-popup .sequence-details")
            details.wait_for(timeout=10_000)
            assert details.locator("h2").inner_text() == target.title
            assert details.locator("[data-field=transport]").inner_text() == target.transport_type
            assert details.locator("[data-field=photos]").inner_text() == str(target.photo_count)
            assert details.locator("[data-field=likes]").inner_text() == "0"
            assert details.locator("[data-field=tags]").inner_text() == "demo, even"
            assert details.locator("[data-field=user]").inner_text().startswith("mapper")
            export = details.locator("a.export").get_attribute("href")
            assert export == f"/api/v1/sequences/{target.id}/export.geojson"
            selected = page.evaluate("() => window.geoapiMap.getFilter('sequence-selected')")
            assert selected == ["==", ["get", "id"], target.id]
            page.screenshot(path=str(ARTIFACTS / "map.png"))

            # The view is in the URL hash.
            assert page.evaluate("() => location.hash").startswith("#12.5/")

            # Filtering by transport type reloads the tiles with the filter.
            other = next(t for t in TRANSPORT_TYPES if t != target.transport_type)
            page.keyboard.press("Escape")
            before = len(requests)
            page.select_option("#f-transport-type", other)
            with page.expect_request(_tile_request("transport_type="), timeout=10_000):
                page.click("#filters button[type=submit]")
            page.wait_for_function(
                "t => location.search.includes('transport_type=' + t)", arg=other, timeout=10_000
            )
            _wait_idle(page)
            filtered = [
                urlsplit(u) for u in requests[before:] if urlsplit(u).path.startswith("/tiles/")
            ]
            assert filtered and all(
                parse_qs(u.query).get("transport_type") == [other] for u in filtered
            )
            kinds = {f["properties"]["transport_type"] for f in _rendered(page, "sequences")}
            assert kinds <= {other}
            assert parse_qs(urlsplit(page.url).query) == {"transport_type": [other]}
            with page.expect_request(_tile_request(None), timeout=10_000):
                page.click("#f-reset")
            page.wait_for_function("() => location.search === ''", timeout=10_000)
            _wait_idle(page)

            # Tag and date range: tiles carry tag and datetime; only matching lines are drawn.
            before = len(requests)
            page.fill("#f-tag", "even")
            page.fill("#f-from", target.day)
            page.fill("#f-to", target.day)
            with page.expect_request(_tile_request("tag=even"), timeout=10_000):
                page.click("#filters button[type=submit]")
            page.wait_for_function("() => location.search.includes('tag=even')", timeout=10_000)
            _wait_idle(page)
            filtered = [
                urlsplit(u) for u in requests[before:] if urlsplit(u).path.startswith("/tiles/")
            ]
            interval = f"{target.day}T00:00:00Z/{target.day}T23:59:59Z"
            assert filtered and all(
                parse_qs(u.query).get("tag") == ["even"]
                and parse_qs(u.query).get("datetime") == [interval]
                for u in filtered
            )
            shown = {f["properties"]["id"] for f in _rendered(page, "sequences")}
            assert target.id in shown and shown <= target.even_that_day
            query = parse_qs(urlsplit(page.url).query)
            assert query == {"tag": ["even"], "from": [target.day], "to": [target.day]}
            with page.expect_request(_tile_request(None), timeout=10_000):
                page.click("#f-reset")
            page.wait_for_function("() => location.search === ''", timeout=10_000)
            _wait_idle(page)

            # Photos at z16: arrows rotated by their compass angle.
            _jump(page, 16.5, target.lon, target.lat)
            photos = _rendered(page, "photos")
            assert photos and all(0 <= p["properties"]["ca"] < 360 for p in photos)
            assert any(p["properties"]["sequence_id"] == target.id for p in photos)
            page.screenshot(path=str(ARTIFACTS / "map-photos.png"))

            # The overview points at a low zoom.
            _jump(page, 3, target.lon, target.lat)
            assert _rendered(page, "overview")
            page.screenshot(path=str(ARTIFACTS / "map-overview.png"))
        finally:
            browser.close()
    assert errors == []
    assert time.monotonic() - started < 60
