"""Small helpers shared by the tests (import as ``from helpers import ...``)."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import make_server


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


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The XYZ tile (x, y) holding lon/lat at zoom z."""
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def tile_lonlat(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(west, south, east, north) of an XYZ tile."""
    n = 2**z

    def lat(row: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y)


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve a WSGI app over real HTTP on a free 127.0.0.1 port; yields ``http://host:port``."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
