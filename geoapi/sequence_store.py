"""Sequence queries and writes as plain functions over a Session (no Flask), plus the pure
validation they share with tours: ids, titles, descriptions, tags, limits and keyset cursors."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import column, func, table, text, update
from sqlalchemy.orm import Session

from geoapi.db import read_sql
from geoapi.errors import (
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    ValidationError,
    field_error,
)
from geoapi.filters import SequenceFilters, filter_sql
from geoapi.importer import MAX_DESCRIPTION, MAX_TITLE
from geoapi.taxonomy import (
    MAX_TAGS,
    TaxonomyError,
    TransportTypes,
    normalize_tag,
    set_sequence_tags,
)
from geoapi.v3export import format_timestamp

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_CURSOR = 512
SORTS = ("newest", "most_liked")
UNSET: Any = object()
# The columns a PATCH may write (SQLAlchemy Core, so only the given columns appear in the SET).
SEQUENCES = table(
    "sequences",
    column("id"),
    column("title"),
    column("description"),
    column("transport_type_id"),
    column("updated_at"),
)


# Pure validation ----------------------------------------------------------------------------------


def parse_uuid(raw: str, what: str) -> uuid.UUID:
    """A path id → UUID; anything else is a 404 (no such object), never a 500."""
    try:
        return uuid.UUID(raw)
    except (ValueError, TypeError):
        raise NotFoundError(f"no {what} with id {raw[:64]!r}") from None


def reject_nul(args: Iterable[tuple[str, str]]) -> None:
    """400 naming the first query parameter holding a NUL character (PostgreSQL text cannot)."""
    for name, value in args:
        if "\x00" in value or "\x00" in name:
            raise BadRequestError(
                f"invalid {name[:64]!r}",
                errors=[field_error(name[:64], "must not contain a NUL character")],
            )


def parse_limit(raw: str | None) -> int:
    """``limit`` query parameter: 1..MAX_LIMIT, default DEFAULT_LIMIT; 400 otherwise."""
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequestError(
            f"invalid limit: {raw[:32]!r}",
            errors=[field_error("limit", f"limit must be an integer from 1 to {MAX_LIMIT}")],
        )
    return int(raw)


def parse_sort(raw: str | None) -> str:
    if raw is None or raw == "":
        return "newest"
    if raw not in SORTS:
        raise BadRequestError(
            f"invalid sort: {raw[:32]!r}",
            errors=[field_error("sort", "sort must be one of " + ", ".join(SORTS))],
        )
    return raw


def encode_cursor(kind: str, values: list[Any]) -> str:
    """An opaque keyset cursor: the sort it belongs to and the last row's sort key."""
    payload = json.dumps([kind, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(raw: str | None, kind: str, size: int) -> list[Any] | None:
    """The sort key in a cursor made by ``encode_cursor`` for ``kind``; 400 naming ``cursor``."""
    if raw is None or raw == "":
        return None
    bad = BadRequestError(
        "invalid cursor",
        errors=[field_error("cursor", "not a cursor from this listing's 'next' link")],
    )
    if len(raw) > MAX_CURSOR:
        raise bad
    try:
        decoded = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, binascii.Error):
        raise bad from None
    if not isinstance(decoded, list) or len(decoded) != size + 1 or decoded[0] != kind:
        raise bad
    return decoded[1:]


def cursor_uuid(value: object) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BadRequestError(
            "invalid cursor", errors=[field_error("cursor", "the cursor's id is malformed")]
        ) from None


def cursor_datetime(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise BadRequestError(
            "invalid cursor", errors=[field_error("cursor", "the cursor's time is malformed")]
        ) from None


def check_fields(body: Mapping[str, Any], allowed: tuple[str, ...]) -> list[dict[str, Any]]:
    """Problems for every field not in ``allowed`` (unknown fields are refused, not ignored)."""
    return [
        field_error(str(name)[:100], f"unknown field; allowed: {', '.join(allowed)}")
        for name in body
        if name not in allowed
    ]


def validate_title(value: object, problems: list[dict[str, Any]]) -> str:
    """1..MAX_TITLE characters after trimming; PostgreSQL text cannot hold NUL."""
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= MAX_TITLE or "\x00" in value:
        problems.append(
            field_error("title", f"title must be a string of 1-{MAX_TITLE} characters, no NUL")
        )
        return ""
    return value.strip()


def validate_description(value: object, problems: list[dict[str, Any]]) -> str | None:
    """Optional text up to MAX_DESCRIPTION characters; null clears it."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION or "\x00" in value:
        problems.append(
            field_error(
                "description",
                f"description must be null or at most {MAX_DESCRIPTION} characters, no NUL",
            )
        )
        return None
    return value


def validate_tags(value: object, problems: list[dict[str, Any]]) -> tuple[str, ...]:
    """A list of tags → trimmed, lower-cased, de-duplicated; each bad one named ``tags[i]``."""
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.append(field_error("tags", "tags must be a list of strings"))
        return ()
    tags: dict[str, None] = {}
    for i, raw in enumerate(value):
        try:
            tags[normalize_tag(raw)] = None
        except TaxonomyError as exc:
            problems.append(field_error(f"tags[{i}]", str(exc)[:200]))
    if len(tags) > MAX_TAGS:
        problems.append(field_error("tags", f"at most {MAX_TAGS} tags are allowed"))
    return tuple(tags)


@dataclass(frozen=True)
class SequenceChanges:
    """A validated PATCH: only the fields present are set (UNSET otherwise)."""

    title: Any = UNSET
    description: Any = UNSET
    transport_type_id: Any = UNSET
    tags: Any = UNSET


PATCH_FIELDS = ("title", "description", "transport_type", "tags")


def parse_sequence_changes(body: object, transport_types: TransportTypes) -> SequenceChanges:
    """Validate a PATCH body; 422 naming every bad or unknown field, nothing applied."""
    if not isinstance(body, dict):
        raise ValidationError(
            "the body must be a JSON object", errors=[field_error("body", "expected an object")]
        )
    problems = check_fields(body, PATCH_FIELDS)
    values: dict[str, Any] = {}
    if "title" in body:
        values["title"] = validate_title(body["title"], problems)
    if "description" in body:
        values["description"] = validate_description(body["description"], problems)
    if "transport_type" in body:
        raw = body["transport_type"]
        try:
            values["transport_type_id"] = None if raw is None else transport_types.leaf_id(raw)
        except TaxonomyError as exc:
            problems.append(field_error("transport_type", str(exc)[:300]))
    if "tags" in body:
        values["tags"] = validate_tags(body["tags"], problems)
    if problems:
        raise ValidationError("invalid sequence changes", errors=problems)
    return SequenceChanges(**values)


# Reads ----------------------------------------------------------------------------------------


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


def get_sequence(session: Session, sequence_id: uuid.UUID, viewer_id: uuid.UUID | None) -> Any:
    """The sequence row as ``viewer_id`` may see it (drafts only for their owner), or None."""
    sql = read_sql("sequence_select") + read_sql("sequence_visible")
    return session.execute(
        text(sql), {"sequence_id": sequence_id, "viewer_id": viewer_id}
    ).one_or_none()


def require_sequence(session: Session, sequence_id: uuid.UUID, viewer_id: uuid.UUID | None) -> Any:
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
    sort: str,
    limit: int,
    cursor: str | None,
    viewer_id: uuid.UUID | None,
) -> SequencePage:
    """One keyset page of published sequences matching ``filters``, newest or most liked first."""
    size = 2
    after = decode_cursor(cursor, sort, size)
    params: dict[str, Any] = {
        **filters.params(),
        "viewer_id": viewer_id,
        "limit": limit + 1,
        "c_id": None,
        "c_captured_at": None,
        "c_like_count": None,
    }
    if after is not None:
        params["c_id"] = cursor_uuid(after[1])
        if sort == "newest":
            params["c_captured_at"] = cursor_datetime(after[0])
        elif isinstance(after[0], int) and not isinstance(after[0], bool):
            params["c_like_count"] = after[0]
        else:
            raise BadRequestError("invalid cursor", errors=[field_error("cursor", "malformed")])
    page_sql = "sequence_page_newest" if sort == "newest" else "sequence_page_most_liked"
    sql = "\n".join((read_sql("sequence_select"), "WHERE", filter_sql(), read_sql(page_sql)))
    rows = list(session.execute(text(sql), params).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        key = last.captured_at.isoformat() if sort == "newest" and last.captured_at else None
        first = last.like_count if sort == "most_liked" else key
        next_cursor = encode_cursor(sort, [first, str(last.id)])
    return SequencePage(rows, next_cursor)


# Writes ---------------------------------------------------------------------------------------


def check_owner(row: Any, sequence_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """404 if ``user_id`` may not see the sequence (others' drafts), 403 if it is not theirs."""
    if row is None or (row.status != "published" and row.owner_id != user_id):
        raise NotFoundError(f"no sequence with id {sequence_id}")
    if row.owner_id != user_id:
        raise ForbiddenError(f"sequence {sequence_id} belongs to another user")


def lock_owned_sequence(
    session: Session, sequence_id: uuid.UUID, user_id: uuid.UUID, *, deleting: bool = False
) -> Any:
    """Lock a sequence for a write by its owner (404/403 otherwise).

    An edit takes ``FOR NO KEY UPDATE``, which concurrent likes (their trigger's count update)
    and tour edits (``FOR KEY SHARE``) do not wait on; a delete takes ``FOR UPDATE``.
    """
    sql = (
        "SELECT id, owner_id, status FROM sequences WHERE id = :id FOR UPDATE"
        if deleting
        else "SELECT id, owner_id, status FROM sequences WHERE id = :id FOR NO KEY UPDATE"
    )
    row = session.execute(text(sql), {"id": sequence_id}).one_or_none()
    check_owner(row, sequence_id, user_id)
    return row


def update_sequence(session: Session, sequence_id: uuid.UUID, changes: SequenceChanges) -> None:
    """Apply a validated PATCH; only the given columns are written (tile version untouched
    unless the transport type changes)."""
    values: dict[str, Any] = {"updated_at": func.now()}
    for name in ("title", "description", "transport_type_id"):
        value = getattr(changes, name)
        if value is not UNSET:
            values[name] = value
    session.execute(update(SEQUENCES).where(SEQUENCES.c.id == sequence_id).values(**values))
    if changes.tags is not UNSET:
        set_sequence_tags(session, sequence_id, changes.tags)


def _lock_tours_of(session: Session, sequence_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        session.execute(
            text(
                "SELECT t.id FROM tours t JOIN tour_sequences ts ON ts.tour_id = t.id"
                " WHERE ts.sequence_id = :id ORDER BY t.id FOR UPDATE OF t"
            ),
            {"id": sequence_id},
        ).scalars()
    )


def delete_sequence(session: Session, sequence_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Delete the owner's sequence with its photos, tags, likes and tour memberships
    (cascades), then renumber the tours it was in so their positions stay dense 0..n-1.

    Lock order, shared with tour edits: sequences first, then tours. Once the sequence is
    locked ``FOR UPDATE`` no tour can add it (that needs ``FOR KEY SHARE`` on it), so the
    tours locked next are all the tours it is in.
    """
    lock_owned_sequence(session, sequence_id, user_id, deleting=True)
    tour_ids = _lock_tours_of(session, sequence_id)
    session.execute(text("DELETE FROM sequences WHERE id = :id"), {"id": sequence_id})
    if tour_ids:
        session.execute(text(read_sql("tour_renumber")), {"tour_ids": tour_ids})
