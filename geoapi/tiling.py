"""Vector tile rules (pure): the tile grid, zoom bands, per-tile caps, addresses, TileJSON.

Tiles are Mapbox Vector Tiles in the Web Mercator (SRID 3857) XYZ grid, extent 4096, with the
zoom bands of the contract: ``overview`` points z0-5, ``sequences`` lines from z6, ``photos``
points from z14. ``geoapi.store.tiles`` builds them in SQL.

Where a tile holds more photos than ``TileLimits.photo_cap`` its photo layer is thinned, so a
client must never stretch a thinned tile over deeper zooms. TileJSON's ``maxzoom`` is therefore
``TILEJSON_MAXZOOM`` = 17, the shallowest zoom at which the densest tile of the dense city
(the benchmark's: 1,000 generated sequences x 100 photos around Ljubljana) holds every
photo within the cap: ~1,900 photos (~145 KB) where its z16 parent holds ~5,400 (checked by
``tests/api/test_tile_zooms.py``). Clients overzoom z17 tiles, which hold every photo.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from geoapi.errors import bad_parameter

TILE_EXTENT = 4096
TILE_BUFFER = 64  # units of the extent drawn beyond each edge, so lines and symbols join up
MAX_ZOOM = 22
OVERVIEW_MAXZOOM = 5
SEQUENCES_MINZOOM = OVERVIEW_MAXZOOM + 1
PHOTOS_MINZOOM = 14
# TileJSON's maxzoom (see the module docstring): clients overzoom z17 tiles, which are not
# thinned at the dense city's density; deeper tiles are still served on request.
TILEJSON_MAXZOOM = 17
TILE_FORMATS = ("mvt", "pbf")
MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
WORLD_BOUNDS = (-180.0, -85.051129, 180.0, 85.051129)
_INTEGER = re.compile(r"^[0-9]{1,10}$")


@dataclass(frozen=True)
class TileLimits:
    """Per-layer caps that keep every tile well under 500 KB (a photo is ~70 bytes encoded)."""

    overview_cap: int = 5_000  # points
    # Estimated bytes of lines: 3 per vertex + 110 per line. About 850 lines in a z6-13 tile
    # (on 512 x 512 pixels, more is overdraw) and 500 beside the photos from z14 (where the
    # photos are what the tile is for): tiles of about 100 and 200 KB, quick to decode on a
    # phone, at any density.
    sequence_budget: int = 100_000
    photo_band_sequence_budget: int = 60_000
    photo_cap: int = 2_500  # points

    def line_budget(self, band: str) -> int:
        """The lines' byte budget of a tile of ``band``."""
        return self.photo_band_sequence_budget if band == "photos" else self.sequence_budget

    def line_candidates(self, band: str) -> int:
        """The most lines the budget can hold (each costs at least 2 vertices + 110 bytes), and
        a margin for lines that clip to nothing: a tile reads no more, newest first."""
        return self.line_budget(band) // (3 * 2 + 110) + 64

    @classmethod
    def from_max_features(cls, max_features: int) -> TileLimits:
        """The defaults, with the point layers capped at ``max_features`` if that is lower."""
        default = cls()
        return cls(
            overview_cap=min(default.overview_cap, max_features),
            sequence_budget=default.sequence_budget,
            photo_band_sequence_budget=default.photo_band_sequence_budget,
            photo_cap=min(default.photo_cap, max_features),
        )


@dataclass(frozen=True)
class TileAddress:
    z: int
    x: int
    y: int


def parse_tile_address(z_raw: str, x_raw: str, name: str) -> tuple[TileAddress, str]:
    """``z``, ``x`` and ``{y}.{format}`` of a tile path → (address, format); 400 naming the part.

    z must be 0..MAX_ZOOM and x, y within 0..2^z-1 (XYZ scheme, y down from the north).
    """
    y_raw, dot, fmt = name.rpartition(".")
    if not dot:
        y_raw, fmt = name, ""
    if fmt not in TILE_FORMATS:
        raise bad_parameter(
            "format", f"{fmt or 'no extension'!r} is not a tile format; use .mvt or .pbf"
        )
    return _address((("z", z_raw), ("x", x_raw), ("y", y_raw))), fmt


def parse_tile_matrix(matrix: str, row: str, col: str) -> TileAddress:
    """An OGC API Tiles address in WebMercatorQuad (tileMatrix = z, tileRow = y,
    tileCol = x); 400 naming the part."""
    return _address((("tileMatrix", matrix), ("tileCol", col), ("tileRow", row)))


