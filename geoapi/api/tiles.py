"""Vector tiles ``GET /tiles/{z}/{x}/{y}.mvt`` (``.pbf``) and TileJSON ``GET /tiles.json``.

Tiles carry a strong ETag (a hash of the bytes sent), answer ``If-None-Match`` with 304, are
gzipped when the client accepts it and cacheable per ``tile_cache_control``; the TileJSON tile
URL carries the data version, so a write that changes tiles changes every tile URL. Tiles read
on a tile pool (a replica's when one has the data version ``?v=`` asks for, else the
primary's: ``geoapi.db.read_tile``): one round trip each.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, request
from sqlalchemy.engine import Connection

from geoapi.api._http import JSON, public_url, request_filters, settings
from geoapi.db import read_tile
from geoapi.filters import FILTER_NAMES, SequenceFilters
from geoapi.paging import asked_version
from geoapi.store.taxonomy import load_transport_types
from geoapi.store.tiles import get_tile, tile_bounds
from geoapi.store.versions import data_version
from geoapi.taxonomy import TransportTypes
from geoapi.tiling import MVT_MEDIA_TYPE, TileLimits, build_tilejson, parse_tile_address

bp = Blueprint("tiles", __name__)
GZIP_LEVEL = 1  # MVT compresses to ~65% at level 1 and barely better higher; CPU is the cost
_NO_TYPES = TransportTypes(leaves={}, names={}, parents={})
BOUNDS_CACHE = "geoapi.tile_bounds"
T = TypeVar("T")


def _read(work: Callable[[Connection], T]) -> T:
    """``work`` on a tile connection: a replica's that has the data version ``?v=`` asks for,
    else the primary's (``geoapi.db.read_tile``)."""
    return read_tile(work, asked_version(request.args.get("v")))


def _filters(conn: Connection) -> SequenceFilters:
    """The request's filters; the transport type tree is read only when one is asked for."""
    types = load_transport_types(conn) if request.args.get("transport_type") else _NO_TYPES
    filters: SequenceFilters = request_filters(types)
    return filters


def _etag(data: bytes, suffix: str = "") -> str:
    return f'"{hashlib.blake2b(data, digest_size=16).hexdigest()}{suffix}"'


def _not_modified(etag: str) -> bool:
    return request.if_none_match.contains_weak(etag.strip('"'))


def _bodiless(status: int, headers: dict[str, str]) -> Response:
    response = Response(status=status, headers=headers)
    response.headers.remove("Content-Type")
    return response


@bp.get("/tiles/<z>/<x>/<name>")
def tile(z: str, x: str, name: str) -> Response:
    """One tile: 200 MVT, 204 when empty, 304 when the client's ETag matches."""
    address, _fmt = parse_tile_address(z, x, name)
    config = settings()
    limits = TileLimits.from_max_features(config.tile_max_features)

    def read(conn: Connection) -> bytes:
        filters = _filters(conn)
        timeout = config.tile_statement_timeout_ms
        return get_tile(conn, address.z, address.x, address.y, filters, limits, timeout_ms=timeout)

    data = _read(read)  # a statement timeout or an outage is a 503 (geoapi.errors)
    headers = {"Cache-Control": config.tile_cache_control, "Vary": "Accept-Encoding"}
    if not data:
        return _bodiless(204, headers)
    gzipped = request.accept_encodings["gzip"] > 0
    headers["ETag"] = _etag(data, "-gzip" if gzipped else "")
    if _not_modified(headers["ETag"]):
        return _bodiless(304, headers)
    if gzipped:
        data = gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Response(data, status=200, headers=headers, mimetype=MVT_MEDIA_TYPE)


def _tile_url(version: int) -> str:
    """The tile URL template with the data version and the request's filter arguments."""
    args: list[tuple[str, Any]] = [("v", version)]
    for key in FILTER_NAMES:
        args.extend((key, value) for value in request.args.getlist(key) if value != "")
    return public_url("/tiles/{z}/{x}/{y}.mvt") + "?" + urlencode(args)


@bp.get("/tiles.json")
def tilejson() -> Response:
    """TileJSON 3.0.0 for the tiles, filtered like the tiles by the same query arguments."""

    def read(conn: Connection) -> tuple[int, tuple[float, float, float, float] | None]:
        _filters(conn)  # 400 for a bad filter here, not on every tile
        version = data_version(conn)
        return version, _cached_bounds(conn, version)

    version, bounds = _read(read)
    body = json.dumps(build_tilejson(_tile_url(version), bounds)).encode()
    headers = {"Cache-Control": "no-cache", "ETag": _etag(body)}
    if _not_modified(headers["ETag"]):
        return _bodiless(304, headers)
    return Response(body, status=200, headers=headers, mimetype=JSON)


def _cached_bounds(conn: Connection, version: int) -> tuple[float, float, float, float] | None:
    """Data bounds, computed once per data version per process (an exact extent scans a table)."""
    cached = current_app.extensions.get(BOUNDS_CACHE)
    if cached is not None and cached[0] == version:
        hit: tuple[float, float, float, float] | None = cached[1]
        return hit
    bounds = tile_bounds(conn)
    if data_version(conn) == version:  # else a write landed meanwhile: do not cache
        current_app.extensions[BOUNDS_CACHE] = (version, bounds)  # one atomic assignment
    return bounds
