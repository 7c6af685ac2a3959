"""Database plumbing: the app's engines (a request pool and a tile pool) and the request session.

Every connection has a statement timeout and JIT set as configured. Store functions receive a
Session or Connection from here; they own their transactions (``geoapi.store.transaction``).
"""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from geoapi.config import Settings

ENGINE = "geoapi.engine"
TILE_ENGINE = "geoapi.tile_engine"
_SESSION = "geoapi_db_session"


def make_engine(
    settings: Settings,
    *,
    name: str = "geoapi",
    statement_timeout_ms: int | None = None,
    autocommit: bool = False,
    pre_ping: bool = True,
) -> Engine:
    """An engine (lazy: it connects on first use) with the statement timeout and JIT setting.

    ``name`` is the connections' ``application_name``; ``autocommit`` engines run every
    statement on its own (no BEGIN/ROLLBACK round trips), for read-only hot paths such as tiles.
    """
    timeout = statement_timeout_ms or settings.statement_timeout_ms
    options = (
        f"-c statement_timeout={int(timeout)} -c jit={'on' if settings.jit else 'off'}"
        f" -c idle_in_transaction_session_timeout={int(settings.idle_in_transaction_timeout_ms)}"
    )
    extra = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    return create_engine(
        settings.database_url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_s,
        pool_pre_ping=pre_ping,
        connect_args={"options": options, "application_name": name},
        **extra,
    )


def init_app(app: Flask, settings: Settings) -> None:
    """The app's engines (lazily connecting) and the per-request session teardown.

    Tiles get their own pool of autocommit connections without pre-ping and with the tile
    statement timeout, so a tile is exactly one round trip.
    """
    app.extensions[ENGINE] = make_engine(settings)
    app.extensions[TILE_ENGINE] = make_engine(
        settings,
        name="geoapi-tiles",
        statement_timeout_ms=settings.tile_statement_timeout_ms,
        autocommit=True,
        pre_ping=False,
    )
    app.teardown_appcontext(lambda _exc: discard_session())


def get_engine(app: Flask | None = None) -> Engine:
    """The request pool's engine."""
    engine: Engine = (app or current_app).extensions[ENGINE]
    return engine


def get_tile_engine(app: Flask | None = None) -> Engine:
    """The tile pool's engine (autocommit, tile statement timeout, no pre-ping)."""
    engine: Engine = (app or current_app).extensions[TILE_ENGINE]
    return engine


def dispose_engines(app: Flask, *, close: bool = True) -> None:
    """Drop every pooled connection (``close=False`` after a fork: the parent keeps them)."""
    for key in (ENGINE, TILE_ENGINE):
        app.extensions[key].dispose(close=close)


def get_session() -> Session:
    """The request's session, opened on first use and closed at teardown."""
    session: Session | None = g.get(_SESSION)
    if session is None:
        session = Session(get_engine(), expire_on_commit=False)
        setattr(g, _SESSION, session)
    return session


def discard_session() -> None:
    """Roll back and close the request's session, if it has one (errors, teardown)."""
    session: Session | None = g.pop(_SESSION, None)
    if session is not None:
        session.rollback()
        session.close()
