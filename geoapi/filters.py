"""Property filters shared by OGC items, vector tiles and exports.

``parse_filters`` reads a request's query arguments (no Flask import: any MultiDict-like
mapping with ``get``/``getlist``) and raises BadRequestError naming the parameter;
``FILTER_SQL`` is the matching WHERE fragment on a sequences row aliased ``s``, and
``SequenceFilters.params()`` its bind parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from geoapi.db import read_sql
from geoapi.errors import BadRequestError, field_error
from geoapi.taxonomy import TaxonomyError, TransportTypes, normalize_tag


class QueryArgs(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...
    def getlist(self, key: str) -> list[Any]: ...


@dataclass(frozen=True)
class SequenceFilters:
    transport_type_ids: tuple[int, ...] | None = None
    tags: tuple[str, ...] | None = None
    username: str | None = None
    camera_make: str | None = None
    pano: bool | None = None
    start: datetime | None = None
    end: datetime | None = None

    def params(self) -> dict[str, Any]:
        """Bind parameters for FILTER_SQL."""
        return {
            "f_transport_type_ids": list(self.transport_type_ids)
            if self.transport_type_ids
            else None,
            "f_tags": list(self.tags) if self.tags else None,
            "f_username": self.username,
            "f_camera_make": self.camera_make,
            "f_pano": self.pano,
            "f_start": self.start,
            "f_end": self.end,
        }

    def cache_key(self) -> str:
        """A stable text form, for ETags and cache keys."""
        return repr(self)


def filter_sql() -> str:
    """The WHERE fragment for a sequences row aliased ``s`` (static SQL, bind parameters)."""
    return read_sql("sequence_filters")


def _bad(name: str, message: str) -> BadRequestError:
    return BadRequestError(f"invalid {name}: {message}", errors=[field_error(name, message)])


def parse_instant(raw: str, name: str = "datetime") -> datetime:
    """RFC 3339 date-time (or a bare date) → aware UTC datetime."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise _bad(name, f"{raw!r} is not an RFC 3339 date-time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_datetime(raw: str | None) -> tuple[datetime | None, datetime | None]:
    """OGC API ``datetime``: an instant, or an interval ``a/b`` with ``..`` or empty for open."""
    if raw is None or raw == "":
        return None, None
    if "/" not in raw:
        instant = parse_instant(raw)
        return instant, instant
    start_raw, _, end_raw = raw.partition("/")
    start = None if start_raw in ("", "..") else parse_instant(start_raw)
    end = None if end_raw in ("", "..") else parse_instant(end_raw)
    if start is None and end is None:
        raise _bad("datetime", "an interval needs at least one end")
    if start and end and start > end:
        raise _bad("datetime", "the interval's start is after its end")
    return start, end


def parse_bool(raw: str | None, name: str) -> bool | None:
    if raw is None or raw == "":
        return None
    lowered = raw.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise _bad(name, f"{raw!r} is not true or false")


def parse_filters(args: QueryArgs, transport_types: TransportTypes) -> SequenceFilters:
    """Read transport_type, tag (repeatable, AND; or comma-separated), username, camera_make,
    pano and datetime; BadRequestError (400) naming the parameter for any bad value."""
    type_ids: tuple[int, ...] | None = None
    transport = args.get("transport_type")
    if transport:
        try:
            type_ids = tuple(transport_types.filter_ids(transport))
        except TaxonomyError as exc:
            raise _bad("transport_type", str(exc)) from None
    tags: tuple[str, ...] | None = None
    raw_tags = [
        part for value in args.getlist("tag") for part in str(value).split(",") if part.strip()
    ]
    if raw_tags:
        try:
            tags = tuple(dict.fromkeys(normalize_tag(tag) for tag in raw_tags))
        except TaxonomyError as exc:
            raise _bad("tag", str(exc)) from None
    start, end = parse_datetime(args.get("datetime"))
    username = args.get("username") or None
    camera_make = args.get("camera_make") or None
    for name, value in (("username", username), ("camera_make", camera_make)):
        if value is not None and len(value) > 200:
            raise _bad(name, "longer than 200 characters")
        if value is not None and "\x00" in value:
            raise _bad(name, "contains a NUL character")
    return SequenceFilters(
        transport_type_ids=type_ids,
        tags=tags,
        username=username,
        camera_make=camera_make,
        pano=parse_bool(args.get("pano"), "pano"),
        start=start,
        end=end,
    )
