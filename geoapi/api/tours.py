"""``/api/v1/tours``: create, read, list, edit, delete and export tours (thin views over
``geoapi.store.tours``). Anyone may read a tour; only its owner changes it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request, url_for

from geoapi.api._http import (
    geojson_response,
    json_body,
    json_response,
    page_links,
    path_id,
    reject_nul,
)
from geoapi.auth import optional_user, require_user
from geoapi.bodies import parse_sequence_list, parse_tour
from geoapi.db import get_session, read_session
from geoapi.errors import bad_parameter
from geoapi.paging import LIST_LIMIT
from geoapi.store.sequences import export_features
from geoapi.store.tours import (
    TourRecord,
    check_tour_owner,
    create_tour,
    delete_tour,
    get_tour,
    list_tours,
    set_tour_sequences,
    tour_export_rows,
    update_tour,
)
from geoapi.times import format_timestamp
from geoapi.v3export import attachment_name, feature_collection

bp = Blueprint("tours", __name__, url_prefix="/api/v1/tours")
MAX_USERNAME = 200


def tour_summary(row: Any) -> dict[str, Any]:
    """A ``tour_select.sql`` row → JSON (lengths in metres)."""
    return {
        "id": str(row.id),
        "title": row.title,
        "description": row.description,
        "tags": list(row.tags),
        "username": row.username,
        "sequence_count": row.sequence_count,
        "total_length_m": round(row.total_length_m, 2),
        "total_photo_count": row.total_photo_count,
        "created_at": format_timestamp(row.created_at),
        "updated_at": format_timestamp(row.updated_at),
    }


def tour_json(tour: TourRecord) -> dict[str, Any]:
    """A tour with its ordered sequences (id, title, photo_count, length_m) and totals."""
    body = tour_summary(tour.row)
    body["sequences"] = [
        {
            "id": str(s.id),
            "position": position,
            "title": s.title,
            "photo_count": s.photo_count,
            "length_m": round(s.length_m, 2),
            "captured_at": format_timestamp(s.captured_at),
            "status": s.status,
        }
        for position, s in enumerate(tour.sequences)
    ]
    return body


@bp.post("")
def create_view() -> Response:
    """Create a tour for the caller: title, description, tags, optional ordered sequence_ids."""
    user = require_user()
    changes = parse_tour(json_body(), creating=True)
    tour = create_tour(get_session(), user.id, changes)
    response = json_response(tour_json(tour), 201)
    response.headers["Location"] = url_for(".get_view", tour_id=tour.row.id)
    return response


@bp.get("")
def list_view() -> Response:
    """Tours, newest first, optionally one user's (``?username=``), keyset-paged."""
    user = optional_user()
    reject_nul(request.args.items(multi=True))
    username = request.args.get("username") or None
    if username is not None and len(username) > MAX_USERNAME:
        raise bad_parameter("username", f"longer than {MAX_USERNAME} characters")
    page = list_tours(
        read_session(),
        username=username,
        limit=LIST_LIMIT.page_size(request.args.get("limit")),
        cursor=request.args.get("cursor"),
        viewer_id=user.id if user else None,
    )
    tours = [tour_summary(row) for row in page.rows]
    body = {
        "tours": tours,
        "numberReturned": len(tours),
        "next_cursor": page.next_cursor,
        "links": page_links(page.next_cursor),
    }
    return json_response(body)


@bp.get("/<tour_id>")
def get_view(tour_id: str) -> Response:
    """A tour with its ordered sequences, total length (m) and photo count."""
    user = optional_user()
    tour = get_tour(read_session(), path_id(tour_id, "tour"), user.id if user else None)
    return json_response(tour_json(tour))


@bp.patch("/<tour_id>")
def patch_view(tour_id: str) -> Response:
    """The owner edits title, description, tags (and optionally the sequence list)."""
    user = require_user()
    tid = path_id(tour_id, "tour")
    session = get_session()
    check_tour_owner(session, tid, user.id)
    changes = parse_tour(json_body(), creating=False)
    return json_response(tour_json(update_tour(session, tid, user.id, changes)))


@bp.delete("/<tour_id>")
def delete_view(tour_id: str) -> Response:
    """The owner deletes a tour; its sequences stay."""
    user = require_user()
    delete_tour(get_session(), path_id(tour_id, "tour"), user.id)
    return Response(status=204)


@bp.put("/<tour_id>/sequences")
def put_sequences_view(tour_id: str) -> Response:
    """Set the tour's ordered sequences; all must be the owner's; all or nothing."""
    user = require_user()
    tid = path_id(tour_id, "tour")
    session = get_session()
    check_tour_owner(session, tid, user.id)
    sequence_ids = parse_sequence_list(json_body())
    return json_response(tour_json(set_tour_sequences(session, tid, user.id, sequence_ids)))


@bp.get("/<tour_id>/export.geojson")
def export_view(tour_id: str) -> Response:
    """The tour's published sequences, in tour order, in the Mapillary v3 shape + metadata."""
    optional_user()
    tid = path_id(tour_id, "tour")
    session = read_session()
    get_tour(session, tid, None)  # 404 for an unknown tour
    features = export_features(session, tour_export_rows(session, tid))
    response = geojson_response(feature_collection(features))
    response.headers["Content-Disposition"] = attachment_name("tour", tid)
    return response
