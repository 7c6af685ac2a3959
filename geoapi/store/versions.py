"""The data version: a counter that every committed write changing what tiles show moves.

Triggers (``sql/migrations``) bump ``data_version_seq`` when such a write happens and again at
its commit, so a version read after the commit is one no reader could pair with the old data.
TileJSON's tile URL and the features' extent cache key on it.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session


def data_version(conn: Connection | Session) -> int:
    """The current data version; 0 on a fresh database (the sequence not yet called)."""
    version = conn.execute(
        text("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM data_version_seq")
    ).scalar_one()
    return int(version)
