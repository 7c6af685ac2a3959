"""Reference lists: ``GET /api/v1/transport-types`` (the tree) and ``GET /api/v1/tags``."""

from __future__ import annotations

import re

from flask import Blueprint, Response, request

from geoapi.api._http import json_response, reject_nul
from geoapi.db import read_session
from geoapi.errors import bad_parameter
from geoapi.paging import LIST_LIMIT
from geoapi.store.taxonomy import tag_counts, transport_type_tree
from geoapi.taxonomy import TAG_PREFIX_PATTERN

bp = Blueprint("reference", __name__, url_prefix="/api/v1")


@bp.get("/transport-types")
def transport_types_view() -> Response:
    return json_response(transport_type_tree(read_session()))


@bp.get("/tags")
def tags_view() -> Response:
    """``?q=`` a prefix (trimmed, lower-cased; empty: every tag), ``?limit=`` (50, at most 500)."""
    reject_nul(request.args.items(multi=True))
    raw = request.args.get("q", "")
    if not re.fullmatch(TAG_PREFIX_PATTERN, raw):
        raise bad_parameter("q", "a tag prefix: up to 64 characters of a-z, 0-9, '-'")
    prefix = raw.strip().lower() or None
    limit = LIST_LIMIT.page_size(request.args.get("limit"))
    return json_response(tag_counts(read_session(), prefix, limit))
