"""The Map the Paths Desktop Uploader wire contract (a legacy exception to problem+json).

``POST /api/v1/sequence/create/`` creates a *draft* sequence from the uploader's metadata;
``PUT /api/v1/sequence/import/<unique_id>/`` fills it from Mapillary's v3 API with the user's own
Mapillary token once the photos are on Mapillary. Answers keep the uploader's shape: success is
``{"status": "success", "message", "unique_id"}``, an error is ``{"status": false, "error"}``
with a 4xx/5xx status (every bad field is a 400: the uploader shows ``error`` as it is).
Both paths work with and without the trailing slash (no redirect: it would drop the body).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from geoapi.api._http import json_body, settings, transport_types
from geoapi.auth import require_user
from geoapi.config import Settings
from geoapi.db import discard_session, get_session
from geoapi.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    GeoAPIError,
    NotFoundError,
    UpstreamError,
    ValidationError,
    as_problem,
)
from geoapi.fields import (
    TextError,
    check_description,
    check_title,
    parse_uuid,
)
from geoapi.mapillary.accounts import mapillary_config, owns_sequence
from geoapi.mapillary.errors import MapillaryAuthError, MapillaryError, MapillaryNotFoundError
from geoapi.mapillary.http import redact
from geoapi.mapillary.source import Feature, MapillaryUser
from geoapi.mapillary.v3 import MapillaryV3
from geoapi.store.uploader import create_draft, fill_draft, get_draft_target, key_taken
from geoapi.taxonomy import TaxonomyError, normalize_tags
from geoapi.validation import KEY_RE, FeatureError, parse_feature

bp = Blueprint("uploader", __name__, url_prefix="/api/v1/sequence")
SOURCE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
DEFAULT_SOURCE = "uploader"


def _legacy(status: int, error: str, headers: Mapping[str, str] | None = None) -> Response:
    response = jsonify({"status": False, "error": error})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


@bp.errorhandler(GeoAPIError)
def _geoapi_error(error: GeoAPIError) -> Response:
    discard_session()
    return _legacy(error.status, error.detail, error.headers)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    discard_session()
    return _legacy(error.code or 500, error.description or error.name)


@bp.errorhandler(SQLAlchemyError)
def _database_error(error: SQLAlchemyError) -> Response:
    """An outage is a 503 in the uploader's shape too (anything else stays a logged 500)."""
    problem = as_problem(error)
    if problem is None:
        raise error
    discard_session()
    return _legacy(problem.status, problem.detail, problem.headers)


def _success(message: str, sequence_id: uuid.UUID, status: int = 200) -> tuple[Response, int]:
    return jsonify({"status": "success", "message": message, "unique_id": str(sequence_id)}), status


def _body() -> Mapping[str, Any]:
    """Form fields, or a JSON object; anything else is a 400."""
    if request.is_json:
        try:
            body = json_body()
        except ValidationError:
            raise BadRequestError("the request body must be a JSON object") from None
        if not isinstance(body, dict):
            raise BadRequestError("the request body must be a JSON object")
        return body
    return request.form


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# Create -----------------------------------------------------------------------------------------


