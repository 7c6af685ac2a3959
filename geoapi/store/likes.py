"""Likes: any user but the owner marks a sequence liked or not.

Idempotent: liking twice counts once (``ON CONFLICT DO NOTHING``), unliking what was never
liked changes nothing. ``sequences.like_count`` is kept exact by the ``likes_count`` trigger,
which updates the sequence row under its row lock, so concurrent likes never lose a count.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geoapi.errors import ForbiddenError, NotFoundError
from geoapi.store import transaction
from geoapi.store.models import Like, Sequence


def set_like(session: Session, sequence_id: uuid.UUID, user_id: uuid.UUID, liked: bool) -> int:
    """Set ``user_id``'s like on a sequence in one transaction; return the new like count.

    404 when the user cannot see the sequence (unknown, or someone else's draft); 403 for the
    owner, who may not like their own sequence.
    """
    with transaction(session):
        row = session.execute(
            select(Sequence.owner_id, Sequence.status).where(Sequence.id == sequence_id)
        ).one_or_none()
        if row is None or (row.status != "published" and row.owner_id != user_id):
            raise NotFoundError(f"no sequence with id {sequence_id}")
        if row.owner_id == user_id:
            raise ForbiddenError("the owner of a sequence cannot like it")
        try:
            if liked:
                session.execute(
                    insert(Like)
                    .values(user_id=user_id, sequence_id=sequence_id)
                    .on_conflict_do_nothing(index_elements=["user_id", "sequence_id"])
                )
            else:
                session.execute(
                    delete(Like).where(Like.user_id == user_id, Like.sequence_id == sequence_id)
                )
        except IntegrityError:
            # The sequence was deleted between our read and the insert.
            raise NotFoundError(f"no sequence with id {sequence_id}") from None
        count = session.execute(
            select(Sequence.like_count).where(Sequence.id == sequence_id)
        ).scalar_one_or_none()
        if count is None:
            raise NotFoundError(f"no sequence with id {sequence_id}")
        return int(count)
