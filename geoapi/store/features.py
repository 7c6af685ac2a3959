"""Queries behind the features API and the exports: pages, streams, single items, extents.

Plain functions over a SQLAlchemy connection or session; GeoJSON Feature text is built in SQL
(``geoapi/store/sql/feature_*.sql``) so Python only joins strings. Keyset paging: sequences by
``id``, photos by ``(sequence_id, position)``; a cursor carries the last key of the previous
page (under a ``sortby`` the last row's sort key values too: ``geoapi.store.sorting``) and the
data version of the first page.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, TextClause, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from geoapi.crs import CRS84, Crs
from geoapi.errors import bad_parameter
from geoapi.filters import SequenceFilters
from geoapi.geo import BBox, envelope_params
from geoapi.ogc import COLLECTIONS, CollectionId
from geoapi.paging import (
    MAX_SORTED_CURSOR,
    cursor_int,
    cursor_uuid,
    cursor_version,
    decode_cursor,
    encode_cursor,
)
from geoapi.queryables import SortKey
from geoapi.store import read_sql
from geoapi.store.cql import CqlFilter
from geoapi.store.sorting import (
    SORTED_CURSOR,
    bind_sort_values,
    cursor_sort_values,
    sort_regions,
)

__all__ = ["COLLECTIONS", "CollectionId", "ItemQuery", "Key", "Page"]

# (k1, k2, sort key values as JSON text or None): a row's place in its listing.
Key = tuple[str, int, str | None]
Conn = Connection | Session
# A region of a SQL file: /*@name*/default/*@end*/ (see feature_sequences.sql).
_REGION = re.compile(r"/\*@([a-z_]+)\*/(.*?)/\*@end\*/", re.DOTALL)


@dataclass(frozen=True)
class ItemQuery:
    """A validated items/export request: which rows, how many, from which keyset position,
    in which order, CRS and property selection."""

    collection: CollectionId
    filters: SequenceFilters
    bbox: BBox | None = None
    limit: int | None = None  # None: every matching row (exports)
    after: Key | None = None
    sequence_id: uuid.UUID | None = None
    cql: CqlFilter | None = None
    sort: tuple[SortKey, ...] = ()
    after_sort: tuple[Any, ...] | None = None  # the sort key values of ``after``
    crs: Crs = CRS84
    properties: tuple[str, ...] | None = None
    # The data version the cursor's first page was read at (None: no cursor, or an old one).
    version: int | None = None

    def cursor_after(self, key: Key, version: int | None = None) -> str:
        """The opaque cursor of the page that starts after ``key``, carrying ``version``
        (:func:`geoapi.store.versions.page_version`)."""
        if self.sort:
            spec = ",".join(str(k) for k in self.sort)
            values = cursor_sort_values(key[2], self.collection, self.sort)
            return encode_cursor(
                SORTED_CURSOR[self.collection], spec, *values, key[0], key[1], version=version
            )
        if self.collection == "sequences":
            return encode_cursor("sequences", key[0], version=version)
        return encode_cursor("photos", key[0], key[1], version=version)

    def with_cursor(self, raw: str) -> ItemQuery:
        """This query continued after a cursor of :meth:`cursor_after` (and asking for the data
        version it carries); 400 naming ``cursor`` when it is not one of this listing (another
        collection, another sortby)."""
        return replace(self._after_cursor(raw), version=cursor_version(raw))

    def _after_cursor(self, raw: str) -> ItemQuery:
        if self.sort:
            spec = ",".join(str(k) for k in self.sort)
            decoded = decode_cursor(
                raw,
                SORTED_CURSOR[self.collection],
                len(self.sort) + 3,
                max_length=MAX_SORTED_CURSOR,
            )
            if decoded[0] != spec:
                raise bad_parameter("cursor", f"a cursor of another sortby than {spec!r}")
            values = bind_sort_values(decoded[1:-2], self.collection, self.sort)
            key = (str(cursor_uuid(decoded[-2])), cursor_int(decoded[-1]), None)
            return replace(self, after=key, after_sort=tuple(values))
        if self.collection == "sequences":
            (last_id,) = decode_cursor(raw, "sequences", 1)
            return replace(self, after=(str(cursor_uuid(last_id)), 0, None))
        last_id, position = decode_cursor(raw, "photos", 2)
        return replace(self, after=(str(cursor_uuid(last_id)), cursor_int(position), None))

    def count_key(self) -> tuple[Any, ...]:
        """What the count depends on (not the page, the order, the CRS or the properties)."""
        cql = (self.cql.where, self.cql.sequence_where, self.cql.params) if self.cql else None
        return (self.collection, self.filters, self.bbox, self.sequence_id, cql)


@dataclass(frozen=True)
class Page:
    features: str  # the Feature objects, comma-separated, in listing order
    returned: int
    next_after: Key | None  # the last key when another page follows, else None


def compose(sql: str, regions: Mapping[str, str]) -> str:
    """``sql`` with each ``/*@name*/default/*@end*/`` region replaced by ``regions[name]``,
    or by its default. Region texts are SQLAlchemy-compiled, with bind parameters only."""
    return _REGION.sub(lambda m: regions.get(m.group(1), m.group(2)), sql)


def _regions(query: ItemQuery) -> dict[str, str]:
    regions: dict[str, str] = {}
    if query.cql is not None:
        regions["cql"] = f"AND ({query.cql.where})"
        if query.cql.sequence_where:
            regions["cql_sequences"] = f"AND ({query.cql.sequence_where})"
    if query.sort:
        regions.update(sort_regions(query.collection, query.sort, query.after is not None))
    return regions


@functools.cache
def _plain_statement(name: str) -> TextClause:
    return text(compose(read_sql(name), {}))


def _statement(name: str, query: ItemQuery) -> TextClause:
    regions = _regions(query)
    if not regions:
        return _plain_statement(name)  # parsed once: the text is 7 kB
    return text(compose(read_sql(name), regions))


def items_sql(collection: CollectionId) -> str:
    """The static SQL of a collection's rows (k1, k2, sk, feature), the shared filters inlined
    and every region at its default."""
    return compose(read_sql(f"feature_{collection}"), {})


def items_params(query: ItemQuery) -> dict[str, Any]:
    """Bind parameters for the items SQL; dates move to the photo's own time for photos."""
    filters = query.filters
    params: dict[str, Any] = {
        **envelope_params(query.bbox),
        "after_k1": query.after[0] if query.after else None,
        "after_k2": query.after[1] if query.after else None,
        "limit": query.limit,
        "out_crs": query.crs.geometry_code,
        "geom_digits": query.crs.decimal_digits,
        "keep": list(query.properties) if query.properties is not None else None,
    }
    if query.collection == "sequences":
        params["item_id"] = query.sequence_id  # ?sequence_id=: this sequence only
    else:
        # A photo's time is its own when known, else its sequence's: filtered on the photo row.
        params.update(p_start=filters.start, p_end=filters.end, sequence_id=query.sequence_id)
        filters = replace(filters, start=None, end=None)
    if query.cql is not None:
        params.update(query.cql.bind_values())
    if query.sort and query.after is not None and query.after_sort is not None:
        params.update(_after_params(query))
    return {**params, **filters.params()}


