"""Vector tiles ``GET /tiles/{z}/{x}/{y}.mvt`` (``.pbf``), TileJSON ``GET /tiles.json``, and
OGC API Tiles: ``/tileMatrixSets``, the dataset's and each collection's tileset list, tileset
metadata and tiles (``.../tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}``), all
served by the same tile code (a collection's tiles hold its layers only).

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
from typing import TypeVar
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, request
from sqlalchemy.engine import Connection

from geoapi.api._http import (
    JSON,
    base_url,
    collection_id,
    filter_args,
    json_response,
    public_url,
    request_filters,
    settings,
)
from geoapi.db import read_tile
from geoapi.errors import NotFoundError, bad_parameter
from geoapi.filters import FILTER_NAMES, SequenceFilters
from geoapi.ogc import CollectionId
from geoapi.paging import asked_version
from geoapi.store.taxonomy import load_transport_types
from geoapi.store.tiles import tile_bounds, tile_statement_digest, tile_version, versioned_tile
from geoapi.store.versions import data_version
from geoapi.taxonomy import TransportTypes
from geoapi.tilesets import (
    COLLECTION_LAYERS,
    TMS_ID,
    tile_matrix_set,
    tile_matrix_sets,
    tileset,
    tileset_list,
)
from geoapi.tiling import (
    MVT_MEDIA_TYPE,
    TileAddress,
    TileLimits,
    build_tilejson,
    parse_tile_address,
    parse_tile_matrix,
)

bp = Blueprint("tiles", __name__)
IMMUTABLE = "public, max-age=31536000, immutable"
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
    """Whether the client holds ``etag``, as sent plain or with the encoding that
    ``geoapi.compress`` appends to it."""
    tag = etag.strip('"')
    return any(
        request.if_none_match.contains_weak(variant)
        for variant in (tag, f"{tag}-gzip", f"{tag}-br")
    )


def _bodiless(status: int, headers: dict[str, str]) -> Response:
    response = Response(status=status, headers=headers)
    response.headers.remove("Content-Type")
    return response


@bp.get("/tiles/<z>/<x>/<name>")
def tile(z: str, x: str, name: str) -> Response:
    """One tile: 200 MVT, 204 when empty, 304 when the client's ETag matches."""
    address, _fmt = parse_tile_address(z, x, name)
    return _serve_tile(address, None)


def _serve_tile(address: TileAddress, only: tuple[str, ...] | None) -> Response:
    """The tile at ``address`` (its layers, or those in ``only``) with its caching headers.

    Tiles are versioned by area (``geoapi.store.tiles.tile_version``): the ETag is the area's
    version with a digest of everything else that shapes the bytes (filters, limits, layers,
    the tile SQL), so a revalidation costs one small query and no tile. ``?v=`` naming the
    area's current version is the tile's immutable URL; any other ``v`` is redirected to it.
    """
    config = settings()
    limits = TileLimits.from_max_features(config.tile_max_features)
    z, x, y = address.z, address.x, address.y
    asked = request.args.get("v")
    shape = _shape(limits, only)
    conditional = bool(request.if_none_match)

    def read(conn: Connection) -> tuple[int, bytes | None]:
        filters = _filters(conn)
        if asked is not None or conditional:
            version = tile_version(conn, z, x, y)
            if (asked is not None and asked != str(version)) or _not_modified(
                _tile_etag(version, shape)
            ):
                return version, None  # a redirect or a 304: no tile to build
        timeout = config.tile_statement_timeout_ms
        return versioned_tile(conn, z, x, y, filters, limits, timeout_ms=timeout, only=only)

    version, data = _read(read)  # a statement timeout or an outage is a 503 (geoapi.errors)
    if asked is not None and asked != str(version):
        return _moved(version)
    pinned = asked is not None
    headers = {
        "Cache-Control": IMMUTABLE if pinned else config.tile_cache_control,
        "Vary": "Accept-Encoding",
        "ETag": _tile_etag(version, shape),
    }
    if not pinned:
        headers["Link"] = f'<{_pinned_url(version)}>; rel="canonical"'
    if data is None:
        return _bodiless(304, headers)
    if not data:
        return _bodiless(204, headers)
    if request.accept_encodings["gzip"] > 0:
        data = gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
        headers["Content-Encoding"] = "gzip"
        headers["ETag"] = headers["ETag"][:-1] + '-gzip"'
    return Response(data, status=200, headers=headers, mimetype=MVT_MEDIA_TYPE)


def _shape(limits: TileLimits, only: tuple[str, ...] | None) -> str:
    """A digest of what, besides the data, decides a tile's bytes."""
    parts = [repr(limits), repr(only), *map(str, filter_args()), tile_statement_digest()]
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=8).hexdigest()


