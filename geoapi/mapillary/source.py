"""What every Mapillary API version offers geoapi, in one shape (:class:`MapillarySource`).

Both adapters (``geoapi.mapillary.v3.MapillaryV3``, ``geoapi.mapillary.v4.MapillaryV4`` for the
Graph API; pick one with ``geoapi.mapillary.client.create_source``) return a sequence as a
**Mapillary v3 sequence Feature**, the shape the importer consumes: a LineString in SRID 4326
``[lon, lat]``; ``properties`` ``key``, ``user_key``, ``username``, ``camera_make``,
``captured_at``/``created_at`` (ISO 8601 UTC, ``Z``), ``pano``, and ``coordinateProperties``
``cas`` and ``image_keys`` aligned with the coordinates. Error messages never contain access
tokens or client secrets.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import requests

from geoapi.mapillary.errors import MapillaryResponseError
from geoapi.mapillary.http import MapillaryConfig, MapillaryHTTP, redact

Feature = dict[str, Any]
"""A Mapillary v3 sequence Feature (see the module docstring)."""

DEFAULT_PER_PAGE = 2000  # the v4 image search's documented maximum limit


@dataclass(frozen=True)
class MapillaryUser:
    """The account a token belongs to: v3 user key or v4 numeric user id, and username."""

    key: str
    username: str


@dataclass(frozen=True)
class SequenceSummary:
    """One row of a user's sequence listing; ``photo_count`` counts the photos listed."""

    key: str
    captured_at: str | None
    photo_count: int | None
    username: str | None
    user_key: str | None


@dataclass(frozen=True)
class Listing:
    """Whose sequences to list, captured when, in pages of how many."""

    user_key: str | None
    username: str | None
    start_time: datetime | None
    end_time: datetime | None
    per_page: int


def iso_utc(moment: datetime) -> str:
    """Format as ISO 8601 UTC with milliseconds and ``Z``; a naive datetime is taken as UTC."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class MapillarySource(ABC):
    """A Mapillary API version: who a token belongs to, their sequences, one sequence."""

    authorization_scheme: str = "Bearer"

    def __init__(
        self,
        config: MapillaryConfig,
        *,
        http: MapillaryHTTP | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._owns_http = http is None
        self.http = http if http is not None else MapillaryHTTP(config, sleep=sleep)

    @abstractmethod
    def me(self, token: str) -> MapillaryUser:
        """The Mapillary account ``token`` belongs to."""

    def list_sequences(
        self,
        token: str,
        *,
        user_key: str | None = None,
        username: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        per_page: int = DEFAULT_PER_PAGE,
    ) -> list[SequenceSummary]:
        """Every sequence of one user (by key or username) captured in [start_time, end_time]."""
        if not user_key and not username:
            raise ValueError("list_sequences needs user_key or username")
        listing = Listing(user_key, username, start_time, end_time, per_page)
        return self._list(token, listing)

    @abstractmethod
    def _list(self, token: str, listing: Listing) -> list[SequenceSummary]:
        """:meth:`list_sequences` for this API version (``listing`` names a user)."""

    @abstractmethod
    def get_sequence(self, token: str, key: str) -> Feature:
        """One sequence as a Mapillary v3 Feature; MapillaryNotFoundError if it does not exist."""

    def close(self) -> None:
        """Release the HTTP connections (only those this source opened itself)."""
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _get(self, url: str, token: str, params: dict[str, Any] | None = None) -> Any:
        return self.http.get_json(url, self.authorization_scheme, token, params)[0]

    def _pages(self, url: str, token: str, params: dict[str, Any] | None) -> Iterator[Any]:
        """Yield every page, following :meth:`_next_url` on the same origin, never in a loop."""
        origin = urlsplit(url)[:2]
        seen: set[str] = set()
        next_url: str | None = url
        while next_url is not None:
            data, response = self.http.get_json(next_url, self.authorization_scheme, token, params)
            yield data
            params = None  # the next URL carries its own query
            seen.add(response.url)
            next_url = self._next_url(data, response)
            if next_url is not None and (urlsplit(next_url)[:2] != origin or next_url in seen):
                raise MapillaryResponseError(
                    "Mapillary's next-page link leaves the API or repeats a page: "
                    + redact(next_url, (token,))
                )

    def _next_url(self, data: Any, response: requests.Response) -> str | None:
        return None


def shape_error(what: str, detail: str) -> MapillaryResponseError:
    """A MapillaryResponseError for a payload that is JSON but not the shape we rely on."""
    return MapillaryResponseError(f"unexpected Mapillary {what}: {detail}")


def check_feature(feature: Any) -> Feature:
    """Check a v3 sequence Feature's shape (LineString; keys and cas aligned); return it."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise shape_error("sequence", "not a GeoJSON Feature")
    props, geometry = feature.get("properties"), feature.get("geometry")
    if not isinstance(props, dict) or not isinstance(props.get("key"), str):
        raise shape_error("sequence", "properties.key is missing")
    if not isinstance(geometry, dict) or geometry.get("type") != "LineString":
        raise shape_error("sequence", f"{props['key']} has no LineString geometry")
    coords = geometry.get("coordinates")
    coord_props = props.get("coordinateProperties")
    if not isinstance(coords, list) or not isinstance(coord_props, dict):
        raise shape_error("sequence", f"{props['key']} lacks coordinates or coordinateProperties")
    for name in ("image_keys", "cas"):
        values = coord_props.get(name)
        if not isinstance(values, list) or len(values) != len(coords):
            raise shape_error("sequence", f"{props['key']}: {name} do not match the coordinates")
    return feature
