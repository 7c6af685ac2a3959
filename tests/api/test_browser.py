"""The map viewer in a real browser: Debian's Chromium (headless, SwiftShader GL) via Playwright.

A threaded werkzeug server runs the app on a free port with the demo data (the seed example and
300 generated sequences around five cities; around Lisbon a z14 tile holds more photos than its
cap). The tests open ``/map`` and check what MapLibre renders (``queryRenderedFeatures``) and
what the screenshots show: the Natural Earth basemap at world view, every photo of a dense z16
view against the database, the transport colours of the lines at z14, the photo and sequence
popups, hovering, the filters, and ``/style.json`` opened by a page of another origin.
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import copy
import io
import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import mapbox_vector_tile
import pytest
from flask import Flask
from helpers import bearer, serve_in_thread, tile_lonlat, tile_of
from PIL import Image
from sqlalchemy import Engine, text

from geoapi import create_app
from geoapi.api.viewer import MAPILLARY_PHOTO_URL
from geoapi.mapstyle import TRANSPORT_COLOURS
from geoapi.store.importer import import_feature_collection
from geoapi.store.users import UserInfo
from geoapi.synthetic import DEMO_PLACES, demo_features
from geoapi.tiling import TileLimits

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TRANSPORT_TYPES = ("Walk", "Bicycle", "Car")
DEMO_COUNT = 300
LISBON = DEMO_PLACES[0]
PHOTO_LAYERS = ["photos", "photos-no-ca"]  # what is drawn for a photo from z16
VIEWPORT = {"width": 1200, "height": 800}
PANEL_RIGHT = 280  # the filter panel covers the map left of this
POLL_MS = 50
IDLE_TIMEOUT_MS = 30_000
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
    const layers = ['sequences', 'photos', 'photos-no-ca', 'photo-dots'];
    const alone = points.find(p => p.x > 280 && map.queryRenderedFeatures(
        [[p.x - 6, p.y - 6], [p.x + 6, p.y + 6]], {layers}).every(f => f.properties.id === id));
    const best = alone || points[0];
    return [best.x, best.y];
}"""

# A photo arrow right of the panel that is the top hit at its own anchor: [x, y, properties].
PHOTO_TO_CLICK_JS = """() => {
    const map = window.geoapiMap;
    const layers = ['photos', 'photos-no-ca', 'photo-dots', 'sequences', 'overview'];
    const canvas = map.getCanvas();
    for (const f of map.queryRenderedFeatures({layers: ['photos']})) {
        const p = map.project(f.geometry.coordinates);
        const w = canvas.clientWidth, h = canvas.clientHeight;
        if (p.x < 320 || p.x > w - 80 || p.y < 60 || p.y > h - 80) continue;
        const box = [[p.x - 5, p.y - 5], [p.x + 5, p.y + 5]];
        const top = map.queryRenderedFeatures(box, {layers})[0];
        if (top && top.layer.id === 'photos' && top.properties.image_key === f.properties.image_key)
            return [p.x, p.y, f.properties];
    }
    return null;
}"""

# The image keys of the photos drawn in the viewport (deduplicated across tiles).
RENDERED_PHOTOS_JS = """layers => [...new Set(window.geoapiMap.queryRenderedFeatures({layers})
    .map(f => f.properties.image_key))]"""

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
    tour_title: str


@pytest.fixture
def demo_data(
    app: Flask,
    engine: Engine,
    make_user: Callable[[str], tuple[UserInfo, str]],
    seed_collection: dict[str, Any],
) -> Target:
    """The seed example plus the 300 demo sequences with titles, transport types and tags; the
    target sequence ``Demo sequence 00`` is in a tour."""
    user, token = make_user("mapper")
    features = []
    for index, feature in enumerate(demo_features(DEMO_COUNT)):
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
    tour = {"title": "Around the first demo", "sequence_ids": [row.id]}
    created = app.test_client().post("/api/v1/tours", json=tour, headers=bearer(token))
    assert created.status_code == 201, created.get_data(as_text=True)
    return Target(
        row.id,
        row.title,
        row.transport_type,
        row.lon,
        row.lat,
        row.photo_count,
        day,
        even_that_day,
        tour["title"],
    )


