"""``GET /healthz``: 200 when the database answers, 503 problem+json when it does not."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from geoapi.db import get_engine
from geoapi.errors import RETRY_AFTER_S, ServiceUnavailableError

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz() -> Response:
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SET LOCAL statement_timeout = 2000"))
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("health check failed: %s", exc.__class__.__name__)
        raise ServiceUnavailableError(
            "the database is unreachable", headers={"Retry-After": RETRY_AFTER_S}
        ) from None
    return jsonify(status="ok", database="ok")
