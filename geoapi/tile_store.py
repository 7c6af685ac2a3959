"""Vector tiles and TileJSON as plain functions over a connection (no Flask).

Tiles are Mapbox Vector Tiles in the Web Mercator (SRID 3857) XYZ grid, extent 4096, built in
one SQL statement (``geoapi/sql/tile_mvt.sql``) with the zoom bands of the contract: ``overview``
points z0-5, ``sequences`` lines from z6, ``photos`` points from z14.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.engine import Connection

from geoapi.db import read_sql
from geoapi.errors import BadRequestError, field_error
from geoapi.filters import SequenceFilters, filter_sql

TILE_EXTENT = 4096
MAX_ZOOM = 22
OVERVIEW_MAXZOOM = 5
SEQUENCES_MINZOOM = OVERVIEW_MAXZOOM + 1
PHOTOS_MINZOOM = 14
# TileJSON's maxzoom: clients overzoom z14 tiles; deeper tiles are still served on request.
TILEJSON_MAXZOOM = 14
TILE_FORMATS = ("mvt", "pbf")
MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
WORLD_BOUNDS = (-180.0, -85.051129, 180.0, 85.051129)
_INTEGER = re.compile(r"^[0-9]{1,10}$")
_FILTERS_MARKER = "/*FILTERS*/"


@dataclass(frozen=True)
class TileLimits:
    """Per-layer caps that keep every tile well under 500 KB (a photo is ~70 bytes encoded)."""

    overview_cap: int = 5_000  # points
    sequence_budget: int = 260_000  # estimated bytes: 3 per vertex + 110 per line
    photo_cap: int = 2_500  # points

    @classmethod
    def from_max_features(cls, max_features: int) -> TileLimits:
        """The defaults, with the point layers capped at ``max_features`` if that is lower."""
        default = cls()
        return cls(
            overview_cap=min(default.overview_cap, max_features),
            sequence_budget=default.sequence_budget,
            photo_cap=min(default.photo_cap, max_features),
        )


@dataclass(frozen=True)
class TileAddress:
    z: int
    x: int
    y: int


def _bad(name: str, message: str) -> BadRequestError:
    return BadRequestError(f"invalid {name}: {message}", errors=[field_error(name, message)])


def parse_tile_address(z_raw: str, x_raw: str, name: str) -> tuple[TileAddress, str]:
    """``z``, ``x`` and ``{y}.{format}`` of a tile path → (address, format); 400 naming the part.

    z must be 0..MAX_ZOOM and x, y within 0..2^z-1 (XYZ scheme, y down from the north).
    """
    y_raw, dot, fmt = name.rpartition(".")
    if not dot:
        y_raw, fmt = name, ""
    if fmt not in TILE_FORMATS:
        raise _bad("format", f"{fmt or 'no extension'!r} is not a tile format; use .mvt or .pbf")
    values: dict[str, int] = {}
    for part, raw in (("z", z_raw), ("x", x_raw), ("y", y_raw)):
        if not _INTEGER.match(raw):
            raise _bad(part, f"{raw!r} is not a non-negative integer")
        values[part] = int(raw)
    z = values["z"]
    if z > MAX_ZOOM:
        raise _bad("z", f"zoom {z} is outside 0..{MAX_ZOOM}")
    for part in ("x", "y"):
        if values[part] >= 2**z:
            raise _bad(part, f"{part}={values[part]} is outside 0..{2**z - 1} at zoom {z}")
    return TileAddress(z, values["x"], values["y"]), fmt


# The statement of each zoom band: (common table expressions, layers), named as the sections
# of geoapi/sql/tile_mvt.sql.
BANDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "overview": (("tile",), ("overview",)),
    "sequences": (("tile", "seqs", "lines"), ("sequences",)),
    "photos": (("tile", "seqs", "lines", "photo_candidates"), ("sequences", "photos")),
}
_SECTION = re.compile(r"^-- @(cte|layer) ([a-z_]+)\n", re.MULTILINE)


def band_of(z: int) -> str:
    """The zoom band of a tile: overview z0-5, sequences z6-13, photos (and sequences) z14+."""
    if z <= OVERVIEW_MAXZOOM:
        return "overview"
    return "photos" if z >= PHOTOS_MINZOOM else "sequences"


@functools.cache
def tile_sql(band: str) -> str:
    """The static tile statement of a zoom band, with the shared sequence filters composed in."""
    parts = _SECTION.split(read_sql("tile_mvt"))[1:]  # [kind, name, body, kind, name, body, ...]
    sections = {
        (kind, name): body.strip()
        for kind, name, body in zip(parts[::3], parts[1::3], parts[2::3], strict=True)
    }
    ctes, layers = BANDS[band]
    sql = (
        "WITH "
        + ",\n".join(sections["cte", name] for name in ctes)
        + "\nSELECT "
        + "\n    || ".join(sections["layer", name] for name in layers)
        + " AS mvt"
    )
    return sql.replace(_FILTERS_MARKER, "(" + filter_sql().strip() + ")")


def get_tile(
    conn: Connection,
    z: int,
    x: int,
    y: int,
    filters: SequenceFilters,
    limits: TileLimits = TileLimits(),
    *,
    timeout_ms: int | None = None,
) -> bytes:
    """The MVT bytes of tile z/x/y (empty when nothing is in it), in one statement.

    ``timeout_ms`` bounds the statement with ``SET LOCAL statement_timeout``, sent in the same
    query string (so on an autocommit connection it lasts for this tile only).
    """
    params: dict[str, Any] = {
        "z": z,
        "x": x,
        "y": y,
        "overview_cap": limits.overview_cap,
        "sequence_budget": limits.sequence_budget,
        "photo_cap": limits.photo_cap,
        **filters.params(),
    }
    if timeout_ms is not None:
        params["timeout_ms"] = int(timeout_ms)
    data = conn.execute(_tile_statement(band_of(z), timeout_ms is not None), params).scalar()
    return bytes(data) if data else b""


@functools.cache
def _tile_statement(band: str, with_timeout: bool) -> TextClause:
    # Built once: parsing the binds of a 7 kB text costs more than planning a small tile.
    prefix = "SET LOCAL statement_timeout = :timeout_ms;\n" if with_timeout else ""
    return text(prefix + tile_sql(band))


def data_version(conn: Connection) -> int:
    """The tile data version: changes with every committed write that changes what tiles show."""
    version = conn.execute(
        text("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM data_version_seq")
    ).scalar_one()
    return int(version)


def tile_bounds(conn: Connection) -> tuple[float, float, float, float] | None:
    """Exact lon/lat extent (SRID 4326) of the published sequences; None when there are none."""
    row = conn.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM"
            " (SELECT ST_Extent(geom) AS e FROM sequences WHERE status = 'published') x"
        )
    ).one()
    if row[0] is None:
        return None
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


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
        "description": "Photo points, z14 and beyond (thinned evenly where very dense at z14)",
        "minzoom": PHOTOS_MINZOOM,
        "maxzoom": TILEJSON_MAXZOOM,
        "fields": {
            "image_key": "String: Mapillary image key",
            "ca": "Number: compass angle in degrees, 0 <= ca < 360 (absent when unknown)",
            "sequence_id": "String: sequence id (UUID)",
            "position": "Number: position in the sequence, from 0",
            "captured_at": _TIME_FIELD,
            "pano": _PANO_FIELD,
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
    }