@pytest.fixture
def live_server(app: Flask, demo_data: Target) -> Iterator[str]:
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Watched:
    """A page with every request URL and every page or console error it produced."""

    page: Any
    requests: list[str]
    errors: list[str]


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport=VIEWPORT)  # no cache or storage shared between tests
    page = context.new_page()
    seen = Watched(page, [], [])
    page.on("request", lambda request: seen.requests.append(request.url))
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    page.on(
        "console",
        lambda message: seen.errors.append(message.text) if message.type == "error" else None,
    )
    yield seen
    context.close()


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
    """Wait until the map has loaded its tiles and rendered them. (Polling on a timer: polling
    on animation frames, Playwright's default, keeps SwiftShader drawing and takes seconds.)"""
    page.wait_for_function(
        "() => window.geoapiMap && window.geoapiMap.loaded() && window.geoapiMap.areTilesLoaded()",
        timeout=30_000,
        polling=POLL_MS,
    )
    settled = page.evaluate(
        "ms => new Promise(done => { const map = window.geoapiMap;"
        " const timer = setTimeout(() => done({placementDirty: map._placementDirty,"
        " sourcesDirty: map._sourcesDirty, styleDirty: map._styleDirty, loaded: map.loaded(),"
        " tilesLoaded: map.areTilesLoaded(), moving: map.isMoving()}), ms);"
        " map.once('idle', () => { clearTimeout(timer); done(true); }); map.triggerRepaint(); })",
        IDLE_TIMEOUT_MS,
    )
    assert settled is True, f"the map did not settle within {IDLE_TIMEOUT_MS} ms: {settled}"


