"""Where the database comes from, in ARCHITECTURE.md's order, for commands and tests alike.

1. an explicit URL (``GEOAPI_DATABASE_URL``; tests: ``GEOAPI_TEST_DATABASE_URL``);
2. a PostgreSQL server on 127.0.0.1:5432 (trust auth, user ``postgres``);
3. a throwaway ``postgis/postgis`` container via testcontainers, where a Docker engine answers.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

log = logging.getLogger(__name__)
LOCAL_SERVER = ("127.0.0.1", 5432)
LOCAL_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/{database}"
POSTGIS_IMAGE = "postgis/postgis:15-3.4"

_containers: list[Any] = []  # kept referenced so testcontainers does not reap them early


class ProvisionError(RuntimeError):
    """No PostgreSQL could be found or started."""


def server_listening(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _start_container(database: str) -> str:
    try:
        from testcontainers.postgres import PostgresContainer
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise ProvisionError(
            "no PostgreSQL on 127.0.0.1:5432 and testcontainers is not installed"
        ) from exc
    try:
        container = PostgresContainer(POSTGIS_IMAGE, dbname=database, driver="psycopg2")
        container.start()
    except Exception as exc:  # pragma: no cover - depends on the machine
        raise ProvisionError(
            "no PostgreSQL on 127.0.0.1:5432 and no Docker engine for testcontainers; "
            "set GEOAPI_DATABASE_URL to a PostgreSQL server with PostGIS"
        ) from exc
    _containers.append(container)
    url: str = container.get_connection_url()
    return url


def resolve_database_url(explicit: str | None, database: str = "geoapi") -> str:
    """The URL to use: explicit, else the local server, else a container."""
    if explicit:
        return explicit
    if server_listening(*LOCAL_SERVER):
        return LOCAL_URL.format(database=database)
    log.info("no PostgreSQL on %s:%s; starting a PostGIS container", *LOCAL_SERVER)
    return _start_container(database)


def ensure_database(url: str | URL) -> bool:
    """Create the database named in ``url`` (with PostGIS) if missing; True if it was created."""
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    created = False
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
            ).scalar()
            if not exists:
                # CREATE DATABASE takes no bind parameters; quote the identifier instead.
                quoted = conn.dialect.identifier_preparer.quote(str(target.database))
                conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
                created = True
    finally:
        admin.dispose()
    engine = create_engine(target, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
    finally:
        engine.dispose()
    return created


def drop_database(url: str | URL) -> None:
    """Drop the database named in ``url``, disconnecting its sessions first."""
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": target.database},
            )
            quoted = conn.dialect.identifier_preparer.quote(str(target.database))
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}")
    finally:
        admin.dispose()
