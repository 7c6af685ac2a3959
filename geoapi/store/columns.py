"""The columns a CQL2 filter or a sortby may reach: each queryable's column in the items SQL
(``feature_sequences.sql``: sequence row ``s``, users ``u``, transport types ``tt``/``tp``;
``feature_photos.sql``: sequence row ``s``, photo row ``p``), the one whitelist of names → SQL,
and the compiler that turns a Core expression over them into SQL text with bind parameters.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import column as sql_column
from sqlalchemy import table
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from geoapi.ogc import CollectionId

Condition = ColumnElement[bool]


def _table(alias: str, *names: str) -> Any:
    return table(alias, *(sql_column(name) for name in names))


_S = _table(
    "s", "id", "title", "description", "camera_make", "captured_at", "mapillary_created_at",
    "mapillary_key", "pano", "photo_count", "length_m", "like_count", "geom",
)  # fmt: skip
_U, _TT, _TP = _table("u", "username"), _table("tt", "name"), _table("tp", "name")
_PS = _table("s", "id", "pano", "captured_at", "geom")  # the photos SQL's sequence row
_P = _table("p", "id", "image_key", "ca", "position", "captured_at", "geom")
COLUMNS: dict[CollectionId, dict[str, Any]] = {
    "sequences": {
        "id": _S.c.id,
        "title": _S.c.title,
        "description": _S.c.description,
        "transport_type": _TT.c.name,
        "transport_type_parent": _TP.c.name,
        "camera_make": _S.c.camera_make,
        "captured_at": _S.c.captured_at,
        "created_at": _S.c.mapillary_created_at,
        "mapillary_key": _S.c.mapillary_key,
        "username": _U.c.username,
        "pano": _S.c.pano,
        "photo_count": _S.c.photo_count,
        "length_m": _S.c.length_m,
        "like_count": _S.c.like_count,
        "geometry": _S.c.geom,
    },
    "photos": {
        "id": _P.c.id,
        "image_key": _P.c.image_key,
        "ca": _P.c.ca,
        "sequence_id": _PS.c.id,
        "position": _P.c.position,
        "captured_at": _P.c.captured_at,
        "pano": _PS.c.pano,
        "geometry": _P.c.geom,
    },
}
# The line of the photo's sequence, for a bbox prefilter that finds the sequences first.
SEQUENCE_GEOMETRY = _PS.c.geom
_DIALECT = postgresql.psycopg2.dialect(paramstyle="named")  # type: ignore[attr-defined,no-untyped-call]


def column_of(collection: CollectionId, name: str) -> Any:
    """The column of queryable ``name`` (the one whitelist of names → SQL); KeyError if none."""
    return COLUMNS[collection][name]


def compile_condition(condition: ColumnElement[Any]) -> tuple[str, dict[str, Any]]:
    """SQL text (``:name`` binds) and bind values of a Core condition, for the .sql regions."""
    compiled = condition.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
    return str(compiled), dict(compiled.params)
