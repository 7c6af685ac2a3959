"""``POST /api/v1/imports/geojson``: import Mapillary v3 GeoJSON for the caller."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, jsonify, request

from geoapi.auth import require_user
from geoapi.db import get_engine, get_session
from geoapi.errors import ConflictError, ValidationError, field_error
from geoapi.importer import (
    MAX_DESCRIPTION,
    MAX_TITLE,
    DocumentError,
    ImportOptions,
    import_feature_collection,
)
from geoapi.taxonomy import TaxonomyError, load_transport_types, normalize_tags

bp = Blueprint("imports", __name__, url_prefix="/api/v1/imports")
WRAPPER_KEYS = ("geojson", "feature_collection")


def parse_import_options(source: Mapping[str, Any], *, tags_raw: object = None) -> ImportOptions:
    """Validate caller-supplied metadata (query string or wrapper); 422 naming each bad field."""
    problems: list[dict[str, Any]] = []
    title = source.get("title")
    description = source.get("description")
    transport_type = source.get("transport_type")
    if title is not None and (
        not isinstance(title, str) or not 1 <= len(title) <= MAX_TITLE or "\x00" in title
    ):
        problems.append(field_error("title", f"title must be 1-{MAX_TITLE} characters, no NUL"))
    if description is not None and (
        not isinstance(description, str)
        or len(description) > MAX_DESCRIPTION
        or "\x00" in description
    ):
        problems.append(
            field_error(
                "description", f"description must be at most {MAX_DESCRIPTION} characters, no NUL"
            )
        )
    if transport_type is not None:
        try:
            load_transport_types(get_session()).leaf_id(transport_type)
        except TaxonomyError as exc:
            problems.append(field_error("transport_type", str(exc)))
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


def _query_tags() -> object:
    values = request.args.getlist("tags") + request.args.getlist("tag")
    if not values:
        return None
    return [part for value in values for part in value.split(",") if part.strip()]


@bp.post("/geojson")
def import_geojson() -> tuple[Response, int]:
    """Import a FeatureCollection (or Feature); metadata from the query or a wrapper object."""
    user = require_user()
    try:
        body = json.loads(request.get_data(cache=False))
    except (ValueError, UnicodeDecodeError):
        raise ValidationError(
            "the request body is not valid JSON", errors=[field_error("body", "invalid JSON")]
        ) from None
    meta: Mapping[str, Any] = request.args
    tags_raw = _query_tags()
    if isinstance(body, dict) and "type" not in body and any(k in body for k in WRAPPER_KEYS):
        meta = body
        tags_raw = body.get("tags")
        body = next(body[k] for k in WRAPPER_KEYS if k in body)
    options = parse_import_options(meta, tags_raw=tags_raw)
    get_session().rollback()  # release the session's connection before the per-sequence writes
    try:
        report = import_feature_collection(get_engine(), user.id, body, options)
    except DocumentError as exc:
        raise ValidationError(str(exc), errors=[field_error("body", str(exc))]) from None
    result = report.to_json()
    if report.count("failed") == len(report.outcomes):
        errors = [
            field_error(
                f"features[{o.index}].{o.field}" if o.field else f"features[{o.index}]",
                o.reason or "failed",
            )
            for o in report.outcomes
        ]
        conflict = all(
            o.field == "properties.key" and o.reason and "another user" in o.reason
            for o in report.outcomes
        )
        error_class = ConflictError if conflict else ValidationError
        raise error_class("no feature could be imported", errors=errors, extra=result)
    return jsonify(result), 201 if report.count("imported") else 200
