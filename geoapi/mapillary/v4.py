"""Mapillary v4 (Graph API) adapter: images and sequences mapped onto the v3 sequence Feature."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
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
# The image search's documented maximum ``limit``. It pages with ``paging.next`` where it can,
# but documents no paging of whole collections; its FAQ says to split the query.
SEARCH_LIMIT = 2000
# Where a search window holds a full page and no next link: split it in two, down to 1 ms.
FIRST_CAPTURE_MS = 0
YEAR_MS = 365 * 24 * 3600 * 1000


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
        params: dict[str, Any] = {"fields": LIST_FIELDS}
        if listing.username:
            params["creator_username"] = listing.username
        if listing.user_key:
            params["creator_id"] = listing.user_key
        start = _epoch_ms(listing.start_time) if listing.start_time else None
        end = _epoch_ms(listing.end_time) if listing.end_time else None
        limit = max(1, min(listing.per_page, SEARCH_LIMIT))
        images = self._search(token, params, start, end, limit)
        groups: dict[str, dict[str, Any]] = {}
        for image in images:
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

    def _search(
        self, token: str, params: dict[str, Any], start: int | None, end: int | None, limit: int
    ) -> list[dict[str, Any]]:
        """Every image of the search captured in [start, end] (epoch ms, inclusive; None is
        open), complete whatever the paging does: ``paging.next`` is followed when given; a
        full page without one means the window holds more, so it is split in two and each half
        searched, until every window holds less than ``limit``. Each image once, by id."""
        window = {**params, "limit": limit}
        if start is not None:
            window["start_captured_at"] = iso_utc(_from_epoch_ms(start))
        if end is not None:
            window["end_captured_at"] = iso_utc(_from_epoch_ms(end))
        pages = self._data_pages(f"{self.config.api_v4_url}/images", token, window)
        if len(pages) > 1 or len(pages[0]) < limit:
            return [image for page in pages for image in page]
        low = FIRST_CAPTURE_MS if start is None else start
        high = end if end is not None else max(_epoch_ms(datetime.now(UTC)), low + YEAR_MS)
        if low >= high:
            raise shape_error(
                "image search", f"more than {limit} images at one instant; cannot list them all"
            )
        middle = (low + high) // 2
        found: dict[str, dict[str, Any]] = {}
        for part in (
            self._search(token, params, start, middle, limit),
            self._search(token, params, middle + 1, end, limit),  # open-ended stays open
        ):
            found.update((_image_id(image), image) for image in part)
        return list(found.values())

    def _data(self, url: str, token: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every item of ``data`` over all pages."""
        return [item for page in self._data_pages(url, token, params) for item in page]

    def _data_pages(
        self, url: str, token: str, params: dict[str, Any]
    ) -> list[list[dict[str, Any]]]:
        """The ``data`` list of every page, following ``paging.next``."""
        pages: list[list[dict[str, Any]]] = []
        for page in self._pages(url, token, params):
            data = page.get("data") if isinstance(page, dict) else None
            if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
                raise shape_error(f"{urlsplit(url).path} answer", "no data list")
            pages.append(data)
        return pages

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


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch_ms(moment: datetime) -> int:
    """Whole milliseconds since the epoch, exactly (no float rounding at window edges)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return (moment - EPOCH) // timedelta(milliseconds=1)


def _from_epoch_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def _image_id(item: dict[str, Any]) -> str:
    image_id = item.get("id")
    if not isinstance(image_id, str | int) or isinstance(image_id, bool) or not str(image_id):
        raise shape_error("image", f"item without an id: {sorted(item)}")
    return str(image_id)


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
