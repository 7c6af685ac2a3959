"""OGC API - Features: the landing page, conformance, and the collections ``sequences`` and
``photos``, each as JSON and as HTML (``f=html`` or ``Accept: text/html``), with ``self`` and
``alternate`` links between the two. Items and queryables live in ``api/items.py`` and
``api/queryables.py``; the tiles of OGC API Tiles in ``api/ogc_tiles.py``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, render_template

from geoapi.api._http import (
    GEOJSON,
    HTML,
    JSON,
    SCHEMA_JSON,
    base_url,
    collection_id,
    format_links,
    json_response,
    link,
    negotiate,
)
from geoapi.crs import CRS84_URI, SUPPORTED_URIS
from geoapi.db import read_session
from geoapi.ogc import (
    COLLECTIONS,
    CONFORMANCE,
    REL_CONFORMANCE,
    REL_QUERYABLES,
    REL_TILESETS_VECTOR,
    REL_TILING_SCHEMES,
    TITLES,
    CollectionId,
)
from geoapi.store.features import Extent, data_extent
from geoapi.store.versions import data_version
from geoapi.times import format_timestamp

bp = Blueprint("features", __name__)

OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
FORMATS = (("json", JSON, "As JSON"), ("html", HTML, "As HTML"))


def _page(fmt: str, body: dict[str, Any], template: str) -> Response:
    """The resource as JSON, or rendered into its HTML template."""
    if fmt == "html":
        return Response(render_template(template, body=body), mimetype=HTML)
    return json_response(body)


@bp.get("/")
def landing() -> Response:
    """The landing page: what this service is and where its API description and data are."""
    fmt = negotiate(("json", "html"))
    base = base_url()
    links = [
        *format_links(fmt, FORMATS),
        link(f"{base}/api/openapi.json", "service-desc", OPENAPI, "The API definition"),
        link(f"{base}/docs", "service-doc", HTML, "The API documentation"),
        link(f"{base}/conformance", "conformance", JSON, "Conformance classes"),
        link(f"{base}/conformance", REL_CONFORMANCE, JSON, "Conformance classes"),
        link(f"{base}/collections", "data", JSON, "The feature collections"),
        link(f"{base}/tiles", REL_TILESETS_VECTOR, JSON, "Vector tilesets (OGC API Tiles)"),
        link(f"{base}/tileMatrixSets", REL_TILING_SCHEMES, JSON, "Tile matrix sets"),
        link(f"{base}/tiles.json", "tiles", JSON, "Vector tiles (TileJSON)"),
        link(f"{base}/map", "alternate", HTML, "Map"),
    ]
    body = {
        "title": "geoapi",
        "description": "Street-level photo sequences: OGC API - Features, vector tiles, exports.",
        "links": links,
    }
    return _page(fmt, body, "ogc_landing.html")


@bp.get("/conformance")
def conformance() -> Response:
    """The conformance classes: exactly what geoapi implements (``geoapi.ogc.CONFORMANCE``)."""
    fmt = negotiate(("json", "html"))
    body = {"conformsTo": list(CONFORMANCE), "links": format_links(fmt, FORMATS)}
    return _page(fmt, body, "ogc_conformance.html")


def _extent() -> Extent:
    """The data's extent, recomputed only when the data version moves."""
    session = read_session()
    version = data_version(session)
    cached = current_app.extensions.get("geoapi.features.extent")
    if cached is not None and cached[0] == version:
        extent: Extent = cached[1]
        return extent
    extent = data_extent(session)
    current_app.extensions["geoapi.features.extent"] = (version, extent)
    return extent


def _collection_doc(cid: CollectionId, extent: Extent, fmt: str | None) -> dict[str, Any]:
    """A collection's description; ``fmt`` set: its own page's self/alternate links."""
    base = base_url()
    title, description = TITLES[cid]
    here = f"{base}/collections/{cid}"
    own = (
        format_links(fmt, FORMATS)
        if fmt
        else [link(here, "self", JSON, title), link(f"{here}?f=html", "alternate", HTML, title)]
    )
    return {
        "id": cid,
        "title": title,
        "description": description,
        "itemType": "feature",
        "crs": list(SUPPORTED_URIS),
        "storageCrs": CRS84_URI,
        "extent": {
            "spatial": {
                "bbox": [list(extent.bbox or (-180.0, -90.0, 180.0, 90.0))],
                "crs": CRS84_URI,
            },
            "temporal": {
                "interval": [[format_timestamp(extent.start), format_timestamp(extent.end)]],
                "trs": GREGORIAN,
            },
        },
        "links": [
            *own,
            link(f"{here}/items", "items", GEOJSON, f"{title} as GeoJSON"),
            link(f"{here}/items?f=html", "items", HTML, f"{title} as HTML"),
            link(f"{here}/queryables", REL_QUERYABLES, SCHEMA_JSON, "Queryables"),
            link(f"{here}/queryables", "queryables", JSON, "Queryables (for GDAL < 3.7)"),
            link(f"{here}/tiles", REL_TILESETS_VECTOR, JSON, f"{title} as vector tiles"),
            link(
                f"{base}/api/v1/exports/sequences.geojson?collection={cid}",
                "enclosure",
                GEOJSON,
                f"Download all {cid} (streamed)",
            ),
        ],
    }


@bp.get("/collections")
def collections() -> Response:
    fmt = negotiate(("json", "html"))
    extent = _extent()
    body = {
        "links": format_links(fmt, FORMATS),
        "crs": list(SUPPORTED_URIS),
        "collections": [_collection_doc(cid, extent, None) for cid in COLLECTIONS],
    }
    return _page(fmt, body, "ogc_collections.html")


@bp.get("/collections/<cid>")
def collection(cid: str) -> Response:
    collection = collection_id(cid)
    fmt = negotiate(("json", "html"))
    return _page(fmt, _collection_doc(collection, _extent(), fmt), "ogc_collection.html")
