"""Queries behind the features API and the exports: pages, streams, single items, extents.

Plain functions over a SQLAlchemy connection or session; GeoJSON Feature text is built in SQL
(``geoapi/sql/feature_*.sql``) so Python only joins strings. Keyset paging: sequences by ``id``,
photos by ``(sequence_id, position)``; a cursor carries the last key of the previous page.
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

from geoapi.db import read_sql
from geoapi.filters import QueryArgs, SequenceFilters, filter_sql, parse_filters
from geoapi.geo import (
    BBox,
    bad_parameter,
    check_known,
    decode_cursor,
    encode_cursor,
    envelope_params,
    parse_bbox,
    parse_limit,
)
from geoapi.taxonomy import TransportTypes

CollectionId = Literal["sequences", "photos"]
COLLECTIONS: tuple[CollectionId, ...] = ("sequences", "photos")
FILTER_PARAMS = frozenset(
    {"bbox", "bbox-crs", "datetime", "transport_type", "tag", "username", "camera_make", "pano"}
)
# Parameters of each collection beyond the shared filters (``f`` is always ignored here).
COLLECTION_PARAMS: dict[str, frozenset[str]] = {
    "sequences": FILTER_PARAMS,
    "photos": FILTER_PARAMS | {"sequence_id"},
}
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

    def cursor_after(self, key: Key) -> str:
        """The opaque cursor of the page that starts after ``key``."""
        if self.collection == "sequences":
            return encode_cursor("sequences", key[0])
        return encode_cursor("photos", key[0], key[1])


@dataclass(frozen=True)
class Page:
    features: str  # the Feature objects, comma-separated, in keyset order
    returned: int
    next_after: Key | None  # the last key when another page follows, else None


def parse_uuid(raw: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise bad_parameter(name, f"{raw!r} is not a UUID") from None


def _parse_after(collection: CollectionId, raw: str | None) -> Key | None:
    if raw is None:
        return None
    if collection == "sequences":
        (last_id,) = decode_cursor(raw, "sequences", 1)
        position: object = 0
    else:
        last_id, position = decode_cursor(raw, "photos", 2)
    if not isinstance(last_id, str) or not isinstance(position, int) or isinstance(position, bool):
        raise bad_parameter("cursor", "not a cursor this API issued")
    return str(parse_uuid(last_id, "cursor")), position


def parse_item_query(
    args: QueryArgs,
    collection: CollectionId,
    transport_types: TransportTypes,
    *,
    names: list[str],
    extra: frozenset[str] = frozenset(),
    max_limit: int | None,
    default_limit: int | None,
) -> ItemQuery:
    """Validate every query parameter of an items or export request; 400 naming the first bad one.

    ``names`` are the parameter names present; any outside the collection's set plus ``extra``
    is refused. ``max_limit=None`` means no maximum; ``default_limit=None`` means no limit.
    """
    check_known(names, COLLECTION_PARAMS[collection] | extra)
    for name in names:
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database.
        if any("\x00" in value for value in args.getlist(name)):
            raise bad_parameter(name, "contains a NUL character")
    bbox = parse_bbox(args.get("bbox"), args.get("bbox-crs"))
    limit_raw = args.get("limit")
    limit = (
        None
        if limit_raw is None and default_limit is None
        else parse_limit(limit_raw, default=default_limit or 1, maximum=max_limit)
    )
    filters = parse_filters(args, transport_types)
    sequence_id = None
    if collection == "photos" and args.get("sequence_id"):
        sequence_id = parse_uuid(args.get("sequence_id"), "sequence_id")
    return ItemQuery(
        collection=collection,
        filters=filters,
        bbox=bbox,
        limit=limit,
        after=_parse_after(collection, args.get("cursor")),
        sequence_id=sequence_id,
    )


def items_sql(collection: CollectionId) -> str:
    """The static SQL of a collection's rows (k1, k2, feature) with the shared filters inlined."""
    return read_sql(f"feature_{collection}").replace("/*FILTERS*/", filter_sql())


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


def data_version(conn: Conn) -> int:
    """The counter every tile- (and extent-) relevant write bumps."""
    return int(conn.execute(text("SELECT last_value FROM data_version_seq")).scalar_one())


def data_extent(conn: Conn) -> Extent:
    """Spatial (lon/lat) and temporal extent of the published sequences and photos."""
    row = conn.execute(text(read_sql("feature_extent"))).one()
    box = None if row.xmin is None else (row.xmin, row.ymin, row.xmax, row.ymax)
    return Extent(bbox=box, start=row.tmin, end=row.tmax)
