"""Timestamps on the wire: one format out (RFC 3339, UTC, ``Z``), one parser in (pure)."""

from __future__ import annotations

from datetime import UTC, datetime


class InvalidTimestampError(ValueError):
    """Text that is not an RFC 3339 / ISO 8601 date-time within the years 1-9999 (UTC)."""


class TimestampOutOfRangeError(InvalidTimestampError):
    """A well-formed date-time whose UTC instant lies before year 1 or after year 9999."""


def format_timestamp(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with ``Z``, like Mapillary's ``2016-03-14T13:44:53.860Z``.

    Milliseconds as Mapillary writes them; microseconds only when the value has them, so a
    re-import never loses precision. Every timestamp geoapi sends goes through here.
    """
    if value is None:
        return None
    utc = value.astimezone(UTC)
    fraction = (
        f"{utc.microsecond // 1000:03d}"
        if utc.microsecond % 1000 == 0
        else f"{utc.microsecond:06d}"
    )
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + fraction + "Z"


def parse_timestamp(raw: str) -> datetime:
    """An ISO 8601 date-time (or a bare date) → an aware UTC datetime; naive means UTC.

    InvalidTimestampError when it does not parse or when its UTC instant falls outside the
    years 1-9999 (``0001-01-01T00:00:00+01:00`` is in year 0 in UTC).
    """
    text = raw.strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidTimestampError(f"{raw[:64]!r} is not an RFC 3339 date-time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise TimestampOutOfRangeError(
            f"{raw[:64]!r} falls outside the years 1-9999 in UTC"
        ) from None
