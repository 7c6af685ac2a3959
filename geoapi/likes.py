"""``PUT /api/v1/sequences/{id}/like``: any user but the owner marks a sequence liked or not.

Idempotent: liking twice counts once (``ON CONFLICT DO NOTHING``), unliking what was never
liked changes nothing. ``sequences.like_count`` is kept exact by the ``likes_count`` trigger,
which updates the sequence row under its row lock, so concurrent likes never lose a count.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, Response
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geoapi.auth import require_user
from geoapi.db import get_session
from geoapi.errors import ForbiddenError, NotFoundError, ValidationError, field_error
from geoapi.sequence_store import check_fields, parse_uuid
from geoapi.sequences import json_body, json_response

bp = Blueprint("likes", __name__, url_prefix="/api/v1/sequences")


def set_like(session: Session, sequence_id: uuid.UUID, user_id: uuid.UUID, liked: bool) -> int:
    """Set ``user_id``'s like on a sequence and return the sequence's like count.

    404 when the user cannot see the sequence (unknown, or someone else's draft); 403 for the
    owner, who may not like their own sequence.
    """
    row = session.execute(
        text("SELECT owner_id, status FROM sequences WHERE id = :s"), {"s": sequence_id}
    ).one_or_none()
    if row is None or (row.status != "published" and row.owner_id != user_id):
        raise NotFoundError(f"no sequence with id {sequence_id}")
    if row.owner_id == user_id:
        raise ForbiddenError("the owner of a sequence cannot like it")
    params = {"u": user_id, "s": sequence_id}
    try:
        if liked:
            session.execute(
                text(
                    "INSERT INTO likes (user_id, sequence_id) VALUES (:u, :s)"
                    " ON CONFLICT (user_id, sequence_id) DO NOTHING"
                ),
                params,
            )
        else:
            session.execute(
                text("DELETE FROM likes WHERE user_id = :u AND sequence_id = :s"), params
            )
    except IntegrityError:
        # The sequence was deleted between our read and the insert.
        raise NotFoundError(f"no sequence with id {sequence_id}") from None
    count = session.execute(
        text("SELECT like_count FROM sequences WHERE id = :s"), {"s": sequence_id}
    ).scalar_one_or_none()
    if count is None:
        raise NotFoundError(f"no sequence with id {sequence_id}")
    return int(count)


def parse_like_body(body: object) -> bool:
    """``{"liked": bool}`` exactly; 422 naming ``liked`` (or the unknown field) otherwise."""
    if not isinstance(body, dict):
        raise ValidationError(
            'the body must be {"liked": true} or {"liked": false}',
            errors=[field_error("body", "expected an object")],
        )
    problems = check_fields(body, ("liked",))
    liked = body.get("liked")
    if not isinstance(liked, bool):
        problems.append(field_error("liked", "required, and must be true or false"))
    if problems:
        raise ValidationError(
            'the body must be {"liked": true} or {"liked": false}', errors=problems
        )
    return bool(liked)


@bp.put("/<sequence_id>/like")
def like_view(sequence_id: str) -> Response:
    """Body ``{"liked": true|false}`` → ``{"liked", "like_count"}``."""
    user = require_user()
    seq_id = parse_uuid(sequence_id, "sequence")
    liked = parse_like_body(json_body())
    session = get_session()
    count = set_like(session, seq_id, user.id, liked)
    session.commit()
    return json_response({"liked": liked, "like_count": count})
