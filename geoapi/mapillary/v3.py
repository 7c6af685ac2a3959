"""The retired Mapillary v3 API (``/v3/...``), kept for recorded setups and the uploader."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

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

V3_MAX_PER_PAGE = 1000


class MapillaryV3(MapillarySource):
    """The retired v3 API (``/v3/...``, ``Authorization: Bearer``), kept for recorded setups."""

    authorization_scheme = "Bearer"

    def me(self, token: str) -> MapillaryUser:
        data = self._get(f"{self.config.api_v3_url}/v3/me", token, self._params())
        if not isinstance(data, dict) or not data.get("key") or not data.get("username"):
            raise shape_error("/v3/me answer", "key or username missing")
        return MapillaryUser(key=str(data["key"]), username=str(data["username"]))

    def _list(self, token: str, listing: Listing) -> list[SequenceSummary]:
        per_page = min(listing.per_page, V3_MAX_PER_PAGE)
        params = self._params(
            per_page=per_page, userkeys=listing.user_key, usernames=listing.username
        )
        if listing.start_time is not None:
            params["start_time"] = iso_utc(listing.start_time)
        if listing.end_time is not None:
            params["end_time"] = iso_utc(listing.end_time)
        summaries: list[SequenceSummary] = []
        for page in self._pages(f"{self.config.api_v3_url}/v3/sequences", token, params):
            features = page.get("features") if isinstance(page, dict) else None
            if not isinstance(features, list):
                raise shape_error("/v3/sequences answer", "not a FeatureCollection")
            for feature in features:
                props = check_feature(feature)["properties"]
                summaries.append(
                    SequenceSummary(
                        key=props["key"],
                        captured_at=props.get("captured_at"),
                        photo_count=len(props["coordinateProperties"]["image_keys"]),
                        username=props.get("username"),
                        user_key=props.get("user_key"),
                    )
                )
        return summaries

    def get_sequence(self, token: str, key: str) -> Feature:
        url = f"{self.config.api_v3_url}/v3/sequences/{quote(key, safe='')}"
        return check_feature(self._get(url, token, self._params()))

    def _next_url(self, data: Any, response: requests.Response) -> str | None:
        url = response.links.get("next", {}).get("url")
        return url if isinstance(url, str) and url else None

    def _params(self, **extra: Any) -> dict[str, Any]:
        params = {"client_id": self.config.client_id}
        params.update({name: value for name, value in extra.items() if value is not None})
        return params
