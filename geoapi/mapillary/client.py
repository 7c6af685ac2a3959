"""The one factory of Mapillary clients: the adapter for an API version, configured."""

from __future__ import annotations

import time
from collections.abc import Callable

from geoapi.mapillary.http import MapillaryConfig
from geoapi.mapillary.source import MapillarySource
from geoapi.mapillary.v3 import MapillaryV3
from geoapi.mapillary.v4 import MapillaryV4


def create_source(
    config: MapillaryConfig,
    api_version: str = "v4",
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> MapillarySource:
    """The adapter for ``api_version`` ("v3" or "v4"); close it (or use ``with``) when done."""
    if api_version == "v3":
        return MapillaryV3(config, sleep=sleep)
    if api_version == "v4":
        return MapillaryV4(config, sleep=sleep)
    raise ValueError(f"unknown Mapillary API version {api_version!r} (expected v3 or v4)")
