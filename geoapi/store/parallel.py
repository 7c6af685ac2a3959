"""Parallel bulk writing: a feeder thread cuts the validated records into batches that know which
earlier batches in flight share a key with them; writer threads write the batches on their own
connections with the importer's batch writer (``geoapi.store.importer``)."""

from __future__ import annotations

import queue
import threading
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from geoapi.validation import FeatureError, SequenceRecord

Item = tuple[int, SequenceRecord | FeatureError]
T = TypeVar("T")


def batches(items: Iterable[SequenceRecord | FeatureError], size: int) -> Iterator[list[Item]]:
    numbered = enumerate(items)
    while batch := list(islice(numbered, size)):
        yield batch


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
    for items_ in batches(items, size):
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


def write_parallel(
    engine: Engine,
    items: Iterable[SequenceRecord | FeatureError],
    write_batch: Callable[[Connection, list[Item]], list[T]],
    batch_size: int,
    writers: int,
) -> Iterator[list[T]]:
    """A feeder thread batches ``items``; ``writers`` threads write them with ``write_batch``
    on their own connections. Each batch's results come when it is written, in completion
    order; the first error stops it all and is raised."""
    todo: queue.Queue[_Batch | None] = queue.Queue(maxsize=writers * 2)
    done: queue.Queue[list[T] | BaseException | None] = queue.Queue()
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
                            done.put(write_batch(conn, batch.items))
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
                yield got
    finally:
        stop.set()
    if error is not None:
        raise error
