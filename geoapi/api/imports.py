"""Imports for the caller: ``POST /api/v1/imports/geojson`` (Mapillary v3 GeoJSON) and
``POST /api/v1/imports/mapillary`` (one import job per sequence key), with job status.

Jobs run in ``geoapi worker``, or in the request itself when ``GEOAPI_JOBS_INLINE`` is on. A key
the caller imported already gets a job that is ``exists`` from the start (with its sequence id):
every key in the request has a job to report on, and nothing is imported twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from geoapi.api._http import json_body, not_linked, settings, transport_types
from geoapi.auth import require_user
from geoapi.bodies import parse_import_options, parse_mapillary_import
from geoapi.db import get_engine, get_session
from geoapi.errors import ConflictError, NotFoundError, ValidationError, field_error
from geoapi.mapillary.accounts import AccountError, stored_account
from geoapi.mapillary.jobs import run_inline
from geoapi.store.importer import import_feature_collection
from geoapi.store.jobs import Job, get_job, queue_jobs
from geoapi.times import format_timestamp
from geoapi.validation import DocumentError

bp = Blueprint("imports", __name__, url_prefix="/api/v1/imports")
WRAPPER_KEYS = ("geojson", "feature_collection")


def _query_tags() -> object:
    values = request.args.getlist("tags") + request.args.getlist("tag")
    if not values:
        return None
    return [part for value in values for part in value.split(",") if part.strip()]


@bp.post("/geojson")
def import_geojson() -> tuple[Response, int]:
    """Import a FeatureCollection (or Feature); metadata from the query or a wrapper object."""
    user = require_user()
    body = json_body()
    meta: Mapping[str, Any] = request.args
    tags_raw = _query_tags()
    if isinstance(body, dict) and "type" not in body and any(k in body for k in WRAPPER_KEYS):
        meta = body
        tags_raw = body.get("tags")
        body = next(body[k] for k in WRAPPER_KEYS if k in body)
    types = transport_types()
    options = parse_import_options(meta, types, tags_raw=tags_raw)
    get_session().rollback()  # the request holds no connection during the writes
    try:
        report = import_feature_collection(get_engine(), user.id, body, options, types)
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
        conflict = all(o.problem == "key_of_another_user" for o in report.outcomes)
        error_class = ConflictError if conflict else ValidationError
        raise error_class("no feature could be imported", errors=errors, extra=result)
    return jsonify(result), 201 if report.count("imported") else 200


def job_json(job: Job) -> dict[str, Any]:
    """The job as the API shows it (no user id, no lock holder)."""
    return {
        "id": str(job.id),
        "sequence_key": job.sequence_key,
        "status": job.status,
        "reason": job.reason,
        "sequence_id": str(job.sequence_id) if job.sequence_id else None,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "created_at": format_timestamp(job.created_at),
        "updated_at": format_timestamp(job.updated_at),
        "finished_at": format_timestamp(job.finished_at),
        "url": url_for(".job_status", job_id=job.id),
    }


@bp.post("/mapillary")
def create_mapillary_imports() -> tuple[Response, int]:
    """Queue one job per key (202); inline mode runs them before answering."""
    user = require_user()
    body = request.get_json(silent=True)
    keys, options = parse_mapillary_import(body, transport_types())
    config = settings()
    session = get_session()
    try:
        account = stored_account(session, config, user.id)
    except AccountError as exc:
        raise not_linked(str(exc)) from None
    stored: dict[str, Any] = {
        "title": options.title,
        "description": options.description,
        "transport_type": options.transport_type,
        "tags": list(options.tags) if options.tags is not None else None,
    }
    jobs = queue_jobs(
        session,
        user.id,
        f"mapillary_{account.api_version}",
        keys,
        {name: value for name, value in stored.items() if value is not None},
        config.job_max_attempts,
    )
    if config.jobs_inline:
        session.close()  # the request's connection goes back to the pool while jobs run
        queued = [job.id for job in jobs if job.status == "queued"]
        run_inline(get_engine(), config, queued)
        jobs = [get_job(session, job.id) or job for job in jobs]
        session.rollback()
    return jsonify({"jobs": [job_json(job) for job in jobs]}), 202


@bp.get("/<uuid:job_id>")
def job_status(job_id: uuid.UUID) -> Response:
    """One of the caller's jobs; someone else's job is a 404, like an unknown one."""
    user = require_user()
    job = get_job(get_session(), job_id, user.id)
    if job is None:
        raise NotFoundError(f"no import job {job_id}")
    return jsonify(job_json(job))
