"""The basemap under geoapi's layers: the bundled Natural Earth style, or the MapLibre style at
``GEOAPI_BASEMAP_STYLE_URL`` fetched over HTTP (with a timeout, kept for an hour per process).

The bundled one draws water, land, coastlines, country borders and country names at 1:110m and
1:50m from the GeoJSON that ``.ci/build-web`` makes of the npm package world-atlas; geoapi
serves it, so it needs no internet. Its names use the browser's own fonts (no ``glyphs``:
MapLibre GL JS 5.11 and later). Natural Earth is a small-scale map (its coastlines are
quantized to ~300 m): from z8 water and land fade to one neutral tone, so that a city view never
puts streets in the sea; a fetched style is the way to a street map.

The outside world is wrapped here: any failure (network, HTTP status, not JSON, not a version 8
style) is one ``UpstreamError`` (502) naming the URL, never kept, so the next request retries.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import requests

from geoapi.errors import UpstreamError
from geoapi.mapstyle import Style

FETCH_TIMEOUT_S = 10.0
KEEP_S = 3600.0  # providers move their tile URLs now and then: fetch again after an hour
MAX_STYLE_BYTES = 5 * 1024 * 1024
NATURAL_EARTH_ATTRIBUTION = (
    '<a href="https://www.naturalearthdata.com/" target="_blank">Natural Earth</a>'
)
WATER, LAND, COAST, BORDER, LABEL = "#c6dbe6", "#f4f1ea", "#9fbccc", "#a796ad", "#5d5366"
NEUTRAL = "#eeede8"  # water and land from z10, where Natural Earth is too coarse to tell them
FADE_ZOOMS = (8, 10)
# (scale, the zooms its layers draw at, the source's maxzoom): 1:110m below z3, 1:50m from z3;
# deeper source tiles would add no detail to generalised data.
NATURAL_EARTH_SCALES: tuple[tuple[str, dict[str, int], int], ...] = (
    ("110m", {"maxzoom": 3}, 5),
    ("50m", {"minzoom": 3}, 10),
)
NATURAL_EARTH_FILES = tuple(
    f"ne-{scale}.geojson" for scale, _zooms, _maxzoom in NATURAL_EARTH_SCALES
)


def _zoomed(*stops: Any) -> list[Any]:
    """A value interpolated linearly between ``zoom, value`` stops."""
    return ["interpolate", ["linear"], ["zoom"], *stops]


def _faded(near: Any, far: Any) -> list[Any]:
    """``near`` up to the fade, ``far`` from its end (Natural Earth too coarse to be shown)."""
    return _zoomed(FADE_ZOOMS[0], near, FADE_ZOOMS[1], far)


def _scale_layers(scale: str, source: str, zooms: dict[str, int]) -> list[dict[str, Any]]:
    """Land, coastlines, borders and country names of one scale's source."""

    def layer(kind: str, name: str, layer_type: str, **rest: Any) -> dict[str, Any]:
        return {
            "id": f"{name}-{scale}",
            "type": layer_type,
            "source": source,
            "filter": ["==", ["get", "kind"], kind],
            **zooms,
            **rest,
        }

    # Country names only up to the fade: a city view has no use for them, and there labels off
    # screen at a tile's edge were seen to keep MapLibre's symbol placement from settling.
    names_maxzoom = min(zooms.get("maxzoom", FADE_ZOOMS[0]), FADE_ZOOMS[0])
    return [
        layer("land", "land", "fill", paint={"fill-color": _faded(LAND, NEUTRAL)}),
        layer(
            "land",
            "coast",
            "line",
            paint={
                "line-color": COAST,
                "line-width": _zoomed(0, 0.4, 8, 1.2),
                "line-opacity": _faded(1, 0.5),
            },
        ),
        layer(
            "border",
            "borders",
            "line",
            layout={"line-join": "round"},
            paint={
                "line-color": BORDER,
                "line-width": _zoomed(0, 0.5, 8, 1.5),
                "line-dasharray": [3, 1.5],
            },
        ),
        layer(
            "country",
            "country-names",
            "symbol",
            layout={
                "text-field": ["get", "name"],
                "text-font": ["DejaVu Sans", "Arial", "sans-serif"],
                "text-size": _zoomed(1, 10, 6, 14),
                "text-max-width": 7,
                "symbol-sort-key": ["-", ["get", "area"]],  # larger countries first
            },
            paint={"text-color": LABEL, "text-halo-color": "#ffffff", "text-halo-width": 1.2},
            maxzoom=names_maxzoom,
        ),
    ]