def _tile_etag(version: int, shape: str) -> str:
    return f'"a{version}-{shape}"'


def _pinned_url(version: int) -> str:
    """This tile's immutable URL: the request's with ``v`` set to its area's version."""
    args = [(key, value) for key, value in request.args.items(multi=True) if key != "v"]
    return public_url(request.path) + "?" + urlencode([("v", version), *args])


def _moved(version: int) -> Response:
    """A ``v`` that is not the area's version (TileJSON's data version, most often): the tile's
    current immutable URL instead, cached as briefly as an unpinned tile (a later write in the
    area moves it), so a client that keeps a TileJSON asks again after that long."""
    headers = {"Cache-Control": settings().tile_cache_control, "Location": _pinned_url(version)}
    return _bodiless(302, headers)


def _tile_url(version: int) -> str:
    """The TileJSON tile URL template (XYZ): the data version as ``v`` (so the template changes
    when the data does), then the request's filter arguments. A tile requested with it is
    redirected to its area's pinned URL (:func:`_serve_tile`), which stays the same for every
    data version that did not touch the area: caches keep it across writes elsewhere."""
    return public_url("/tiles/{z}/{x}/{y}.mvt") + "?" + urlencode([("v", version), *filter_args()])


@bp.get("/tiles.json")
@bp.get("/tiles/metadata.json")
def tilejson() -> Response:
    """TileJSON 3.0.0 for the tiles, filtered like the tiles by the same query arguments.

    Also at ``/tiles/metadata.json``, the name GDAL's MVT driver asks for first when it opens
    the tiles of one zoom level as ``MVT:http://host/tiles/{z}`` (its next guess is
    ``/tiles.json``); a plain ``MVT:<url>`` is read as one tile.
    """

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


# OGC API - Tiles ---------------------------------------------------------------------------

TILE_ARGS = frozenset({"f", "v", *FILTER_NAMES})


def _tms(tms: str) -> None:
    if tms != TMS_ID:
        raise NotFoundError(f"there is no tile matrix set {tms[:64]!r}; try {TMS_ID}")


def _version_and_bounds() -> tuple[int, tuple[float, float, float, float] | None]:
    def read(conn: Connection) -> tuple[int, tuple[float, float, float, float] | None]:
        _filters(conn)
        version = data_version(conn)
        return version, _cached_bounds(conn, version)

    return _read(read)


@bp.get("/tileMatrixSets")
def tile_matrix_set_list() -> Response:
    """The tile matrix sets the tiles use (WebMercatorQuad)."""
    return json_response(tile_matrix_sets(base_url()))


@bp.get("/tileMatrixSets/<tms>")
def tile_matrix_set_doc(tms: str) -> Response:
    """The WebMercatorQuad definition (OGC 2D Tile Matrix Set 2.0)."""
    _tms(tms)
    return json_response(tile_matrix_set(f"{base_url()}/tileMatrixSets/{TMS_ID}"))


def _root(collection: CollectionId | None) -> str:
    return f"{base_url()}/collections/{collection}/tiles" if collection else f"{base_url()}/tiles"


@bp.get("/tiles")
@bp.get("/collections/<cid>/tiles")
def tilesets(cid: str | None = None) -> Response:
    """The tilesets of the dataset, or of one collection."""
    collection = collection_id(cid) if cid is not None else None
    return json_response(tileset_list(base_url(), _root(collection), collection))


@bp.get("/tiles/<tms>")
@bp.get("/collections/<cid>/tiles/<tms>")
def tileset_metadata(tms: str, cid: str | None = None) -> Response:
    """Tileset metadata: layers, limits per zoom, bounding box, the templated tile URL."""
    collection = collection_id(cid) if cid is not None else None
    _tms(tms)
    _version, bounds = _version_and_bounds()
    root = f"{_root(collection)}/{TMS_ID}"
    return json_response(tileset(base_url(), root, urlencode(filter_args()), bounds, collection))


@bp.get("/tiles/<tms>/<matrix>/<row>/<col>")
@bp.get("/collections/<cid>/tiles/<tms>/<matrix>/<row>/<col>")
def ogc_tile(tms: str, matrix: str, row: str, col: str, cid: str | None = None) -> Response:
    """A tile in the OGC form (tileMatrix = z, tileRow = y, tileCol = x), by the same code as
    ``/tiles/{z}/{x}/{y}.mvt``; a collection's tile holds only its layers."""
    collection = collection_id(cid) if cid is not None else None
    _tms(tms)
    fmt = request.args.get("f")
    if fmt is not None and fmt != "mvt":
        raise bad_parameter("f", f"{fmt[:32]!r} is not a tile format; use mvt")
    address = parse_tile_matrix(matrix, row, col)
    return _serve_tile(address, COLLECTION_LAYERS[collection] if collection else None)
