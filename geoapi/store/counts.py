"""``numberMatched``: exact counts that fit a time budget, cached per query and data version.

:func:`count_matched` runs the count SQL in its own transaction under ``SET LOCAL
statement_timeout``: a count PostgreSQL cancels at the budget is None (the response then omits
``numberMatched``, as OGC API Features allows). :class:`CountCache` remembers both outcomes per
(data version, query), so walking the pages of one query counts once; a filter on a property
whose changes do not move the data version (titles, likes) is never cached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

import psycopg2.errors
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from geoapi.store.features import ItemQuery, count_params, count_statement

MISSING = object()


def count_matched(engine: Engine, query: ItemQuery, budget_ms: int) -> int | None:
    """How many features ``query`` matches, or None when counting takes over ``budget_ms``."""
    try:
        with engine.begin() as conn:
            # psycopg2 binds client-side, so SET takes the bind like any statement.
            conn.execute(text("SET LOCAL statement_timeout = :ms"), {"ms": int(budget_ms)})
            count = conn.execute(count_statement(query), count_params(query)).scalar_one()
    except OperationalError as exc:
        if isinstance(exc.orig, psycopg2.errors.QueryCanceled):
            return None
        raise
    return int(count)


class CountCache:
    """A bounded, thread-safe map (data version, query key) → count or None (over budget)."""

    def __init__(self, size: int = 2048) -> None:
        self._size = size
        self._items: OrderedDict[tuple[int, Hashable], int | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: int, key: Hashable) -> object:
        """The cached outcome, or :data:`MISSING`."""
        with self._lock:
            entry = (version, key)
            if entry not in self._items:
                return MISSING
            self._items.move_to_end(entry)
            return self._items[entry]

    def put(self, version: int, key: Hashable, value: int | None) -> None:
        with self._lock:
            self._items[(version, key)] = value
            self._items.move_to_end((version, key))
            while len(self._items) > self._size:
                self._items.popitem(last=False)