@bp.post("/create/")
@bp.post("/create", endpoint="create_no_slash")
def create() -> tuple[Response, int]:
    """Create a draft from ``name``, ``description``, ``transport_type``, ``tag``, ``source``."""
    user = require_user()
    body = _body()
    if _blank(body.get("name")):
        raise BadRequestError("name is required: the sequence's title")
    try:
        title = check_title(body.get("name"))
    except TextError as exc:
        raise BadRequestError(f"name {exc}") from None
    description = None
    if not _blank(body.get("description")):
        try:
            description = check_description(body["description"])
        except TextError as exc:
            raise BadRequestError(f"description {exc}") from None
    description = description.strip() if description else None
    transport_type_id = None
    if not _blank(body.get("transport_type")):
        try:
            transport_type_id = transport_types().leaf_id(body["transport_type"])
        except TaxonomyError as exc:
            raise BadRequestError(f"transport_type: {exc}") from None
    try:
        tags = normalize_tags(body.get("tag"))
    except TaxonomyError as exc:
        raise BadRequestError(f"tag: {exc}") from None
    source = body.get("source")
    if source is not None and not isinstance(source, str):
        raise BadRequestError("source must be a string")
    source = source.strip() if source and source.strip() else DEFAULT_SOURCE
    if not SOURCE_RE.match(source):
        raise BadRequestError("source must be 1-64 characters of letters, digits, '_', '.', '-'")
    sequence_id = create_draft(
        get_session(),
        user.id,
        title=title,
        description=description,
        transport_type_id=transport_type_id,
        tags=tags,
        source=source,
    )
    return _success("Sequence created as a draft; import it from Mapillary next.", sequence_id, 201)


# Import -----------------------------------------------------------------------------------------


def fetch_owned_sequence(config: Settings, token: str, key: str) -> tuple[MapillaryUser, Feature]:
    """The token's Mapillary user and the v3 sequence, which that user must own (else 403)."""
    try:
        with MapillaryV3(mapillary_config(config)) as source:
            who = source.me(token)
            feature = source.get_sequence(token, key)
    except MapillaryAuthError:
        raise ForbiddenError("Mapillary refused mapillary_user_token") from None
    except MapillaryNotFoundError:
        raise NotFoundError(f"Mapillary has no sequence {key}") from None
    except MapillaryError as exc:
        raise UpstreamError(f"Mapillary failed: {redact(str(exc), (token,))}") from None
    if not owns_sequence(feature, who.key, who.username):
        raise ForbiddenError(
            f"Mapillary sequence {key} does not belong to the Mapillary user {who.username!r} "
            "whose token was given"
        )
    return who, feature


def _import_fields(body: Mapping[str, Any]) -> tuple[str, str]:
    token, key = body.get("mapillary_user_token"), body.get("mapillary_sequence_key")
    if not isinstance(token, str) or not token.strip():
        raise BadRequestError("mapillary_user_token is required")
    if not token.strip().isprintable():
        raise BadRequestError("mapillary_user_token must be printable text")
    if not isinstance(key, str) or not KEY_RE.match(key.strip()):
        raise BadRequestError("mapillary_sequence_key is required (a Mapillary sequence key)")
    return token.strip(), key.strip()


@bp.put("/import/<unique_id>/")
@bp.put("/import/<unique_id>", endpoint="import_no_slash")
def import_sequence(unique_id: str) -> tuple[Response, int]:
    """Fill the caller's draft from Mapillary v3 with the caller's own Mapillary token."""
    user = require_user()
    sequence_id = parse_uuid(unique_id)
    session = get_session()
    row = None if sequence_id is None else get_draft_target(session, sequence_id)
    if sequence_id is None or row is None:
        raise NotFoundError(f"no sequence {unique_id[:64]}")
    if row.owner_id != user.id:
        raise ForbiddenError("only the owner of the sequence may import into it")
    token, key = _import_fields(_body())
    if row.status != "draft":
        if row.mapillary_key == key:  # the uploader retrying a request that succeeded
            return _success("Sequence already imported from Mapillary.", sequence_id)
        raise ConflictError("the sequence is not a draft: it was filled already")
    if key_taken(session, key, sequence_id):
        raise ConflictError(f"Mapillary sequence {key} is already imported as another sequence")
    _who, feature = fetch_owned_sequence(settings(), token, key)
    try:
        record = parse_feature(feature)
    except FeatureError as exc:
        raise UpstreamError(f"Mapillary sent an unusable sequence: {exc.message}") from None
    photos = fill_draft(session, sequence_id, record)
    return _success(f"Sequence imported from Mapillary with {photos} photos.", sequence_id)
