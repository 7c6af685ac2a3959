"""Page sizes and keyset cursors: the one rule for each (pure: no Flask, no database).

Every listing declares its :class:`LimitRule`, which the OpenAPI document reads too, and pages
with opaque cursors made by :func:`encode_cursor`. Bad values are a 400 naming the parameter.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from geoapi.errors import bad_parameter
from geoapi.times import InvalidTimestampError, parse_timestamp

# PostgreSQL integer: positions, counts and limits never exceed it.
MAX_INT = 2**31 - 1
# Cursors are short; a longer one is not ours (and cannot nest deep enough to hurt the parser).
MAX_CURSOR = 512
MAX_SORTED_CURSOR = 8192  # a sorted listing's cursor carries its sort key values
# PostgreSQL bigint: the data version (``geoapi.store.versions``) never exceeds it.
MAX_VERSION = 2**63 - 1


@dataclass(frozen=True)
class LimitRule:
    """``limit`` of one listing: its default, its maximum, and what happens above it.

    ``clamp`` (OGC API Features): a larger limit is served as the maximum. Otherwise a larger
    limit is a 400. ``default=None`` means no limit unless asked (exports).
    """

    default: int | None
    maximum: int
    clamp: bool

    def parse(self, raw: str | None) -> int | None:
        """The page size for a ``limit`` query value; 400 naming ``limit`` when it is bad."""
        if raw is None:
            return self.default
        text = raw.strip()  # empty is no integer either: the document says integer
        if not text.isascii() or not text.isdigit() or len(text) > 12:
            raise bad_parameter("limit", f"{raw[:32]!r} is not a positive integer")
        value = int(text)
        if value < 1:
            raise bad_parameter("limit", "must be at least 1")
        if value > self.maximum:
            if not self.clamp:
                raise bad_parameter("limit", f"must be an integer from 1 to {self.maximum}")
            return self.maximum
        return value

    def page_size(self, raw: str | None) -> int:
        """:meth:`parse` for a listing that always pages (its default is a number)."""
        value = self.parse(raw)
        if value is None:
            raise ValueError("page_size needs a rule with a default")
        return value


# OGC API Features items: default 100, larger limits served as 10,000 (/req/core/fc-limit).
ITEMS_LIMIT = LimitRule(default=100, maximum=10_000, clamp=True)
# The /api/v1 listings (sequences, tours, tags): default 50, at most 500.
LIST_LIMIT = LimitRule(default=50, maximum=500, clamp=False)
# Streamed exports: everything unless a limit is given.
EXPORT_LIMIT = LimitRule(default=None, maximum=MAX_INT, clamp=False)


def encode_cursor(kind: str, *values: str | int | None, version: int | None = None) -> str:
    """An opaque keyset cursor: url-safe base64 (unpadded) of ``[kind, *values]``, ended by
    ``{"v": version}`` when given: the data version the first page was read at, so the next
    pages are not read from a replica that is behind it (``geoapi.db``)."""
    payload: list[Any] = [kind, *values]
    if version is not None:
        payload.append({"v": version})
    encoded = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(encoded).decode().rstrip("=")


def _decoded(raw: str, max_length: int = MAX_CURSOR) -> tuple[list[Any], int | None]:
    """A cursor's list without its version trailer, and the version (None when it has none,
    as cursors made before they carried one); 400 naming ``cursor`` when malformed.
    ``max_length``: longer text is not such a cursor (sorted listings carry sort key values).
    """
    text = raw.strip()
    if len(text) > max_length:
        raise bad_parameter("cursor", "not a cursor from this listing's 'next' link")
    try:
        decoded = json.loads(base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode()))
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        raise bad_parameter("cursor", "not a cursor from this listing's 'next' link") from None
    if not isinstance(decoded, list):
        raise bad_parameter("cursor", "not a cursor from this listing's 'next' link")
    if not decoded or not isinstance(decoded[-1], dict):
        return decoded, None
    trailer = decoded[-1]
    version = trailer.get("v")
    if set(trailer) != {"v"} or isinstance(version, bool) or not isinstance(version, int):
        raise bad_parameter("cursor", "the cursor's data version is malformed")
    if not 0 <= version <= MAX_VERSION:
        raise bad_parameter("cursor", "the cursor's data version is malformed")
    return decoded[:-1], version


def decode_cursor(raw: str, kind: str, arity: int, max_length: int = MAX_CURSOR) -> list[Any]:
    """The values of a cursor made by ``encode_cursor(kind, ...)`` (its version aside); 400
    naming ``cursor``."""
    values, _version = _decoded(raw, max_length)
    if len(values) != arity + 1 or values[0] != kind:
        raise bad_parameter("cursor", f"not a cursor of this {kind} listing")
    return values[1:]


def cursor_version(raw: str | None) -> int | None:
    """The data version a cursor's first page was read at; None without a cursor or for one
    made before cursors carried it. 400 naming ``cursor`` when malformed."""
    if raw is None or not raw.strip():
        return None
    return _decoded(raw, MAX_SORTED_CURSOR)[1]


def asked_version(raw: str | None) -> int | None:
    """The data version a tile or TileJSON URL asks for with ``?v=``; None when absent or not
    a plain number (``v`` is otherwise just part of a cache key, as it always was)."""
    text = (raw or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    return int(text)


def cursor_uuid(value: object) -> uuid.UUID:
    """A cursor's id value; 400 naming ``cursor`` when it is not a UUID."""
    if not isinstance(value, str) or len(value) > 36:
        raise bad_parameter("cursor", "the cursor's id is malformed")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise bad_parameter("cursor", "the cursor's id is malformed") from None


def cursor_datetime(value: object) -> datetime | None:
    """A cursor's timestamp value (null allowed); 400 naming ``cursor`` when malformed."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise bad_parameter("cursor", "the cursor's time is malformed")
    try:
        return parse_timestamp(value)
    except InvalidTimestampError:
        raise bad_parameter("cursor", "the cursor's time is malformed") from None


def cursor_int(value: object) -> int:
    """A cursor's integer value (a position or a count) within 0..2^31-1; 400 otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
        raise bad_parameter("cursor", "the cursor's number is malformed")
    return value
