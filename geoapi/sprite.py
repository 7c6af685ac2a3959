"""The geoapi sprite (pure): the photo arrow as a signed-distance-field icon, drawn in code.

A MapLibre sprite is an index (``sprite.json``: name → box in the image, ``pixelRatio``,
``sdf``) and one PNG. The arrow is an SDF icon, so a style colours it per feature
(``icon-color``, the transport type's colour) and outlines it (``icon-halo-*``). The distance
field follows MapLibre's glyph convention: alpha 191 (0.75) on the outline, falling by 1/8 per
logical pixel outwards (so a halo of up to ~5 px fits), 255 two pixels inside.
"""

from __future__ import annotations

import functools
import json
import math
import struct
import zlib

ICON_SIZE = 24  # logical pixels, square
# The arrow, pointing north before ``icon-rotate`` turns it: tip, right wing, notch, left wing,
# in logical pixels from the top left of the icon.
ARROW = ((12.0, 3.5), (18.5, 19.5), (12.0, 15.5), (5.5, 19.5))
ICONS = {"photo-arrow": ARROW}
PIXEL_RATIOS = (1, 2)
SDF_EDGE = 0.75
SDF_PIXELS = 8.0


def _inside(x: float, y: float, polygon: tuple[tuple[float, float], ...]) -> bool:
    """Even-odd rule: whether the point lies inside the polygon."""
    inside = False
    for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


def _edge_distance(x: float, y: float, polygon: tuple[tuple[float, float], ...]) -> float:
    """Distance from the point to the polygon's outline."""
    best = math.inf
    for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        dx, dy = x1 - x0, y1 - y0
        t = max(0.0, min(1.0, ((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy)))
        best = min(best, math.hypot(x - x0 - t * dx, y - y0 - t * dy))
    return best


def sdf_alpha(polygon: tuple[tuple[float, float], ...], ratio: int) -> bytes:
    """The icon's distance field, one byte per pixel, ``ICON_SIZE * ratio`` pixels square."""
    side = ICON_SIZE * ratio
    out = bytearray()
    for row in range(side):
        for col in range(side):
            x, y = (col + 0.5) / ratio, (row + 0.5) / ratio
            distance = _edge_distance(x, y, polygon)
            signed = -distance if _inside(x, y, polygon) else distance
            value = SDF_EDGE - signed / SDF_PIXELS
            out.append(max(0, min(255, round(value * 255))))
    return bytes(out)


def encode_png(width: int, height: int, rgba: bytes) -> bytes:
    """An 8-bit RGBA PNG of ``rgba`` (rows top to bottom, no filtering)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    stride = width * 4
    raw = b"".join(b"\x00" + rgba[row * stride : (row + 1) * stride] for row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


@functools.cache
def sprite(ratio: int) -> tuple[bytes, bytes]:
    """(``sprite.json`` bytes, ``sprite.png`` bytes) at a pixel ratio of 1 or 2; icons side by
    side in one row. The same bytes every time."""
    if ratio not in PIXEL_RATIOS:
        raise ValueError(f"pixel ratio {ratio} is not one of {PIXEL_RATIOS}")
    side = ICON_SIZE * ratio
    index = {}
    rows = [bytearray() for _ in range(side)]
    for position, (name, polygon) in enumerate(ICONS.items()):
        alpha = sdf_alpha(polygon, ratio)
        for row in range(side):
            for value in alpha[row * side : (row + 1) * side]:
                rows[row] += bytes((0, 0, 0, value))
        index[name] = {
            "x": position * side,
            "y": 0,
            "width": side,
            "height": side,
            "pixelRatio": ratio,
            "sdf": True,
        }
    width = side * len(ICONS)
    png = encode_png(width, side, b"".join(bytes(row) for row in rows))
    return json.dumps(index, sort_keys=True).encode(), png
