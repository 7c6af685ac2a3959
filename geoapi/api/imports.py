"""Imports for the caller: ``POST /api/v1/imports/geojson`` (Mapillary v3 GeoJSON) and
``POST /api/v1/imports/mapillary`` (one import job per sequence key), with job status.

Jobs run in ``geoapi worker``, or in the request itself when ``GEOAPI_JOBS_INLINE`` is on. A key
the caller imported already gets a job that is ``exists`` from the start (with its sequence id):
every key in the request has a job to report on, and nothing is imported twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import IO, Any

from flask import Blueprint, Response, jsonify, request, url_for
from sqlalchemy.exc import DBAPIError

from geoapi.api._http import json_body, not_linked, settings, spooled_body, transport_types
from geoapi.auth import require_user
from geoapi.bodies import parse_import_options, parse_mapillary_import
from geoapi.db import get_engine, get_session
from geoapi.documents import (
    Document,
    TooManyFeaturesError,
    has_lone_surrogate,
    inspect_document,
    iter_document_features,
)
from geoapi.errors import (
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    ValidationError,
    field_error,
)
from geoapi.mapillary.accounts import AccountError, stored_account
from geoapi.mapillary.jobs import run_inline
from geoapi.store.importer import ImportReport, import_records
from geoapi.store.jobs import Job, get_job, queue_jobs
from geoapi.times import format_timestamp
from geoapi.validation import DocumentError, FeatureError, ImportOptions, parse_features

bp = Blueprint("imports", __name__, url_prefix="/api/v1/imports")
BATCH_SIZE = 50  # sequences per commit, as geoapi import does (each one still atomic)
MAX_REPORTED = 100  # invalid features named in a 422


def _query_tags() -> object:
    values = request.args.getlist("tags") + request.args.getlist("tag")
    if not values:
        return None
    return [part for value in values for part in value.split(",") if part.strip()]


def _invalid_features(handle: IO[bytes], document: Document, options: ImportOptions) -> Any:
    """Every feature validated before anything is written: the 422 naming the bad ones (the
    first MAX_REPORTED), or None when all are valid."""
    results: list[dict[str, Any]] = []
    failed = 0
    for index, item in enumerate(parse_features(iter_document_features(handle, document), options)):
        if isinstance(item, FeatureError):
            failed += 1
            if len(results) < MAX_REPORTED:
                results.append(
                    {
                        "index": index,
                        "status": "failed",
                        "reason": item.message,
                        "field": item.field,
                    }
                )
    if not failed:
        return None
    errors = [field_error(f"features[{r['index']}].{r['field']}", r["reason"]) for r in results]
    summary = {"imported": 0, "exists": 0, "failed": failed, "results": results}
    return ValidationError(
        f"nothing was imported: {failed} of {document.count} feature(s) are invalid",
        errors=errors,
        extra=summary,
    )


@bp.post("/geojson")
def import_geojson() -> tuple[Response, int]:
    """Import a FeatureCollection (or Feature) streamed from the body: read once to check its
    shape and size, once to validate every feature (a bad one anywhere: 422, nothing
    written), once to write through the batch writer. Metadata from the query or a wrapper."""
    user = require_user()
    config = settings()
    with spooled_body(config.max_import_bytes) as handle:
        if has_lone_surrogate(handle):
            detail = "the body escapes half a surrogate pair (such as \\ud800): not Unicode text"
            raise ValidationError(detail, errors=[field_error("body", detail)])
        try:
            document = inspect_document(handle, max_features=config.import_max_features)
        except TooManyFeaturesError as exc:
            raise PayloadTooLargeError(
                f"{exc}: import at most {exc.limit} per request (GEOAPI_IMPORT_MAX_FEATURES)",
                errors=[field_error("features", f"at most {exc.limit} features")],
            ) from None
        except DocumentError as exc:
            raise ValidationError(str(exc), errors=[field_error(exc.field, str(exc))]) from None
        meta: Mapping[str, Any] = document.meta if document.wrapped else request.args
        tags_raw = document.meta.get("tags") if document.wrapped else _query_tags()
        types = transport_types()
        options = parse_import_options(meta, types, tags_raw=tags_raw)
        invalid = _invalid_features(handle, document, options)
        if invalid is not None:
            raise invalid
        get_session().rollback()  # the request holds no connection during the writes
        report = ImportReport()
        records = parse_features(iter_document_features(handle, document), options)
        try:
            for outcome in import_records(
                get_engine(), user.id, records, batch_size=BATCH_SIZE, transport_types=types
            ):
                report.outcomes.append(outcome)
        except DBAPIError:
            done = report.to_json()
            raise ServiceUnavailableError(
                f"the database failed after {len(report.outcomes)} of {document.count} "
                "sequence(s) were written (each whole); post the document again: those report "
                "exists",
                extra=done,
                headers={"Retry-After": "5"},
            ) from None
    result = report.to_json()
    if report.count("failed") == len(report.outcomes):
        errors = [
            field_error(
                f"features[{o.index}].{o.field}" if o.field else f"features[{o.index}]",
                o.reason or "failed",
            )
            for o in report.outcomes[:MAX_REPORTED]
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
    keys, options = parse_mapillary_import(json_body(), transport_types())
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
