"""The set-based bulk writer: a batch of sequences COPYed into staging tables, then written by
one statement (``sql/import_stage.sql``, ``sql/import_batch.sql``).

Per sequence the outcome is exactly the one-statement writer's (``importer.write_sequence``):
a key the owner has is ``exists``, another owner's key or a taken image key is ``failed``, and
nothing of such a sequence is written. Keys that exist are looked up first (one query), so a
re-run stages nothing. A batch's sequences that share a key or an image key with an earlier one
of the same batch are not staged; the caller writes them after the batch, in input order, so the
first one wins as it would one at a time. An image key that another sequence holds makes the
batch raise BatchClash: the caller rolls it back and writes it one sequence at a time. Clashes
are rare, so the common batch costs one index descent per photo and key.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from geoapi.store import read_sql
from geoapi.validation import SequenceRecord

_COPY_SEQUENCES = (
    "COPY import_stage_sequences (idx, key, user_key, username, title, description,"
    " transport_type_id, camera_make, captured_at, created_at, pano) FROM STDIN"
)
_COPY_PHOTOS = "COPY import_stage_photos (idx, position, image_key, ca, lon, lat) FROM STDIN"
# COPY's text format: backslash escapes for the characters that delimit fields and rows.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = "\\N"


def copy_text(value: object) -> str:
    """One field in COPY's text format (NULL for None)."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).translate(_ESCAPES)


def split_clashes(
    records: Sequence[SequenceRecord],
) -> tuple[list[int], list[int]]:
    """Indexes (into ``records``) to stage, and those sharing a key or an image key with an
    earlier record of the batch (written after it, one at a time)."""
    seen_keys: set[str] = set()
    seen_images: set[str] = set()
    staged: list[int] = []
    later: list[int] = []
    for i, record in enumerate(records):
        images = set(record.image_keys)
        clash = (
            record.key in seen_keys
            or not seen_images.isdisjoint(images)
            or len(images) != len(record.image_keys)
        )
        seen_keys.add(record.key)
        seen_images |= images
        (later if clash else staged).append(i)
    return staged, later


class BatchClash(Exception):
    """An image key of a staged sequence is held by another sequence: the batch is to be rolled
    back and written one sequence at a time (which says which sequence, and why)."""


@dataclass(frozen=True)
class StagedRow:
    """What became of one sequence of the batch: its new id, or the existing row of its key
    (neither: its key was taken by a concurrent writer after the batch looked)."""

    sequence_id: uuid.UUID | None = None
    photos: int = 0
    existing_id: uuid.UUID | None = None
    existing_owner_id: uuid.UUID | None = None


def write_staged(
    conn: Connection,
    owner_id: uuid.UUID,
    rows: Iterable[tuple[int, SequenceRecord, str, int | None]],
    source: str,
) -> dict[int, StagedRow]:
    """Write ``rows`` (index, record, title, transport type id) in the caller's transaction:
    those whose key exists are left alone, the others staged and written by one statement;
    what became of each, by index. BatchClash when an image key is another sequence's."""
    rows = list(rows)
    existing = {
        row.key: StagedRow(existing_id=row.id, existing_owner_id=row.owner_id)
        for row in conn.execute(
            text(read_sql("import_existing")), {"keys": [record.key for _i, record, *_ in rows]}
        )
    }
    outcome = {idx: existing[record.key] for idx, record, *_ in rows if record.key in existing}
    fresh = [row for row in rows if row[0] not in outcome]
    if not fresh:
        return outcome
    _stage(conn, fresh)
    result = conn.execute(text(read_sql("import_batch")), {"owner_id": owner_id, "source": source})
    for row in result:
        if row.sequence_id is not None and row.photos_written != row.photos:
            raise BatchClash(f"staged sequence {row.idx} lost an image key to another sequence")
        outcome[row.idx] = StagedRow(row.sequence_id, row.photos or 0)
    return outcome


def _stage(conn: Connection, rows: list[tuple[int, SequenceRecord, str, int | None]]) -> None:
    """COPY the rows' sequences and photos into the (emptied) staging tables."""
    sequences = io.StringIO()
    photos = io.StringIO()
    for idx, record, title, transport_type_id in rows:
        fields = (
            idx,
            record.key,
            record.user_key,
            record.username,
            title,
            record.description,
            transport_type_id,
            record.camera_make,
            record.captured_at,
            record.created_at,
            record.pano,
        )
        sequences.write("\t".join(map(copy_text, fields)) + "\n")
        prefix = f"{idx}\t"
        for position, (image_key, ca, lon, lat) in enumerate(
            zip(record.image_keys, record.cas, record.lons, record.lats, strict=True)
        ):
            photos.write(
                f"{prefix}{position}\t{image_key.translate(_ESCAPES)}\t"
                f"{NULL if ca is None else repr(ca)}\t{lon!r}\t{lat!r}\n"
            )
    conn.execute(text(read_sql("import_stage")))
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        sequences.seek(0)
        cursor.copy_expert(_COPY_SEQUENCES, sequences)
        photos.seek(0)
        cursor.copy_expert(_COPY_PHOTOS, photos)
    finally:
        cursor.close()
