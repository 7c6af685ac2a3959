"""What geoapi declares to OGC API clients (pure): its collections and conformance classes.

:data:`CONFORMANCE` lists exactly the classes implemented (``GET /conformance``); each comes
with the tests that drive a real client through it (``tests/api/test_ogctests.py``,
``test_gdal.py``, ``test_qgis.py``, ``test_owslib.py``).
"""

from __future__ import annotations

from typing import Literal

CollectionId = Literal["sequences", "photos"]
COLLECTIONS: tuple[CollectionId, ...] = ("sequences", "photos")
TITLES: dict[CollectionId, tuple[str, str]] = {
    "sequences": (
        "Sequences",
        "Street-level photo sequences as LineStrings, with their metadata and like counts.",
    ),
    "photos": (
        "Photos",
        "The photos of the sequences as Points, with image key and compass angle.",
    ),
}
# The geometry type of each collection, as the queryables' JSON Schema format names it.
GEOMETRY_FORMATS: dict[CollectionId, str] = {
    "sequences": "geometry-linestring",
    "photos": "geometry-point",
}

_FEATURES = "http://www.opengis.net/spec/ogcapi-features-{part}/1.0/conf/{name}"
_CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/{name}"
_TILES = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/{name}"
_TMS = "http://www.opengis.net/spec/tms/2.0/conf/{name}"

CONFORMANCE: tuple[str, ...] = (
    # Part 1: core, GeoJSON, HTML and the OpenAPI 3.0 definition.
    *(_FEATURES.format(part=1, name=name) for name in ("core", "geojson", "html", "oas30")),
    # Part 2: crs, bbox-crs (CRS84, EPSG:4326 latitude first, EPSG:3857), Content-Crs.
    _FEATURES.format(part=2, name="crs"),
    # Part 3: queryables, filter, filter-lang and filter-crs on the items.
    *(_FEATURES.format(part=3, name=name) for name in ("queryables", "filter", "features-filter")),
    # CQL2: both encodings; comparisons, LIKE/BETWEEN/IN, the spatial functions with any
    # geometry literal, and comparisons between two properties.
    *(
        _CQL2.format(name=name)
        for name in (
            "cql2-text",
            "cql2-json",
            "basic-cql2",
            "advanced-comparison-operators",
            "basic-spatial-functions",
            "basic-spatial-functions-plus",
            "spatial-functions",
            "property-property",
        )
    ),
    # sortby on the items (as OGC API Records defines it; the cursor carries the sort keys).
    "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/sorting",
    # OGC API Tiles: the dataset's vector tiles in WebMercatorQuad.
    *(
        _TILES.format(name=name)
        for name in ("core", "tileset", "tilesets-list", "dataset-tilesets", "mvt", "oas30")
    ),
    *(_TMS.format(name=name) for name in ("tilematrixset", "json-tilematrixset")),
)

# Link relations of OGC API (registered at the OGC naming authority).
REL_CONFORMANCE = "http://www.opengis.net/def/rel/ogc/1.0/conformance"
REL_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
REL_TILESETS_VECTOR = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
REL_TILING_SCHEME = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
REL_TILING_SCHEMES = "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"
REL_ITEM = "item"
