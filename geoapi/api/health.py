"""``GET /healthz``: 200 when the database answers, 503 problem+json when it does not.

With read replicas configured it lists each one (``url`` as host:port/database, ``status``
"ok" or "down", ``lag_versions`` behind the primary); a replica that is down is skipped by
reads, so the answer stays 200 while the primary answers.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from geoapi.db import get_engine, get_replicas, replica_health
from geoapi.errors import RETRY_AFTER_S, ServiceUnavailableError
from geoapi.store.versions import data_version

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz() -> Response:
    with_replicas = bool(get_replicas().members)
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SET LOCAL statement_timeout = 2000"))
            conn.execute(text("SELECT 1"))
            version = data_version(conn) if with_replicas else 0
    except SQLAlchemyError as exc:
        log.warning("health check failed: %s", exc.__class__.__name__)
        raise ServiceUnavailableError(
            "the database is unreachable", headers={"Retry-After": RETRY_AFTER_S}
        ) from None
    if not with_replicas:
        return jsonify(status="ok", database="ok")
    return jsonify(status="ok", database="ok", replicas=replica_health(version))
