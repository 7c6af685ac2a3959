"""OGC API - Features (Part 1 Core, GeoJSON, OpenAPI 3.0): landing page, conformance,
collections ``sequences`` and ``photos``, their items (bbox, datetime, filters, keyset paging)
and single items.

Items pages are built in one SQL round trip; a ``limit`` above STREAM_ABOVE is streamed from a
server-side cursor instead. ``limit`` follows ``geoapi.paging.ITEMS_LIMIT`` (larger values are
served as its maximum, as the standard asks); unknown query parameters are a 400 naming them
(``f`` is accepted everywhere).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, json, request
from markupsafe import escape
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from geoapi.api._http import (
    GEOJSON,
    HTML,
    JSON,
    capped,
    feature_collection_chunks,
    item_query,
    link,
    primed,
    public_url,
    streamed,
    this_url,
)
from geoapi.db import read_engine, read_session
from geoapi.errors import NotFoundError, bad_parameter
from geoapi.fields import parse_uuid
from geoapi.geo import CRS84
from geoapi.paging import ITEMS_LIMIT
from geoapi.store.features import (
    COLLECTIONS,
    CollectionId,
    Extent,
    ItemQuery,
    Key,
    data_extent,
    fetch_page,
    get_feature,
    iter_feature_batches,
)
from geoapi.store.versions import data_version, page_version
from geoapi.times import format_timestamp

bp = Blueprint("features", __name__)

OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
STREAM_ABOVE = 1000
ITEM_PARAMS = frozenset({"f", "limit", "cursor"})
TITLES = {
    "sequences": (
        "Sequences",
        "Street-level photo sequences as LineStrings, with their metadata and like counts.",
    ),
    "photos": (
        "Photos",
        "The photos of the sequences as Points, with image key and compass angle.",
    ),
}


def base_url() -> str:
    """The public root, without a final '/'."""
    return public_url("/").rstrip("/")


def _format(allowed: tuple[str, ...]) -> str:
    """The ``f`` parameter (json, geojson, html where allowed), else content negotiation."""
    raw = request.args.get("f")
    if raw is None:
        if "html" in allowed and request.accept_mimetypes.best_match([JSON, HTML]) == HTML:
            return "html"
        return "json"
    value = raw.lower()
    if value not in allowed:
        raise bad_parameter("f", f"{raw!r} is not one of {', '.join(allowed)}")
    return "json" if value == "geojson" else value


def _json(body: Any, media_type: str = JSON) -> Response:
    return Response(json.dumps(body), mimetype=media_type)


def _collection_id(cid: str) -> CollectionId:
    if cid not in COLLECTIONS:
        raise NotFoundError(f"there is no collection {cid!r}; try sequences or photos")
    return "photos" if cid == "photos" else "sequences"


@bp.get("/")
def landing() -> Response:
    """The landing page: what this service is and where its API description and data are."""
    fmt = _format(("json", "html"))
    base = base_url()
    links = [
        link(f"{base}/?f=json", "self" if fmt == "json" else "alternate", JSON, "This document"),
        link(f"{base}/?f=html", "alternate" if fmt == "json" else "self", HTML, "As HTML"),
        link(f"{base}/api/openapi.json", "service-desc", OPENAPI, "The API definition"),
        link(f"{base}/docs", "service-doc", HTML, "The API documentation"),
        link(f"{base}/conformance", "conformance", JSON, "Conformance classes"),
        link(f"{base}/collections", "data", JSON, "The feature collections"),
        link(f"{base}/tiles.json", "tiles", JSON, "Vector tiles (TileJSON)"),
        link(f"{base}/map", "alternate", HTML, "Map"),
    ]
    body = {
        "title": "geoapi",
        "description": "Street-level photo sequences: OGC API - Features, vector tiles, exports.",
        "links": links,
    }
    if fmt == "html":
        return Response(_landing_html(links), mimetype=HTML)
    return _json(body)


def _landing_html(links: list[dict[str, str]]) -> str:
    items = "".join(
        f'<li><a href="{escape(item["href"])}">{escape(item.get("title", item["rel"]))}</a>'
        f" <small>({escape(item['rel'])}, {escape(item['type'])})</small></li>"
        for item in links
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>geoapi</title></head>"
        "<body><h1>geoapi</h1><p>Street-level photo sequences: OGC API - Features, vector "
        f"tiles and GeoJSON exports.</p><ul>{items}</ul></body></html>"
    )


@bp.get("/conformance")
def conformance() -> Response:
    _format(("json",))
    return _json({"conformsTo": CONFORMANCE})


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


def _collection_doc(cid: CollectionId, extent: Extent) -> dict[str, Any]:
    base = base_url()
    title, description = TITLES[cid]
    return {
        "id": cid,
        "title": title,
        "description": description,
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "extent": {
            "spatial": {"bbox": [list(extent.bbox or (-180.0, -90.0, 180.0, 90.0))], "crs": CRS84},
            "temporal": {
                "interval": [[format_timestamp(extent.start), format_timestamp(extent.end)]],
                "trs": GREGORIAN,
            },
        },
        "links": [
            link(f"{base}/collections/{cid}", "self", JSON, title),
            link(f"{base}/collections/{cid}/items", "items", GEOJSON, f"{title} as GeoJSON"),
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
    _format(("json",))
    extent = _extent()
    base = base_url()
    return _json(
        {
            "links": [link(f"{base}/collections", "self", JSON, "The feature collections")],
            "collections": [_collection_doc(cid, extent) for cid in COLLECTIONS],
        }
    )


@bp.get("/collections/<cid>")
def collection(cid: str) -> Response:
    collection_id = _collection_id(cid)
    _format(("json",))
    return _json(_collection_doc(collection_id, _extent()))


def _page_members(
    query: ItemQuery, returned: int, next_after: Key | None, source: Session | Engine
) -> dict[str, Any]:
    """numberReturned, numberMatched (only when this one page is the whole result), links;
    the next link's cursor carries the data version of ``source``, which read the page."""
    base = base_url()
    cid = query.collection
    links = [
        link(this_url(keep_cursor=True), "self", GEOJSON, "This page"),
        link(f"{base}/collections/{cid}", "collection", JSON, TITLES[cid][0]),
    ]
    members: dict[str, Any] = {"numberReturned": returned}
    if next_after is not None:
        cursor = query.cursor_after(next_after, page_version(source, query.version))
        links.append(link(this_url(cursor), "next", GEOJSON, "Next page"))
    elif query.after is None:
        members["numberMatched"] = returned  # the whole result is this first page
    members["timeStamp"] = format_timestamp(datetime.now(UTC))
    members["links"] = links
    return members


