"""Request bodies of the /api/v1 writes: sequence and tour edits, likes, import options (pure).

Each parser takes the decoded JSON (or query arguments) and the transport type tree where a
field needs it, and raises one ValidationError (422) naming every bad or unknown field, so a
request is applied whole or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from geoapi.errors import ValidationError, field_error
from geoapi.fields import TextError, check_description, check_title, parse_uuid, unknown_fields
from geoapi.taxonomy import MAX_TAGS, TaxonomyError, TransportTypes, normalize_tag, normalize_tags
from geoapi.validation import KEY_RE, MAX_KEY, ImportOptions

UNSET: Any = object()
MAX_TOUR_SEQUENCES = 1000
MAX_SEQUENCE_KEYS = 1000
SEQUENCE_FIELDS = ("title", "description", "transport_type", "tags")
TOUR_FIELDS = ("title", "description", "tags", "sequence_ids")
MAPILLARY_IMPORT_FIELDS = ("sequence_keys", "title", "description", "transport_type", "tags")
Problems = list[dict[str, Any]]


def require_object(body: object) -> dict[str, Any]:
    """The body as a JSON object; 422 naming ``body`` otherwise."""
    if not isinstance(body, dict):
        raise ValidationError(
            "the body must be a JSON object", errors=[field_error("body", "expected an object")]
        )
    return body


def _title(value: object, problems: Problems) -> str:
    try:
        return check_title(value)
    except TextError as exc:
        problems.append(field_error("title", f"title {exc}"))
        return ""


def _description(value: object, problems: Problems) -> str | None:
    try:
        return check_description(value)
    except TextError as exc:
        problems.append(field_error("description", f"description {exc}"))
        return None


def _tags(value: object, problems: Problems) -> tuple[str, ...]:
    """A list of tags → trimmed, lower-cased, de-duplicated; each bad one named ``tags[i]``."""
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.append(field_error("tags", "tags must be a list of strings"))
        return ()
    tags: dict[str, None] = {}
    for i, raw in enumerate(value):
        try:
            tags[normalize_tag(raw)] = None
        except TaxonomyError as exc:
            problems.append(field_error(f"tags[{i}]", str(exc)[:200]))
    if len(tags) > MAX_TAGS:
        problems.append(field_error("tags", f"at most {MAX_TAGS} tags are allowed"))
    return tuple(tags)


def _transport_type(value: object, types: TransportTypes, problems: Problems) -> int | None:
    try:
        return None if value is None else types.leaf_id(value)
    except TaxonomyError as exc:
        problems.append(field_error("transport_type", str(exc)[:300]))
        return None


# Sequences ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SequenceChanges:
    """A validated PATCH: only the fields present are set (UNSET otherwise)."""

    title: Any = UNSET
    description: Any = UNSET
    transport_type_id: Any = UNSET
    tags: Any = UNSET


def parse_sequence_changes(body: object, transport_types: TransportTypes) -> SequenceChanges:
    """Validate a sequence PATCH body; 422 naming every bad or unknown field."""
    body = require_object(body)
    problems = unknown_fields(body, SEQUENCE_FIELDS)
    values: dict[str, Any] = {}
    if "title" in body:
        values["title"] = _title(body["title"], problems)
    if "description" in body:
        values["description"] = _description(body["description"], problems)
    if "transport_type" in body:
        values["transport_type_id"] = _transport_type(
            body["transport_type"], transport_types, problems
        )
    if "tags" in body:
        values["tags"] = _tags(body["tags"], problems)
    if problems:
        raise ValidationError("invalid sequence changes", errors=problems)
    return SequenceChanges(**values)


def parse_like(body: object) -> bool:
    """``{"liked": bool}`` exactly; 422 naming ``liked`` (or the unknown field) otherwise."""
    message = 'the body must be {"liked": true} or {"liked": false}'
    if not isinstance(body, dict):
        raise ValidationError(message, errors=[field_error("body", "expected an object")])
    problems = unknown_fields(body, ("liked",))
    liked = body.get("liked")
    if not isinstance(liked, bool):
        problems.append(field_error("liked", "required, and must be true or false"))
    if problems:
        raise ValidationError(message, errors=problems)
    return bool(liked)


# Tours --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TourChanges:
    """A validated tour body: only the fields present are set (UNSET otherwise)."""

    title: Any = UNSET
    description: Any = UNSET
    tags: Any = UNSET
    sequence_ids: Any = UNSET


def _sequence_ids(value: object, problems: Problems) -> list[uuid.UUID]:
    """An ordered list of distinct sequence UUIDs; each bad entry named ``sequence_ids[i]``."""
    if not isinstance(value, list):
        problems.append(field_error("sequence_ids", "sequence_ids must be a list of sequence ids"))
        return []
    if len(value) > MAX_TOUR_SEQUENCES:
        problems.append(
            field_error("sequence_ids", f"a tour holds at most {MAX_TOUR_SEQUENCES} sequences")
        )
        return []
    ids: list[uuid.UUID] = []
    seen: dict[uuid.UUID, int] = {}
    for i, raw in enumerate(value):
        sequence_id = parse_uuid(raw)
        if sequence_id is None:
            problems.append(field_error(f"sequence_ids[{i}]", "not a sequence id (UUID)"))
        elif sequence_id in seen:
            problems.append(
                field_error(
                    f"sequence_ids[{i}]",
                    f"duplicate of sequence_ids[{seen[sequence_id]}] ({sequence_id})",
                )
            )
        else:
            seen[sequence_id] = i
            ids.append(sequence_id)
    return ids


def parse_tour(body: object, *, creating: bool) -> TourChanges:
    """Validate a tour POST (title required) or PATCH body; 422 naming every bad field."""
    body = require_object(body)
    problems = unknown_fields(body, TOUR_FIELDS)
    values: dict[str, Any] = {}
    if "title" in body or creating:
        values["title"] = _title(body.get("title"), problems)
    if "description" in body:
        values["description"] = _description(body["description"], problems)
    if "tags" in body:
        values["tags"] = _tags(body["tags"], problems)
    if "sequence_ids" in body:
        values["sequence_ids"] = _sequence_ids(body["sequence_ids"], problems)
    if problems:
        raise ValidationError("invalid tour", errors=problems)
    return TourChanges(**values)


def parse_sequence_list(body: object) -> list[uuid.UUID]:
    """``{"sequence_ids": [...]}`` exactly; 422 naming the bad entries."""
    body = require_object(body)
    problems = unknown_fields(body, ("sequence_ids",))
    ids = _sequence_ids(body.get("sequence_ids"), problems)
    if problems:
        raise ValidationError("invalid sequence list", errors=problems)
    return ids


# Imports ------------------------------------------------------------------------------------


def parse_import_options(
    source: Mapping[str, Any], transport_types: TransportTypes, *, tags_raw: object = None
) -> ImportOptions:
    """Metadata the caller gives for every imported sequence (query string or wrapper object);
    422 naming each bad field."""
    problems: Problems = []
    title = source.get("title")
    if title is not None:
        title = _title(title, problems)
    description = _description(source.get("description"), problems)
    transport_type = source.get("transport_type")
    if transport_type is not None:
        _transport_type(transport_type, transport_types, problems)
    tags: tuple[str, ...] | None = None
    if tags_raw is not None:
        try:
            tags = normalize_tags(tags_raw)
        except TaxonomyError as exc:
            problems.append(field_error("tags", str(exc)))
    if problems:
        raise ValidationError("invalid import options", errors=problems)
    return ImportOptions(
        title=title, description=description, transport_type=transport_type, tags=tags
    )


def parse_sequence_keys(raw: object) -> list[str]:
    """A non-empty list of at most 1000 unique Mapillary sequence keys; 422 naming the item."""
    if raw is None:
        raise ValidationError(
            "sequence_keys is required",
            errors=[field_error("sequence_keys", "a list of Mapillary sequence keys is required")],
        )
    if not isinstance(raw, list) or not raw:
        raise ValidationError(
            "sequence_keys must be a non-empty list",
            errors=[field_error("sequence_keys", "must be a non-empty list of strings")],
        )
    if len(raw) > MAX_SEQUENCE_KEYS:
        message = f"at most {MAX_SEQUENCE_KEYS} keys per request, got {len(raw)}"
        raise ValidationError(message, errors=[field_error("sequence_keys", message)])
    problems = []
    seen: set[str] = set()
    for index, key in enumerate(raw):
        where = f"sequence_keys[{index}]"
        if not isinstance(key, str) or not KEY_RE.match(key):
            problems.append(
                field_error(where, f"must be a Mapillary key: 1-{MAX_KEY} of A-Z a-z 0-9 _ -")
            )
        elif key in seen:
            problems.append(field_error(where, f"duplicate key {key!r}"))
        else:
            seen.add(key)
    if problems:
        raise ValidationError("invalid sequence_keys", errors=problems)
    return [str(key) for key in raw]


def parse_mapillary_import(
    body: object, transport_types: TransportTypes
) -> tuple[list[str], ImportOptions]:
    """``{"sequence_keys": [...], title, description, transport_type, tags}``; 422 otherwise."""
    if not isinstance(body, dict):
        raise ValidationError(
            "the request body must be a JSON object",
            errors=[field_error("body", 'expected {"sequence_keys": [...]}')],
        )
    unknown = sorted(set(body) - set(MAPILLARY_IMPORT_FIELDS))
    if unknown:
        raise ValidationError(
            "unknown fields in the request body",
            errors=[field_error(str(name)[:100], "unknown field") for name in unknown],
        )
    keys = parse_sequence_keys(body.get("sequence_keys"))
    return keys, parse_import_options(body, transport_types, tags_raw=body.get("tags"))
