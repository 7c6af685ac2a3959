"""``sortby`` in SQL: the order, the sort key values each row carries, and the keyset
condition that continues a sorted listing after a cursor (all SQLAlchemy Core over the
whitelisted columns of :mod:`geoapi.store.cql`, compiled with bind parameters only).

Every key sorts with NULLs last ascending and first descending (PostgreSQL's default), then
by the collection's unique key (sequences: id; photos: sequence id, position). The cursor
carries the last row's values, so the next page starts exactly after it under any order: for
each key both its null flag and its value take part in the keyset comparison.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Text, and_, bindparam, func, or_

from geoapi.errors import bad_parameter
from geoapi.ogc import CollectionId
from geoapi.paging import cursor_datetime
from geoapi.queryables import SortKey, queryable
from geoapi.store.columns import COLUMNS, compile_condition
from geoapi.times import format_timestamp

SORTED_CURSOR: dict[CollectionId, str] = {
    "sequences": "sequences-sorted",
    "photos": "photos-sorted",
}


def _tiebreakers(collection: CollectionId) -> list[Any]:
    """The unique key that ends every order: (k1, k2) of the items SQL."""
    if collection == "sequences":
        return [COLUMNS["sequences"]["id"]]
    return [COLUMNS["photos"]["sequence_id"], COLUMNS["photos"]["position"]]


def _joined(parts: list[Any]) -> str:
    return ", ".join(compile_condition(part)[0] for part in parts)


def sort_regions(
    collection: CollectionId, sort: tuple[SortKey, ...], after: bool
) -> dict[str, str]:
    """The SQL regions of a sorted items query (see feature_sequences.sql)."""
    columns = [COLUMNS[collection][key.name] for key in sort]
    order = [
        col.desc().nulls_first() if key.descending else col.asc().nulls_last()
        for key, col in zip(sort, columns, strict=True)
    ]
    order += [col.asc() for col in _tiebreakers(collection)]
    sortkeys, _ = compile_condition(func.json_build_array(*columns).cast(Text()))
    regions = {"order": _joined(order), "sortkeys": sortkeys, "after": ""}
    if collection == "photos":
        regions.update(after_sequences="", after_photos="")
    if after:
        regions["after"] = f"AND ({compile_condition(_keyset(collection, sort))[0]})"
    return regions


def _keyset(collection: CollectionId, sort: tuple[SortKey, ...]) -> Any:
    """Rows strictly after the cursor's: (flag_1, value_1, ..., k1, k2) > the cursor's, term by
    term in each term's direction, with NULL equal to NULL."""
    terms: list[tuple[Any, bool, Any]] = []
    for index, key in enumerate(sort):
        col = COLUMNS[collection][key.name]
        terms.append((col.is_(None), key.descending, bindparam(f"sk_null_{index}")))
        terms.append((col, key.descending, bindparam(f"sk_value_{index}")))
    for col, name in zip(_tiebreakers(collection), ("sk_k1", "sk_k2"), strict=False):
        terms.append((col, False, bindparam(name)))
    alternatives = []
    for i, (term, descending, value) in enumerate(terms):
        equal = [t.is_not_distinct_from(v) for t, _d, v in terms[:i]]
        beyond = term < value if descending else term > value
        alternatives.append(and_(*equal, beyond))
    return or_(*alternatives)


def cursor_sort_values(
    raw: str | None, collection: CollectionId, sort: tuple[SortKey, ...]
) -> list[Any]:
    """A row's sort key values (its ``sk``, JSON text from SQL) as the cursor writes them."""
    values = json.loads(raw) if raw else []
    if not isinstance(values, list) or len(values) != len(sort):
        raise ValueError("the sort keys of a sorted row are missing")
    return [
        format_timestamp(cursor_datetime(value))
        if value is not None and _kind(collection, key) == "timestamp"
        else value
        for key, value in zip(sort, values, strict=True)
    ]


def bind_sort_values(
    values: list[Any], collection: CollectionId, sort: tuple[SortKey, ...]
) -> list[Any]:
    """A cursor's sort key values, checked against their kinds, as bind values; 400 naming
    ``cursor`` when one is not of its key's kind."""
    out: list[Any] = []
    for key, value in zip(sort, values, strict=True):
        kind = _kind(collection, key)
        if value is None:
            out.append(None)
        elif kind == "timestamp":
            out.append(cursor_datetime(value))
        elif _of_kind(kind, value):
            out.append(value)
        else:
            raise bad_parameter("cursor", f"the cursor's {key.name} value is malformed")
    return out


def _of_kind(kind: str, value: Any) -> bool:
    if kind in ("string", "uuid"):
        return isinstance(value, str) and len(value) <= 4096
    if kind == "boolean":
        return isinstance(value, bool)
    return kind in ("integer", "number") and _number(value) and abs(value) < 2**63


def _kind(collection: CollectionId, key: SortKey) -> str:
    item = queryable(collection, key.name)
    return item.kind if item else "string"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
