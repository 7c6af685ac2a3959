"""Write validated sequences (``geoapi.validation``): the one batch writer of every import.

Each sequence (its row, photos and tags) is written whole or not at all, by one statement
(``sql/insert_sequence.sql``) that refuses rather than fails on keys that exist; batches of
sequences share a commit. Each photo becomes a Point row carrying its ``ca`` and ``image_key``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg2.errors
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from geoapi.fields import MAX_TITLE
from geoapi.store import database_unavailable, read_sql
from geoapi.store.parallel import Item, batches, write_parallel
from geoapi.store.staging import BatchClash, split_clashes, write_staged
from geoapi.store.taxonomy import load_transport_types, replace_tags
from geoapi.taxonomy import TaxonomyError, TransportTypes
from geoapi.validation import (
    IMAGE_KEY_TAKEN,
    IMAGE_KEYS,
    FeatureError,
    ImportOptions,
    Problem,
    SequenceRecord,
    feature_key,
    iter_features,
    parse_features,
)

Status = Literal["imported", "exists", "failed"]


@dataclass
class FeatureOutcome:
    index: int
    key: str | None
    status: Status
    sequence_id: uuid.UUID | None = None
    photos: int = 0
    reason: str | None = None
    field: str | None = None
    problem: Problem | None = None  # why it failed, for the caller to pick a status

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "key": self.key, "status": self.status}
        if self.sequence_id is not None:
            out["sequence_id"] = str(self.sequence_id)
        if self.status == "imported":
            out["photos"] = self.photos
        if self.reason is not None:
            out["reason"] = self.reason
        if self.field is not None:
            out["field"] = self.field
        return out


@dataclass
class ImportReport:
    outcomes: list[FeatureOutcome] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    def to_json(self) -> dict[str, Any]:
        return {
            "imported": self.count("imported"),
            "exists": self.count("exists"),
            "failed": self.count("failed"),
            "results": [outcome.to_json() for outcome in self.outcomes],
        }


# Writing -----------------------------------------------------------------------------------------


def default_title(record: SequenceRecord) -> str:
    when = record.captured_at.strftime("%Y-%m-%d") if record.captured_at else None
    return " ".join(part for part in ("Sequence", when, record.key) if part)[:MAX_TITLE]


def _transport_type_id(
    record: SequenceRecord, types: TransportTypes
) -> int | FeatureOutcome | None:
    """The record's transport type id (None for none), or its failure."""
    if record.transport_type is None:
        return None
    try:
        return types.leaf_id(record.transport_type)
    except TaxonomyError as exc:
        return FeatureOutcome(
            0, record.key, "failed", reason=str(exc), field="transport_type", problem="invalid"
        )


def write_sequence(
    conn: Connection,
    owner_id: uuid.UUID,
    record: SequenceRecord,
    transport_types: TransportTypes,
    source: str = "geojson",
) -> FeatureOutcome:
    """Write one sequence and its photos on ``conn`` (the caller's transaction).

    Idempotent per key: a key the owner already has is ``exists`` and changes nothing; a key
    owned by someone else is ``failed``; neither touches the existing row.
    """
    transport_type_id = _transport_type_id(record, transport_types)
    if isinstance(transport_type_id, FeatureOutcome):
        return transport_type_id
    row = conn.execute(
        text(read_sql("insert_sequence")),
        {
            "lons": record.lons,
            "lats": record.lats,
            "cas": record.cas,
            "image_keys": record.image_keys,
            "owner_id": owner_id,
            "key": record.key,
            "user_key": record.user_key,
            "username": record.username,
            "title": record.title or default_title(record),
            "description": record.description,
            "transport_type_id": transport_type_id,
            "camera_make": record.camera_make,
            "captured_at": record.captured_at,
            "created_at": record.created_at,
            "pano": record.pano,
            "source": source,
        },
    ).one()
    return _decide(
        conn, owner_id, record, row.sequence_id, row.photos, row.existing_id, row.existing_owner_id
    )


