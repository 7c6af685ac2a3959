"""``GET /collections/{cid}/queryables``: what a CQL2 ``filter`` and ``sortby`` may name, as
a JSON Schema (``application/schema+json``, OGC API Features Part 3), or as HTML."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from geoapi.api._http import (
    HTML,
    JSON,
    SCHEMA_JSON,
    base_url,
    collection_id,
    format_links,
    json_response,
    link_header,
    negotiate,
)
from geoapi.queryables import queryables_schema

bp = Blueprint("queryables", __name__)
FORMATS = (("json", SCHEMA_JSON, "As JSON Schema"), ("html", HTML, "As HTML"))


@bp.get("/collections/<cid>/queryables")
def queryables(cid: str) -> Response:
    """The queryables of a collection, with their types (JSON Schema 2020-12)."""
    collection = collection_id(cid)
    fmt = negotiate(("json", "html"))
    schema = queryables_schema(collection, f"{base_url()}/collections/{collection}/queryables")
    links = format_links(fmt, FORMATS)
    headers = {"Link": link_header(links)}
    if fmt == "html":
        page = render_template("ogc_queryables.html", schema=schema, links=links)
        return Response(page, mimetype=HTML, headers=headers)
    # application/schema+json, unless the client asks for plain JSON (GDAL before 3.7 does)
    best = request.accept_mimetypes.best_match([SCHEMA_JSON, JSON], default=SCHEMA_JSON)
    media_type = (
        JSON if best == JSON and request.accept_mimetypes[SCHEMA_JSON] == 0 else SCHEMA_JSON
    )
    response = json_response({**schema, "links": links}, mimetype=media_type)
    response.headers.update(headers)
    return response
