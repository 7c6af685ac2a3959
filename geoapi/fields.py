"""Field rules every write shares: text, titles, descriptions, ids, unknown fields (pure).

Each rule is written once here; callers turn a :class:`TextError` into their own error shape
(a 422 field problem, an import outcome, the uploader's legacy error).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from geoapi.errors import field_error

MAX_TITLE = 200
MAX_DESCRIPTION = 10_000


class TextError(ValueError):
    """Text that PostgreSQL cannot store or that breaks a length rule; the message says which."""


def check_text(value: str) -> str:
    """``value`` unchanged if PostgreSQL can store it: no NUL and no lone surrogate
    (``"\\ud800"`` decodes from JSON but is not UTF-8)."""
    if "\x00" in value:
        raise TextError("must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise TextError("must be valid Unicode (no lone surrogates)") from None
    return value


def check_title(value: object) -> str:
    """A title: a string of 1..MAX_TITLE characters once trimmed; returns it trimmed."""
    if not isinstance(value, str) or not value.strip():
        raise TextError(f"must be a string of 1-{MAX_TITLE} characters")
    if len(value.strip()) > MAX_TITLE:
        raise TextError(f"must be at most {MAX_TITLE} characters (1-{MAX_TITLE})")
    return check_text(value.strip())


def check_description(value: object) -> str | None:
    """An optional description: null, or a string of at most MAX_DESCRIPTION characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TextError(f"must be null or a string of at most {MAX_DESCRIPTION} characters")
    if len(value) > MAX_DESCRIPTION:
        raise TextError(f"must be at most {MAX_DESCRIPTION} characters")
    return check_text(value)


def parse_uuid(raw: object) -> uuid.UUID | None:
    """A canonical UUID string → UUID, anything else → None (the caller picks the status:
    404 for a path id, 400 for a query parameter or cursor, 422 for a body field)."""
    if not isinstance(raw, str) or len(raw) > 36:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def unknown_fields(body: Mapping[str, Any], allowed: tuple[str, ...]) -> list[dict[str, Any]]:
    """Problems for every field not in ``allowed`` (unknown fields are refused, not ignored)."""
    return [
        field_error(str(name)[:100], f"unknown field; allowed: {', '.join(allowed)}")
        for name in body
        if name not in allowed
    ]
