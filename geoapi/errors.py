"""The GeoAPIError family and its rendering as RFC 9457 ``application/problem+json``."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

from geoapi import db, store

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger(__name__)


class GeoAPIError(Exception):
    """Base of every error geoapi turns into a problem response; ``status`` picks the code."""

    status = 500
    title = "Internal Server Error"
    slug = "internal-error"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra or {}
        self.headers = headers or {}

    def to_problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"urn:geoapi:problem:{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class BadRequestError(GeoAPIError):
    """Malformed query parameters (bbox, tile coordinates, limits): 400."""

    status, title, slug = 400, "Bad Request", "bad-request"


class UnauthorizedError(GeoAPIError):
    """No or invalid bearer token: 401 with a WWW-Authenticate challenge."""

    status, title, slug = 401, "Unauthorized", "unauthorized"

    def __init__(self, detail: str = "a valid bearer token is required", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="geoapi"'})
        super().__init__(detail, **kw)


class ForbiddenError(GeoAPIError):
    """Authenticated, but the object belongs to someone else (or the owner may not like it): 403."""

    status, title, slug = 403, "Forbidden", "forbidden"


class NotFoundError(GeoAPIError):
    status, title, slug = 404, "Not Found", "not-found"


class ConflictError(GeoAPIError):
    status, title, slug = 409, "Conflict", "conflict"


class PayloadTooLargeError(GeoAPIError):
    """A body (or document) over a limit the server states: 413 naming the limit."""

    status, title, slug = 413, "Content Too Large", "payload-too-large"


class ValidationError(GeoAPIError):
    """A well-formed request whose content breaks a domain rule: 422 naming each field."""

    status, title, slug = 422, "Unprocessable Content", "validation-error"


class UpstreamError(GeoAPIError):
    """Mapillary (or another upstream) failed: 502."""

    status, title, slug = 502, "Bad Gateway", "upstream-error"


class ServiceUnavailableError(GeoAPIError):
    status, title, slug = 503, "Service Unavailable", "service-unavailable"


def field_error(field: str, message: str, **extra: Any) -> dict[str, Any]:
    """One entry of a problem's ``errors`` list."""
    return {"field": field, "message": message, **extra}


def bad_parameter(name: str, message: str) -> BadRequestError:
    """The 400 for a bad query parameter (or path part) ``name``: the one builder of that shape."""
    return BadRequestError(f"invalid {name}: {message}", errors=[field_error(name, message)])


def problem_response(
    status: int, title: str, detail: str, *, slug: str | None = None, **extra: Any
) -> Response:
    body = {
        "type": f"urn:geoapi:problem:{slug}" if slug else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_MEDIA_TYPE)


def _render(error: GeoAPIError) -> Response:
    response = Response(
        json.dumps(error.to_problem()), status=error.status, mimetype=PROBLEM_MEDIA_TYPE
    )
    for key, value in error.headers.items():
        response.headers[key] = value
    return response


RETRY_AFTER_S = "5"


def as_problem(error: Exception) -> GeoAPIError | None:
    """The client-facing error an exception stands for, when it is not a bug: an outage of
    the database (503 with Retry-After), or text PostgreSQL cannot store (400)."""
    if store.statement_timed_out(error):
        return ServiceUnavailableError(
            "the database did not answer in time; retry shortly",
            headers={"Retry-After": RETRY_AFTER_S},
        )
    if store.database_unavailable(error):
        return ServiceUnavailableError(
            "the database is unavailable; retry shortly", headers={"Retry-After": RETRY_AFTER_S}
        )
    if store.write_conflicted(error):
        return ServiceUnavailableError(
            "a concurrent write conflicted with this one, which changed nothing; retry it",
            headers={"Retry-After": "1"},
        )
    if isinstance(error, UnicodeEncodeError) or "NUL (0x00)" in str(error):
        # psycopg2 refuses NUL and lone surrogates before anything reaches the database.
        return BadRequestError("text values must be valid Unicode without NUL (0x00) characters")
    return None


def init_app(app: Flask) -> None:
    """Register the handlers that turn every error path into problem+json."""

    @app.errorhandler(GeoAPIError)
    def handle_geoapi_error(error: GeoAPIError) -> Response:
        db.discard_session()
        return _render(error)

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException) -> Response:
        db.discard_session()
        status = error.code or 500
        detail = error.description or error.name
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            detail = f"the request body is larger than the limit of {limit} bytes"
        response = problem_response(status, error.name, detail)
        for key, value in error.get_headers():
            if key.lower() not in ("content-type", "content-length"):
                response.headers[key] = value
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        db.discard_session()
        problem = as_problem(error)
        if problem is not None:
            if problem.status >= 500:  # one line, not a traceback: an outage is not a bug
                log.warning("%s (%s)", problem.detail, store.describe(error))
            return _render(problem)
        log.exception("unhandled error")
        return problem_response(
            500, "Internal Server Error", "an unexpected error occurred; it has been logged"
        )
