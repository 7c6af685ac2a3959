"""Tours: an owner's ordered list of their own sequences (positions dense 0..n-1).

A sequence may be in several tours. Writes lock sequences before tours, as sequence deletes
do, so the two never deadlock; a tour's sequences are held ``FOR KEY SHARE`` (no delete
meanwhile, likes do not wait). Each write function is one transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from geoapi.bodies import UNSET, TourChanges
from geoapi.errors import (
    ForbiddenError,
    NotFoundError,
    ValidationError,
    bad_parameter,
    field_error,
)
from geoapi.paging import cursor_datetime, cursor_uuid, decode_cursor, encode_cursor
from geoapi.store import read_sql, transaction
from geoapi.store.models import Sequence, Tour, TourSequence
from geoapi.store.taxonomy import replace_tags

# Writes ---------------------------------------------------------------------------------------


def check_tour_owner(
    session: Session, tour_id: uuid.UUID, user_id: uuid.UUID, *, lock: bool = False
) -> None:
    """404 if the tour is unknown, 403 if it is someone else's; ``lock`` takes it FOR UPDATE."""
    query = select(Tour.owner_id).where(Tour.id == tour_id)
    row = session.execute(query.with_for_update() if lock else query).one_or_none()
    if row is None:
        raise NotFoundError(f"no tour with id {tour_id}")
    if row.owner_id != user_id:
        raise ForbiddenError(f"tour {tour_id} belongs to another user")


def _set_sequences(
    session: Session, tour_id: uuid.UUID, owner_id: uuid.UUID, sequence_ids: list[uuid.UUID]
) -> None:
    """Replace a tour's ordered list; every sequence must be the tour owner's.

    Unknown ids (including other users' drafts, which are invisible) are a 422 naming them;
    anyone else's sequence is a 403 naming it. Nothing is written unless all pass. Locks the
    sequences (``FOR KEY SHARE``), then the tour: the order sequence deletes use.
    """
    rows = session.execute(
        select(Sequence.id, Sequence.owner_id, Sequence.status)
        .where(Sequence.id.in_(sequence_ids))
        .order_by(Sequence.id)
        .with_for_update(read=True, key_share=True)
    ).all()
    found = {row.id: row for row in rows}
    unknown = [
        field_error(f"sequence_ids[{i}]", f"no sequence with id {sequence_id}")
        for i, sequence_id in enumerate(sequence_ids)
        if sequence_id not in found
        or (found[sequence_id].status != "published" and found[sequence_id].owner_id != owner_id)
    ]
    if unknown:
        raise ValidationError("unknown sequences in sequence_ids", errors=unknown)
    foreign = [
        (i, sequence_id)
        for i, sequence_id in enumerate(sequence_ids)
        if found[sequence_id].owner_id != owner_id
    ]
    if foreign:
        raise ForbiddenError(
            "a tour may only hold its owner's sequences; not yours: "
            + ", ".join(str(sequence_id) for _, sequence_id in foreign),
            errors=[
                field_error(f"sequence_ids[{i}]", f"sequence {sequence_id} belongs to another user")
                for i, sequence_id in foreign
            ],
        )
    check_tour_owner(session, tour_id, owner_id, lock=True)
    session.execute(delete(TourSequence).where(TourSequence.tour_id == tour_id))
    if sequence_ids:
        session.execute(
            text(read_sql("tour_set_sequences")),
            {"tour_id": tour_id, "sequence_ids": sequence_ids},
        )


def create_tour(session: Session, owner_id: uuid.UUID, changes: TourChanges) -> TourRecord:
    """Insert a tour with its tags and (optionally) its ordered sequences, in one transaction;
    returns it as :func:`get_tour` reads it."""
    with transaction(session):
        description = None if changes.description is UNSET else changes.description
        tour_id: uuid.UUID = session.execute(
            insert(Tour)
            .values(owner_id=owner_id, title=changes.title, description=description)
            .returning(Tour.id)
        ).scalar_one()
        if changes.tags is not UNSET:
            replace_tags(session, "tour", tour_id, changes.tags)
        if changes.sequence_ids is not UNSET:
            _set_sequences(session, tour_id, owner_id, changes.sequence_ids)
        return get_tour(session, tour_id, owner_id)


