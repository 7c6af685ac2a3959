"""Sequences as the /api/v1 resource: read, list (keyset pages), edit, delete, export rows.

Rows come from ``sql/sequence_select.sql`` (one shape for reads and lists); writes lock the
sequence first and own their transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from geoapi.bodies import UNSET, SequenceChanges
from geoapi.errors import ForbiddenError, NotFoundError
from geoapi.filters import SequenceFilters
from geoapi.geo import BBox, envelope_params
from geoapi.paging import (
    cursor_datetime,
    cursor_int,
    cursor_uuid,
    cursor_version,
    decode_cursor,
    encode_cursor,
)
from geoapi.store import read_sql, transaction
from geoapi.store.models import Sequence, Tour, TourSequence
from geoapi.store.taxonomy import replace_tags
from geoapi.store.versions import page_version
from geoapi.v3export import v3_feature

SORTS = ("newest", "most_liked")


def get_sequence(session: Session, sequence_id: uuid.UUID, viewer_id: uuid.UUID | None) -> Any:
    """The sequence row as ``viewer_id`` may see it (drafts only for their owner), or None."""
    sql = read_sql("sequence_select") + read_sql("sequence_visible")
    return session.execute(
        text(sql), {"sequence_id": sequence_id, "viewer_id": viewer_id}
    ).one_or_none()


def require_sequence(session: Session, sequence_id: uuid.UUID, viewer_id: uuid.UUID | None) -> Any:
    """:func:`get_sequence`, or 404."""
    row = get_sequence(session, sequence_id, viewer_id)
    if row is None:
        raise NotFoundError(f"no sequence with id {sequence_id}")
    return row


@dataclass(frozen=True)
class SequencePage:
    rows: list[Any]
    next_cursor: str | None


def list_sequences(
    session: Session,
    filters: SequenceFilters,
    *,
    bbox: BBox | None = None,
    sort: str,
    limit: int,
    cursor: str | None,
    viewer_id: uuid.UUID | None,
) -> SequencePage:
    """One keyset page of published sequences matching ``filters`` (and meeting ``bbox``),
    newest or most liked first; the next cursor carries the first page's data version."""
    params: dict[str, Any] = {
        **filters.params(),
        **envelope_params(bbox),
        "viewer_id": viewer_id,
        "limit": limit + 1,
        "c_id": None,
        "c_captured_at": None,
        "c_like_count": None,
    }
    if cursor:
        first, last_id = decode_cursor(cursor, sort, 2)
        params["c_id"] = cursor_uuid(last_id)
        if sort == "newest":
            params["c_captured_at"] = cursor_datetime(first)
        else:
            params["c_like_count"] = cursor_int(first)
    page_sql = "sequence_page_newest" if sort == "newest" else "sequence_page_most_liked"
    sql = read_sql("sequence_select") + read_sql(page_sql)
    rows = list(session.execute(text(sql), params).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        key: str | int | None = last.like_count
        if sort == "newest":
            key = last.captured_at.isoformat() if last.captured_at else None
        version = page_version(session, cursor_version(cursor))
        next_cursor = encode_cursor(sort, key, str(last.id), version=version)
    return SequencePage(rows, next_cursor)


# Writes ---------------------------------------------------------------------------------------


def _check_owner(row: Any, sequence_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """404 if ``user_id`` may not see the sequence (others' drafts), 403 if it is not theirs."""
    if row is None or (row.status != "published" and row.owner_id != user_id):
        raise NotFoundError(f"no sequence with id {sequence_id}")
    if row.owner_id != user_id:
        raise ForbiddenError(f"sequence {sequence_id} belongs to another user")


def check_sequence_owner(session: Session, sequence_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """404/403 unless ``user_id`` owns the sequence (before a request body is even read)."""
    row = session.execute(
        select(Sequence.owner_id, Sequence.status).where(Sequence.id == sequence_id)
    ).one_or_none()
    _check_owner(row, sequence_id, user_id)


def _lock_owned(
    session: Session, sequence_id: uuid.UUID, user_id: uuid.UUID, *, deleting: bool = False
) -> None:
    """Lock a sequence for a write by its owner (404/403 otherwise).

    An edit takes ``FOR NO KEY UPDATE``, which concurrent likes (their trigger's count update)
    and tour edits (``FOR KEY SHARE``) do not wait on; a delete takes ``FOR UPDATE``.
    """
    query = select(Sequence.owner_id, Sequence.status).where(Sequence.id == sequence_id)
    query = query.with_for_update() if deleting else query.with_for_update(key_share=True)
    _check_owner(session.execute(query).one_or_none(), sequence_id, user_id)


def update_sequence(
    session: Session, sequence_id: uuid.UUID, user_id: uuid.UUID, changes: SequenceChanges
) -> Any:
    """Apply the owner's validated PATCH in one transaction and return the updated row.

    Only the given columns are written (the tile version moves only when what tiles show
    changes: transport type, tags).
    """
    with transaction(session):
        _lock_owned(session, sequence_id, user_id)
        values: dict[str, Any] = {"updated_at": func.now()}
        for name in ("title", "description", "transport_type_id"):
            value = getattr(changes, name)
            if value is not UNSET:
                values[name] = value
        session.execute(update(Sequence).where(Sequence.id == sequence_id).values(**values))
        if changes.tags is not UNSET:
            replace_tags(session, "sequence", sequence_id, changes.tags)
        return require_sequence(session, sequence_id, user_id)


def delete_sequence(session: Session, sequence_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Delete the owner's sequence with its photos, tags, likes and tour memberships
    (cascades), then renumber the tours it was in so their positions stay dense 0..n-1.

    Lock order, shared with tour edits: sequences first, then tours. Once the sequence is
    locked ``FOR UPDATE`` no tour can add it (that needs ``FOR KEY SHARE`` on it), so the
    tours locked next are all the tours it is in.
    """
    with transaction(session):
        _lock_owned(session, sequence_id, user_id, deleting=True)
        tour_ids = list(
            session.execute(
                select(Tour.id)
                .join(TourSequence, TourSequence.tour_id == Tour.id)
                .where(TourSequence.sequence_id == sequence_id)
                .order_by(Tour.id)
                .with_for_update(of=Tour)
            ).scalars()
        )
        session.execute(delete(Sequence).where(Sequence.id == sequence_id))
        if tour_ids:
            session.execute(text(read_sql("tour_renumber")), {"tour_ids": tour_ids})


def export_features(session: Session, sequences: Iterable[Any]) -> list[dict[str, Any]]:
    """v3 Features (``geoapi.v3export``) for sequence rows, in the order given, each with its
    photos by position."""
    photos_sql = text(read_sql("sequence_photos"))
    return [
        v3_feature(sequence, session.execute(photos_sql, {"sequence_id": sequence.id}).all())
        for sequence in sequences
    ]