@bp.get("/collections/<cid>/items")
def items(cid: str) -> Response:
    """A page of Features: bbox, datetime, property filters, keyset ``cursor``, ``limit``."""
    collection_id = _collection_id(cid)
    _format(("json", "geojson"))
    query = item_query(collection_id, extra=ITEM_PARAMS, limit=ITEMS_LIMIT)
    limit = query.limit or ITEMS_LIMIT.page_size(None)
    if limit > STREAM_ABOVE:
        # One row beyond the page tells whether a next page exists.
        state: dict[str, bool] = {}
        engine = read_engine(query.version)
        rows = primed(iter_feature_batches(engine, replace(query, limit=limit + 1)))
        batches = capped(rows, limit, state)

        def tail(count: int, last: Key | None) -> dict[str, Any]:
            return _page_members(query, count, last if state.get("more") else None, engine)

        return streamed(feature_collection_chunks(batches, tail), GEOJSON)
    session = read_session(query.version)
    page = fetch_page(session, query)
    members = json.dumps(_page_members(query, page.returned, page.next_after, session))
    head = '{"type":"FeatureCollection","features":['
    return Response(head + page.features + "]," + members[1:], mimetype=GEOJSON)


@bp.get("/collections/<cid>/items/<item_id>")
def item(cid: str, item_id: str) -> Response:
    """One Feature by id; 404 for an unknown collection, a malformed or an unknown id."""
    collection_id = _collection_id(cid)
    _format(("json", "geojson"))
    parsed = parse_uuid(item_id)
    feature = None if parsed is None else get_feature(read_session(), collection_id, parsed)
    if parsed is None or feature is None:
        raise NotFoundError(f"there is no {collection_id[:-1]} {item_id!r}")
    base = base_url()
    links = [
        link(f"{base}/collections/{cid}/items/{parsed}", "self", GEOJSON, "This feature"),
        link(f"{base}/collections/{cid}", "collection", JSON, TITLES[collection_id][0]),
    ]
    return Response(feature[:-1] + ',"links":' + json.dumps(links) + "}", mimetype=GEOJSON)
