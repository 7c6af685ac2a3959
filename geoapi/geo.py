"""Pure helpers for the features API: bbox, limit and paging cursors (no Flask, no database).

Coordinates are lon/lat in SRID 4326 (OGC CRS84 axis order). Every parse error is a
BadRequestError (400) that names the query parameter.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any

from geoapi.errors import BadRequestError, field_error

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
# Spellings of CRS84 a client may send as ``bbox-crs``; anything else is refused.
CRS84_ALIASES = frozenset(
    {CRS84, "https://www.opengis.net/def/crs/OGC/1.3/CRS84", "urn:ogc:def:crs:OGC:1.3:CRS84"}
)
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
# An antimeridian-crossing bbox becomes two envelopes, so queries always get up to two.
Envelope = tuple[float, float, float, float]


def bad_parameter(name: str, message: str) -> BadRequestError:
    """A 400 naming the query parameter ``name``."""
    return BadRequestError(f"invalid {name}: {message}", errors=[field_error(name, message)])


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


def parse_limit(
    raw: str | None, default: int = DEFAULT_LIMIT, maximum: int | None = MAX_LIMIT
) -> int:
    """A positive integer; above ``maximum`` it is clamped (OGC API Features, /req/core/fc-limit).

    ``maximum=None`` means unbounded (exports).
    """
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip()
    if not text.isascii() or not text.lstrip("+").isdigit():
        raise bad_parameter("limit", f"{raw!r} is not a positive integer")
    value = int(text)
    if value < 1:
        raise bad_parameter("limit", "must be at least 1")
    return value if maximum is None else min(value, maximum)


def encode_cursor(kind: str, *values: str | int) -> str:
    """An opaque paging token: url-safe base64 of ``[kind, *values]``, unpadded."""
    payload = json.dumps([kind, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(raw: str, kind: str, arity: int) -> list[Any]:
    """The values of a cursor made by ``encode_cursor(kind, ...)``; 400 naming ``cursor``."""
    try:
        padded = raw.strip() + "=" * (-len(raw.strip()) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        raise bad_parameter("cursor", "not a cursor this API issued") from None
    if not isinstance(decoded, list) or len(decoded) != arity + 1 or decoded[0] != kind:
        raise bad_parameter("cursor", f"not a cursor of the {kind} collection")
    return decoded[1:]


def check_known(names: list[str], allowed: frozenset[str]) -> None:
    """400 naming every query parameter not in ``allowed`` (OGC: unknown parameters fail)."""
    unknown = sorted(set(names) - allowed)
    if unknown:
        listed = ", ".join(unknown)
        raise BadRequestError(
            f"unknown query parameter(s): {listed}",
            errors=[field_error(name, "unknown query parameter") for name in unknown],
        )
