"""Desktop uploader drafts: a sequence created from metadata, filled from Mapillary later."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geoapi.errors import ConflictError
from geoapi.store import read_sql, transaction
from geoapi.store.models import Sequence
from geoapi.store.taxonomy import replace_tags
from geoapi.validation import SequenceRecord


def create_draft(
    session: Session,
    owner_id: uuid.UUID,
    *,
    title: str,
    description: str | None,
    transport_type_id: int | None,
    tags: tuple[str, ...],
    source: str,
) -> uuid.UUID:
    """Insert a draft sequence with its tags, in one transaction; its id."""
    with transaction(session):
        sequence_id: uuid.UUID = session.execute(
            text(read_sql("uploader_create_draft")),
            {
                "owner_id": owner_id,
                "title": title,
                "description": description,
                "transport_type_id": transport_type_id,
                "source": source,
            },
        ).scalar_one()
        if tags:
            replace_tags(session, "sequence", sequence_id, tags)
        return sequence_id


def get_draft_target(session: Session, sequence_id: uuid.UUID) -> Any:
    """``owner_id``, ``status`` and ``mapillary_key`` of a sequence, or None."""
    return session.execute(
        select(Sequence.owner_id, Sequence.status, Sequence.mapillary_key).where(
            Sequence.id == sequence_id
        )
    ).one_or_none()


def key_taken(session: Session, key: str, sequence_id: uuid.UUID) -> bool:
    """Whether another sequence than ``sequence_id`` holds the Mapillary key."""
    found = session.execute(
        select(Sequence.id).where(Sequence.mapillary_key == key, Sequence.id != sequence_id)
    ).first()
    session.rollback()  # hold no transaction while the caller talks to Mapillary
    return found is not None


def fill_draft(session: Session, sequence_id: uuid.UUID, record: SequenceRecord) -> int:
    """Fill the draft from ``record`` in one transaction; its photo count. 409 when the row is
    no longer a draft or a key (or an image key) belongs to another sequence."""
    with transaction(session):
        try:
            with session.begin_nested():
                row = session.execute(
                    text(read_sql("uploader_fill_sequence")),
                    {
                        "sequence_id": sequence_id,
                        "key": record.key,
                        "user_key": record.user_key,
                        "username": record.username,
                        "camera_make": record.camera_make,
                        "captured_at": record.captured_at,
                        "created_at": record.created_at,
                        "pano": record.pano,
                        "lons": record.lons,
                        "lats": record.lats,
                        "cas": record.cas,
                        "image_keys": record.image_keys,
                    },
                ).one()
        except IntegrityError:  # a concurrent writer took the key or an image key
            raise ConflictError(f"Mapillary sequence {record.key} was imported meanwhile") from None
        if row.sequence_id is not None:
            return int(row.photos)
        if not row.was_draft:
            raise ConflictError("the sequence is no longer a draft")
        if row.existing_id is not None:
            raise ConflictError(f"Mapillary sequence {record.key} is imported as another sequence")
        raise ConflictError(
            "an image of this Mapillary sequence already belongs to another sequence"
        )
