"""Tour queries and writes as plain functions over a Session (no Flask).

A tour is an ordered list of its owner's sequences (positions dense 0..n-1); a sequence may be
in several tours. Writes lock sequences before tours, as sequence deletes do, so the two never
deadlock; a tour's sequences are held ``FOR KEY SHARE`` (no delete meanwhile, likes do not wait).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from typing import Any

from sqlalchemy import column, func, insert, table, text, update
from sqlalchemy.orm import Session

from geoapi.db import read_sql
from geoapi.errors import (
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    ValidationError,
    field_error,
)
from geoapi.sequence_store import (
    UNSET,
    check_fields,
    cursor_datetime,
    cursor_uuid,
    decode_cursor,
    encode_cursor,
    validate_description,
    validate_tags,
    validate_title,
)
from geoapi.v3export import format_timestamp

MAX_TOUR_SEQUENCES = 1000
TOUR_FIELDS = ("title", "description", "tags", "sequence_ids")
TOURS = table(
    "tours",
    column("id"),
    column("owner_id"),
    column("title"),
    column("description"),
    column("updated_at"),
)


@dataclass(frozen=True)
class TourChanges:
    """A validated tour body: only the fields present are set (UNSET otherwise)."""

    title: Any = UNSET
    description: Any = UNSET
    tags: Any = UNSET
    sequence_ids: Any = UNSET


def validate_sequence_ids(value: object, problems: list[dict[str, Any]]) -> list[uuid.UUID]:
    """An ordered list of distinct sequence UUIDs; each bad entry named ``sequence_ids[i]``."""
    if not isinstance(value, list):
        problems.append(field_error("sequence_ids", "sequence_ids must be a list of sequence ids"))
        return []
    if len(value) > MAX_TOUR_SEQUENCES:
        problems.append(
            field_error("sequence_ids", f"a tour holds at most {MAX_TOUR_SEQUENCES} sequences")
        )
        return []
    ids: list[uuid.UUID] = []
    seen: dict[uuid.UUID, int] = {}
    for i, raw in enumerate(value):
        try:
            sequence_id = uuid.UUID(raw) if isinstance(raw, str) else None
        except ValueError:
            sequence_id = None
        if sequence_id is None:
            problems.append(field_error(f"sequence_ids[{i}]", "not a sequence id (UUID)"))
        elif sequence_id in seen:
            problems.append(
                field_error(
                    f"sequence_ids[{i}]",
                    f"duplicate of sequence_ids[{seen[sequence_id]}] ({sequence_id})",
                )
            )
        else:
            seen[sequence_id] = i
            ids.append(sequence_id)
    return ids


def parse_tour_body(body: object, *, creating: bool) -> TourChanges:
    """Validate a POST (title required) or PATCH body; 422 naming every bad or unknown field."""
    if not isinstance(body, dict):
        raise ValidationError(
            "the body must be a JSON object", errors=[field_error("body", "expected an object")]
        )
    problems = check_fields(body, TOUR_FIELDS)
    values: dict[str, Any] = {}
    if "title" in body or creating:
        values["title"] = validate_title(body.get("title"), problems)
    if "description" in body:
        values["description"] = validate_description(body["description"], problems)
    if "tags" in body:
        values["tags"] = validate_tags(body["tags"], problems)
    if "sequence_ids" in body:
        values["sequence_ids"] = validate_sequence_ids(body["sequence_ids"], problems)
    if problems:
        raise ValidationError("invalid tour", errors=problems)
    return TourChanges(**values)


def parse_sequence_list_body(body: object) -> list[uuid.UUID]:
    """``{"sequence_ids": [...]}`` exactly; 422 naming the bad entries."""
    if not isinstance(body, dict):
        raise ValidationError(
            "the body must be a JSON object", errors=[field_error("body", "expected an object")]
        )
    problems = check_fields(body, ("sequence_ids",))
    ids = validate_sequence_ids(body.get("sequence_ids"), problems)
    if problems:
        raise ValidationError("invalid sequence list", errors=problems)
    return ids


# Writes ---------------------------------------------------------------------------------------


def check_owned_tour(
    session: Session, tour_id: uuid.UUID, user_id: uuid.UUID, *, lock: bool = False
) -> Any:
    """404 if the tour is unknown, 403 if it is someone else's; ``lock`` takes it FOR UPDATE."""
    sql = (
        "SELECT id, owner_id FROM tours WHERE id = :id FOR UPDATE"
        if lock
        else "SELECT id, owner_id FROM tours WHERE id = :id"
    )
    row = session.execute(text(sql), {"id": tour_id}).one_or_none()
    if row is None:
        raise NotFoundError(f"no tour with id {tour_id}")
    if row.owner_id != user_id:
        raise ForbiddenError(f"tour {tour_id} belongs to another user")
    return row


def lock_owned_tour(session: Session, tour_id: uuid.UUID, user_id: uuid.UUID) -> Any:
    """Lock a tour for a write by its owner (404/403 otherwise)."""
    return check_owned_tour(session, tour_id, user_id, lock=True)


def set_tour_tags(session: Session, tour_id: uuid.UUID, tags: Seq[str]) -> None:
    """Replace a tour's tags with ``tags`` (already normalised), creating missing tags."""
    session.execute(text("DELETE FROM tour_tags WHERE tour_id = :t"), {"t": tour_id})
    if not tags:
        return
    names = list(tags)
    session.execute(
        text(
            "INSERT INTO tags (name) SELECT unnest(CAST(:names AS text[]))"
            " ON CONFLICT (name) DO NOTHING"
        ),
        {"names": names},
    )
    session.execute(
        text(
            "INSERT INTO tour_tags (tour_id, tag_id)"
            " SELECT :t, id FROM tags WHERE name = ANY(CAST(:names AS text[]))"
        ),
        {"t": tour_id, "names": names},
    )