def _decide(
    conn: Connection,
    owner_id: uuid.UUID,
    record: SequenceRecord,
    sequence_id: uuid.UUID | None,
    photos: int,
    existing_id: uuid.UUID | None,
    existing_owner_id: uuid.UUID | None,
) -> FeatureOutcome:
    """The outcome of a written (or refused) sequence, from what its statement returned: the
    new id, or the existing row of its key; neither means an image key was taken. Tags are
    written for an imported sequence."""
    if sequence_id is None:
        if existing_id is None:  # perhaps inserted concurrently, after the statement's snapshot
            again = conn.execute(
                text("SELECT id, owner_id FROM sequences WHERE mapillary_key = :key"),
                {"key": record.key},
            ).one_or_none()
            if again is not None:
                existing_id, existing_owner_id = again.id, again.owner_id
        if existing_id is not None and existing_owner_id == owner_id:
            return FeatureOutcome(0, record.key, "exists", sequence_id=existing_id)
        if existing_id is not None:
            return FeatureOutcome(
                0,
                record.key,
                "failed",
                reason=f"sequence key {record.key!r} was imported by another user",
                field="properties.key",
                problem="key_of_another_user",
            )
        return _image_key_taken(record)
    if record.tags:
        replace_tags(conn, "sequence", sequence_id, record.tags)
    return FeatureOutcome(0, record.key, "imported", sequence_id=sequence_id, photos=photos)


def _image_key_taken(record: SequenceRecord) -> FeatureOutcome:
    return FeatureOutcome(
        0, record.key, "failed", reason=IMAGE_KEY_TAKEN, field=IMAGE_KEYS, problem="image_key_taken"
    )


def _relax(conn: Connection, durable: bool) -> None:
    """In a bulk import's transaction: commit without waiting for the WAL flush."""
    if not durable:
        conn.execute(text("SET LOCAL synchronous_commit = off"))


def _write_one(
    conn: Connection,
    owner_id: uuid.UUID,
    record: SequenceRecord,
    tt: TransportTypes,
    source: str,
    durable: bool = True,
) -> FeatureOutcome:
    """One sequence in its own transaction: all of it is written, or nothing."""
    try:
        with conn.begin() as transaction:
            _relax(conn, durable)
            outcome = write_sequence(conn, owner_id, record, tt, source)
            if outcome.status != "imported":
                transaction.rollback()
    except DBAPIError as exc:
        if database_unavailable(exc):  # an outage, not this sequence's fault: stop here
            raise
        if isinstance(exc.orig, psycopg2.errors.UniqueViolation):  # a concurrent writer
            return _image_key_taken(record)
        return FeatureOutcome(
            0,
            record.key,
            "failed",
            reason="the database refused the sequence",
            field=IMAGE_KEYS,
            problem="refused",
        )
    return outcome


def _write_batch(
    conn: Connection,
    owner_id: uuid.UUID,
    batch: list[Item],
    tt: TransportTypes,
    source: str,
    durable: bool = True,
) -> list[FeatureOutcome]:
    """Write a batch of sequences, each whole or not at all.

    The batch is written set-based (``geoapi.store.staging``) and normally commits once. If an
    image key is another sequence's, or the database raises (a concurrent writer took a key, a
    deadlock), the batch is rolled back and replayed one transaction per sequence, each one
    statement that refuses (rather than fails on) existing keys and taken image keys.
    """
    records = [(i, item) for i, item in batch if isinstance(item, SequenceRecord)]
    outcomes: dict[int, FeatureOutcome] = {}
    if len(records) > 1:
        try:
            with conn.begin():
                _relax(conn, durable)
                outcomes.update(_write_set(conn, owner_id, records, tt, source))
        except BatchClash:
            outcomes.clear()
        except DBAPIError as exc:
            if database_unavailable(exc):
                raise
            outcomes.clear()
    for index, record in records:
        if index not in outcomes:
            outcomes[index] = _write_one(conn, owner_id, record, tt, source, durable)
    result = []
    for index, item in batch:
        if isinstance(item, FeatureError):
            outcome = FeatureOutcome(
                index, None, "failed", reason=item.message, field=item.field, problem="invalid"
            )
        else:
            outcome = outcomes[index]
            outcome.index = index
        result.append(outcome)
    return result


