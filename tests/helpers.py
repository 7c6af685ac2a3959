"""Small helpers shared by the tests (import as ``from helpers import ...``)."""

from __future__ import annotations

from typing import Any


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_feature(key: str, points: list[tuple[float, float]], **props: Any) -> dict[str, Any]:
    """A Mapillary v3 sequence Feature with one photo per point."""
    properties: dict[str, Any] = {
        "camera_make": "Apple",
        "captured_at": "2020-05-01T10:00:00.000Z",
        "created_at": "2020-05-02T10:00:00.000Z",
        "coordinateProperties": {
            "cas": [float(i * 10 % 360) for i in range(len(points))],
            "image_keys": [f"{key}-img-{i}" for i in range(len(points))],
        },
        "key": key,
        "pano": False,
        "user_key": "user-key-1",
        "username": "someone",
    }
    properties.update(props)
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": {"type": "LineString", "coordinates": [list(p) for p in points]},
    }
