"""The schema migrations runner: ``sql/migrations/NNNN_verb_object.sql``, in order, forward only."""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)
MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# One lock id for "migrations are running", so two processes never apply them at once.
MIGRATION_LOCK_ID = 7_219_004_117


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations_dir() -> Path:
    """``sql/migrations`` of the source tree, else the copy a wheel installs under the prefix."""
    source = Path(__file__).resolve().parents[2] / "sql" / "migrations"
    installed = Path(sys.prefix) / "share" / "geoapi" / "migrations"
    return source if source.is_dir() or not installed.is_dir() else installed


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or migrations_dir()
    if not directory.is_dir():
        raise RuntimeError(f"migrations directory {directory} not found")
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = MIGRATION_NAME.match(path.name)
        if not match:
            raise RuntimeError(f"migration file {path.name} is not named NNNN_verb_object.sql")
        found.append(Migration(match.group(1), path.stem, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError("two migration files share a version number")
    return found


def _ensure_table(conn: Connection) -> None:
    conn.execute(
        text(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
    )


def applied_migrations(conn: Connection) -> dict[str, str]:
    _ensure_table(conn)
    rows = conn.execute(text("SELECT version, checksum FROM schema_migrations"))
    return {row.version: row.checksum for row in rows}


def upgrade(engine: Engine, directory: Path | None = None) -> list[str]:
    """Apply pending migrations in order, each in its own transaction; idempotent.

    Returns the names applied. A changed, already-applied file is an error: migrations are
    forward only.
    """
    applied_now: list[str] = []
    migrations = load_migrations(directory)
    with engine.connect() as conn:
        # Migrations may rewrite big tables or wait for locks: no request-time timeout here.
        conn.execute(text("SET statement_timeout = 0"))
        conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        conn.commit()  # the session-level lock outlives this transaction
        try:
            with conn.begin():
                done = applied_migrations(conn)
            for migration in migrations:
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise RuntimeError(
                            f"migration {migration.name} changed after it was applied; "
                            "add a new migration instead"
                        )
                    continue
                with conn.begin():
                    # The raw cursor, with no parameters, so '%' in PL/pgSQL is left alone.
                    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                    cursor.execute(migration.sql)
                    cursor.close()
                    conn.execute(
                        text(
                            "INSERT INTO schema_migrations (version, name, checksum)"
                            " VALUES (:v, :n, :c)"
                        ),
                        {"v": migration.version, "n": migration.name, "c": migration.checksum},
                    )
                log.info("applied migration %s", migration.name)
                applied_now.append(migration.name)
        finally:
            conn.rollback()
            conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            conn.execute(text("RESET statement_timeout"))
            conn.commit()
    return applied_now