def _write_set(
    conn: Connection,
    owner_id: uuid.UUID,
    records: list[tuple[int, SequenceRecord]],
    tt: TransportTypes,
    source: str,
) -> dict[int, FeatureOutcome]:
    """A batch in the caller's transaction: staged and written by one statement
    (``geoapi.store.staging``), then the records that clash with an earlier one of the batch
    one at a time, in input order."""
    outcomes: dict[int, FeatureOutcome] = {}
    staged: list[tuple[int, SequenceRecord, str, int | None]] = []
    staged_at, later_at = split_clashes([record for _index, record in records])
    for at in staged_at:
        index, record = records[at]
        transport_type_id = _transport_type_id(record, tt)
        if isinstance(transport_type_id, FeatureOutcome):
            outcomes[index] = transport_type_id
        else:
            staged.append((index, record, record.title or default_title(record), transport_type_id))
    if staged:
        rows = write_staged(conn, owner_id, staged, source)
        for index, record, _title, _type in staged:
            row = rows[index]
            outcomes[index] = _decide(
                conn,
                owner_id,
                record,
                row.sequence_id,
                row.photos,
                row.existing_id,
                row.existing_owner_id,
            )
    for at in later_at:
        index, record = records[at]
        outcomes[index] = write_sequence(conn, owner_id, record, tt, source)
    return outcomes


def import_records(
    engine: Engine,
    owner_id: uuid.UUID,
    items: Iterable[SequenceRecord | FeatureError],
    *,
    source: str = "geojson",
    on_outcome: Callable[[FeatureOutcome], None] | None = None,
    batch_size: int = 1,
    writers: int = 1,
    transport_types: TransportTypes | None = None,
    durable: bool = True,
) -> Iterator[FeatureOutcome]:
    """Write validated records; every sequence is atomic and reported once it is committed.
    An outage of the database (``geoapi.store.database_unavailable``) stops the run with the
    error; the outcomes yielded before it are exactly what was committed.

    ``batch_size`` sequences share a commit (bulk import); ``writers`` > 1 writes batches on
    that many connections at once, so PostgreSQL uses more than one core. Outcomes come in
    completion order, each carrying its input ``index``. ``transport_types`` is the tree if the
    caller holds it already (else it is read once).

    ``durable=False`` (bulk import) commits batches without waiting for their WAL to reach the
    disk (``synchronous_commit = off``); the run ends with one commit that waits, so all it
    reported is durable when it returns. A server crash in between may forget the last
    batches; running the same import again writes exactly those (every write is idempotent).
    """

    def write(conn: Connection, batch: list[Item]) -> list[FeatureOutcome]:
        return _write_batch(conn, owner_id, batch, tt, source, durable)

    with engine.connect() as conn:
        tt = transport_types or load_transport_types(conn)
        conn.rollback()
        if writers <= 1:
            results = (write(conn, batch) for batch in batches(items, batch_size))
            yield from _report(results, on_outcome)
    if writers > 1:
        yield from _report(write_parallel(engine, items, write, batch_size, writers), on_outcome)
    if not durable:
        with engine.connect() as conn:
            flush_commits(conn)


def _report(
    results: Iterator[list[FeatureOutcome]], on_outcome: Callable[[FeatureOutcome], None] | None
) -> Iterator[FeatureOutcome]:
    for outcomes in results:
        for outcome in outcomes:
            if on_outcome is not None:
                on_outcome(outcome)
            yield outcome


def flush_commits(conn: Connection) -> None:
    """Wait until every commit so far is on disk: a transaction with an id commits
    synchronously, and its flush covers all the WAL before it."""
    with conn.begin():
        conn.execute(text("SET LOCAL synchronous_commit = on"))
        conn.execute(text("SELECT txid_current()"))


def import_feature_collection(
    engine: Engine,
    owner_id: uuid.UUID,
    document: object,
    options: ImportOptions | None = None,
    transport_types: TransportTypes | None = None,
) -> ImportReport:
    """Import a Mapillary v3 FeatureCollection (or one Feature) for ``owner_id``.

    Every feature gets an outcome (imported / exists / failed with the reason and field); one bad
    feature never stops the good ones. DocumentError if the document is not GeoJSON at all.
    """
    features = iter_features(document)
    report = ImportReport()
    options = options or ImportOptions()
    records = parse_features(features, options)
    outcomes = import_records(
        engine, owner_id, records, source=options.source, transport_types=transport_types
    )
    for outcome in outcomes:
        if outcome.key is None:
            outcome.key = feature_key(features[outcome.index])
        report.outcomes.append(outcome)
    return report
