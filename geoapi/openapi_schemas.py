"""OpenAPI component schemas of the ``/api/v1`` resources (merged by ``geoapi.openapi``)."""

from __future__ import annotations

from geoapi.openapi_v1 import NULLABLE_STRING, NULLABLE_TIME, UUID, Json, ref


def _object(required: list[str], properties: Json) -> Json:
    return {"type": "object", "required": required, "properties": properties}


def v1_schemas() -> Json:
    """Component schemas of the v1 resources."""
    tags = {"type": "array", "items": {"type": "string"}}
    links = {"type": "array", "items": ref("Link")}
    sequence_properties = _object(
        ["title", "tags", "username", "status", "pano", "photo_count", "like_count"],
        {
            "title": {"type": "string"},
            "description": NULLABLE_STRING,
            "transport_type": NULLABLE_STRING,
            "transport_type_parent": NULLABLE_STRING,
            "tags": tags,
            "camera_make": NULLABLE_STRING,
            "captured_at": NULLABLE_TIME,
            "created_at": NULLABLE_TIME,
            "imported_at": NULLABLE_TIME,
            "updated_at": NULLABLE_TIME,
            "mapillary_key": NULLABLE_STRING,
            "mapillary_user_key": NULLABLE_STRING,
            "mapillary_username": NULLABLE_STRING,
            "username": {"type": "string"},
            "status": {"type": "string", "enum": ["draft", "published"]},
            "pano": {"type": "boolean"},
            "photo_count": {"type": "integer", "minimum": 0},
            "length_m": {"type": "number", "minimum": 0},
            "like_count": {"type": "integer", "minimum": 0},
            "liked_by_me": {"type": "boolean", "nullable": True},
            "tour_ids": {"type": "array", "items": UUID},
        },
    )
    tour_sequence = _object(
        ["id", "position", "title"],
        {
            "id": UUID,
            "position": {"type": "integer", "minimum": 0},
            "title": {"type": "string"},
            "photo_count": {"type": "integer"},
            "length_m": {"type": "number"},
            "captured_at": NULLABLE_TIME,
            "status": {"type": "string"},
        },
    )
    tour_fields = {
        "id": UUID,
        "title": {"type": "string"},
        "description": NULLABLE_STRING,
        "tags": tags,
        "username": {"type": "string"},
        "sequence_count": {"type": "integer", "minimum": 0},
        "total_length_m": {"type": "number", "minimum": 0},
        "total_photo_count": {"type": "integer", "minimum": 0},
        "created_at": NULLABLE_TIME,
        "updated_at": NULLABLE_TIME,
    }
    ids = {"type": "array", "items": UUID}
    return {
        "Link": _object(
            ["href", "rel"],
            {"href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"}},
        ),
        "SequenceFeature": _object(
            ["type", "id", "geometry", "properties"],
            {
                "type": {"type": "string", "enum": ["Feature"]},
                "id": UUID,
                "geometry": {"type": "object", "nullable": True},
                "properties": sequence_properties,
            },
        ),
        "SequencePage": _object(
            ["type", "features", "numberReturned", "links"],
            {
                "type": {"type": "string", "enum": ["FeatureCollection"]},
                "features": {"type": "array", "items": ref("SequenceFeature")},
                "numberReturned": {"type": "integer", "minimum": 0},
                "next_cursor": NULLABLE_STRING,
                "links": links,
            },
        ),
        "SequenceChanges": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": 200},
                "description": NULLABLE_STRING,
                "transport_type": NULLABLE_STRING,
                "tags": tags,
            },
        },
        "V3Collection": _object(
            ["type", "features"],
            {
                "type": {"type": "string", "enum": ["FeatureCollection"]},
                "features": {"type": "array", "items": {"type": "object"}},
            },
        ),
        "LikeRequest": {
            **_object(["liked"], {"liked": {"type": "boolean"}}),
            "additionalProperties": False,
        },
        "LikeResult": _object(
            ["liked", "like_count"],
            {"liked": {"type": "boolean"}, "like_count": {"type": "integer", "minimum": 0}},
        ),
        "Tour": _object(
            ["id", "title", "tags", "username", "sequences"],
            {**tour_fields, "sequences": {"type": "array", "items": tour_sequence}},
        ),
        "TourPage": _object(
            ["tours", "numberReturned", "links"],
            {
                "tours": {"type": "array", "items": _object(["id", "title"], tour_fields)},
                "numberReturned": {"type": "integer", "minimum": 0},
                "next_cursor": NULLABLE_STRING,
                "links": links,
            },
        ),
        "TourCreate": {
            **_object(
                ["title"],
                {
                    "title": {"type": "string", "minLength": 1, "maxLength": 200},
                    "description": NULLABLE_STRING,
                    "tags": tags,
                    "sequence_ids": ids,
                },
            ),
            "additionalProperties": False,
        },
        "TourChanges": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": 200},
                "description": NULLABLE_STRING,
                "tags": tags,
                "sequence_ids": ids,
            },
        },
        "SequenceList": {
            **_object(["sequence_ids"], {"sequence_ids": ids}),
            "additionalProperties": False,
        },
        "TransportCategory": _object(
            ["id", "name", "children"],
            {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "children": {
                    "type": "array",
                    "items": _object(
                        ["id", "name"],
                        {"id": {"type": "integer"}, "name": {"type": "string"}, "aliases": tags},
                    ),
                },
            },
        ),
        "TagCount": _object(
            ["name", "count"], {"name": {"type": "string"}, "count": {"type": "integer"}}
        ),
        "ImportReport": _object(
            ["imported", "exists", "failed", "results"],
            {
                "imported": {"type": "integer", "minimum": 0},
                "exists": {"type": "integer", "minimum": 0},
                "failed": {"type": "integer", "minimum": 0},
                "results": {"type": "array", "items": {"type": "object"}},
            },
        ),
        "Health": _object(
            ["status"], {"status": {"type": "string"}, "database": {"type": "string"}}
        ),
    }
