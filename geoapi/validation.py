"""Validate Mapillary v3 sequence Features (pure: no database, no Flask).

The input is exactly what Mapillary's ``/v3/sequences`` returns (a FeatureCollection, or one
Feature): a LineString whose coordinates are the photos in capture order, with
``coordinateProperties.cas`` (compass angles) and ``coordinateProperties.image_keys`` aligned
with them. Every problem is a FeatureError naming the offending field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from geoapi.fields import MAX_TITLE, TextError, check_description, check_text
from geoapi.taxonomy import TaxonomyError, normalize_tags
from geoapi.times import InvalidTimestampError, parse_timestamp

MAX_KEY = 128
# A Mapillary sequence key as a request names one: v3 keys are URL-safe base64 (22 characters),
# v4 ids are digits.
KEY_RE = re.compile(rf"^[A-Za-z0-9_-]{{1,{MAX_KEY}}}$")
MAX_PHOTOS = 100_000
IMAGE_KEYS = "properties.coordinateProperties.image_keys"
IMAGE_KEY_TAKEN = "an image key already belongs to another sequence"
# Why a feature was not imported: a broken rule (422), a key of another user (409), an image
# key taken by another sequence, or the database refusing the write.
Problem = Literal["invalid", "key_of_another_user", "image_key_taken", "refused"]


class DocumentError(ValueError):
    """The document as a whole is not importable GeoJSON (a 422 for the caller); ``field``
    names where, when a place can be named (else the body)."""

    def __init__(self, message: str, field: str = "body") -> None:
        super().__init__(message)
        self.field = field


class FeatureError(ValueError):
    """One feature is invalid; ``field`` names the offending property."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ImportOptions:
    """Metadata the caller gives for every imported sequence; wins over feature properties."""

    title: str | None = None
    description: str | None = None
    transport_type: str | None = None
    tags: tuple[str, ...] | None = None
    source: str = "geojson"


@dataclass(frozen=True)
class SequenceRecord:
    """One validated sequence, ready to write."""

    key: str
    lons: list[float]
    lats: list[float]
    cas: list[float | None]
    image_keys: list[str]
    captured_at: datetime | None = None
    created_at: datetime | None = None
    camera_make: str | None = None
    pano: bool = False
    user_key: str | None = None
    username: str | None = None
    title: str | None = None
    description: str | None = None
    transport_type: str | None = None
    tags: tuple[str, ...] = ()


# Validation (pure) -------------------------------------------------------------------------------


def iter_features(document: object) -> list[Any]:
    """The features of a FeatureCollection or a single Feature; DocumentError otherwise."""
    if not isinstance(document, Mapping):
        raise DocumentError("the document is not a GeoJSON object")
    kind = document.get("type")
    if kind == "Feature":
        return [document]
    if kind == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list):
            raise DocumentError("a FeatureCollection needs a 'features' array")
        if not features:
            raise DocumentError("the FeatureCollection has no features")
        return features
    raise DocumentError(
        f"expected a GeoJSON FeatureCollection or Feature, got type {kind!r}"
        if kind is not None
        else "the document has no GeoJSON 'type'"
    )


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FeatureError(where, f"{where} must be a number, got {str(value)[:40]!r}")
    try:
        number = float(value)
    except OverflowError:  # a 400-digit integer
        raise FeatureError(where, f"{where} is not a finite number") from None
    if not math.isfinite(number):
        raise FeatureError(where, f"{where} must be a finite number, got {value!r}")
    return number


def _optional_str(props: Mapping[str, Any], name: str, limit: int = 1000) -> str | None:
    value = props.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise FeatureError(f"properties.{name}", f"properties.{name} must be a string")
    if len(value) > limit:
        raise FeatureError(f"properties.{name}", f"properties.{name} exceeds {limit} characters")
    try:
        return check_text(value)
    except TextError as exc:
        raise FeatureError(f"properties.{name}", f"properties.{name} {exc}") from None


