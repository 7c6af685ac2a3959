"""``/api/v1/tours``: create, read, list, edit, delete and export tours (thin views over
``geoapi.tour_store``). Anyone may read a tour; only its owner changes it."""

from __future__ import annotations

from flask import Blueprint, Response, request

from geoapi.auth import optional_user, require_user
from geoapi.db import get_session
from geoapi.errors import BadRequestError, field_error
from geoapi.sequence_store import parse_limit, parse_uuid, reject_nul
from geoapi.sequences import geojson_response, json_body, json_response, page_links
from geoapi.tour_store import (
    check_owned_tour,
    create_tour,
    delete_tour,
    get_tour,
    list_tours,
    lock_owned_tour,
    parse_sequence_list_body,
    parse_tour_body,
    set_tour_sequences,
    tour_export_rows,
    update_tour,
)
from geoapi.v3export import attachment_name, export_features, feature_collection

bp = Blueprint("tours", __name__, url_prefix="/api/v1/tours")
MAX_USERNAME = 200


@bp.post("")
def create_view() -> Response:
    """Create a tour for the caller: title, description, tags, optional ordered sequence_ids."""
    user = require_user()
    changes = parse_tour_body(json_body(), creating=True)
    session = get_session()
    tour_id = create_tour(session, user.id, changes)
    tour = get_tour(session, tour_id, user.id)
    session.commit()
    response = json_response(tour, 201)
    response.headers["Location"] = f"/api/v1/tours/{tour_id}"
    return response


@bp.get("")
def list_view() -> Response:
    """Tours, newest first, optionally one user's (``?username=``), keyset-paged."""
    user = optional_user()
    reject_nul(request.args.items(multi=True))
    username = request.args.get("username") or None
    if username is not None and len(username) > MAX_USERNAME:
        raise BadRequestError(
            "invalid username", errors=[field_error("username", "longer than 200 characters")]
        )
    page = list_tours(
        get_session(),
        username=username,
        limit=parse_limit(request.args.get("limit")),
        cursor=request.args.get("cursor"),
        viewer_id=user.id if user else None,
    )
    body = {
        "tours": page.tours,
        "numberReturned": len(page.tours),
        "next_cursor": page.next_cursor,
        "links": page_links(page.next_cursor),
    }
    return json_response(body)


@bp.get("/<tour_id>")
def get_view(tour_id: str) -> Response:
    """A tour with its ordered sequences, total length (m) and photo count."""
    user = optional_user()
    return json_response(
        get_tour(get_session(), parse_uuid(tour_id, "tour"), user.id if user else None)
    )


@bp.patch("/<tour_id>")
def patch_view(tour_id: str) -> Response:
    """The owner edits title, description, tags (and optionally the sequence list)."""
    user = require_user()
    tid = parse_uuid(tour_id, "tour")
    session = get_session()
    check_owned_tour(session, tid, user.id)
    changes = parse_tour_body(json_body(), creating=False)
    update_tour(session, tid, user.id, changes)
    tour = get_tour(session, tid, user.id)
    session.commit()
    return json_response(tour)


@bp.delete("/<tour_id>")
def delete_view(tour_id: str) -> Response:
    """The owner deletes a tour; its sequences stay."""
    user = require_user()
    tid = parse_uuid(tour_id, "tour")
    session = get_session()
    lock_owned_tour(session, tid, user.id)
    delete_tour(session, tid)
    session.commit()
    return Response(status=204)


@bp.put("/<tour_id>/sequences")
def put_sequences_view(tour_id: str) -> Response:
    """Set the tour's ordered sequences; all must be the owner's; all or nothing."""
    user = require_user()
    tid = parse_uuid(tour_id, "tour")
    session = get_session()
    check_owned_tour(session, tid, user.id)
    set_tour_sequences(session, tid, user.id, parse_sequence_list_body(json_body()))
    tour = get_tour(session, tid, user.id)
    session.commit()
    return json_response(tour)


@bp.get("/<tour_id>/export.geojson")
def export_view(tour_id: str) -> Response:
    """The tour's published sequences, in tour order, in the Mapillary v3 shape + metadata."""
    optional_user()
    tid = parse_uuid(tour_id, "tour")
    session = get_session()
    get_tour(session, tid, None)  # 404 for an unknown tour
    features = export_features(session, tour_export_rows(session, tid))
    response = geojson_response(feature_collection(features))
    response.headers["Content-Disposition"] = attachment_name("tour", tid)
    return response
