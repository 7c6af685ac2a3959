"""Bulk loads into an empty photos table: its search indexes are built once, at the end.

Updating the bbox GiST and the photo tiles' B-tree (``photos_tile_idx``) row by row is most
of what a photo insert costs once they outgrow shared buffers, while a sorted build of the
finished table takes seconds to tens of seconds per index for ten million photos. So
``geoapi import``, finding no photo at all, drops them (``sql/photo_indexes_defer.sql``) and
builds them when it ends, both at once (``sql/photo_indexes_build.sql``). Unique constraints
stay, so concurrent writers stay correct; until the build, bbox queries and photo tiles read
without those indexes (slowly). A load that dies half-way leaves them missing: the next import
and ``geoapi db upgrade`` build them.
"""

from __future__ import annotations

import logging
import re
import threading

from sqlalchemy import Engine, text

from geoapi.store import read_sql

log = logging.getLogger(__name__)
_INDEX_NAME = re.compile(r"CREATE INDEX IF NOT EXISTS (\w+) ON")
BUILD_MEMORY = "512MB"  # maintenance_work_mem per build: a sorted GiST build of 10M points


def _statements(name: str) -> list[str]:
    lines = [line for line in read_sql(name).splitlines() if not line.startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


def defer_photo_indexes(engine: Engine) -> bool:
    """Drop photos' spatial indexes if the table is empty (checked under a lock that keeps
    writers out meanwhile); whether it did."""
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL lock_timeout = '5s'"))
        conn.execute(text("LOCK TABLE photos IN SHARE ROW EXCLUSIVE MODE"))
        if conn.execute(text("SELECT EXISTS (SELECT 1 FROM photos)")).scalar_one():
            return False
        for statement in _statements("photo_indexes_defer"):
            conn.execute(text(statement))
    log.info("bulk load into an empty photos table: spatial indexes are built at the end")
    return True


def build_photo_indexes(engine: Engine) -> list[str]:
    """Build the deferred photo indexes that are missing, at once, then ANALYZE the loaded
    tables if any was built; the names built."""
    built: list[str] = []
    errors: list[BaseException] = []

    def build(statement: str) -> None:
        name = _INDEX_NAME.search(statement)
        assert name is not None, statement
        try:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                if conn.execute(text("SELECT to_regclass(:n)"), {"n": name[1]}).scalar():
                    return
                conn.execute(text("SET statement_timeout = 0"))
                conn.execute(text("SET maintenance_work_mem = :memory"), {"memory": BUILD_MEMORY})
                conn.execute(text(statement))  # IF NOT EXISTS: another process may build it too
                conn.execute(text("RESET maintenance_work_mem"))
                conn.execute(text("RESET statement_timeout"))
            built.append(name[1])
        except BaseException as exc:  # re-raised below, once every build has ended
            errors.append(exc)

    statements = _statements("photo_indexes_build")
    threads = [threading.Thread(target=build, args=(statement,)) for statement in statements]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    if built:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SET statement_timeout = 0"))
            conn.execute(text("ANALYZE photos"))
            conn.execute(text("ANALYZE sequences"))
            conn.execute(text("RESET statement_timeout"))
        log.info("built the deferred photo indexes %s", ", ".join(sorted(built)))
    return sorted(built)
