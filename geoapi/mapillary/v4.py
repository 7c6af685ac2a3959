"""Mapillary v4 (Graph API) adapter: images and sequences mapped onto the v3 sequence Feature."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from geoapi.mapillary.errors import MapillaryNotFoundError
from geoapi.mapillary.http import MapillaryConfig, MapillaryHTTP
from geoapi.mapillary.source import (
    Feature,
    Listing,
    MapillarySource,
    MapillaryUser,
    SequenceSummary,
    check_feature,
    iso_utc,
    shape_error,
)

IMAGE_FIELDS = "id,geometry,compass_angle,captured_at,is_pano,make,creator,sequence"
LIST_FIELDS = "id,sequence,captured_at,creator"
DEFAULT_BATCH_SIZE = 50


def iso_from_epoch_ms(value: Any) -> str:
    """Graph API ``captured_at`` (epoch milliseconds) as ISO 8601 UTC with milliseconds and Z."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise shape_error("captured_at", f"expected epoch milliseconds, got {value!r}")
    ms = int(value)
    moment = datetime.fromtimestamp(ms // 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


class MapillaryV4(MapillarySource):
    """Today's Graph API (``Authorization: OAuth <token>``); images fetched in batches."""

    authorization_scheme = "OAuth"

    def __init__(
        self,
        config: MapillaryConfig,
        *,
        http: MapillaryHTTP | None = None,
        sleep: Callable[[float], None] = time.sleep,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        super().__init__(config, http=http, sleep=sleep)
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.batch_size = batch_size

    def me(self, token: str) -> MapillaryUser:
        data = self._get(f"{self.config.api_v4_url}/me", token, {"fields": "id,username"})
        if not isinstance(data, dict) or not data.get("id") or not data.get("username"):
            raise shape_error("/me answer", "id or username missing")
        return MapillaryUser(key=str(data["id"]), username=str(data["username"]))

    def _list(self, token: str, listing: Listing) -> list[SequenceSummary]:
        """Search the user's images and group them by sequence (earliest capture, image count)."""
        params: dict[str, Any] = {"fields": LIST_FIELDS, "limit": listing.per_page}
        if listing.username:
            params["creator_username"] = listing.username
        if listing.user_key:
            params["creator_id"] = listing.user_key
        if listing.start_time is not None:
            params["start_captured_at"] = iso_utc(listing.start_time)
        if listing.end_time is not None:
            params["end_captured_at"] = iso_utc(listing.end_time)
        groups: dict[str, dict[str, Any]] = {}
        for image in self._data(f"{self.config.api_v4_url}/images", token, params):
            sequence_id = image.get("sequence")
            if not isinstance(sequence_id, str) or not sequence_id:
                raise shape_error("image", f"{image.get('id')} has no sequence")
            ms = image.get("captured_at")
            iso_from_epoch_ms(ms)  # validates
            creator = image.get("creator")
            group = groups.setdefault(
                sequence_id,
                {"ms": ms, "count": 0, "creator": creator if isinstance(creator, dict) else {}},
            )
            group["count"] += 1
            group["ms"] = min(group["ms"], ms)
        return [
            SequenceSummary(
                key=sequence_id,
                captured_at=iso_from_epoch_ms(group["ms"]),
                photo_count=group["count"],
                username=_str_or_none(group["creator"].get("username")) or listing.username,
                user_key=_str_or_none(group["creator"].get("id")) or listing.user_key,
            )
            for sequence_id, group in groups.items()
        ]

    def get_sequence(self, token: str, key: str) -> Feature:
        """The sequence's image ids (capture order), then their fields in batches, as a Feature."""
        base = self.config.api_v4_url
        listed = self._data(f"{base}/image_ids", token, {"sequence_id": key})
        ids = list(dict.fromkeys(_image_id(item) for item in listed))
        if not ids:
            raise MapillaryNotFoundError(f"Mapillary sequence {key} has no images", 404)
        images: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), self.batch_size):
            batch = ids[start : start + self.batch_size]
            params = {"image_ids": ",".join(batch), "fields": IMAGE_FIELDS}
            for image in self._data(f"{base}/images", token, params):
                images[_image_id(image)] = image
        missing = [image_id for image_id in ids if image_id not in images]
        if missing:
            raise shape_error("images answer", f"sequence {key} lacks images {missing[:5]}")
        return feature_from_images(key, [images[image_id] for image_id in ids])

    def _data(self, url: str, token: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every item of ``data`` over all pages."""
        items: list[dict[str, Any]] = []
        for page in self._pages(url, token, params):
            data = page.get("data") if isinstance(page, dict) else None
            if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
                raise shape_error(f"{urlsplit(url).path} answer", "no data list")
            items.extend(data)
        return items

    def _next_url(self, data: Any, response: requests.Response) -> str | None:
        paging = data.get("paging") if isinstance(data, dict) else None
        url = paging.get("next") if isinstance(paging, dict) else None
        return url if isinstance(url, str) and url else None


def feature_from_images(key: str, images: list[dict[str, Any]]) -> Feature:
    """Graph API images of one sequence (capture order) as the v3 sequence Feature."""
    coordinates: list[list[float]] = []
    cas: list[float | None] = []
    for image in images:
        if image.get("sequence") not in (None, key):
            raise shape_error("image", f"{image.get('id')} belongs to another sequence")
        geometry = image.get("geometry")
        point = geometry.get("coordinates") if isinstance(geometry, dict) else None
        if (
            not isinstance(geometry, dict)
            or geometry.get("type") != "Point"
            or not isinstance(point, list)
            or len(point) < 2
            or not all(isinstance(c, int | float) for c in point[:2])
        ):
            raise shape_error("image", f"{image.get('id')} has no Point geometry")
        coordinates.append([float(point[0]), float(point[1])])
        angle = image.get("compass_angle")
        # One angle, many spellings (-10, 350, 710): keep 0 <= ca < 360 as the schema wants.
        cas.append(float(angle) % 360.0 if isinstance(angle, int | float) else None)
    first = images[0]
    creator = first.get("creator")
    creator = creator if isinstance(creator, dict) else {}
    feature: Feature = {
        "type": "Feature",
        "properties": {
            "camera_make": _str_or_none(first.get("make")),
            "captured_at": iso_from_epoch_ms(first.get("captured_at")),
            "coordinateProperties": {
                "cas": cas,
                "image_keys": [str(image["id"]) for image in images],
            },
            "created_at": None,  # the Graph API does not expose upload time
            "key": key,
            "pano": bool(first.get("is_pano", False)),
            "user_key": _str_or_none(creator.get("id")),
            "username": _str_or_none(creator.get("username")),
        },
        "geometry": {"type": "LineString", "coordinates": coordinates},
    }
    return check_feature(feature)


def _image_id(item: dict[str, Any]) -> str:
    image_id = item.get("id")
    if not isinstance(image_id, str | int) or isinstance(image_id, bool) or not str(image_id):
        raise shape_error("image", f"item without an id: {sorted(item)}")
    return str(image_id)


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
