"""OGC API - Features items: ``/collections/{cid}/items`` and ``/collections/{cid}/items/{id}``.

Items take bbox (4 or 6 numbers, ``bbox-crs``), datetime, the property filters, a CQL2
``filter`` (``filter-lang``, ``filter-crs``), ``sortby``, ``properties``, ``crs`` (answered with
``Content-Crs``), ``limit`` (``geoapi.paging.ITEMS_LIMIT``; larger values are served as its
maximum, as the standard asks) and a keyset ``cursor``. Pages are built in one SQL round trip;
a ``limit`` above STREAM_ABOVE is streamed from a server-side cursor instead. ``numberMatched``
is exact whenever the count fits ``count_budget_ms`` (cached per query and data version).
Unknown query parameters are a 400 naming them. Both also render as HTML with a small map.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from geoapi.api._http import (
    GEOJSON,
    HTML,
    JSON,
    SCHEMA_JSON,
    base_url,
    capped,
    check_known,
    collection_id,
    feature_collection_chunks,
    format_links,
    item_query,
    link,
    link_header,
    negotiate,
    primed,
    settings,
    streamed,
    this_url,
)
from geoapi.cql2 import filter_lang, parse_filter
from geoapi.crs import parse_crs
from geoapi.db import read_engine, read_session
from geoapi.errors import NotFoundError
from geoapi.fields import parse_uuid
from geoapi.ogc import REL_QUERYABLES, TITLES
from geoapi.paging import ITEMS_LIMIT
from geoapi.queryables import parse_properties, parse_sortby
from geoapi.store.counts import MISSING, CountCache, count_matched
from geoapi.store.cql import compile_filter
from geoapi.store.features import ItemQuery, Key, fetch_page, get_feature, iter_feature_batches
from geoapi.store.versions import data_version, page_version
from geoapi.times import format_timestamp

bp = Blueprint("items", __name__)

STREAM_ABOVE = 1000
ITEM_PARAMS = frozenset(
    {"f", "limit", "cursor", "crs", "filter", "filter-lang", "filter-crs", "sortby", "properties"}
)
FORMATS = (("json", GEOJSON, "As GeoJSON"), ("html", HTML, "As HTML"))
COUNTS = "geoapi.features.counts"


def _query(collection: Any) -> ItemQuery:
    """Every parameter of an items request, validated (400 naming the first bad one)."""
    query = item_query(collection, extra=ITEM_PARAMS, limit=ITEMS_LIMIT)
    args = request.args
    lang = filter_lang(args.get("filter-lang"))
    filter_crs = parse_crs(args.get("filter-crs"), "filter-crs")
    cql = None
    if args.get("filter"):
        cql = compile_filter(parse_filter(args["filter"], lang), collection, filter_crs)
    query = replace(
        query,
        cql=cql,
        sort=parse_sortby(args.get("sortby"), collection),
        crs=parse_crs(args.get("crs"), "crs"),
        properties=parse_properties(args.get("properties"), collection),
    )
    cursor = args.get("cursor")
    return query.with_cursor(cursor) if cursor is not None else query


def _counts() -> CountCache:
    cache: CountCache | None = current_app.extensions.get(COUNTS)
    if cache is None:
        cache = current_app.extensions.setdefault(COUNTS, CountCache())
    return cache


def number_matched(query: ItemQuery) -> int | None:
    """The exact count when it fits the budget (cached per data version), else None."""
    config = settings()
    budget = min(config.count_budget_ms, config.statement_timeout_ms)
    if budget <= 0:
        return None
    cacheable = query.cql is None or query.cql.versioned
    session = read_session(query.version)
    version = data_version(session)
    key = query.count_key()
    if cacheable:
        hit = _counts().get(version, key)
        if hit is not MISSING:
            return hit  # type: ignore[return-value]
    count = count_matched(read_engine(query.version), query, budget)
    if cacheable and data_version(session) == version:  # else a write landed: do not keep it
        _counts().put(version, key, count)
    return count


def _members(
    query: ItemQuery,
    returned: int,
    next_after: Key | None,
    fmt: str,
    source: Session | Engine,
) -> dict[str, Any]:
    """numberReturned, numberMatched (when known within the budget), timeStamp, links; the
    next link's cursor carries the data version of ``source``, which read the page."""
    cid = query.collection
    links = [
        *format_links(fmt, FORMATS),
        link(f"{base_url()}/collections/{cid}", "collection", JSON, TITLES[cid][0]),
        link(f"{base_url()}/collections/{cid}/queryables", REL_QUERYABLES, SCHEMA_JSON),
    ]
    members: dict[str, Any] = {"numberReturned": returned}
    if next_after is not None:
        cursor = query.cursor_after(next_after, page_version(source, query.version))
        links.append(link(this_url(cursor), "next", GEOJSON, "Next page"))
    if next_after is None and query.after is None:
        members["numberMatched"] = returned  # the whole result is this first page
    else:
        matched = number_matched(query)
        if matched is not None:
            members["numberMatched"] = matched
    members["timeStamp"] = format_timestamp(datetime.now(UTC))
    members["links"] = links
    return members


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element: no '<' can close it (\u003c is the same JSON)."""
    return json.dumps(value).replace("<", "\\u003c")


def _headers(query: ItemQuery, links: list[dict[str, str]]) -> dict[str, str]:
    return {"Content-Crs": query.crs.header, "Link": link_header(links)}


@bp.get("/collections/<cid>/items")
def items(cid: str) -> Response:
    """A page of Features (GeoJSON or HTML)."""
    collection = collection_id(cid)
    fmt = negotiate(("json", "geojson", "html"))
    query = _query(collection)
    limit = query.limit or ITEMS_LIMIT.page_size(None)
    if limit > STREAM_ABOVE and fmt == "json":
        # One row beyond the page tells whether a next page exists.
        state: dict[str, bool] = {}
        engine = read_engine(query.version)
        rows = primed(iter_feature_batches(engine, replace(query, limit=limit + 1)))
        batches = capped(rows, limit, state)

        def tail(count: int, last: Key | None) -> dict[str, Any]:
            return _members(query, count, last if state.get("more") else None, fmt, engine)

        response = streamed(feature_collection_chunks(batches, tail), GEOJSON)
        response.headers.update(_headers(query, format_links(fmt, FORMATS)))
        return response
    session = read_session(query.version)
    page = fetch_page(session, replace(query, limit=min(limit, STREAM_ABOVE * 10)))
    members = _members(query, page.returned, page.next_after, fmt, session)
    headers = _headers(query, members["links"])
    if fmt == "html":
        features = json.loads("[" + page.features + "]")
        html = render_template(
            "ogc_items.html",
            collection=collection,
            title=TITLES[collection][0],
            features=features,
            members=members,
            geojson=_script_json({"type": "FeatureCollection", "features": features}),
            projected=query.crs.srid != 4326 or query.crs.lat_first,
        )
        return Response(html, mimetype=HTML, headers=headers)
    head = '{"type":"FeatureCollection","features":['
    body = head + page.features + "]," + json.dumps(members)[1:]
    return Response(body, mimetype=GEOJSON, headers=headers)


@bp.get("/collections/<cid>/items/<item_id>")
def item(cid: str, item_id: str) -> Response:
    """One Feature by id; 404 for an unknown collection, a malformed or an unknown id."""
    collection = collection_id(cid)
    fmt = negotiate(("json", "geojson", "html"))
    check_known(request.args.keys(), frozenset({"f", "crs"}))
    crs = parse_crs(request.args.get("crs"), "crs")
    parsed = parse_uuid(item_id)
    feature = None if parsed is None else get_feature(read_session(), collection, parsed, crs)
    if parsed is None or feature is None:
        raise NotFoundError(f"there is no {collection[:-1]} {item_id[:64]!r}")
    links = [
        *format_links(fmt, FORMATS),
        link(f"{base_url()}/collections/{cid}", "collection", JSON, TITLES[collection][0]),
    ]
    headers = {"Content-Crs": crs.header, "Link": link_header(links)}
    if fmt == "html":
        parsed_feature = json.loads(feature)
        html = render_template(
            "ogc_item.html",
            collection=collection,
            title=TITLES[collection][0],
            feature=parsed_feature,
            links=links,
            geojson=_script_json(parsed_feature),
            projected=crs.srid != 4326 or crs.lat_first,
        )
        return Response(html, mimetype=HTML, headers=headers)
    body = feature[:-1] + ',"links":' + json.dumps(links) + "}"
    return Response(body, mimetype=GEOJSON, headers=headers)