def natural_earth_basemap(data_url: Callable[[str], str]) -> Style:
    """The bundled basemap: water, land, coastlines, country borders and names (Natural Earth).

    ``data_url(name)`` is the absolute URL of one of ``NATURAL_EARTH_FILES`` (GeoJSON built by
    ``.ci/build-web``: features of ``kind`` ``land``, ``border`` or ``country``).
    """
    sources: dict[str, Any] = {}
    layers: list[dict[str, Any]] = [
        {
            "id": "background",
            "type": "background",
            "paint": {"background-color": _faded(WATER, NEUTRAL)},
        }
    ]
    for scale, zooms, maxzoom in NATURAL_EARTH_SCALES:
        source = f"natural-earth-{scale}"
        sources[source] = {
            "type": "geojson",
            "data": data_url(f"ne-{scale}.geojson"),
            "attribution": NATURAL_EARTH_ATTRIBUTION,
            "maxzoom": maxzoom,
        }
        layers += _scale_layers(scale, source, zooms)
    return {"version": 8, "name": "Natural Earth", "sources": sources, "layers": layers}


def check_base_style(document: Any) -> Style:
    """A fetched basemap style → the style; ValueError saying what is wrong with it."""
    if not isinstance(document, dict):
        raise ValueError("it is not a JSON object")
    if document.get("version") != 8:
        raise ValueError("it is not a MapLibre style of version 8")
    if not isinstance(document.get("sources"), dict):
        raise ValueError("its sources are not an object")
    layers = document.get("layers")
    if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
        raise ValueError("its layers are not a list of objects")
    sprite = document.get("sprite")
    if sprite is not None and not isinstance(sprite, str | list):
        raise ValueError("its sprite is neither a URL nor a list")
    if isinstance(sprite, list) and not all(isinstance(x, dict) for x in sprite):
        raise ValueError("its sprite list holds something other than objects")
    return document


def resolve_urls(style: Style, style_url: str) -> Style:
    """The style with its relative URLs (sprite, glyphs, sources) made absolute against the URL
    it was fetched from, so that it works served from geoapi's origin. Absolute URLs stay."""
    out = copy.deepcopy(style)

    def absolute(value: Any) -> Any:
        return urljoin(style_url, value) if isinstance(value, str) else value

    if "glyphs" in out:
        out["glyphs"] = absolute(out["glyphs"])
    if isinstance(out.get("sprite"), str):
        out["sprite"] = absolute(out["sprite"])
    elif isinstance(out.get("sprite"), list):
        out["sprite"] = [{**entry, "url": absolute(entry.get("url"))} for entry in out["sprite"]]
    for source in out["sources"].values():
        if not isinstance(source, dict):
            continue
        for key in ("url", "data"):
            if isinstance(source.get(key), str):
                source[key] = absolute(source[key])
        if isinstance(source.get("tiles"), list):
            source["tiles"] = [absolute(tile) for tile in source["tiles"]]
        if isinstance(source.get("urls"), list):
            source["urls"] = [absolute(url) for url in source["urls"]]
    return out


def fetch_base_style(url: str, timeout_s: float = FETCH_TIMEOUT_S) -> Style:
    """The MapLibre style at ``url`` with its relative URLs made absolute; UpstreamError if it
    cannot be read or is not a version 8 style."""
    try:
        response = requests.get(
            url, timeout=timeout_s, headers={"Accept": "application/json"}, stream=True
        )
        with response:
            response.raise_for_status()
            body = response.raw.read(MAX_STYLE_BYTES + 1, decode_content=True)
        if len(body) > MAX_STYLE_BYTES:
            raise ValueError(f"it is larger than {MAX_STYLE_BYTES} bytes")
        style = check_base_style(json.loads(body))
    except (requests.RequestException, ValueError) as exc:
        raise UpstreamError(f"the basemap style {url} could not be used: {exc}") from None
    return resolve_urls(style, response.url or url)


@dataclass
class BasemapCache:
    """The fetched basemap style of one URL, kept ``keep_s`` seconds (thread-safe)."""

    keep_s: float = KEEP_S
    _entry: tuple[str, float, Style] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, url: str) -> Style:
        """The style at ``url``: the kept copy while fresh, else fetched now."""
        entry = self._entry
        now = time.monotonic()
        if entry is not None and entry[0] == url and now - entry[1] < self.keep_s:
            return entry[2]
        with self._lock:  # one fetch at a time; the others then find it kept
            entry = self._entry
            if entry is not None and entry[0] == url and time.monotonic() - entry[1] < self.keep_s:
                return entry[2]
            style = fetch_base_style(url)
            self._entry = (url, time.monotonic(), style)
            return style
