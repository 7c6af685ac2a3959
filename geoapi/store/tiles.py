"""Vector tiles in SQL: one statement per tile (``geoapi/store/sql/tile_mvt.sql``), bounds.

The statement of each zoom band (:mod:`geoapi.tiling`) is composed once from named sections of
the SQL file with the shared sequence filters; every value is a bind parameter.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.engine import Connection

from geoapi.filters import SequenceFilters
from geoapi.store import read_sql
from geoapi.tiling import TILE_BUFFER, TILE_EXTENT, TileLimits, band_of

DEFAULT_LIMITS = TileLimits()

# The statement of each zoom band: (common table expressions, layers), named as the sections
# of geoapi/sql/tile_mvt.sql.
BANDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "overview": (("tile",), ("overview",)),
    "sequences": (("tile", "seqs", "lines"), ("sequences",)),
    "photos": (("tile", "seqs", "lines", "photo_candidates"), ("sequences", "photos")),
}
_SECTION = re.compile(r"^-- @(cte|layer) ([a-z_]+)\n", re.MULTILINE)


def band_layers(band: str, only: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The layers a tile of ``band`` holds: all of them, or those of them in ``only``."""
    layers = BANDS[band][1]
    return layers if only is None else tuple(name for name in layers if name in only)


@functools.cache
def tile_sql(band: str, only: tuple[str, ...] | None = None) -> str:
    """The static tile statement of a zoom band (its layers, or those in ``only``), with the
    shared sequence filters composed in."""
    parts = _SECTION.split(read_sql("tile_mvt"))[1:]  # [kind, name, body, kind, name, body, ...]
    sections = {
        (kind, name): body.strip()
        for kind, name, body in zip(parts[::3], parts[1::3], parts[2::3], strict=True)
    }
    ctes = BANDS[band][0]
    layers = band_layers(band, only)
    return (
        "WITH "
        + ",\n".join(sections["cte", name] for name in ctes)
        + "\nSELECT "
        + "\n    || ".join(sections["layer", name] for name in layers)
        + " AS mvt"
    )


def get_tile(
    conn: Connection,
    z: int,
    x: int,
    y: int,
    filters: SequenceFilters,
    limits: TileLimits = DEFAULT_LIMITS,
    *,
    timeout_ms: int | None = None,
    only: tuple[str, ...] | None = None,
) -> bytes:
    """The MVT bytes of tile z/x/y (empty when nothing is in it), in one statement; ``only``
    restricts it to those layers (a collection's tiles).

    ``timeout_ms`` bounds the statement with ``SET LOCAL statement_timeout``, sent in the same
    query string (so on an autocommit connection it lasts for this tile only).
    """
    band = band_of(z)
    if not band_layers(band, only):
        return b""
    params: dict[str, Any] = {
        "z": z,
        "x": x,
        "y": y,
        "extent": TILE_EXTENT,
        "buffer": TILE_BUFFER,
        "overview_cap": limits.overview_cap,
        "sequence_budget": limits.sequence_budget,
        "photo_cap": limits.photo_cap,
        **filters.params(),
    }
    if timeout_ms is not None:
        params["timeout_ms"] = int(timeout_ms)
    data = conn.execute(_tile_statement(band, timeout_ms is not None, only), params).scalar()
    return bytes(data) if data else b""


@functools.cache
def _tile_statement(band: str, with_timeout: bool, only: tuple[str, ...] | None) -> TextClause:
    # Built once: parsing the binds of a 7 kB text costs more than planning a small tile.
    prefix = "SET LOCAL statement_timeout = :timeout_ms;\n" if with_timeout else ""
    return text(prefix + tile_sql(band, only))


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
