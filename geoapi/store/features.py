"""Queries behind the features API and the exports: pages, streams, single items, extents.

Plain functions over a SQLAlchemy connection or session; GeoJSON Feature text is built in SQL
(``geoapi/store/sql/feature_*.sql``) so Python only joins strings. Keyset paging: sequences by
``id``, photos by ``(sequence_id, position)``; a cursor carries the last key of the previous page
and the data version of the first.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from geoapi.filters import SequenceFilters
from geoapi.geo import BBox, envelope_params
from geoapi.paging import cursor_int, cursor_uuid, decode_cursor, encode_cursor
from geoapi.store import read_sql

CollectionId = Literal["sequences", "photos"]
COLLECTIONS: tuple[CollectionId, ...] = ("sequences", "photos")
Key = tuple[str, int]
Conn = Connection | Session


@dataclass(frozen=True)
class ItemQuery:
    """A validated items/export request: which rows, how many, from which keyset position."""

    collection: CollectionId
    filters: SequenceFilters
    bbox: BBox | None = None
    limit: int | None = None  # None: every matching row (exports)
    after: Key | None = None
    sequence_id: uuid.UUID | None = None
    # The data version the cursor's first page was read at (None: no cursor, or an old one).
    version: int | None = None

    def cursor_after(self, key: Key, version: int | None = None) -> str:
        """The opaque cursor of the page that starts after ``key``, carrying ``version``
        (:func:`geoapi.store.versions.page_version`)."""
        if self.collection == "sequences":
            return encode_cursor("sequences", key[0], version=version)
        return encode_cursor("photos", key[0], key[1], version=version)

    @staticmethod
    def parse_cursor(collection: CollectionId, raw: str) -> Key:
        """The key a cursor of :meth:`cursor_after` carries; 400 naming ``cursor``."""
        if collection == "sequences":
            (last_id,) = decode_cursor(raw, "sequences", 1)
            return str(cursor_uuid(last_id)), 0
        last_id, position = decode_cursor(raw, "photos", 2)
        return str(cursor_uuid(last_id)), cursor_int(position)


@dataclass(frozen=True)
class Page:
    features: str  # the Feature objects, comma-separated, in keyset order
    returned: int
    next_after: Key | None  # the last key when another page follows, else None


def items_sql(collection: CollectionId) -> str:
    """The static SQL of a collection's rows (k1, k2, feature) with the shared filters inlined."""
    return read_sql(f"feature_{collection}")


def items_params(query: ItemQuery) -> dict[str, Any]:
    """Bind parameters for ``items_sql``; dates move to the photo's own time for photos."""
    filters = query.filters
    params: dict[str, Any] = {
        **envelope_params(query.bbox),
        "after_k1": query.after[0] if query.after else None,
        "after_k2": query.after[1] if query.after else None,
        "limit": query.limit,
    }
    if query.collection == "sequences":
        params["item_id"] = None
    else:
        # A photo's time is its own when known, else its sequence's: filtered on the photo row.
        params.update(p_start=filters.start, p_end=filters.end, sequence_id=query.sequence_id)
        filters = replace(filters, start=None, end=None)
    return {**params, **filters.params()}


def fetch_page(conn: Conn, query: ItemQuery) -> Page:
    """One page of Features in a single round trip (aggregated in SQL), knowing if more follow."""
    if query.limit is None:
        raise ValueError("a page needs a limit")
    sql = read_sql("feature_page").replace("/*ITEMS*/", items_sql(query.collection))
    params = {**items_params(query), "limit": query.limit + 1, "page_limit": query.limit}
    row = conn.execute(text(sql), params).one()
    after = (str(row.last_k1), int(row.last_k2)) if row.more else None
    return Page(features=row.features, returned=int(row.returned), next_after=after)


def iter_feature_batches(
    engine: Engine, query: ItemQuery, batch_size: int = 500
) -> Iterator[list[tuple[str, Key]]]:
    """Stream ``(feature, key)`` rows in batches from a server-side cursor, in constant memory.

    The connection is held until the iterator is exhausted or closed; each FETCH is its own
    statement under the statement timeout.
    """
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, max_row_buffer=batch_size).execute(
            text(items_sql(query.collection)), items_params(query)
        )
        try:
            for rows in result.partitions(batch_size):
                yield [(row.feature, (str(row.k1), int(row.k2))) for row in rows]
        finally:
            result.close()
            conn.rollback()


def get_feature(conn: Conn, collection: CollectionId, item_id: uuid.UUID) -> str | None:
    """One published Feature's GeoJSON text, or None."""
    if collection == "photos":
        return conn.execute(text(read_sql("feature_photo")), {"photo_id": item_id}).scalar()
    query = ItemQuery("sequences", SequenceFilters(), limit=1)
    params = {**items_params(query), "item_id": item_id}
    row = conn.execute(text(items_sql("sequences")), params).one_or_none()
    return None if row is None else str(row.feature)


@dataclass(frozen=True)
class Extent:
    bbox: tuple[float, float, float, float] | None
    start: datetime | None
    end: datetime | None


def data_extent(conn: Conn) -> Extent:
    """Spatial (lon/lat) and temporal extent of the published sequences and photos."""
    row = conn.execute(text(read_sql("feature_extent"))).one()
    box = None if row.xmin is None else (row.xmin, row.ymin, row.xmax, row.ymax)
    return Extent(bbox=box, start=row.tmin, end=row.tmax)
