"""Data access: plain functions over a SQLAlchemy Connection or Session, with no Flask.

Each write function owns its transaction (``geoapi.db.transaction`` or ``engine.begin()``);
request-time SQL lives in ``geoapi/store/sql/*.sql``, shipped with the package, or is built
with SQLAlchemy Core over the typed models of :mod:`geoapi.store.models`. Values always travel
as bind parameters.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any, Concatenate, ParamSpec, TypeVar

import psycopg2
import psycopg2.errors
import sqlalchemy.exc
from psycopg2.errors import QueryCanceled
from sqlalchemy.orm import Session

P = ParamSpec("P")
T = TypeVar("T")

# A SQL file names a shared fragment once (``/*@include sequence_filters*/``) instead of
# repeating it: the filters of items, tiles and lists, the photo points of the two writers.
_INCLUDE = re.compile(r"/\*@include ([a-z_]+)\*/")


@functools.cache
def read_sql(name: str) -> str:
    """The request-time SQL of ``geoapi/store/sql/<name>.sql``, its includes expanded."""
    raw = (resources.files("geoapi.store") / "sql" / f"{name}.sql").read_text(encoding="utf-8")
    return _INCLUDE.sub(lambda match: read_sql(match.group(1)).rstrip(), raw)


@contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """One unit of work: commit when the block ends, roll back if it raises.

    Store functions wrap their writes in this, so a view never commits or rolls back itself.
    """
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    session.commit()


def committed(work: Callable[Concatenate[Any, P], T]) -> Callable[Concatenate[Session, P], T]:
    """``work`` (a store function that runs in its caller's transaction) as a unit of work of
    its own on a Session: committed when it returns, rolled back if it raises."""

    @functools.wraps(work)
    def unit(session: Session, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with transaction(session):
            return work(session, *args, **kwargs)

    return unit


# Database errors that are not bugs ----------------------------------------------------------


def statement_timed_out(exc: BaseException) -> bool:
    """Whether a database error is PostgreSQL cancelling a statement (``statement_timeout``)."""
    return isinstance(getattr(exc, "orig", None), QueryCanceled)


def database_unavailable(exc: BaseException) -> bool:
    """Whether an error means the database cannot serve now (down, restarting, out of
    connections, a dropped connection, a full pool): worth a retry, not a bug."""
    if isinstance(exc, sqlalchemy.exc.TimeoutError):  # no pooled connection came free
        return True
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    original = getattr(exc, "orig", None)
    if isinstance(original, psycopg2.errors.TransactionRollbackError | QueryCanceled):
        return False  # a deadlock or a timeout: this transaction's trouble, not an outage
    return isinstance(original, psycopg2.OperationalError | psycopg2.InterfaceError)


def write_conflicted(exc: BaseException) -> bool:
    """Whether a transaction was rolled back for a conflict with a concurrent one (deadlock,
    serialization failure): retrying it is the cure."""
    return isinstance(getattr(exc, "orig", None), psycopg2.errors.TransactionRollbackError)


def describe(exc: BaseException) -> str:
    """A one-line account of a database error for the log (no statement, no parameters)."""
    original = getattr(exc, "orig", None) or exc
    first = str(original).strip().splitlines()[:1]
    return f"{type(original).__name__}: {first[0][:200] if first else ''}"
