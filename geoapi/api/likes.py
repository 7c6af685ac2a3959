"""``PUT /api/v1/sequences/{id}/like``: any user but the owner marks a sequence liked or not
(``geoapi.store.likes``: idempotent, exact counts under concurrency)."""

from __future__ import annotations

from flask import Blueprint, Response

from geoapi.api._http import json_body, json_response, path_id
from geoapi.auth import require_user
from geoapi.bodies import parse_like
from geoapi.db import get_session
from geoapi.store.likes import set_like

bp = Blueprint("likes", __name__, url_prefix="/api/v1/sequences")


@bp.put("/<sequence_id>/like")
def like_view(sequence_id: str) -> Response:
    """Body ``{"liked": true|false}`` → ``{"liked", "like_count"}``."""
    user = require_user()
    seq_id = path_id(sequence_id, "sequence")
    liked = parse_like(json_body())
    count = set_like(get_session(), seq_id, user.id, liked)
    return json_response({"liked": liked, "like_count": count})
