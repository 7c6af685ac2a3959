"""Reference lists: ``GET /api/v1/transport-types`` (the tree) and ``GET /api/v1/tags``."""

from __future__ import annotations

import re

from flask import Blueprint, Response, request

from geoapi.api._http import json_response, reject_nul
from geoapi.db import read_session
from geoapi.errors import bad_parameter
from geoapi.paging import LIST_LIMIT
from geoapi.store.taxonomy import tag_counts, transport_type_tree

bp = Blueprint("reference", __name__, url_prefix="/api/v1")
TAG_PREFIX_RE = re.compile(r"^[a-z0-9-]{1,64}$")


@bp.get("/transport-types")
def transport_types_view() -> Response:
    return json_response(transport_type_tree(read_session()))


@bp.get("/tags")
def tags_view() -> Response:
    """``?q=`` a prefix (trimmed, lower-cased), ``?limit=`` (default 50, max 500)."""
    reject_nul(request.args.items(multi=True))
    raw = request.args.get("q")
    prefix = raw.strip().lower() if raw is not None and raw.strip() else None
    if prefix is not None and not TAG_PREFIX_RE.match(prefix):
        raise bad_parameter("q", "a tag prefix: 1-64 characters of a-z, 0-9, '-'")
    limit = LIST_LIMIT.page_size(request.args.get("limit"))
    return json_response(tag_counts(read_session(), prefix, limit))
