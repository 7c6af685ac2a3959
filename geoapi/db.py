"""Database plumbing: the app's engines (a request pool and a tile pool, on the primary and on
each read replica), the request session, and where each read goes.

Every connection has a statement timeout and JIT set as configured. Store functions receive a
Session or Connection from here; they own their transactions (``geoapi.store.transaction``).

Routing (GEOAPI_DATABASE_REPLICA_URLS; without replicas everything is the primary's):

- views that only read call :func:`read_session`, :func:`read_engine` or :func:`read_tile`;
  everything else (writes, authentication, GET routes that write) uses :func:`get_session` /
  :func:`get_engine`, which are always the primary's;
- a read goes to a replica only in a GET or HEAD request whose primary session has not written
  (:func:`_primary_only`); once it has, later reads of the request use the primary session and
  see what it wrote;
- a request sticks to the replica it first read from; replicas behind the data version asked
  for (``?v=``, a cursor), or down, are passed over (:mod:`geoapi.replicas`); with none left
  the read goes to the primary.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import ORMExecuteState, Session

from geoapi.config import Settings
from geoapi.replicas import Replica, Replicas, ReplicaSkippedError, failed, replica_label
from geoapi.store.versions import data_version

ENGINE = "geoapi.engine"
TILE_ENGINE = "geoapi.tile_engine"
REPLICAS = "geoapi.replicas"
READ_METHODS = frozenset({"GET", "HEAD"})
# libpq's connect_timeout for replicas: an unreachable one costs at most this once per backoff.
REPLICA_CONNECT_TIMEOUT_S = 2
_SESSION = "geoapi_db_session"
_WROTE = "geoapi_db_wrote"
_TARGET = "geoapi_db_read_target"  # the Replica this request reads from, None: the primary
_REPLICA_SESSION = "geoapi_db_replica_session"
T = TypeVar("T")
log = logging.getLogger(__name__)


def make_engine(
    settings: Settings,
    *,
    name: str = "geoapi",
    statement_timeout_ms: int | None = None,
    autocommit: bool = False,
    pre_ping: bool = True,
    url: str | None = None,
    connect_timeout_s: int | None = None,
) -> Engine:
    """An engine (lazy: it connects on first use) with the statement timeout and JIT setting.

    ``name`` is the connections' ``application_name``; ``autocommit`` engines run every
    statement on its own (no BEGIN/ROLLBACK round trips), for read-only hot paths such as tiles.
    ``url`` is the primary's (``settings.database_url``) unless given.
    """
    timeout = statement_timeout_ms or settings.statement_timeout_ms
    options = (
        f"-c statement_timeout={int(timeout)} -c jit={'on' if settings.jit else 'off'}"
        f" -c idle_in_transaction_session_timeout={int(settings.idle_in_transaction_timeout_ms)}"
    )
    extra = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    connect_args: dict[str, object] = {"options": options, "application_name": name}
    if connect_timeout_s is not None:
        connect_args["connect_timeout"] = connect_timeout_s
    return create_engine(
        url or settings.database_url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_s,
        pool_pre_ping=pre_ping,
        connect_args=connect_args,
        **extra,
    )


def _tile_engine(settings: Settings, url: str | None = None, **kw: int) -> Engine:
    return make_engine(
        settings,
        name="geoapi-tiles",
        statement_timeout_ms=settings.tile_statement_timeout_ms,
        autocommit=True,
        pre_ping=False,
        url=url,
        **kw,
    )


def _replica(settings: Settings, url: str) -> Replica:
    timeout = REPLICA_CONNECT_TIMEOUT_S
    return Replica(
        label=replica_label(url),
        engine=make_engine(settings, url=url, connect_timeout_s=timeout),
        tile_engine=_tile_engine(settings, url, connect_timeout_s=timeout),
        retry_after_s=settings.replica_retry_after_s,
    )


def init_app(app: Flask, settings: Settings) -> None:
    """The app's engines (lazily connecting) and the per-request session teardown.

    Tiles get their own pool of autocommit connections without pre-ping and with the tile
    statement timeout, so a tile is exactly one round trip; so does each replica.
    """
    app.extensions[ENGINE] = make_engine(settings)
    app.extensions[TILE_ENGINE] = _tile_engine(settings)
    app.extensions[REPLICAS] = Replicas(
        [_replica(settings, url) for url in settings.database_replica_urls]
    )
    app.teardown_appcontext(lambda _exc: discard_session())


def get_engine(app: Flask | None = None) -> Engine:
    """The request pool's engine (the primary)."""
    engine: Engine = (app or current_app).extensions[ENGINE]
    return engine


def get_tile_engine(app: Flask | None = None) -> Engine:
    """The tile pool's engine (autocommit, tile statement timeout, no pre-ping; the primary)."""
    engine: Engine = (app or current_app).extensions[TILE_ENGINE]
    return engine


def get_replicas(app: Flask | None = None) -> Replicas:
    """The configured read replicas (possibly none)."""
    replicas: Replicas = (app or current_app).extensions[REPLICAS]
    return replicas


def dispose_engines(app: Flask, *, close: bool = True) -> None:
    """Drop every pooled connection (``close=False`` after a fork: the parent keeps them)."""
    for key in (ENGINE, TILE_ENGINE):
        app.extensions[key].dispose(close=close)
    get_replicas(app).dispose(close=close)


