"""OGC API - Tiles documents (pure): the WebMercatorQuad tile matrix set, tileset lists and
tileset metadata for the dataset and for each collection.

The tiles themselves are the vector tiles of ``/tiles/{z}/{x}/{y}.mvt`` (:mod:`geoapi.tiling`):
in OGC terms tileMatrix = z, tileRow = y, tileCol = x. The matrix set document carries the
OGC Two Dimensional Tile Matrix Set 2.0 members, plus the 1.0 names (``identifier``,
``supportedCRS``, ``topLeftCorner``) that GDAL before 3.7 reads.
"""

from __future__ import annotations

import math
from typing import Any

from geoapi.crs import CRS84_URI, EPSG3857_URI, MERCATOR_HALF
from geoapi.ogc import REL_TILING_SCHEME, CollectionId
from geoapi.tiling import MAX_ZOOM, MVT_MEDIA_TYPE, VECTOR_LAYERS, WORLD_BOUNDS

TMS_ID = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
WKSS = "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible"
TILE_SIZE = 256  # the matrix set's nominal pixels (an MVT's extent is 4096 units)
PIXEL_M = 0.28e-3  # the standardized rendering pixel, for scale denominators
# Each collection's layers in the dataset tiles.
COLLECTION_LAYERS: dict[CollectionId, tuple[str, ...]] = {
    "sequences": ("overview", "sequences"),
    "photos": ("photos",),
}
_GEOMETRY_DIMENSION = {"overview": 0, "sequences": 1, "photos": 0}


def tile_matrix_set(self_url: str) -> dict[str, Any]:
    """The WebMercatorQuad definition, zoom 0 to MAX_ZOOM."""
    matrices = []
    for zoom in range(MAX_ZOOM + 1):
        cell = 2 * MERCATOR_HALF / TILE_SIZE / 2**zoom
        matrices.append(
            {
                "id": str(zoom),
                "identifier": str(zoom),
                "scaleDenominator": cell / PIXEL_M,
                "cellSize": cell,
                "cornerOfOrigin": "topLeft",
                "pointOfOrigin": [-MERCATOR_HALF, MERCATOR_HALF],
                "topLeftCorner": [-MERCATOR_HALF, MERCATOR_HALF],
                "tileWidth": TILE_SIZE,
                "tileHeight": TILE_SIZE,
                "matrixWidth": 2**zoom,
                "matrixHeight": 2**zoom,
            }
        )
    return {
        "id": TMS_ID,
        "identifier": TMS_ID,
        "title": "Google Maps Compatible for the World",
        "uri": TMS_URI,
        "crs": EPSG3857_URI,
        "supportedCRS": EPSG3857_URI,
        "orderedAxes": ["X", "Y"],
        "wellKnownScaleSet": WKSS,
        "boundingBox": {
            "crs": EPSG3857_URI,
            "lowerLeft": [-MERCATOR_HALF, -MERCATOR_HALF],
            "upperRight": [MERCATOR_HALF, MERCATOR_HALF],
            "lowerCorner": [-MERCATOR_HALF, -MERCATOR_HALF],
            "upperCorner": [MERCATOR_HALF, MERCATOR_HALF],
        },
        "tileMatrices": matrices,
        "links": [{"href": self_url, "rel": "self", "type": "application/json"}],
    }


def tile_matrix_sets(base: str) -> dict[str, Any]:
    """``/tileMatrixSets``: the one matrix set geoapi tiles in."""
    url = f"{base}/tileMatrixSets/{TMS_ID}"
    return {
        "tileMatrixSets": [
            {
                "id": TMS_ID,
                "title": "Google Maps Compatible for the World",
                "uri": TMS_URI,
                "links": [{"href": url, "rel": "self", "type": "application/json"}],
            }
        ],
        "links": [{"href": f"{base}/tileMatrixSets", "rel": "self", "type": "application/json"}],
    }


