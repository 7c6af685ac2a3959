"""Coordinate reference systems of OGC API Features Part 2 (pure: no Flask, no database).

geoapi stores lon/lat in SRID 4326 and offers three CRSs on the wire: OGC CRS84 (lon/lat, the
default), EPSG:4326 (the same datum, but **latitude first**, as the EPSG axis order demands)
and EPSG:3857 (Web Mercator metres). :func:`parse_crs` reads the value of ``crs``,
``bbox-crs`` or ``filter-crs`` in any of the spellings clients send; :func:`to_lonlat` turns a
position given in one of them into CRS84.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from geoapi.errors import bad_parameter

CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG4326_URI = "http://www.opengis.net/def/crs/EPSG/0/4326"
EPSG3857_URI = "http://www.opengis.net/def/crs/EPSG/0/3857"
# Web Mercator: the sphere's radius and the half-width of the square world, in metres.
EARTH_RADIUS = 6_378_137.0
MERCATOR_HALF = math.pi * EARTH_RADIUS
MAX_CRS_TEXT = 128


@dataclass(frozen=True)
class Crs:
    """One supported CRS: its URI, the SRID it stands for, and its axis order."""

    uri: str
    srid: int
    lat_first: bool = False

    @property
    def header(self) -> str:
        """The ``Content-Crs`` header value: the URI in angle brackets."""
        return f"<{self.uri}>"

    @property
    def geometry_code(self) -> int:
        """What the items SQL binds as ``out_crs``: 0 stored lon/lat, 4326 flipped, 3857."""
        if self.srid == 3857:
            return 3857
        return 4326 if self.lat_first else 0

    @property
    def decimal_digits(self) -> int:
        """Digits after the point in GeoJSON output: 1e-9 degrees, or millimetres."""
        return 3 if self.srid == 3857 else 9


CRS84 = Crs(CRS84_URI, 4326)
EPSG4326 = Crs(EPSG4326_URI, 4326, lat_first=True)
EPSG3857 = Crs(EPSG3857_URI, 3857)
SUPPORTED: tuple[Crs, ...] = (CRS84, EPSG4326, EPSG3857)
SUPPORTED_URIS: tuple[str, ...] = tuple(crs.uri for crs in SUPPORTED)

_EPSG = re.compile(
    r"^(?:https?://www\.opengis\.net/def/crs/EPSG/0/|urn:ogc:def:crs:EPSG:[0-9.]*:|"
    r"\[?EPSG:)([0-9]{1,6})\]?$",
    re.IGNORECASE,
)
_CRS84 = re.compile(
    r"^(?:https?://www\.opengis\.net/def/crs/OGC/1\.3/CRS84|urn:ogc:def:crs:OGC:1\.3:CRS84|"
    r"\[?OGC:CRS84\]?|CRS84)$",
    re.IGNORECASE,
)


def parse_crs(raw: str | None, name: str) -> Crs:
    """The CRS a parameter names (URI, ``EPSG:4326``, ``[EPSG:4326]``, URN, ``CRS84``);
    CRS84 when absent; a 400 naming ``name`` for anything else."""
    if raw is None or raw.strip() == "":
        return CRS84
    text = raw.strip()
    if len(text) <= MAX_CRS_TEXT:
        if _CRS84.match(text):
            return CRS84
        match = _EPSG.match(text)
        if match:
            code = int(match.group(1))
            for crs in (EPSG4326, EPSG3857):
                if crs.srid == code:
                    return crs
    listed = ", ".join(SUPPORTED_URIS)
    raise bad_parameter(name, f"{text[:MAX_CRS_TEXT]!r} is not supported; use one of {listed}")


def mercator_to_lonlat(x: float, y: float) -> tuple[float, float]:
    """Web Mercator metres → lon/lat degrees (the spherical inverse PostGIS uses)."""
    lon = max(-180.0, min(180.0, math.degrees(x / EARTH_RADIUS)))  # rounding at the edge
    lat = math.degrees(2.0 * math.atan(math.exp(y / EARTH_RADIUS)) - math.pi / 2.0)
    return lon, lat


def to_lonlat(first: float, second: float, crs: Crs) -> tuple[float, float]:
    """A position in ``crs`` axis order → (lon, lat). Mercator values beyond the square world
    are the caller's to refuse (see :data:`MERCATOR_HALF`)."""
    if crs.srid == 3857:
        return mercator_to_lonlat(first, second)
    return (second, first) if crs.lat_first else (first, second)