def get_session() -> Session:
    """The request's session on the primary, opened on first use and closed at teardown.

    Once it writes (a DML statement, a flush or a commit), the rest of the request reads from
    it too (:func:`read_session`).
    """
    session: Session | None = g.get(_SESSION)
    if session is None:
        session = Session(get_engine(), expire_on_commit=False)
        event.listen(session, "do_orm_execute", _note_statement)
        event.listen(session, "after_flush", _note_write)
        event.listen(session, "after_commit", _note_write)
        setattr(g, _SESSION, session)
    return session


def _note_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        _note_write()


def _note_write(*_args: object) -> None:
    setattr(g, _WROTE, True)


def discard_session() -> None:
    """Roll back and close the request's sessions, if it has any (errors, teardown)."""
    for key in (_SESSION, _REPLICA_SESSION):
        session: Session | None = g.pop(key, None)
        if session is not None:
            session.rollback()
            session.close()


# Reads ---------------------------------------------------------------------------------------


def _primary_only() -> bool:
    """The routing rule: replicas serve GET and HEAD requests that have not written."""
    if not get_replicas().members or not has_request_context():
        return True
    return request.method not in READ_METHODS or bool(g.get(_WROTE))


def _read_from(probe: Callable[[Replica], None]) -> Replica | None:
    """The replica this request reads from: the one it read from before, else the next in
    turn, for which ``probe`` (which connects and checks the lag) passes; None: the primary."""
    if _primary_only() or (_TARGET in g and g.get(_TARGET) is None):
        return None  # (or this request already fell back to the primary)
    for replica in get_replicas().candidates(first=g.get(_TARGET)):
        try:
            probe(replica)
        except ReplicaSkippedError as skipped:
            log.info("replica skipped: %s", skipped)
            continue
        except SQLAlchemyError as exc:
            if not failed(replica, exc):
                replica.mark_down()  # the probe only connects and reads the version
            log.warning("replica %s skipped: %s", replica.label, exc.__class__.__name__)
            continue
        setattr(g, _TARGET, replica)
        return replica
    setattr(g, _TARGET, None)
    return None


def read_session(min_version: int | None = None) -> Session:
    """The session for a request's pure reads: a replica's that has data version
    ``min_version`` (a cursor's or ``?v=``), else the primary's (:func:`get_session`)."""

    def probe(replica: Replica) -> None:
        session: Session | None = g.get(_REPLICA_SESSION)
        if session is None or session.get_bind() is not replica.engine:
            if session is not None:
                session.close()
            session = Session(replica.engine, expire_on_commit=False)
            setattr(g, _REPLICA_SESSION, session)
        try:
            session.connection()  # checks the connection out (pre-ping): a dead replica fails
            replica.check_fresh(session, min_version)
        except (SQLAlchemyError, ReplicaSkippedError):
            g.pop(_REPLICA_SESSION, None)
            session.close()
            raise

    replica = _read_from(probe)
    if replica is None:
        return get_session()
    session: Session = g.get(_REPLICA_SESSION)
    return session


def read_engine(min_version: int | None = None) -> Engine:
    """The request pool's engine for a streamed read (server-side cursor): a replica's that has
    data version ``min_version``, else the primary's."""

    def probe(replica: Replica) -> None:
        with replica.engine.connect() as conn:
            replica.check_fresh(conn, min_version)
            conn.rollback()

    replica = _read_from(probe)
    return get_engine() if replica is None else replica.engine


def read_tile(work: Callable[[Connection], T], min_version: int | None = None) -> T:
    """``work`` on a tile connection of a replica that has data version ``min_version`` (one
    round trip more only when no read has shown it there yet), else of the primary."""
    if not _primary_only():
        for replica in get_replicas().candidates():
            try:
                return _on_tile_engine(replica.tile_engine, work, replica, min_version)
            except ReplicaSkippedError as skipped:
                log.info("replica skipped: %s", skipped)
            except SQLAlchemyError as exc:
                if not failed(replica, exc):
                    raise
                log.warning("replica %s skipped: %s", replica.label, exc.__class__.__name__)
    return _on_tile_engine(get_tile_engine(), work)


def _on_tile_engine(
    engine: Engine,
    work: Callable[[Connection], T],
    replica: Replica | None = None,
    min_version: int | None = None,
) -> T:
    """``work`` on a connection of ``engine``; once more on a new one if the pooled one had
    died (the job pre-ping would do, without its round trip on every tile)."""

    def attempt() -> T:
        with engine.connect() as conn:
            if replica is not None:
                replica.check_fresh(conn, min_version)
            return work(conn)

    try:
        return attempt()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    return attempt()


# Health --------------------------------------------------------------------------------------


def replica_health(primary_version: int, app: Flask | None = None) -> list[dict[str, object]]:
    """One line per replica for /healthz: ``url`` (host:port/database), ``status`` ("ok" or
    "down") and ``lag_versions`` (how many data versions it is behind the primary's
    ``primary_version``; None when down). A replica that answers is back in turn at once."""
    lines: list[dict[str, object]] = []
    for replica in get_replicas(app).members:
        try:
            with replica.engine.connect() as conn:
                conn.execute(text("SET LOCAL statement_timeout = 2000"))
                version = data_version(conn)
                conn.rollback()
        except SQLAlchemyError as exc:
            replica.mark_down()
            log.warning("replica %s is down: %s", replica.label, exc.__class__.__name__)
            lines.append({"url": replica.label, "status": "down", "lag_versions": None})
            continue
        replica.mark_up(version)
        lag = max(primary_version - version, 0)
        lines.append({"url": replica.label, "status": "ok", "lag_versions": lag})
    return lines