def set_tour_sequences(
    session: Session, tour_id: uuid.UUID, owner_id: uuid.UUID, sequence_ids: list[uuid.UUID]
) -> None:
    """Replace a tour's ordered list; every sequence must be the tour owner's.

    Unknown ids (including other users' drafts, which are invisible) are a 422 naming them;
    anyone else's sequence is a 403 naming it. Nothing is written unless all pass. Locks the
    sequences (``FOR KEY SHARE``), then the tour: the order sequence deletes use.
    """
    rows = session.execute(
        text(
            "SELECT id, owner_id, status FROM sequences WHERE id = ANY(CAST(:ids AS uuid[]))"
            " ORDER BY id FOR KEY SHARE"
        ),
        {"ids": sequence_ids},
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
    lock_owned_tour(session, tour_id, owner_id)
    session.execute(text("DELETE FROM tour_sequences WHERE tour_id = :t"), {"t": tour_id})
    if sequence_ids:
        session.execute(
            text(read_sql("tour_set_sequences")),
            {"tour_id": tour_id, "sequence_ids": sequence_ids},
        )


def create_tour(session: Session, owner_id: uuid.UUID, changes: TourChanges) -> uuid.UUID:
    """Insert a tour with its tags and (optionally) its ordered sequences; returns its id."""
    description = None if changes.description is UNSET else changes.description
    tour_id: uuid.UUID = session.execute(
        insert(TOURS)
        .values(owner_id=owner_id, title=changes.title, description=description)
        .returning(TOURS.c.id)
    ).scalar_one()
    if changes.tags is not UNSET:
        set_tour_tags(session, tour_id, changes.tags)
    if changes.sequence_ids is not UNSET:
        set_tour_sequences(session, tour_id, owner_id, changes.sequence_ids)
    return tour_id


def update_tour(
    session: Session, tour_id: uuid.UUID, owner_id: uuid.UUID, changes: TourChanges
) -> None:
    """Apply a validated PATCH by the owner; only the given fields change."""
    if changes.sequence_ids is not UNSET:
        set_tour_sequences(session, tour_id, owner_id, changes.sequence_ids)
    else:
        lock_owned_tour(session, tour_id, owner_id)
    values: dict[str, Any] = {"updated_at": func.now()}
    for name in ("title", "description"):
        value = getattr(changes, name)
        if value is not UNSET:
            values[name] = value
    session.execute(update(TOURS).where(TOURS.c.id == tour_id).values(**values))
    if changes.tags is not UNSET:
        set_tour_tags(session, tour_id, changes.tags)


def delete_tour(session: Session, tour_id: uuid.UUID) -> None:
    """Delete a locked tour; its memberships and tags go with it, its sequences stay."""
    session.execute(text("DELETE FROM tours WHERE id = :id"), {"id": tour_id})


# Reads ----------------------------------------------------------------------------------------


def tour_summary(row: Any) -> dict[str, Any]:
    """A ``tour_select.sql`` row → JSON (lengths in metres, times ISO 8601 UTC)."""
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


def get_tour(session: Session, tour_id: uuid.UUID, viewer_id: uuid.UUID | None) -> dict[str, Any]:
    """A tour with its ordered sequences (id, title, photo_count, length_m) and totals; 404."""
    params = {"tour_id": tour_id, "viewer_id": viewer_id}
    sql = read_sql("tour_select") + read_sql("tour_by_id")
    row = session.execute(text(sql), params).one_or_none()
    if row is None:
        raise NotFoundError(f"no tour with id {tour_id}")
    tour = tour_summary(row)
    tour["sequences"] = [
        {
            "id": str(s.id),
            "position": position,
            "title": s.title,
            "photo_count": s.photo_count,
            "length_m": round(s.length_m, 2),
            "captured_at": format_timestamp(s.captured_at),
            "status": s.status,
        }
        for position, s in enumerate(session.execute(text(read_sql("tour_sequences")), params))
    ]
    return tour


@dataclass(frozen=True)
class TourPage:
    tours: list[dict[str, Any]]
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
    after = decode_cursor(cursor, "tours", 2)
    params: dict[str, Any] = {
        "f_username": username,
        "viewer_id": viewer_id,
        "limit": limit + 1,
        "c_created_at": cursor_datetime(after[0]) if after else None,
        "c_id": cursor_uuid(after[1]) if after else None,
    }
    if after is not None and params["c_created_at"] is None:
        raise BadRequestError("invalid cursor", errors=[field_error("cursor", "malformed")])
    sql = read_sql("tour_select") + read_sql("tour_page")
    rows = list(session.execute(text(sql), params).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor("tours", [last.created_at.isoformat(), str(last.id)])
    return TourPage([tour_summary(row) for row in rows], next_cursor)


def tour_export_rows(session: Session, tour_id: uuid.UUID) -> list[Any]:
    """The tour's published sequences in tour order, as ``sequence_select.sql`` rows."""
    sql = read_sql("sequence_select") + read_sql("tour_export")
    return list(session.execute(text(sql), {"tour_id": tour_id, "viewer_id": None}).all())