def _open_map(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_function(
        "() => document.body.dataset.state === 'ready'", timeout=30_000, polling=POLL_MS
    )
    _wait_idle(page)


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


def _only_local(requests: list[str], *origins: str) -> None:
    local = (*origins, *("blob:" + origin for origin in origins), "data:")
    assert all(url.startswith(local) for url in requests), [
        url for url in requests if not url.startswith(local)
    ]


def test_map_renders_sequences_and_opens_details(
    live_server: str, demo_data: Target, watched: Watched
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    target, page, requests = demo_data, watched.page, watched.requests
    _open_map(page, f"{live_server}/map#12.5/{target.lat:.5f}/{target.lon:.5f}")

    # Only the local server was contacted; the style, its TileJSON and tiles were requested.
    _only_local(requests, live_server)
    paths = [urlsplit(url).path for url in requests]
    assert "/style.json" in paths and "/tiles.json" in paths and "/style/sprite.png" in paths
    tiles = [p for p in paths if p.startswith("/tiles/12/")]
    assert tiles, paths

    # Sequences are rendered, coloured by their transport type.
    sequences = _rendered(page, "sequences")
    by_id = {f["properties"]["id"]: f for f in sequences}
    assert target.id in by_id, sorted(by_id)
    assert by_id[target.id]["properties"]["transport_type"] == target.transport_type

    # Hovering the line highlights it; clicking opens its details from the sequence API.
    x, y = page.evaluate(CLICK_POINT_JS, target.id)
    page.mouse.move(x, y)
    page.wait_for_function(
        "id => JSON.stringify(window.geoapiMap.getFilter('sequence-hover'))"
        " === JSON.stringify(['==', ['get', 'id'], id])",
        arg=target.id,
        timeout=10_000,
        polling=POLL_MS,
    )
    page.mouse.click(x, y)
    details = page.locator(".maplibregl-popup .sequence-details")
    details.wait_for(timeout=10_000)
    assert details.locator("h2").inner_text() == target.title
    assert details.locator("[data-field=transport]").inner_text() == target.transport_type
    assert details.locator("[data-field=photos]").inner_text() == str(target.photo_count)
    assert details.locator("[data-field=likes]").inner_text() == "0"
    assert details.locator("[data-field=tags]").inner_text() == "demo, even"
    assert details.locator("[data-field=user]").inner_text().startswith("mapper")
    assert details.locator("[data-field=tours]").inner_text() == target.tour_title
    export = details.locator("a.export").get_attribute("href")
    assert export == f"/api/v1/sequences/{target.id}/export.geojson"
    items = details.locator("a.items").get_attribute("href")
    assert items == f"/collections/photos/items?sequence_id={target.id}"
    selected = page.evaluate("() => window.geoapiMap.getFilter('sequence-selected')")
    assert selected == ["==", ["get", "id"], target.id]
    page.screenshot(path=str(ARTIFACTS / "map.png"))

    # The view is in the URL hash.
    assert page.evaluate("() => location.hash").startswith("#12.5/")

    # Filtering by transport type reloads the tiles with the filter.
    other = next(t for t in TRANSPORT_TYPES if t != target.transport_type)
    page.keyboard.press("Escape")
    page.mouse.move(5, 790)
    before = len(requests)
    page.select_option("#f-transport-type", other)
    with page.expect_request(_tile_request("transport_type="), timeout=10_000):
        page.click("#filters button[type=submit]")
    page.wait_for_function(
        "t => location.search.includes('transport_type=' + t)",
        arg=other,
        timeout=10_000,
        polling=POLL_MS,
    )
    _wait_idle(page)
    filtered = [urlsplit(u) for u in requests[before:] if urlsplit(u).path.startswith("/tiles/")]
    assert filtered and all(parse_qs(u.query).get("transport_type") == [other] for u in filtered)
    kinds = {f["properties"]["transport_type"] for f in _rendered(page, "sequences")}
    assert kinds <= {other}
    assert parse_qs(urlsplit(page.url).query) == {"transport_type": [other]}
    assert _rendered(page, "land-50m")  # the basemap stays
    with page.expect_request(_tile_request(None), timeout=10_000):
        page.click("#f-reset")
    page.wait_for_function("() => location.search === ''", timeout=10_000, polling=POLL_MS)
    _wait_idle(page)

    # Tag and date range: tiles carry tag and datetime; only matching lines are drawn.
    before = len(requests)
    page.fill("#f-tag", "even")
    page.fill("#f-from", target.day)
    page.fill("#f-to", target.day)
    with page.expect_request(_tile_request("tag=even"), timeout=10_000):
        page.click("#filters button[type=submit]")
    page.wait_for_function(
        "() => location.search.includes('tag=even')", timeout=10_000, polling=POLL_MS
    )
    _wait_idle(page)
    filtered = [urlsplit(u) for u in requests[before:] if urlsplit(u).path.startswith("/tiles/")]
    interval = f"{target.day}T00:00:00Z/{target.day}T23:59:59Z"
    assert filtered and all(
        parse_qs(u.query).get("tag") == ["even"] and parse_qs(u.query).get("datetime") == [interval]
        for u in filtered
    )
    shown = {f["properties"]["id"] for f in _rendered(page, "sequences")}
    assert target.id in shown and shown <= target.even_that_day
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"tag": ["even"], "from": [target.day], "to": [target.day]}
    with page.expect_request(_tile_request(None), timeout=10_000):
        page.click("#f-reset")
    page.wait_for_function("() => location.search === ''", timeout=10_000, polling=POLL_MS)
    _wait_idle(page)

    # The overview points at a low zoom.
    _jump(page, 3, target.lon, target.lat)
    assert _rendered(page, "overview")
    page.screenshot(path=str(ARTIFACTS / "map-overview.png"))
    assert watched.errors == []


def _densest_z16_tile() -> tuple[int, int]:
    """The z16 tile holding the most demo photos (it lies in Lisbon)."""
    counts = Counter(
        tile_of(lon, lat, 16)
        for feature in demo_features(DEMO_COUNT)
        for lon, lat in feature["geometry"]["coordinates"]
    )
    return counts.most_common(1)[0][0]


def _photos_within(engine: Engine, bounds: list[float]) -> set[str]:
    """The image keys of published photos inside (west, south, east, north), SRID 4326."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.image_key FROM photos p JOIN sequences s ON s.id = p.sequence_id"
                " WHERE s.status = 'published'"
                " AND ST_Intersects(p.geom, ST_MakeEnvelope(:w, :s, :e, :n, 4326))"
            ),
            dict(zip("wsen", bounds, strict=True)),
        )
        return set(rows.scalars())


def _inner_bounds(page: Any, inset: int) -> list[float]:
    """(west, south, east, north) of the viewport ``inset`` pixels in from each edge."""
    bounds: list[float] = page.evaluate(
        """inset => {
            const map = window.geoapiMap, c = map.getCanvas();
            const nw = map.unproject([inset, inset]);
            const se = map.unproject([c.clientWidth - inset, c.clientHeight - inset]);
            return [nw.lng, se.lat, se.lng, nw.lat];
        }""",
        inset,
    )
    return bounds


def _colour_pixels(png: bytes, colour: str, box: tuple[int, int, int, int]) -> int:
    """How many pixels of the screenshot within ``box`` are ``colour`` (#rrggbb), give or take
    a little anti-aliasing."""
    want = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    image = Image.open(io.BytesIO(png)).convert("RGB").crop(box)
    counts: Counter[tuple[int, int, int]] = Counter(
        image.getpixel((x, y))  # type: ignore[misc]
        for x in range(image.width)
        for y in range(image.height)
    )
    return sum(
        n
        for rgb, n in counts.items()
        if max(abs(a - b) for a, b in zip(rgb, want, strict=True)) <= 12
    )


def test_map_draws_basemap_every_photo_colours_and_photo_popup(
    live_server: str, demo_data: Target, watched: Watched, engine: Engine, app: Flask
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = watched.page

    # World view: the Natural Earth land polygons and country names are drawn, served locally.
    _open_map(page, f"{live_server}/map#1.5/25/10")
    land = _rendered(page, "land-110m")
    assert len(land) > 20 and {f["geometry"]["type"] for f in land} <= {"Polygon", "MultiPolygon"}
    names = {f["properties"]["name"] for f in _rendered(page, "country-names-110m")}
    assert {"Brazil", "China"} <= names
    attribution = page.locator(".maplibregl-ctrl-attrib").inner_text()
    assert "Natural Earth" in attribution
    page.screenshot(path=str(ARTIFACTS / "map-world.png"))

    # A dense z16 view: every photo the database holds in it is drawn.
    x16, y16 = _densest_z16_tile()
    west, south, east, north = tile_lonlat(16, x16, y16)
    _jump(page, 16, (west + east) / 2, (south + north) / 2)
    rendered = set(page.evaluate(RENDERED_PHOTOS_JS, PHOTO_LAYERS))
    in_view = _photos_within(engine, _inner_bounds(page, 10))
    assert len(in_view) > 800  # dense
    assert len(rendered & in_view) == len(in_view), f"{len(in_view - rendered)} not drawn"
    assert rendered <= _photos_within(engine, _inner_bounds(page, -40))  # nothing else
    # Without deeper tiles this view would show the thinned z14 tile: check it is thinned.
    x14, y14 = tile_of((west + east) / 2, (south + north) / 2, 14)
    z14 = mapbox_vector_tile.decode(app.test_client().get(f"/tiles/14/{x14}/{y14}.mvt").data)
    assert len(z14["photos"]["features"]) < len(
        _photos_within(engine, [*tile_lonlat(14, x14, y14)])
    )
    assert len(z14["photos"]["features"]) <= TileLimits().photo_cap
    page.screenshot(path=str(ARTIFACTS / "map-dense-z16.png"))

    # Clicking a photo arrow opens its popup with the Mapillary link.
    found = page.evaluate(PHOTO_TO_CLICK_JS)
    assert found is not None
    x, y, photo = found
    page.mouse.click(x, y)
    popup = page.locator(".maplibregl-popup .photo-details")
    popup.wait_for(timeout=10_000)
    key = photo["image_key"]
    assert popup.get_attribute("data-image-key") == key
    assert popup.locator("[data-field=image_key]").inner_text() == key
    assert popup.locator("a.mapillary").get_attribute("href") == MAPILLARY_PHOTO_URL + key
    assert popup.locator("[data-field=angle]").inner_text() == f"{round(photo['ca'])}°"
    with engine.connect() as conn:
        count = conn.execute(
            text("SELECT photo_count FROM sequences WHERE id = :id"), {"id": photo["sequence_id"]}
        ).scalar_one()
    position = popup.locator("[data-field=position]")
    page.wait_for_function(
        "el => el.textContent.includes(' of ')",
        arg=position.element_handle(),
        timeout=10_000,
        polling=POLL_MS,
    )
    assert position.inner_text() == f"{photo['position'] + 1} of {count}"
    assert popup.locator("[data-field=time]").inner_text().endswith("UTC")
    page.screenshot(path=str(ARTIFACTS / "map-photo-popup.png"))
    page.click(".maplibregl-popup-close-button")
    assert page.evaluate("() => window.geoapiMap.getFilter('sequence-selected')")[2] == ""
    page.mouse.move(5, 790)

    # z14 over Lisbon: the lines show their transport type's colour (sampled from a screenshot,
    # right of the panel); no line is orange (Air), so the sampler is not fooled.
    _jump(page, 14, *LISBON)
    png = page.screenshot(path=str(ARTIFACTS / "map-z14.png"))
    box = (PANEL_RIGHT, 0, VIEWPORT["width"] - 60, VIEWPORT["height"] - 40)
    colours = {label: colour for label, colour, _names in TRANSPORT_COLOURS}
    for transport in TRANSPORT_TYPES:
        assert _colour_pixels(png, colours[transport], box) > 300, transport
    assert _colour_pixels(png, colours["Air"], box) < 20
    assert watched.errors == []
    _only_local(watched.requests, live_server)


EMBED_PAGE = """<!doctype html>
<html><head><meta charset="utf-8">
<link rel="stylesheet" href="{geoapi}/map/static/vendor/maplibre-gl.css">
<script src="{geoapi}/map/static/vendor/maplibre-gl.js"></script></head>
<body style="margin:0"><div id="map" style="width:800px;height:600px"></div>
<script>
  window.geoapiMap = new maplibregl.Map({{container: "map", style: "{geoapi}/style.json",
    center: [{lon}, {lat}], zoom: 12.5}});
</script></body></html>"""


def test_another_origin_embeds_the_style(
    live_server: str, demo_data: Target, watched: Watched
) -> None:
    """The README's three lines: a page elsewhere opens ``/style.json`` and draws our layers.

    The page comes from a second local server (another port: another origin), so every
    request to geoapi is a cross-origin one.
    """
    page = watched.page
    html = EMBED_PAGE.format(geoapi=live_server, lon=demo_data.lon, lat=demo_data.lat).encode()

    def embedding_site(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [html]

    with serve_in_thread(embedding_site) as origin:
        page.goto(f"{origin}/")
        _wait_idle(page)
    assert demo_data.id in {f["properties"]["id"] for f in _rendered(page, "sequences")}
    assert _rendered(page, "land-50m")
    assert page.evaluate("() => window.geoapiMap.getStyle().sprite[0].id") == "geoapi"
    page.screenshot(path=str(ARTIFACTS / "map-embedded.png"))
    assert watched.errors == []
    assert origin != live_server
    _only_local(watched.requests, live_server, origin)


def test_photo_count_helpers_agree_with_the_tile_grid() -> None:
    """The dense view's tile really is the densest z16 tile of the demo (a guard on the test's
    own arithmetic: the tile's centre lies in it)."""
    x16, y16 = _densest_z16_tile()
    west, south, east, north = tile_lonlat(16, x16, y16)
    assert tile_of((west + east) / 2, (south + north) / 2, 16) == (x16, y16)
    assert math.isclose(LISBON[1], (south + north) / 2, abs_tol=0.1)


def test_viewer_falls_back_to_natural_earth_when_the_basemap_fails(
    database_url: str, engine: Engine, watched: Watched
) -> None:
    """With ``GEOAPI_BASEMAP_STYLE_URL`` unreachable, ``/map`` still shows the bundled basemap
    and says why."""
    with serve_in_thread(lambda environ, start_response: []) as closed:
        pass  # its port is closed again
    app = create_app({"DATABASE_URL": database_url, "BASEMAP_STYLE_URL": f"{closed}/style.json"})
    try:
        with serve_in_thread(app) as url:
            _open_map(watched.page, f"{url}/map#2/20/0")
            assert _rendered(watched.page, "land-110m")
            status = watched.page.locator("#status").inner_text()
    finally:
        app.extensions["geoapi.engine"].dispose()
        app.extensions["geoapi.tile_engine"].dispose()
    assert status.startswith("Basemap unavailable") and "showing Natural Earth" in status
    # The 502 of the first /style.json is the one console error.
    assert [e for e in watched.errors if "502" not in e] == []
