"""Bounding boxes for the features API and exports (pure: no Flask, no database).

Coordinates are lon/lat in SRID 4326 (OGC CRS84 axis order) once parsed; ``bbox-crs`` may give
them in EPSG:4326 (latitude first) or EPSG:3857 metres (:mod:`geoapi.crs`). Every parse error
is a BadRequestError (400) that names the query parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from geoapi.crs import CRS84_URI, MERCATOR_HALF, parse_crs, to_lonlat
from geoapi.errors import bad_parameter

CRS84 = CRS84_URI
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
    """``bbox`` (4 numbers, or 6 with heights, which are ignored) in the CRS ``bbox-crs`` names
    (CRS84 by default) → a lon/lat BBox; None when absent.

    Finite numbers; lon within [-180, 180], lat within [-90, 90] (EPSG:3857 within the square
    Mercator world); minlat < maxlat; minlon < maxlon, except that minlon > maxlon means the box
    crosses the antimeridian (it is split into two envelopes). Equal bounds are refused: an
    empty box is always a client mistake.
    """
    box_crs = parse_crs(crs, "bbox-crs")
    if raw is None:
        return None
    parts = raw.split(",")
    if len(parts) not in (4, 6):
        raise bad_parameter(name, f"expected 4 or 6 comma-separated numbers, got {len(parts)}")
    values: list[float] = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            raise bad_parameter(name, f"{part.strip()[:32]!r} is not a number") from None
        if not math.isfinite(value):
            raise bad_parameter(name, f"{part.strip()[:32]!r} is not a finite number")
        values.append(value)
    if len(values) == 6:  # minx, miny, minz, maxx, maxy, maxz
        values = [values[0], values[1], values[3], values[4]]
    if box_crs.srid == 3857:
        for value in values:
            if abs(value) > MERCATOR_HALF * (1 + 1e-9):
                raise bad_parameter(name, f"{value} is outside the Web Mercator world")
    minlon, minlat = to_lonlat(values[0], values[1], box_crs)
    maxlon, maxlat = to_lonlat(values[2], values[3], box_crs)
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
