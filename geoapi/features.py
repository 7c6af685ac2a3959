"""OGC API - Features (Part 1 Core, GeoJSON, OpenAPI 3.0): landing page, conformance,
collections ``sequences`` and ``photos``, their items (bbox, datetime, filters, keyset paging)
and single items.

Items pages are built in one SQL round trip; a ``limit`` above STREAM_ABOVE is streamed from a
server-side cursor instead. ``limit`` above MAX_LIMIT is clamped to it (as the standard asks);
unknown query parameters are a 400 naming them (``f`` is accepted everywhere).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, json, request
from markupsafe import escape

from geoapi.db import get_engine, get_session
from geoapi.errors import NotFoundError
from geoapi.exports import (
    capped,
    feature_collection_chunks,
    primed,
    streamed,
    transport_types,
)
from geoapi.feature_store import (
    COLLECTIONS,
    CollectionId,
    Extent,
    ItemQuery,
    Key,
    data_extent,
    data_version,
    fetch_page,
    get_feature,
    iter_feature_batches,
    parse_item_query,
)
from geoapi.filters import QueryArgs
from geoapi.geo import CRS84, DEFAULT_LIMIT, MAX_LIMIT, bad_parameter

bp = Blueprint("features", __name__)

GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"
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
    """The public root (GEOAPI_PUBLIC_URL when set, else the request's), without a final '/'."""
    public: str = current_app.config["GEOAPI"].public_url
    return (public or request.url_root).rstrip("/")


def link(href: str, rel: str, media_type: str, title: str | None = None) -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": media_type}
    if title:
        out["title"] = title
    return out


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
    session = get_session()
    version = data_version(session)
    cached = current_app.extensions.get("geoapi.features.extent")
    if cached is not None and cached[0] == version:
        extent: Extent = cached[1]
        return extent
    extent = data_extent(session)
    current_app.extensions["geoapi.features.extent"] = (version, extent)
    return extent


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


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
            "temporal": {"interval": [[_iso(extent.start), _iso(extent.end)]], "trs": GREGORIAN},
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


def _page_url(base: str, cid: str, cursor: str | None) -> str:
    """This request's URL with ``cursor`` replaced (repeated parameters kept)."""
    pairs = [(k, v) for k, v in request.args.items(multi=True) if k != "cursor"]
    if cursor is not None:
        pairs.append(("cursor", cursor))
    query = urlencode(pairs)
    return f"{base}/collections/{cid}/items" + (f"?{query}" if query else "")


def _page_members(query: ItemQuery, returned: int, next_after: Key | None) -> dict[str, Any]:
    """numberReturned, numberMatched (only when this one page is the whole result), links."""
    base = base_url()
    cid = query.collection
    links = [
        link(_page_url(base, cid, request.args.get("cursor")), "self", GEOJSON, "This page"),
        link(f"{base}/collections/{cid}", "collection", JSON, TITLES[cid][0]),
    ]
    members: dict[str, Any] = {"numberReturned": returned}
    if next_after is not None:
        url = _page_url(base, cid, query.cursor_after(next_after))
        links.append(link(url, "next", GEOJSON, "Next page"))
    elif query.after is None:
        members["numberMatched"] = returned  # the whole result is this first page
    members["timeStamp"] = _iso(datetime.now(UTC))
    members["links"] = links
    return members


@bp.get("/collections/<cid>/items")
def items(cid: str) -> Response:
    """A page of Features: bbox, datetime, property filters, keyset ``cursor``, ``limit``."""
    collection_id = _collection_id(cid)
    _format(("json", "geojson"))
    query = parse_item_query(
        cast(QueryArgs, request.args),
        collection_id,
        transport_types(),
        names=list(request.args.keys()),
        extra=ITEM_PARAMS,
        max_limit=MAX_LIMIT,
        default_limit=DEFAULT_LIMIT,
    )
    limit = query.limit or DEFAULT_LIMIT
    head = '{"type":"FeatureCollection","features":['
    if limit > STREAM_ABOVE:
        # One row beyond the page tells whether a next page exists.
        state: dict[str, bool] = {}
        rows = primed(iter_feature_batches(get_engine(), replace(query, limit=limit + 1)))
        batches = capped(rows, limit, state)

        def tail(count: int, last: Key | None) -> dict[str, Any]:
            return _page_members(query, count, last if state.get("more") else None)

        return streamed(feature_collection_chunks(batches, head, tail), GEOJSON, None)
    page = fetch_page(get_session(), query)
    members = json.dumps(_page_members(query, page.returned, page.next_after))
    return Response(head + page.features + "]," + members[1:], mimetype=GEOJSON)


@bp.get("/collections/<cid>/items/<item_id>")
def item(cid: str, item_id: str) -> Response:
    """One Feature by id; 404 for an unknown collection, a malformed or an unknown id."""
    collection_id = _collection_id(cid)
    _format(("json", "geojson"))
    try:
        parsed = uuid.UUID(item_id)
    except ValueError:
        raise NotFoundError(f"there is no {collection_id[:-1]} {item_id!r}") from None
    feature = get_feature(get_session(), collection_id, parsed)
    if feature is None:
        raise NotFoundError(f"there is no {collection_id[:-1]} {item_id!r}")
    base = base_url()
    links = [
        link(f"{base}/collections/{cid}/items/{parsed}", "self", GEOJSON, "This feature"),
        link(f"{base}/collections/{cid}", "collection", JSON, TITLES[collection_id][0]),
    ]
    return Response(feature[:-1] + ',"links":' + json.dumps(links) + "}", mimetype=GEOJSON)