def _timestamp(value: object, where: str) -> datetime | None:
    """ISO 8601 → aware UTC datetime (naive values are taken as UTC); None stays None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise FeatureError(where, f"{where} must be an ISO 8601 string, got {str(value)[:40]!r}")
    try:
        return parse_timestamp(value)
    except InvalidTimestampError as exc:
        raise FeatureError(where, f"{where}: {exc}") from None


def _coordinates(geometry: object) -> tuple[list[float], list[float]]:
    if not isinstance(geometry, Mapping):
        raise FeatureError("geometry", "the feature has no geometry object")
    if geometry.get("type") != "LineString":
        raise FeatureError(
            "geometry.type", f"geometry must be a LineString, got {geometry.get('type')!r}"
        )
    coords = geometry.get("coordinates")
    if not isinstance(coords, list) or not coords:
        raise FeatureError("geometry.coordinates", "a LineString needs at least one position")
    if len(coords) > MAX_PHOTOS:
        raise FeatureError("geometry.coordinates", f"more than {MAX_PHOTOS} photos")
    lons: list[float] = []
    lats: list[float] = []
    for i, position in enumerate(coords):
        where = f"geometry.coordinates[{i}]"
        if not isinstance(position, list) or len(position) < 2:
            raise FeatureError(where, f"{where} must be [longitude, latitude]")
        lon = _number(position[0], f"{where}[0]")
        lat = _number(position[1], f"{where}[1]")
        if not -180.0 <= lon <= 180.0:
            raise FeatureError(f"{where}[0]", f"{where}: longitude {lon} is outside [-180, 180]")
        if not -90.0 <= lat <= 90.0:
            raise FeatureError(f"{where}[1]", f"{where}: latitude {lat} is outside [-90, 90]")
        lons.append(lon)
        lats.append(lat)
    return lons, lats


def _compass_angles(raw: object, count: int) -> list[float | None]:
    where = "properties.coordinateProperties.cas"
    if raw is None:
        return [None] * count
    if not isinstance(raw, list):
        raise FeatureError(where, f"{where} must be an array")
    if len(raw) != count:
        raise FeatureError(where, f"{where} has {len(raw)} values for {count} coordinates")
    cas: list[float | None] = []
    for i, value in enumerate(raw):
        if value is None:
            cas.append(None)
            continue
        ca = _number(value, f"{where}[{i}]")
        if not 0.0 <= ca < 360.0:
            raise FeatureError(f"{where}[{i}]", f"{where}[{i}]: {ca} is outside [0, 360)")
        cas.append(ca)
    return cas


def _image_keys(raw: object, count: int) -> list[str]:
    where = "properties.coordinateProperties.image_keys"
    if not isinstance(raw, list):
        raise FeatureError(where, f"{where} is required: one Mapillary image key per coordinate")
    if len(raw) != count:
        raise FeatureError(where, f"{where} has {len(raw)} keys for {count} coordinates")
    seen: set[str] = set()
    for i, key in enumerate(raw):
        if not isinstance(key, str) or not key or len(key) > MAX_KEY or not _storable(key):
            raise FeatureError(
                f"{where}[{i}]", f"{where}[{i}] must be a non-empty string of valid text"
            )
        if key in seen:
            raise FeatureError(f"{where}[{i}]", f"{where}[{i}]: duplicate image key {key!r}")
        seen.add(key)
    return list(raw)


def parse_feature(feature: object, options: ImportOptions = ImportOptions()) -> SequenceRecord:
    """Validate one Mapillary v3 sequence Feature; FeatureError names the first bad field."""
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        raise FeatureError("type", "not a GeoJSON Feature")
    props = feature.get("properties")
    if not isinstance(props, Mapping):
        raise FeatureError("properties", "the feature has no properties object")
    key = props.get("key")
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY or not _storable(key):
        raise FeatureError(
            "properties.key", "properties.key (the Mapillary sequence key) is required"
        )
    lons, lats = _coordinates(feature.get("geometry"))
    coord_props = props.get("coordinateProperties")
    if not isinstance(coord_props, Mapping):
        raise FeatureError(
            "properties.coordinateProperties", "properties.coordinateProperties is required"
        )
    cas = _compass_angles(coord_props.get("cas"), len(lons))
    image_keys = _image_keys(coord_props.get("image_keys"), len(lons))
    pano = props.get("pano", False)
    if not isinstance(pano, bool):
        raise FeatureError("properties.pano", "properties.pano must be true or false")
    title = options.title if options.title is not None else _optional_str(props, "title", MAX_TITLE)
    description = options.description
    if description is None:
        try:
            description = check_description(props.get("description"))
        except TextError as exc:
            raise FeatureError("properties.description", f"properties.description {exc}") from None
    transport_type = options.transport_type or _optional_str(props, "transport_type", 64)
    if options.tags is not None:
        tags = options.tags
    else:
        try:
            tags = normalize_tags(props.get("tags"))
        except TaxonomyError as exc:
            raise FeatureError("properties.tags", str(exc)) from None
    return SequenceRecord(
        key=key,
        lons=lons,
        lats=lats,
        cas=cas,
        image_keys=image_keys,
        captured_at=_timestamp(props.get("captured_at"), "properties.captured_at"),
        created_at=_timestamp(props.get("created_at"), "properties.created_at"),
        camera_make=_optional_str(props, "camera_make", 200),
        pano=pano,
        user_key=_optional_str(props, "user_key", MAX_KEY),
        username=_optional_str(props, "username", 200),
        title=title,
        description=description,
        transport_type=transport_type,
        tags=tags,
    )


def _storable(value: str) -> bool:
    try:
        check_text(value)
    except TextError:
        return False
    return True


def feature_key(feature: object) -> str | None:
    """The Mapillary sequence key a (maybe invalid) feature names, for reporting."""
    if isinstance(feature, Mapping) and isinstance(feature.get("properties"), Mapping):
        key = feature["properties"].get("key")
        return key if isinstance(key, str) else None
    return None


def parse_features(
    features: Iterable[object], options: ImportOptions = ImportOptions()
) -> Iterator[SequenceRecord | FeatureError]:
    for feature in features:
        try:
            yield parse_feature(feature, options)
        except FeatureError as exc:
            key = feature_key(feature)
            if key:
                exc.message = f"feature {key!r}: {exc.message}"
            yield exc
