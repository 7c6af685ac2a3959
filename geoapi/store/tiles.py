"""Vector tiles in SQL: one statement per tile (``geoapi/store/sql/tile_mvt.sql``), bounds.

The statement of each zoom band (:mod:`geoapi.tiling`) is composed once from named sections of
the SQL file with the shared sequence filters; every value is a bind parameter.
"""

from __future__ import annotations

import functools
import hashlib
import re
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.engine import Connection

from geoapi.filters import SequenceFilters
from geoapi.store import read_sql
from geoapi.tiling import TILE_BUFFER, TILE_EXTENT, TileLimits, band_of

DEFAULT_LIMITS = TileLimits()
NO_FILTERS = SequenceFilters()

# The statement of each zoom band: (common table expressions, layers), named as the sections
# of geoapi/sql/tile_mvt.sql. Unfiltered overview tiles read the precomputed cells; filtered
# ones choose from the filtered sequences.
BANDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "overview": (("tile", "cells"), ("overview",)),
    "overview_filtered": (("tile",), ("overview_filtered",)),
    "sequences": (("tile", "seqs", "lines", "kept"), ("sequences",)),
    "photos": (
        (
            "tile",
            "seqs",
            "lines",
            "kept",
            "photo_grid",
            "photo_level",
            "photo_pool",
            "photo_candidates",
        ),
        ("sequences", "photos"),
    ),
}
# The layer each section draws (both overview sections draw "overview").
LAYER_OF_SECTION = {"overview_filtered": "overview"}
_SECTION = re.compile(r"^-- @(cte|layer) ([a-z_]+)\n", re.MULTILINE)


def band_layers(band: str, only: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The layer sections a tile of ``band`` holds: all of them, or those drawing a layer in
    ``only``."""
    layers = BANDS[band][1]
    if only is None:
        return layers
    return tuple(name for name in layers if LAYER_OF_SECTION.get(name, name) in only)


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
        + read_sql("tile_version")
        + " AS version,\n"
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
    """The MVT bytes of tile z/x/y (empty when nothing is in it); see :func:`versioned_tile`."""
    return versioned_tile(conn, z, x, y, filters, limits, timeout_ms=timeout_ms, only=only)[1]


def versioned_tile(
    conn: Connection,
    z: int,
    x: int,
    y: int,
    filters: SequenceFilters,
    limits: TileLimits = DEFAULT_LIMITS,
    *,
    timeout_ms: int | None = None,
    only: tuple[str, ...] | None = None,
) -> tuple[int, bytes]:
    """The version of tile z/x/y's area (:func:`tile_version`) and its MVT bytes (empty when
    nothing is in it), read together in one statement, so the two always match; ``only``
    restricts it to those layers (a collection's tiles).

    ``timeout_ms`` bounds the statement with ``SET LOCAL statement_timeout``, sent in the same
    query string (so on an autocommit connection it lasts for this tile only).
    """
    band = band_of(z)
    if band == "overview" and filters != NO_FILTERS:
        band = "overview_filtered"
    params: dict[str, Any] = {
        "z": z,
        "x": x,
        "y": y,
        "extent": TILE_EXTENT,
        "buffer": TILE_BUFFER,
        "overview_cap": limits.overview_cap,
        "sequence_budget": limits.line_budget(band),
        "line_candidates": limits.line_candidates(band),
        "photo_cap": limits.photo_cap,
        **filters.params(),
    }
    if not band_layers(band, only):
        return tile_version(conn, z, x, y), b""
    row = _execute_prepared(conn, band, only, params, timeout_ms)
    return int(row[0]), bytes(row[1]) if row[1] else b""


@functools.cache
def tile_statement_digest() -> str:
    """A digest of the tile SQL: tiles built by other code are other bytes (their ETags)."""
    text_ = read_sql("tile_mvt") + read_sql("tile_version")
    return hashlib.blake2b(text_.encode(), digest_size=8).hexdigest()


def tile_version(conn: Connection, z: int, x: int, y: int) -> int:
    """The data version of the last commit that changed what tile z/x/y shows (per area:
    ``sql/tile_version.sql``), so a client revalidates a tile by it without its being built."""
    version = conn.execute(_version_statement(), {"z": z, "x": x, "y": y}).scalar_one()
    return int(version)


@functools.cache
def _version_statement() -> TextClause:
    # Built once: it runs on every revalidation and pinned request.
    return text("SELECT " + read_sql("tile_version") + " AS version")


# The type of each bind of the tile statements: a prepared statement declares them all, so no
# bind's type is guessed from its first use (``:buffer`` is a float factor in one place and an
# integer argument in another).
BIND_TYPES = {
    "z": "integer",
    "x": "integer",
    "y": "integer",
    "extent": "integer",
    "buffer": "integer",
    "overview_cap": "integer",
    "sequence_budget": "integer",
    "line_candidates": "integer",
    "photo_cap": "integer",
    "f_transport_type_ids": "integer[]",
    "f_tags": "text[]",
    "f_username": "text",
    "f_camera_make": "text",
    "f_pano": "boolean",
    "f_start": "timestamptz",
    "f_end": "timestamptz",
}
_BIND = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")
PREPARED = "geoapi.prepared_tiles"  # Connection.info key: the names prepared on it


@functools.cache
def _prepared(band: str, only: tuple[str, ...] | None) -> tuple[str, str, tuple[str, ...]]:
    """(name, PREPARE statement, bind names in order) of a band's tile statement.

    Prepared once per connection, a tile is planned by PostgreSQL's plan cache instead of on
    every request: planning the statement costs more than running it for most tiles (0.9 ms
    against 0.15 for an empty z8 tile).
    """
    sql = tile_sql(band, only)
    names: list[str] = []

    def numbered(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    body = _BIND.sub(numbered, sql)
    name = "geoapi_tile_" + hashlib.blake2b(sql.encode(), digest_size=8).hexdigest()
    types = ", ".join(BIND_TYPES[bind] for bind in names)
    return name, f"PREPARE {name} ({types}) AS {body}", tuple(names)


def _execute_prepared(
    conn: Connection,
    band: str,
    only: tuple[str, ...] | None,
    params: dict[str, Any],
    timeout_ms: int | None,
) -> Any:
    """The tile statement's one row (version, mvt), by its prepared statement (prepared on this
    connection first if it is not yet); ``timeout_ms`` as ``SET LOCAL`` in the same query
    string, so on an autocommit connection it lasts for this tile only."""
    name, prepare, names = _prepared(band, only)
    prepared: set[str] = conn.info.setdefault(PREPARED, set())
    if name not in prepared:
        conn.exec_driver_sql(prepare)
        prepared.add(name)
    call = f"EXECUTE {name}(" + ", ".join(f"%({bind})s" for bind in names) + ")"
    if timeout_ms is not None:
        call = "SET LOCAL statement_timeout = %(timeout_ms)s; " + call
        params = {**params, "timeout_ms": int(timeout_ms)}
    return conn.exec_driver_sql(call, params).one()


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
