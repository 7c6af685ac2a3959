"""Write validated sequences (``geoapi.validation``): the one batch writer of every import.

Each sequence (its row, photos and tags) is written whole or not at all, by one statement
(``sql/insert_sequence.sql``) that refuses rather than fails on keys that exist; batches of
sequences share a commit. Each photo becomes a Point row carrying its ``ca`` and ``image_key``.
"""

from __future__ import annotations

import queue
import threading
import uuid
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal

import psycopg2.errors
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from geoapi.fields import MAX_TITLE
from geoapi.store import database_unavailable, read_sql
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
    transport_type_id = None
    if record.transport_type is not None:
        try:
            transport_type_id = transport_types.leaf_id(record.transport_type)
        except TaxonomyError as exc:
            return FeatureOutcome(
                0, record.key, "failed", reason=str(exc), field="transport_type", problem="invalid"
            )
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
    if row.sequence_id is None:
        existing_id, existing_owner_id = row.existing_id, row.existing_owner_id
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
        replace_tags(conn, "sequence", row.sequence_id, record.tags)
    return FeatureOutcome(0, record.key, "imported", sequence_id=row.sequence_id, photos=row.photos)


def _image_key_taken(record: SequenceRecord) -> FeatureOutcome:
    return FeatureOutcome(
        0, record.key, "failed", reason=IMAGE_KEY_TAKEN, field=IMAGE_KEYS, problem="image_key_taken"
    )


Item = tuple[int, SequenceRecord | FeatureError]


def _write_one(
    conn: Connection, owner_id: uuid.UUID, record: SequenceRecord, tt: TransportTypes, source: str
) -> FeatureOutcome:
    """One sequence in its own transaction: all of it is written, or nothing."""
    try:
        with conn.begin() as transaction:
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
    conn: Connection, owner_id: uuid.UUID, batch: list[Item], tt: TransportTypes, source: str
) -> list[FeatureOutcome]:
    """Write a batch of sequences, each whole or not at all.

    Each sequence is one statement that refuses (rather than fails on) existing keys, so a batch
    normally commits once. If the database raises anyway (a concurrent writer took an image key,
    a deadlock), the batch is rolled back and replayed one transaction per sequence.
    """
    records = [(i, item) for i, item in batch if isinstance(item, SequenceRecord)]
    outcomes: dict[int, FeatureOutcome] = {}
    if len(records) > 1:
        try:
            with conn.begin():
                for index, record in records:
                    outcomes[index] = write_sequence(conn, owner_id, record, tt, source)
        except DBAPIError as exc:
            if database_unavailable(exc):
                raise
            outcomes.clear()
    for index, record in records:
        if index not in outcomes:
            outcomes[index] = _write_one(conn, owner_id, record, tt, source)
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


def _batches(items: Iterable[SequenceRecord | FeatureError], size: int) -> Iterator[list[Item]]:
    numbered = enumerate(items)
    while batch := list(islice(numbered, size)):
        yield batch


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
) -> Iterator[FeatureOutcome]:
    """Write validated records; every sequence is atomic and reported once it is committed.
    An outage of the database (``geoapi.store.database_unavailable``) stops the run with the
    error; the outcomes yielded before it are exactly what was committed.

    ``batch_size`` sequences share a commit (bulk import); ``writers`` > 1 writes batches on
    that many connections at once, so PostgreSQL uses more than one core. Outcomes come in
    completion order, each carrying its input ``index``. ``transport_types`` is the tree if the
    caller holds it already (else it is read once).
    """
    with engine.connect() as conn:
        tt = transport_types or load_transport_types(conn)
        conn.rollback()
        if writers <= 1:
            for batch in _batches(items, batch_size):
                for outcome in _write_batch(conn, owner_id, batch, tt, source):
                    if on_outcome is not None:
                        on_outcome(outcome)
                    yield outcome
            return
    yield from _parallel(engine, owner_id, items, tt, source, on_outcome, batch_size, writers)


@dataclass
class _Batch:
    """A batch on its way to a writer: it waits for the earlier batches it shares a key with."""

    items: list[Item]
    after: list[threading.Event]
    done: threading.Event = field(default_factory=threading.Event)


def _keys(batch: list[Item]) -> array[int]:
    """Hashes of the sequence and image keys a batch writes, sorted (two batches sharing one
    must not race). A hash collision only makes a batch wait for nothing: cautious, not wrong."""
    keys: list[int] = []
    for _index, item in batch:
        if isinstance(item, SequenceRecord):
            keys.append(hash(("sequence", item.key)))
            keys.extend(map(hash, item.image_keys))
    return array("q", sorted(keys))


def _ordered_batches(items: Iterable[SequenceRecord | FeatureError], size: int) -> Iterator[_Batch]:
    """Batches that know which earlier batches still in flight share a key with them.

    So a writer holds a batch until those are committed, and the first sequence in input
    order wins a clash (a key or image key given twice), whatever the writers' timing. The
    batches in flight are few (the queue is short), so each is compared with them directly.
    """
    in_flight: deque[tuple[threading.Event, array[int]]] = deque()
    for items_ in _batches(items, size):
        while in_flight and in_flight[0][0].is_set():
            in_flight.popleft()
        keys = _keys(items_)
        wanted = set(keys)
        earlier = [
            done for done, held in in_flight if not done.is_set() and not wanted.isdisjoint(held)
        ]
        batch = _Batch(items_, earlier)
        in_flight.append((batch.done, keys))
        yield batch


def _parallel(
    engine: Engine,
    owner_id: uuid.UUID,
    items: Iterable[SequenceRecord | FeatureError],
    tt: TransportTypes,
    source: str,
    on_outcome: Callable[[FeatureOutcome], None] | None,
    batch_size: int,
    writers: int,
) -> Iterator[FeatureOutcome]:
    """A feeder thread batches ``items``; ``writers`` threads write on their own connections."""
    todo: queue.Queue[_Batch | None] = queue.Queue(maxsize=writers * 2)
    done: queue.Queue[list[FeatureOutcome] | BaseException | None] = queue.Queue()
    stop = threading.Event()

    def feed() -> None:
        try:
            for batch in _ordered_batches(items, batch_size):
                if stop.is_set():
                    break
                todo.put(batch)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            done.put(exc)
        for _ in range(writers):
            todo.put(None)

    def write() -> None:
        try:
            with engine.connect() as conn:
                while (batch := todo.get()) is not None:
                    try:
                        for earlier in batch.after:
                            while not earlier.wait(0.05) and not stop.is_set():
                                pass
                        if not stop.is_set():
                            done.put(_write_batch(conn, owner_id, batch.items, tt, source))
                    finally:
                        batch.done.set()
        except BaseException as exc:
            done.put(exc)
        done.put(None)

    threads = [threading.Thread(target=feed, daemon=True)]
    threads += [threading.Thread(target=write, daemon=True) for _ in range(writers)]
    for thread in threads:
        thread.start()
    finished = 0
    error: BaseException | None = None
    try:
        while finished < writers:
            got = done.get()
            if got is None:
                finished += 1
            elif isinstance(got, BaseException):
                error = error or got
                stop.set()
            else:
                for outcome in got:
                    if on_outcome is not None:
                        on_outcome(outcome)
                    yield outcome
    finally:
        stop.set()
    if error is not None:
        raise error


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
