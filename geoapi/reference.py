"""Reference lists: ``GET /api/v1/transport-types`` (the tree) and ``GET /api/v1/tags``."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import text
from sqlalchemy.orm import Session

from geoapi.db import get_session, read_sql
from geoapi.errors import BadRequestError, field_error
from geoapi.sequence_store import parse_limit, reject_nul
from geoapi.sequences import json_response

bp = Blueprint("reference", __name__, url_prefix="/api/v1")
TAG_PREFIX_RE = re.compile(r"^[a-z0-9-]{1,64}$")


def transport_type_tree(session: Session) -> list[dict[str, Any]]:
    """Categories in seed order, each with its leaf types (``aliases`` are accepted names)."""
    rows = session.execute(
        text("SELECT id, parent_id, name, aliases FROM transport_types ORDER BY id")
    ).all()
    parents: dict[int, dict[str, Any]] = {}
    for row in rows:
        if row.parent_id is None:
            parents[row.id] = {"id": row.id, "name": row.name, "children": []}
    for row in rows:
        if row.parent_id is not None and row.parent_id in parents:
            parents[row.parent_id]["children"].append(
                {"id": row.id, "name": row.name, "aliases": list(row.aliases)}
            )
    return list(parents.values())


def tag_counts(session: Session, prefix: str | None, limit: int) -> list[dict[str, Any]]:
    """Tags with the number of published sequences carrying each, most used first."""
    rows = session.execute(
        text(read_sql("sequence_tag_counts")), {"prefix": prefix, "limit": limit}
    )
    return [{"name": row.name, "count": row.count} for row in rows]


@bp.get("/transport-types")
def transport_types_view() -> Response:
    return json_response(transport_type_tree(get_session()))


@bp.get("/tags")
def tags_view() -> Response:
    """``?q=`` a prefix (trimmed, lower-cased), ``?limit=`` (default 50, max 500)."""
    reject_nul(request.args.items(multi=True))
    raw = request.args.get("q")
    prefix = raw.strip().lower() if raw is not None and raw.strip() else None
    if prefix is not None and not TAG_PREFIX_RE.match(prefix):
        raise BadRequestError(
            "invalid q", errors=[field_error("q", "a tag prefix: 1-64 characters of a-z, 0-9, '-'")]
        )
    limit = parse_limit(request.args.get("limit"))
    return json_response(tag_counts(get_session(), prefix, limit))