def update_tour(
    session: Session, tour_id: uuid.UUID, owner_id: uuid.UUID, changes: TourChanges
) -> TourRecord:
    """Apply the owner's validated PATCH in one transaction (only the given fields change)."""
    with transaction(session):
        if changes.sequence_ids is not UNSET:
            _set_sequences(session, tour_id, owner_id, changes.sequence_ids)
        else:
            check_tour_owner(session, tour_id, owner_id, lock=True)
        values: dict[str, Any] = {"updated_at": func.now()}
        for name in ("title", "description"):
            value = getattr(changes, name)
            if value is not UNSET:
                values[name] = value
        session.execute(update(Tour).where(Tour.id == tour_id).values(**values))
        if changes.tags is not UNSET:
            replace_tags(session, "tour", tour_id, changes.tags)
        return get_tour(session, tour_id, owner_id)


def set_tour_sequences(
    session: Session, tour_id: uuid.UUID, owner_id: uuid.UUID, sequence_ids: list[uuid.UUID]
) -> TourRecord:
    """Replace the owner's tour's ordered list in one transaction; all or nothing."""
    with transaction(session):
        _set_sequences(session, tour_id, owner_id, sequence_ids)
        return get_tour(session, tour_id, owner_id)


def delete_tour(session: Session, tour_id: uuid.UUID, owner_id: uuid.UUID) -> None:
    """Delete the owner's tour; its memberships and tags go with it, its sequences stay."""
    with transaction(session):
        check_tour_owner(session, tour_id, owner_id, lock=True)
        session.execute(delete(Tour).where(Tour.id == tour_id))


# Reads ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TourRecord:
    """A ``tour_select.sql`` row and its ordered ``tour_sequences.sql`` rows."""

    row: Any
    sequences: list[Any]


def get_tour(session: Session, tour_id: uuid.UUID, viewer_id: uuid.UUID | None) -> TourRecord:
    """A tour with its ordered sequences (drafts only for their owner) and totals; 404."""
    params = {"tour_id": tour_id, "viewer_id": viewer_id}
    sql = read_sql("tour_select") + read_sql("tour_by_id")
    row = session.execute(text(sql), params).one_or_none()
    if row is None:
        raise NotFoundError(f"no tour with id {tour_id}")
    sequences = list(session.execute(text(read_sql("tour_sequences")), params).all())
    return TourRecord(row, sequences)


@dataclass(frozen=True)
class TourPage:
    rows: list[Any]
    next_cursor: str | None


def list_tours(
    session: Session,
    *,
    username: str | None,
    limit: int,
    cursor: str | None,
    viewer_id: uuid.UUID | None,
) -> TourPage:
    """One keyset page of tours, newest first, optionally only ``username``'s."""
    params: dict[str, Any] = {
        "f_username": username,
        "viewer_id": viewer_id,
        "limit": limit + 1,
        "c_created_at": None,
        "c_id": None,
    }
    if cursor:
        created_at, last_id = decode_cursor(cursor, "tours", 2)
        params["c_id"] = cursor_uuid(last_id)
        params["c_created_at"] = cursor_datetime(created_at)
        if params["c_created_at"] is None:
            raise bad_parameter("cursor", "the cursor's time is malformed")
    sql = read_sql("tour_select") + read_sql("tour_page")
    rows = list(session.execute(text(sql), params).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor("tours", last.created_at.isoformat(), str(last.id))
    return TourPage(rows, next_cursor)


def tour_export_rows(session: Session, tour_id: uuid.UUID) -> list[Any]:
    """The tour's published sequences in tour order, as ``sequence_select.sql`` rows."""
    sql = read_sql("sequence_select") + read_sql("tour_export")
    return list(session.execute(text(sql), {"tour_id": tour_id, "viewer_id": None}).all())
