"""Property filters shared by OGC items, vector tiles, exports and the sequence listing (pure).

:data:`PROPERTY_FILTERS` names each query parameter once, with the description and JSON schema
the OpenAPI document shows; :func:`parse_filters` reads them from any MultiDict-like mapping
(``get``/``getlist``) and raises a 400 naming the parameter. The matching SQL is
``geoapi/store/sql/sequence_filters.sql``, bound by :meth:`SequenceFilters.params`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from geoapi.errors import bad_parameter
from geoapi.fields import TextError, check_text
from geoapi.taxonomy import TAG_QUERY_PATTERN, TaxonomyError, TransportTypes, tag_query
from geoapi.times import InvalidTimestampError, parse_timestamp

MAX_FILTER_TEXT = 200
# Empty (no filter), an RFC 3339 full-date or date-time, or an OGC interval of them (".." or
# empty: open; one end at least). The calendar (a 31 February) and the order of the ends are
# checked by parsing.
_DATE = r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_OFFSET = r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?" + _OFFSET
_INSTANT = f"{_DATE}(?:[Tt]{_TIME})?"
DATETIME_PATTERN = f"^(?:|{_INSTANT}|{_INSTANT}/(?:{_INSTANT}|\\.\\.)?|(?:\\.\\.)?/{_INSTANT})$"


class QueryArgs(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...
    def getlist(self, key: str) -> list[Any]: ...


@dataclass(frozen=True)
class FilterParam:
    """One property filter as a query parameter: its name, meaning and OpenAPI schema."""

    name: str
    description: str
    schema: dict[str, Any]
    explode: bool = False  # repeatable (tag=a&tag=b)


PROPERTY_FILTERS: tuple[FilterParam, ...] = (
    FilterParam(
        "transport_type", "A transport type; a parent includes its children.", {"type": "string"}
    ),
    FilterParam(
        "tag",
        "Tags, all of which must be present (repeat or comma-separate).",
        {"type": "array", "items": {"type": "string", "pattern": TAG_QUERY_PATTERN}},
        explode=True,
    ),
    FilterParam("username", "The owner's username (case-insensitive).", {"type": "string"}),
    FilterParam("camera_make", "Camera make (case-insensitive).", {"type": "string"}),
    FilterParam("pano", "Panoramas only (true) or none (false).", {"type": "boolean"}),
    FilterParam(
        "datetime",
        "An RFC 3339 instant or interval (a/b, '..' open) on captured_at.",
        {"type": "string", "pattern": DATETIME_PATTERN},
    ),
)
FILTER_NAMES: tuple[str, ...] = tuple(param.name for param in PROPERTY_FILTERS)


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
        """Bind parameters for ``sequence_filters.sql``."""
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


def parse_instant(raw: str, name: str = "datetime") -> datetime:
    """RFC 3339 date-time (or a bare date) → aware UTC datetime; 400 naming ``name``."""
    try:
        return parse_timestamp(raw)
    except InvalidTimestampError as exc:
        raise bad_parameter(name, str(exc)) from None


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
        raise bad_parameter("datetime", "an interval needs at least one end")
    if start and end and start > end:
        raise bad_parameter("datetime", "the interval's start is after its end")
    return start, end


def parse_bool(raw: str | None, name: str) -> bool | None:
    if raw is None or raw == "":
        return None
    lowered = raw.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise bad_parameter(name, f"{raw[:32]!r} is not true or false")


def _text_filter(args: QueryArgs, name: str) -> str | None:
    value = args.get(name) or None
    if value is None:
        return None
    if len(value) > MAX_FILTER_TEXT:
        raise bad_parameter(name, f"longer than {MAX_FILTER_TEXT} characters")
    try:
        return check_text(value)
    except TextError as exc:
        raise bad_parameter(name, str(exc)) from None


def parse_filters(args: QueryArgs, transport_types: TransportTypes) -> SequenceFilters:
    """Read transport_type, tag (repeatable, AND; or comma-separated), username, camera_make,
    pano and datetime; BadRequestError (400) naming the parameter for any bad value."""
    type_ids: tuple[int, ...] | None = None
    transport = args.get("transport_type")
    if transport:
        try:
            type_ids = tuple(transport_types.filter_ids(transport))
        except TaxonomyError as exc:
            raise bad_parameter("transport_type", str(exc)) from None
    tags: tuple[str, ...] | None = None
    try:
        raw_tags = [tag for value in args.getlist("tag") for tag in tag_query(str(value))]
    except TaxonomyError as exc:
        raise bad_parameter("tag", str(exc)) from None
    if raw_tags:
        tags = tuple(dict.fromkeys(raw_tags))
    start, end = parse_datetime(args.get("datetime"))
    return SequenceFilters(
        transport_type_ids=type_ids,
        tags=tags,
        username=_text_filter(args, "username"),
        camera_make=_text_filter(args, "camera_make"),
        pano=parse_bool(args.get("pano"), "pano"),
        start=start,
        end=end,
    )