def _address(parts: tuple[tuple[str, str], tuple[str, str], tuple[str, str]]) -> TileAddress:
    """(zoom, column, row) named as the request names them → TileAddress; 400 naming one."""
    values: list[int] = []
    for part, raw in parts:
        if not _INTEGER.match(raw):
            raise bad_parameter(part, f"{raw[:32]!r} is not a non-negative integer")
        values.append(int(raw))
    z = values[0]
    if z > MAX_ZOOM:
        raise bad_parameter(parts[0][0], f"zoom {z} is outside 0..{MAX_ZOOM}")
    for (part, _raw), value in zip(parts[1:], values[1:], strict=True):
        if value >= 2**z:
            raise bad_parameter(part, f"{part}={value} is outside 0..{2**z - 1} at zoom {z}")
    return TileAddress(z, values[1], values[2])


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The XYZ tile (x, y) holding lon/lat at zoom z (latitudes clamped to Web Mercator's)."""
    n = 2**z
    lat = max(min(lat, 85.0511), -85.0511)
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def band_of(z: int) -> str:
    """The zoom band of a tile: overview z0-5, sequences z6-13, photos (and sequences) z14+."""
    if z <= OVERVIEW_MAXZOOM:
        return "overview"
    return "photos" if z >= PHOTOS_MINZOOM else "sequences"


# TileJSON ----------------------------------------------------------------------------------------

_TIME_FIELD = "Number: capture time, Unix epoch milliseconds (UTC)"
_PANO_FIELD = "Boolean: a 360-degree panorama sequence"
VECTOR_LAYERS: tuple[dict[str, Any], ...] = (
    {
        "id": "overview",
        "description": "One point per sequence (at most one per pixel), z0-5",
        "minzoom": 0,
        "maxzoom": OVERVIEW_MAXZOOM,
        "fields": {
            "id": "String: sequence id (UUID)",
            "captured_at": _TIME_FIELD,
            "pano": _PANO_FIELD,
        },
    },
    {
        "id": "sequences",
        "description": "Sequence lines simplified to the zoom, z6 and beyond",
        "minzoom": SEQUENCES_MINZOOM,
        "maxzoom": TILEJSON_MAXZOOM,
        "fields": {
            "id": "String: sequence id (UUID)",
            "mapillary_key": "String: Mapillary sequence key",
            "captured_at": _TIME_FIELD,
            "pano": _PANO_FIELD,
            "transport_type": "String: transport type (leaf name, e.g. Walk)",
            "username": "String: owner's username",
        },
    },
    {
        "id": "photos",
        "description": (
            "Photo points, z14 and beyond (thinned evenly where a tile holds more than its cap;"
            " never at the dense city's density from the TileJSON maxzoom on)"
        ),
        "minzoom": PHOTOS_MINZOOM,
        "maxzoom": TILEJSON_MAXZOOM,
        "fields": {
            "image_key": "String: Mapillary image key",
            "ca": "Number: compass angle in degrees, 0 <= ca < 360 (absent when unknown)",
            "sequence_id": "String: sequence id (UUID)",
            "position": "Number: position in the sequence, from 0",
            "captured_at": _TIME_FIELD,
            "pano": _PANO_FIELD,
            "transport_type": "String: the sequence's transport type (leaf name, e.g. Walk)",
        },
    },
)


def _center(bounds: tuple[float, float, float, float]) -> list[float]:
    """[lon, lat, zoom]: the middle of ``bounds`` at the zoom that about fits them."""
    west, south, east, north = bounds
    span = max(east - west, (north - south) * 2, 1e-9)
    zoom = max(0, min(TILEJSON_MAXZOOM, math.floor(math.log2(360.0 / span))))
    return [round((west + east) / 2, 6), round((south + north) / 2, 6), zoom]


def build_tilejson(
    tile_url: str, bounds: tuple[float, float, float, float] | None
) -> dict[str, Any]:
    """The TileJSON 3.0.0 document for ``tile_url`` (with ``{z}/{x}/{y}``) and data bounds."""
    box = bounds or WORLD_BOUNDS
    return {
        "tilejson": "3.0.0",
        "name": "geoapi sequences",
        "description": "Street-level photo sequences: overview points, lines and photos",
        "scheme": "xyz",
        "tiles": [tile_url],
        "minzoom": 0,
        "maxzoom": TILEJSON_MAXZOOM,
        "bounds": [round(v, 6) for v in box],
        "center": _center(box) if bounds else [0.0, 0.0, 0],
        "vector_layers": [dict(layer) for layer in VECTOR_LAYERS],
        "format": "pbf",
    }