def _after_params(query: ItemQuery) -> dict[str, Any]:
    """The keyset binds of a sorted page: each key's null flag and value, then the ids."""
    assert query.after is not None and query.after_sort is not None
    params: dict[str, Any] = {}
    for index, value in enumerate(query.after_sort):
        params[f"sk_null_{index}"] = value is None
        params[f"sk_value_{index}"] = value
    params["sk_k1"], params["sk_k2"] = query.after[0], query.after[1]
    return params


def count_params(query: ItemQuery) -> dict[str, Any]:
    """Bind parameters of the count SQL (the items' without paging)."""
    return items_params(replace(query, after=None, after_sort=None, limit=None))


def count_statement(query: ItemQuery) -> TextClause:
    """The count SQL of ``query``'s collection with its filter."""
    name = f"feature_count_{query.collection}"
    regions = {k: v for k, v in _regions(replace(query, sort=())).items() if k.startswith("cql")}
    return text(compose(read_sql(name), regions))


def fetch_page(conn: Conn, query: ItemQuery) -> Page:
    """One page of Features, knowing if more follow: in a single aggregated row for the keyset
    order; row by row (one round trip too) under a sortby."""
    if query.limit is None:
        raise ValueError("a page needs a limit")
    params = {**items_params(query), "limit": query.limit + 1, "page_limit": query.limit}
    if query.sort:
        rows = conn.execute(_statement(f"feature_{query.collection}", query), params).all()
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        last = rows[-1] if rows and more else None
        after = (str(last.k1), int(last.k2), last.sk) if last is not None else None
        return Page(",".join(row.feature for row in rows), len(rows), after)
    items = _statement(f"feature_{query.collection}", query).text
    sql = read_sql("feature_page").replace("/*ITEMS*/", items)
    row = conn.execute(text(sql), params).one()
    after = (str(row.last_k1), int(row.last_k2), None) if row.more else None
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
            _statement(f"feature_{query.collection}", query), items_params(query)
        )
        try:
            for rows in result.partitions(batch_size):
                yield [(row.feature, (str(row.k1), int(row.k2), row.sk)) for row in rows]
        finally:
            result.close()
            conn.rollback()


def get_feature(
    conn: Conn, collection: CollectionId, item_id: uuid.UUID, crs: Crs = CRS84
) -> str | None:
    """One published Feature's GeoJSON text (geometry in ``crs``), or None."""
    shape = {"out_crs": crs.geometry_code, "geom_digits": crs.decimal_digits, "keep": None}
    if collection == "photos":
        params = {"photo_id": item_id, **shape}
        return conn.execute(_plain_statement("feature_photo"), params).scalar()
    query = ItemQuery("sequences", SequenceFilters(), limit=1, crs=crs)
    params = {**items_params(query), "item_id": item_id}
    row = conn.execute(_plain_statement("feature_sequences"), params).one_or_none()
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
