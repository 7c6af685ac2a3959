"""The data version: a counter that every committed write changing what tiles show moves.

It lives in the one-row table ``data_version`` (``sql/migrations/0006``), set from
``data_version_seq`` by at-commit triggers once per writing transaction, so it changes exactly
when such a write commits, and a streaming replica shows exactly the version of the data it
has replayed. TileJSON's tile URL, the features' extent cache and the cursors of paged reads
carry it; a replica behind the version a request asks for is not used (``geoapi.db``).
"""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

# COALESCE: a table emptied by hand reads as 0 rather than failing every tile.
_READ = text("SELECT COALESCE((SELECT version FROM data_version), 0)")


def data_version(conn: Connection | Session) -> int:
    """The current data version (0 on a fresh database), as of this statement's snapshot."""
    return int(conn.execute(_READ).scalar_one())


def engine_data_version(engine: Engine) -> int:
    """:func:`data_version` on a connection of its own from ``engine``."""
    with engine.connect() as conn:
        version = data_version(conn)
        conn.rollback()
    return version


def page_version(source: Connection | Session | Engine, carried: int | None) -> int:
    """The data version a next-page cursor carries: the first page's, which the request's
    cursor ``carried``, else the current one on ``source``, read after the first page."""
    if carried is not None:
        return carried
    if isinstance(source, Engine):
        return engine_data_version(source)
    return data_version(source)
