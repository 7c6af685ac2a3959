"""Streaming read replicas (GEOAPI_DATABASE_REPLICA_URLS): their engines, health and versions.

No Flask here: :mod:`geoapi.db` decides which request may read where; this module only knows
each replica's state and the rules that belong to it:

- **health**: a replica that failed to connect or answer is skipped for
  ``GEOAPI_REPLICA_RETRY_AFTER_S`` (5 s), then tried again;
- **lag**: a replica serves a read that asks for data version ``v`` only when its own
  ``data_version`` is at least ``v``. Versions only grow on a replica, so the highest one seen
  there is remembered and the check costs a query only when a request asks for more;
- **turns**: healthy replicas take reads in turn (round robin).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from geoapi.store import database_unavailable, describe, write_conflicted
from geoapi.store.versions import data_version


class ReplicaSkippedError(Exception):
    """This replica cannot serve this read; another one or the primary will."""


class ReplicaBehindError(ReplicaSkippedError):
    """The replica has not replayed the data version a request asks for."""


@dataclass(eq=False)
class Replica:
    """One replica: a request pool and a tile pool (like the primary's), its health and the
    highest data version seen on it."""

    label: str  # host:port/database, no credentials (logs, /healthz)
    engine: Engine
    tile_engine: Engine
    retry_after_s: float
    down_until: float = 0.0
    seen_version: int = -1

    def healthy(self) -> bool:
        return time.monotonic() >= self.down_until

    def mark_down(self) -> None:
        """Skip this replica for ``retry_after_s``; forget its version (it may come back
        rebuilt)."""
        self.down_until = time.monotonic() + self.retry_after_s
        self.seen_version = -1

    def mark_up(self, version: int) -> None:
        self.down_until = 0.0
        self.seen_version = max(self.seen_version, version)

    def check_fresh(self, conn: Connection | Session, min_version: int | None) -> None:
        """ReplicaBehindError unless the replica has data version ``min_version`` (None: any).

        Without a known-high-enough version this reads ``data_version`` on ``conn``, which
        also opens the connection; otherwise it does nothing.
        """
        if min_version is None or min_version <= self.seen_version:
            return
        try:
            version = data_version(conn)
        except SQLAlchemyError as exc:
            if database_unavailable(exc) or write_conflicted(exc):
                raise  # the caller's to judge (:func:`failed`)
            self.mark_down()  # not a copy of this database (no data_version table...)
            raise ReplicaSkippedError(f"{self.label}: {describe(exc)}") from exc
        self.seen_version = max(self.seen_version, version)
        if version < min_version:
            raise ReplicaBehindError(f"{self.label} is at data version {version} < {min_version}")

    def dispose(self, *, close: bool = True) -> None:
        self.engine.dispose(close=close)
        self.tile_engine.dispose(close=close)


def failed(replica: Replica, exc: SQLAlchemyError) -> bool:
    """Whether ``exc`` on ``replica`` means "read elsewhere": an outage (the replica is then
    skipped for a while) or a recovery conflict that cancelled the query (it stays in turn)."""
    if database_unavailable(exc):
        replica.mark_down()
        return True
    return write_conflicted(exc)


def replica_label(url: str) -> str:
    """``host:port/database`` of a database URL: no user, no password."""
    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


@dataclass(eq=False)
class Replicas:
    """The app's replicas, in turn."""

    members: list[Replica]
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    def candidates(self, first: Replica | None = None) -> list[Replica]:
        """The healthy replicas, starting with ``first`` (when healthy), then the next in
        turn."""
        healthy = [replica for replica in self.members if replica.healthy()]
        if not healthy:
            return []
        start = next(self._turn) % len(healthy)
        ordered = healthy[start:] + healthy[:start]
        if first is not None and first in ordered:
            ordered.remove(first)
            ordered.insert(0, first)
        return ordered

    def dispose(self, *, close: bool = True) -> None:
        for replica in self.members:
            replica.dispose(close=close)
