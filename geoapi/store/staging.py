"""The set-based bulk writer: a batch of sequences COPYed into staging tables, then written by
one statement (``sql/import_stage.sql``, ``sql/import_batch.sql``).

Per sequence the outcome is exactly the one-statement writer's (``importer.write_sequence``):
a key the owner has is ``exists``, another owner's key or a taken image key is ``failed``, and
nothing of such a sequence is written. A batch's sequences that share a key or an image key with
an earlier one of the same batch are not staged; the caller writes them after the batch, in
input order, so the first one wins as it would one at a time.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable, Sequence
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


class StagedRow:
    """What ``import_batch.sql`` says of one staged sequence."""

    __slots__ = ("existing_id", "existing_owner_id", "image_key_taken", "photos", "sequence_id")

    def __init__(
        self,
        sequence_id: uuid.UUID | None,
        photos: int | None,
        existing_id: uuid.UUID | None,
        existing_owner_id: uuid.UUID | None,
        image_key_taken: bool,
    ) -> None:
        self.sequence_id = sequence_id
        self.photos = photos or 0
        self.existing_id = existing_id
        self.existing_owner_id = existing_owner_id
        self.image_key_taken = image_key_taken


def write_staged(
    conn: Connection,
    owner_id: uuid.UUID,
    rows: Iterable[tuple[int, SequenceRecord, str, int | None]],
    source: str,
) -> dict[int, StagedRow]:
    """Stage ``rows`` (index, record, title, transport type id) and write them in the caller's
    transaction; what became of each, by index."""
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
    result = conn.execute(text(read_sql("import_batch")), {"owner_id": owner_id, "source": source})
    return {
        row.idx: StagedRow(
            row.sequence_id,
            row.photos,
            row.existing_id,
            row.existing_owner_id,
            row.image_key_taken,
        )
        for row in result
    }