def _tile_range(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    """(col, row) of the tile holding lon/lat at ``zoom``."""
    n = 2**zoom
    lat = max(min(lat, WORLD_BOUNDS[3]), WORLD_BOUNDS[1])
    col = int((lon + 180.0) / 360.0 * n)
    rad = math.radians(lat)
    row = int((1.0 - math.asinh(math.tan(rad)) / math.pi) / 2.0 * n)
    return min(max(col, 0), n - 1), min(max(row, 0), n - 1)


def matrix_limits(
    bounds: tuple[float, float, float, float] | None, minzoom: int = 0
) -> list[dict[str, Any]]:
    """tileMatrixSetLimits: the tiles each zoom from ``minzoom`` needs to cover ``bounds``."""
    west, south, east, north = bounds or WORLD_BOUNDS
    limits = []
    for zoom in range(minzoom, MAX_ZOOM + 1):
        min_col, min_row = _tile_range(west, north, zoom)
        max_col, max_row = _tile_range(east, south, zoom)
        limits.append(
            {
                "tileMatrix": str(zoom),
                "minTileRow": min_row,
                "maxTileRow": max_row,
                "minTileCol": min_col,
                "maxTileCol": max_col,
            }
        )
    return limits


def _layers(names: tuple[str, ...]) -> list[dict[str, Any]]:
    out = []
    for layer in VECTOR_LAYERS:
        if layer["id"] not in names:
            continue
        out.append(
            {
                "id": layer["id"],
                "description": layer["description"],
                "dataType": "vector",
                "geometryDimension": _GEOMETRY_DIMENSION[layer["id"]],
                "minTileMatrix": str(layer["minzoom"]),
                "maxTileMatrix": str(MAX_ZOOM),
                "propertiesSchema": {
                    "type": "object",
                    "properties": {
                        name: {"description": text} for name, text in layer["fields"].items()
                    },
                },
            }
        )
    return out


def tileset(
    base: str,
    root: str,
    tile_query: str,
    bounds: tuple[float, float, float, float] | None,
    collection: CollectionId | None,
) -> dict[str, Any]:
    """The tileset metadata at ``root`` (``.../tiles/WebMercatorQuad`` under the public root
    ``base``): layers, limits, bounding box and the templated tile URL (``tile_query``: the
    data version and filters)."""
    names = COLLECTION_LAYERS[collection] if collection else tuple(v["id"] for v in VECTOR_LAYERS)
    box = bounds or WORLD_BOUNDS
    layers = _layers(names)
    template = root + "/{tileMatrix}/{tileRow}/{tileCol}" + (f"?{tile_query}" if tile_query else "")
    return {
        "title": f"geoapi {collection or 'sequences and photos'}",
        "description": "Street-level photo sequences as Mapbox Vector Tiles",
        "dataType": "vector",
        "crs": EPSG3857_URI,
        "tileMatrixSetURI": TMS_URI,
        # No tile holds any of these layers below their lowest zoom (photos: 14).
        "tileMatrixSetLimits": matrix_limits(bounds, min(int(v["minTileMatrix"]) for v in layers)),
        "boundingBox": {
            "lowerLeft": [box[0], box[1]],
            "upperRight": [box[2], box[3]],
            "crs": CRS84_URI,
        },
        "layers": layers,
        "links": [
            {"href": root, "rel": "self", "type": "application/json"},
            {
                "href": f"{base}/tileMatrixSets/{TMS_ID}",
                "rel": REL_TILING_SCHEME,
                "type": "application/json",
            },
            {"href": template, "rel": "item", "type": MVT_MEDIA_TYPE, "templated": True},
        ],
    }


def tileset_list(base: str, root: str, collection: CollectionId | None) -> dict[str, Any]:
    """``.../tiles`` (``root``): the tilesets (one: WebMercatorQuad) with their links."""
    url = f"{root}/{TMS_ID}"
    return {
        "tilesets": [
            {
                "title": f"geoapi {collection or 'sequences and photos'}",
                "dataType": "vector",
                "crs": EPSG3857_URI,
                "tileMatrixSetURI": TMS_URI,
                "links": [
                    {"href": url, "rel": "self", "type": "application/json"},
                    {
                        "href": f"{base}/tileMatrixSets/{TMS_ID}",
                        "rel": REL_TILING_SCHEME,
                        "type": "application/json",
                    },
                ],
            }
        ],
        "links": [{"href": root, "rel": "self", "type": "application/json"}],
    }
