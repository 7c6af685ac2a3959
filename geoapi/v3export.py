"""Sequences back into the Mapillary v3 Feature shape (plus geoapi's metadata) for exports.

Pure: no database. The output is what ``geoapi.validation.parse_feature`` reads: a LineString
with one position per photo in capture order (SRID 4326, lon/lat), ``coordinateProperties.cas``
and ``coordinateProperties.image_keys`` aligned with it, Mapillary's sequence properties, and
``title``, ``description``, ``transport_type`` (the leaf name) and ``tags``. Importing an
export into an empty database reproduces the same sequence.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from geoapi.times import format_timestamp


def v3_feature(sequence: Any, photos: Iterable[Any]) -> dict[str, Any]:
    """One sequence row (``sequence_select.sql``) and its photos → a v3 Feature with metadata."""
    coordinates: list[list[float]] = []
    cas: list[float | None] = []
    image_keys: list[str] = []
    for photo in photos:
        coordinates.append([photo.lon, photo.lat])
        cas.append(photo.ca)
        image_keys.append(photo.image_key)
    return {
        "type": "Feature",
        "properties": {
            "camera_make": sequence.camera_make,
            "captured_at": format_timestamp(sequence.captured_at),
            "coordinateProperties": {"cas": cas, "image_keys": image_keys},
            "created_at": format_timestamp(sequence.mapillary_created_at),
            "key": sequence.mapillary_key,
            "pano": sequence.pano,
            "user_key": sequence.mapillary_user_key,
            "username": sequence.mapillary_username,
            "title": sequence.title,
            "description": sequence.description,
            "transport_type": sequence.transport_type,
            "tags": list(sequence.tags),
        },
        "geometry": {"type": "LineString", "coordinates": coordinates},
    }


def feature_collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def attachment_name(kind: str, object_id: uuid.UUID) -> str:
    """A Content-Disposition value for a download named after the object."""
    return f'attachment; filename="{kind}-{object_id}.geojson"'
