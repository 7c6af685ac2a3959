"""Bounding boxes for the features API and exports (pure: no Flask, no database).

Coordinates are lon/lat in SRID 4326 (OGC CRS84 axis order). Every parse error is a
BadRequestError (400) that names the query parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from geoapi.errors import bad_parameter

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
# Spellings of CRS84 a client may send as ``bbox-crs``; anything else is refused.
CRS84_ALIASES = frozenset(
    {CRS84, "https://www.opengis.net/def/crs/OGC/1.3/CRS84", "urn:ogc:def:crs:OGC:1.3:CRS84"}
)
# An antimeridian-crossing bbox becomes two envelopes, so queries always get up to two.
Envelope = tuple[float, float, float, float]


@dataclass(frozen=True)
class BBox:
    """A validated ``bbox``: min/max lon/lat; ``minlon > maxlon`` crosses the antimeridian."""

    minlon: float
    minlat: float
    maxlon: float
    maxlat: float

    @property
    def crosses_antimeridian(self) -> bool:
        return self.minlon > self.maxlon

    def envelopes(self) -> list[Envelope]:
        """One envelope, or two (east and west of the antimeridian) for a crossing bbox."""
        if not self.crosses_antimeridian:
            return [(self.minlon, self.minlat, self.maxlon, self.maxlat)]
        return [
            (self.minlon, self.minlat, 180.0, self.maxlat),
            (-180.0, self.minlat, self.maxlon, self.maxlat),
        ]


def parse_bbox(raw: str | None, crs: str | None = None, name: str = "bbox") -> BBox | None:
    """``minlon,minlat,maxlon,maxlat`` in CRS84 → BBox; None when absent.

    Four finite numbers; lon within [-180, 180], lat within [-90, 90]; minlat < maxlat;
    minlon < maxlon, except that minlon > maxlon means the box crosses the antimeridian (it is
    split into two envelopes). Equal bounds are refused: an empty box is always a client mistake.
    """
    if crs is not None and crs.strip() not in CRS84_ALIASES:
        raise bad_parameter("bbox-crs", f"only {CRS84} is supported, got {crs!r}")
    if raw is None:
        return None
    parts = raw.split(",")
    if len(parts) != 4:
        raise bad_parameter(name, f"expected 4 comma-separated numbers, got {len(parts)}")
    values: list[float] = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            raise bad_parameter(name, f"{part.strip()!r} is not a number") from None
        if not math.isfinite(value):
            raise bad_parameter(name, f"{part.strip()!r} is not a finite number")
        values.append(value)
    minlon, minlat, maxlon, maxlat = values
    for lon in (minlon, maxlon):
        if not -180.0 <= lon <= 180.0:
            raise bad_parameter(name, f"longitude {lon} is outside [-180, 180]")
    for lat in (minlat, maxlat):
        if not -90.0 <= lat <= 90.0:
            raise bad_parameter(name, f"latitude {lat} is outside [-90, 90]")
    if minlat >= maxlat:
        raise bad_parameter(name, f"minimum latitude {minlat} must be below maximum {maxlat}")
    if minlon == maxlon:
        raise bad_parameter(name, f"minimum and maximum longitude are both {minlon}")
    return BBox(minlon, minlat, maxlon, maxlat)


def envelope_params(bbox: BBox | None) -> dict[str, float | None]:
    """Bind parameters ``e1_*`` / ``e2_*`` for the two optional envelopes of the items SQL."""
    envelopes: list[Envelope | None] = list(bbox.envelopes()) if bbox else []
    envelopes += [None] * (2 - len(envelopes))
    params: dict[str, float | None] = {}
    for number, envelope in enumerate(envelopes, start=1):
        for axis, index in (("xmin", 0), ("ymin", 1), ("xmax", 2), ("ymax", 3)):
            params[f"e{number}_{axis}"] = envelope[index] if envelope else None
    return params
