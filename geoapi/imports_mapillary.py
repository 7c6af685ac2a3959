"""``POST /api/v1/imports/mapillary`` (one import job per sequence key) and job status.

Jobs run in ``geoapi worker``, or in the request itself when ``GEOAPI_JOBS_INLINE`` is on. A key
the caller imported already gets a job that is ``exists`` from the start (with its sequence id):
every key in the request has a job to report on, and nothing is imported twice.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from geoapi.auth import require_user
from geoapi.config import Settings
from geoapi.db import get_engine, get_session
from geoapi.errors import NotFoundError, ValidationError, field_error
from geoapi.imports import parse_import_options
from geoapi.jobs import Job, create_jobs, get_job, run_inline
from geoapi.mapillary_accounts import KEY_RE
from geoapi.mapillary_views import require_linked
from geoapi.validation import MAX_KEY

bp = Blueprint("imports_mapillary", __name__, url_prefix="/api/v1/imports")
MAX_SEQUENCE_KEYS = 1000
ALLOWED_FIELDS = frozenset({"sequence_keys", "title", "description", "transport_type", "tags"})


def parse_sequence_keys(raw: object) -> list[str]:
    """A non-empty list of at most 1000 unique, non-empty key strings; 422 naming the item."""
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


def _job_json(job: Job) -> dict[str, Any]:
    body = job.to_json()
    body["url"] = url_for("imports_mapillary.job_status", job_id=job.id)
    return body


@bp.post("/mapillary")
def create_mapillary_imports() -> tuple[Response, int]:
    """Queue one job per key (202); inline mode runs them before answering."""
    user = require_user()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError(
            "the request body must be a JSON object",
            errors=[field_error("body", 'expected {"sequence_keys": [...]}')],
        )
    unknown = sorted(set(body) - ALLOWED_FIELDS)
    if unknown:
        raise ValidationError(
            "unknown fields in the request body",
            errors=[field_error(name, "unknown field") for name in unknown],
        )
    keys = parse_sequence_keys(body.get("sequence_keys"))
    nul = [name for name in ("title", "description") if "\x00" in str(body.get(name) or "")]
    if nul:
        raise ValidationError(
            "NUL characters are not allowed",
            errors=[field_error(name, "must not contain NUL characters") for name in nul],
        )
    options = parse_import_options(body, tags_raw=body.get("tags"))
    settings: Settings = current_app.config["GEOAPI"]
    account = require_linked(user.id)
    stored: dict[str, Any] = {
        "title": options.title,
        "description": options.description,
        "transport_type": options.transport_type,
        "tags": list(options.tags) if options.tags is not None else None,
    }
    session = get_session()
    jobs = create_jobs(
        session,
        user.id,
        f"mapillary_{account.api_version}",
        keys,
        {name: value for name, value in stored.items() if value is not None},
        settings.job_max_attempts,
    )
    session.commit()
    if settings.jobs_inline:
        session.close()  # the request's connection goes back to the pool while jobs run
        queued = [job.id for job in jobs if job.status == "queued"]
        run_inline(get_engine(), settings, queued)
        jobs = [get_job(session, job.id) or job for job in jobs]
        session.rollback()
    return jsonify({"jobs": [_job_json(job) for job in jobs]}), 202


@bp.get("/<uuid:job_id>")
def job_status(job_id: uuid.UUID) -> Response:
    """One of the caller's jobs; someone else's job is a 404, like an unknown one."""
    user = require_user()
    job = get_job(get_session(), job_id, user.id)
    if job is None:
        raise NotFoundError(f"no import job {job_id}")
    return jsonify(_job_json(job))
