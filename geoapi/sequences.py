"""``/api/v1/sequences``: read, list, edit, delete and export sequences (thin views over
``geoapi.sequence_store``), plus the request helpers the likes and tours views share."""

from __future__ import annotations

import json
from typing import Any, cast
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, request

from geoapi.auth import optional_user, require_user
from geoapi.db import get_session
from geoapi.errors import ConflictError, ValidationError, field_error
from geoapi.filters import QueryArgs, parse_filters
from geoapi.sequence_store import (
    delete_sequence,
    list_sequences,
    lock_owned_sequence,
    parse_limit,
    parse_sequence_changes,
    parse_sort,
    parse_uuid,
    reject_nul,
    require_sequence,
    sequence_feature,
    update_sequence,
)
from geoapi.taxonomy import load_transport_types
from geoapi.v3export import (
    GEOJSON_MEDIA_TYPE,
    attachment_name,
    export_features,
    feature_collection,
)

bp = Blueprint("sequences", __name__, url_prefix="/api/v1/sequences")


# Shared request helpers -------------------------------------------------------------------------


def json_body() -> Any:
    """The request body as JSON; 422 naming ``body`` when it is not JSON."""
    try:
        return json.loads(request.get_data(cache=False) or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ValidationError(
            "the request body is not valid JSON", errors=[field_error("body", "invalid JSON")]
        ) from None


def json_response(payload: Any, status: int = 200, mimetype: str = "application/json") -> Response:
    return Response(json.dumps(payload), status=status, mimetype=mimetype)


def geojson_response(payload: Any, status: int = 200) -> Response:
    return json_response(payload, status, GEOJSON_MEDIA_TYPE)


def absolute_url(path: str) -> str:
    """``path`` under the configured public URL (behind a proxy), else the request's host."""
    base = current_app.config["GEOAPI"].public_url or request.host_url
    return base.rstrip("/") + path


def page_links(
    next_cursor: str | None, media_type: str = "application/json"
) -> list[dict[str, str]]:
    """``self`` and, when there is more, ``next`` (the same query with the new cursor)."""
    pairs = [(k, v) for k, v in request.args.items(multi=True) if k != "cursor"]
    query = request.query_string.decode("latin-1")
    self_href = absolute_url(f"{request.path}?{query}" if query else request.path)
    links = [{"rel": "self", "type": media_type, "href": self_href}]
    if next_cursor is not None:
        next_query = urlencode([*pairs, ("cursor", next_cursor)])
        links.append(
            {
                "rel": "next",
                "type": media_type,
                "href": absolute_url(f"{request.path}?{next_query}"),
            }
        )
    return links


# Views ----------------------------------------------------------------------------------------


@bp.get("")
def list_view() -> Response:
    """Published sequences, filtered, newest captured first (or most liked), keyset-paged."""
    user = optional_user()
    reject_nul(request.args.items(multi=True))
    session = get_session()
    filters = parse_filters(cast(QueryArgs, request.args), load_transport_types(session))
    sort = parse_sort(request.args.get("sort"))
    limit = parse_limit(request.args.get("limit"))
    page = list_sequences(
        session,
        filters,
        sort=sort,
        limit=limit,
        cursor=request.args.get("cursor"),
        viewer_id=user.id if user else None,
    )
    features = [sequence_feature(row, with_liked=user is not None) for row in page.rows]
    body = {
        "type": "FeatureCollection",
        "features": features,
        "numberReturned": len(features),
        "next_cursor": page.next_cursor,
        "links": page_links(page.next_cursor, GEOJSON_MEDIA_TYPE),
    }
    return geojson_response(body)


@bp.get("/<sequence_id>")
def get_view(sequence_id: str) -> Response:
    """One sequence as a Feature; drafts are 404 to everyone but their owner."""
    user = optional_user()
    seq_id = parse_uuid(sequence_id, "sequence")
    row = require_sequence(get_session(), seq_id, user.id if user else None)
    return geojson_response(sequence_feature(row, with_liked=user is not None))


@bp.patch("/<sequence_id>")
def patch_view(sequence_id: str) -> Response:
    """The owner edits title, description, transport_type (leaf name) and tags."""
    user = require_user()
    seq_id = parse_uuid(sequence_id, "sequence")
    session = get_session()
    lock_owned_sequence(session, seq_id, user.id)
    changes = parse_sequence_changes(json_body(), load_transport_types(session))
    update_sequence(session, seq_id, changes)
    row = require_sequence(session, seq_id, user.id)
    session.commit()
    return geojson_response(sequence_feature(row, with_liked=True))


@bp.delete("/<sequence_id>")
def delete_view(sequence_id: str) -> Response:
    """The owner deletes a sequence with its photos, likes and tour memberships."""
    user = require_user()
    seq_id = parse_uuid(sequence_id, "sequence")
    session = get_session()
    delete_sequence(session, seq_id, user.id)
    session.commit()
    return Response(status=204)


@bp.get("/<sequence_id>/export.geojson")
def export_view(sequence_id: str) -> Response:
    """The sequence in the Mapillary v3 shape plus geoapi metadata; re-imports to the same."""
    user = optional_user()
    seq_id = parse_uuid(sequence_id, "sequence")
    session = get_session()
    row = require_sequence(session, seq_id, user.id if user else None)
    if row.status != "published":
        raise ConflictError("a draft sequence has no photos to export yet")
    response = geojson_response(feature_collection(export_features(session, [row])))
    response.headers["Content-Disposition"] = attachment_name("sequence", seq_id)
    return response
