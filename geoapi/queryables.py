"""Queryables, ``sortby`` and ``properties`` of the two collections (pure).

:data:`QUERYABLES` is the fixed whitelist of what a CQL2 ``filter`` and ``sortby`` may name;
``geoapi.store.cql`` maps each name to its column, and ``GET /collections/{id}/queryables``
publishes them as a JSON Schema (:func:`queryables_schema`). A name outside it is a 400 naming
the parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from geoapi.errors import bad_parameter
from geoapi.ogc import GEOMETRY_FORMATS, TITLES, CollectionId

Kind = Literal["string", "uuid", "integer", "number", "boolean", "timestamp", "geometry"]
JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
MAX_SORT_KEYS = 5
MAX_PARAM_TEXT = 1000


@dataclass(frozen=True)
class Queryable:
    """One filterable property: its name on the wire, its kind, and two rules.

    ``versioned``: every change to it moves the data version, so a count filtered on it may be
    cached per version (titles, descriptions and likes change without moving it).
    ``sortable``: ``sortby`` may name it (not geometries; not long free text).
    """

    name: str
    kind: Kind
    description: str
    versioned: bool = True
    sortable: bool = True


def _geometry(collection: CollectionId) -> Queryable:
    shape = GEOMETRY_FORMATS[collection].removeprefix("geometry-")
    return Queryable("geometry", "geometry", f"The {shape} (CRS84 unless filter-crs)", True, False)


QUERYABLES: dict[CollectionId, tuple[Queryable, ...]] = {
    "sequences": (
        Queryable("id", "uuid", "Sequence id"),
        Queryable("title", "string", "Title", versioned=False),
        Queryable("description", "string", "Description", versioned=False, sortable=False),
        Queryable("transport_type", "string", "Transport type (a leaf, e.g. Walk)"),
        Queryable("transport_type_parent", "string", "Its parent (e.g. Earth)"),
        Queryable("camera_make", "string", "Camera make"),
        Queryable("captured_at", "timestamp", "When the sequence was captured"),
        Queryable("created_at", "timestamp", "When it was uploaded to Mapillary", versioned=False),
        Queryable("mapillary_key", "string", "Mapillary sequence key"),
        Queryable("username", "string", "The owner's username"),
        Queryable("pano", "boolean", "A 360-degree panorama sequence"),
        Queryable("photo_count", "integer", "Number of photos"),
        Queryable("length_m", "number", "Length in metres"),
        Queryable("like_count", "integer", "Number of likes", versioned=False),
        _geometry("sequences"),
    ),
    "photos": (
        Queryable("id", "uuid", "Photo id"),
        Queryable("image_key", "string", "Mapillary image key"),
        Queryable("ca", "number", "Compass angle in degrees, 0 <= ca < 360"),
        Queryable("sequence_id", "uuid", "The photo's sequence"),
        Queryable("position", "integer", "Position in the sequence, from 0"),
        Queryable("captured_at", "timestamp", "The photo's capture time, else its sequence's"),
        Queryable("pano", "boolean", "A 360-degree panorama"),
        _geometry("photos"),
    ),
}
# The properties of each collection's features, in the order they are written.
FEATURE_PROPERTIES: dict[CollectionId, tuple[str, ...]] = {
    "sequences": (
        "title",
        "description",
        "transport_type",
        "transport_type_parent",
        "tags",
        "camera_make",
        "captured_at",
        "created_at",
        "mapillary_key",
        "username",
        "pano",
        "photo_count",
        "length_m",
        "like_count",
    ),
    "photos": ("image_key", "ca", "sequence_id", "position", "captured_at", "pano"),
}
_SCHEMA_TYPES: dict[Kind, dict[str, str]] = {
    "string": {"type": "string"},
    "uuid": {"type": "string", "format": "uuid"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "timestamp": {"type": "string", "format": "date-time"},
}


def queryable(collection: CollectionId, name: str) -> Queryable | None:
    """The queryable ``name`` of ``collection``, or None."""
    return next((q for q in QUERYABLES[collection] if q.name == name), None)


def queryables_schema(collection: CollectionId, schema_id: str) -> dict[str, Any]:
    """The Queryables resource (OGC API Features Part 3): a JSON Schema whose properties are
    the queryables with their types; no other property may be named."""
    properties: dict[str, Any] = {}
    for item in QUERYABLES[collection]:
        if item.kind == "geometry":
            entry: dict[str, Any] = {"format": GEOMETRY_FORMATS[collection]}
            entry["x-ogc-role"] = "primary-geometry"
        else:
            entry = dict(_SCHEMA_TYPES[item.kind])
        properties[item.name] = {"title": item.description, **entry}
    return {
        "$schema": JSON_SCHEMA,
        "$id": schema_id,
        "type": "object",
        "title": TITLES[collection][0],
        "description": f"What a filter (CQL2) or sortby on {collection} may name.",
        "properties": properties,
        "additionalProperties": False,
        # The draft's list, which GDAL before 3.7 reads to know what it may put in a filter
        # (JSON Schema ignores members it does not know).
        "queryables": [{"id": item.name} for item in QUERYABLES[collection]],
    }


@dataclass(frozen=True)
class SortKey:
    name: str
    descending: bool = False

    def __str__(self) -> str:
        return ("-" if self.descending else "+") + self.name


def parse_sortby(raw: str | None, collection: CollectionId) -> tuple[SortKey, ...]:
    """``sortby=-captured_at,+title`` (a bare name or ``+`` ascending, ``-`` descending) over
    the sortable queryables; () when absent; a 400 naming ``sortby`` otherwise."""
    if raw is None or raw.strip() == "":
        return ()
    if len(raw) > MAX_PARAM_TEXT:
        raise bad_parameter("sortby", f"longer than {MAX_PARAM_TEXT} characters")
    keys: list[SortKey] = []
    for part in raw.split(","):
        # '+' arrives as a space when a client does not percent-encode it.
        text = part.strip()
        descending = text.startswith("-")
        name = text.lstrip("+-").strip()
        item = queryable(collection, name)
        if item is None or not item.sortable:
            sortable = ", ".join(q.name for q in QUERYABLES[collection] if q.sortable)
            raise bad_parameter("sortby", f"cannot sort by {name[:64]!r}; sortable: {sortable}")
        if any(key.name == name for key in keys):
            raise bad_parameter("sortby", f"{name!r} is named twice")
        keys.append(SortKey(name, descending))
    if len(keys) > MAX_SORT_KEYS:
        raise bad_parameter("sortby", f"at most {MAX_SORT_KEYS} sort keys")
    return tuple(keys)


def parse_properties(raw: str | None, collection: CollectionId) -> tuple[str, ...] | None:
    """``properties=a,b``: only these feature properties (in the features' own order); None
    when absent (all of them); an empty value keeps none; a 400 naming ``properties`` for an
    unknown name."""
    if raw is None:
        return None
    if len(raw) > MAX_PARAM_TEXT:
        raise bad_parameter("properties", f"longer than {MAX_PARAM_TEXT} characters")
    wanted = {part.strip() for part in raw.split(",") if part.strip()}
    known = FEATURE_PROPERTIES[collection]
    unknown = sorted(wanted - set(known))
    if unknown:
        listed = ", ".join(known)
        raise bad_parameter("properties", f"unknown {unknown[0][:64]!r}; known: {listed}")
    return tuple(name for name in known if name in wanted)
