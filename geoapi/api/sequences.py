"""``/api/v1/sequences``: read, list, edit, delete and export sequences (thin views over
``geoapi.store.sequences``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from geoapi.api._http import (
    GEOJSON,
    geojson_response,
    json_body,
    page_links,
    path_id,
    reject_nul,
    request_filters,
    transport_types,
)
from geoapi.auth import optional_user, require_user
from geoapi.bodies import parse_sequence_changes
from geoapi.db import get_session, read_session
from geoapi.errors import ConflictError, bad_parameter
from geoapi.geo import parse_bbox
from geoapi.paging import LIST_LIMIT, cursor_version
from geoapi.store.sequences import (
    SORTS,
    check_sequence_owner,
    delete_sequence,
    export_features,
    list_sequences,
    require_sequence,
    update_sequence,
)
from geoapi.times import format_timestamp
from geoapi.v3export import attachment_name, feature_collection

bp = Blueprint("sequences", __name__, url_prefix="/api/v1/sequences")


def sequence_feature(row: Any, *, with_liked: bool) -> dict[str, Any]:
    """A ``sequence_select.sql`` row → the API's GeoJSON Feature (geometry lon/lat, SRID 4326).

    ``transport_type`` is the leaf name and ``transport_type_parent`` its category;
    ``created_at`` is when the sequence was uploaded to Mapillary, ``imported_at`` when it came
    into geoapi.
    """
    properties: dict[str, Any] = {
        "title": row.title,
        "description": row.description,
        "transport_type": row.transport_type,
        "transport_type_parent": row.transport_type_parent,
        "tags": list(row.tags),
        "camera_make": row.camera_make,
        "captured_at": format_timestamp(row.captured_at),
        "created_at": format_timestamp(row.mapillary_created_at),
        "imported_at": format_timestamp(row.created_at),
        "updated_at": format_timestamp(row.updated_at),
        "mapillary_key": row.mapillary_key,
        "mapillary_user_key": row.mapillary_user_key,
        "mapillary_username": row.mapillary_username,
        "username": row.username,
        "status": row.status,
        "pano": row.pano,
        "photo_count": row.photo_count,
        "length_m": round(row.length_m, 2),
        "like_count": row.like_count,
    }
    if with_liked:
        properties["liked_by_me"] = row.liked_by_me
    properties["tour_ids"] = list(row.tour_ids)
    return {
        "type": "Feature",
        "id": str(row.id),
        "geometry": row.geometry,
        "properties": properties,
    }


def _sort() -> str:
    raw = request.args.get("sort")
    if raw is None or raw == "":
        return "newest"
    if raw not in SORTS:
        raise bad_parameter("sort", "sort must be one of " + ", ".join(SORTS))
    return raw


@bp.get("")
def list_view() -> Response:
    """Published sequences, filtered, newest captured first (or most liked), keyset-paged."""
    user = optional_user()
    reject_nul(request.args.items(multi=True))
    filters = request_filters()
    bbox = parse_bbox(request.args.get("bbox"), request.args.get("bbox-crs"))
    sort = _sort()
    limit = LIST_LIMIT.page_size(request.args.get("limit"))
    cursor = request.args.get("cursor")
    page = list_sequences(
        read_session(cursor_version(cursor)),
        filters,
        bbox=bbox,
        sort=sort,
        limit=limit,
        cursor=cursor,
        viewer_id=user.id if user else None,
    )
    features = [sequence_feature(row, with_liked=user is not None) for row in page.rows]
    body = {
        "type": "FeatureCollection",
        "features": features,
        "numberReturned": len(features),
        "next_cursor": page.next_cursor,
        "links": page_links(page.next_cursor, GEOJSON),
    }
    return geojson_response(body)


@bp.get("/<sequence_id>")
def get_view(sequence_id: str) -> Response:
    """One sequence as a Feature; drafts are 404 to everyone but their owner."""
    user = optional_user()
    seq_id = path_id(sequence_id, "sequence")
    row = require_sequence(read_session(), seq_id, user.id if user else None)
    return geojson_response(sequence_feature(row, with_liked=user is not None))


@bp.patch("/<sequence_id>")
def patch_view(sequence_id: str) -> Response:
    """The owner edits title, description, transport_type (leaf name) and tags."""
    user = require_user()
    seq_id = path_id(sequence_id, "sequence")
    session = get_session()
    check_sequence_owner(session, seq_id, user.id)
    changes = parse_sequence_changes(json_body(), transport_types())
    row = update_sequence(session, seq_id, user.id, changes)
    return geojson_response(sequence_feature(row, with_liked=True))


@bp.delete("/<sequence_id>")
def delete_view(sequence_id: str) -> Response:
    """The owner deletes a sequence with its photos, likes and tour memberships."""
    user = require_user()
    delete_sequence(get_session(), path_id(sequence_id, "sequence"), user.id)
    return Response(status=204)


@bp.get("/<sequence_id>/export.geojson")
def export_view(sequence_id: str) -> Response:
    """The sequence in the Mapillary v3 shape plus geoapi metadata; re-imports to the same."""
    user = optional_user()
    seq_id = path_id(sequence_id, "sequence")
    session = read_session()
    row = require_sequence(session, seq_id, user.id if user else None)
    if row.status != "published":
        raise ConflictError("a draft sequence has no photos to export yet")
    response = geojson_response(feature_collection(export_features(session, [row])))
    response.headers["Content-Disposition"] = attachment_name("sequence", seq_id)
    return response
