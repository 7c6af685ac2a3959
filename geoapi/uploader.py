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

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from geoapi.auth import CurrentUser, require_user
from geoapi.config import Settings
from geoapi.db import get_session, read_sql
from geoapi.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    GeoAPIError,
    NotFoundError,
    UpstreamError,
)
from geoapi.importer import MAX_DESCRIPTION, MAX_TITLE, FeatureError, SequenceRecord, parse_feature
from geoapi.mapillary import (
    Feature,
    MapillaryAuthError,
    MapillaryError,
    MapillaryNotFoundError,
    MapillaryUser,
    MapillaryV3,
    redact,
)
from geoapi.mapillary_accounts import KEY_RE, mapillary_config, owns_sequence
from geoapi.taxonomy import TaxonomyError, load_transport_types, normalize_tags, set_sequence_tags

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
    get_session().rollback()
    return _legacy(error.status, error.detail, error.headers)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    get_session().rollback()
    return _legacy(error.code or 500, error.description or error.name)


def _success(message: str, sequence_id: uuid.UUID, status: int = 200) -> tuple[Response, int]:
    return jsonify({"status": "success", "message": message, "unique_id": str(sequence_id)}), status


def _body() -> Mapping[str, Any]:
    """Form fields, or a JSON object; anything else is a 400."""
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise BadRequestError("the request body must be a JSON object")
        return body
    return request.form


def _optional_text(body: Mapping[str, Any], name: str, limit: int) -> str | None:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise BadRequestError(f"{name} must be a string")
    if len(value) > limit:
        raise BadRequestError(f"{name} must be at most {limit} characters")
    if "\x00" in value:
        raise BadRequestError(f"{name} must not contain NUL characters")
    return value.strip()


# Create -----------------------------------------------------------------------------------------


def create_draft(
    session: Session,
    owner: CurrentUser,
    title: str,
    description: str | None,
    transport_type: str | None,
    tags: tuple[str, ...],
    source: str,
) -> uuid.UUID:
    """Insert a draft sequence with its tags (the caller commits); 400 for a bad transport type."""
    transport_type_id = None
    if transport_type is not None:
        try:
            transport_type_id = load_transport_types(session).leaf_id(transport_type)
        except TaxonomyError as exc:
            raise BadRequestError(f"transport_type: {exc}") from None
    sequence_id: uuid.UUID = session.execute(
        text(read_sql("uploader_create_draft")),
        {
            "owner_id": owner.id,
            "title": title,
            "description": description,
            "transport_type_id": transport_type_id,
            "source": source,
        },
    ).scalar_one()
    if tags:
        set_sequence_tags(session, sequence_id, tags)
    return sequence_id


@bp.post("/create/")
@bp.post("/create", endpoint="create_no_slash")
def create() -> tuple[Response, int]:
    """Create a draft from ``name``, ``description``, ``transport_type``, ``tag``, ``source``."""
    user = require_user()
    body = _body()
    title = _optional_text(body, "name", MAX_TITLE)
    if title is None:
        raise BadRequestError("name is required: the sequence's title")
    description = _optional_text(body, "description", MAX_DESCRIPTION)
    transport_type = _optional_text(body, "transport_type", 64)
    try:
        tags = normalize_tags(body.get("tag"))
    except TaxonomyError as exc:
        raise BadRequestError(f"tag: {exc}") from None
    source = _optional_text(body, "source", 64) or DEFAULT_SOURCE
    if not SOURCE_RE.match(source):
        raise BadRequestError("source must be 1-64 characters of letters, digits, '_', '.', '-'")
    session = get_session()
    sequence_id = create_draft(session, user, title, description, transport_type, tags, source)
    session.commit()
    return _success("Sequence created as a draft; import it from Mapillary next.", sequence_id, 201)


# Import -----------------------------------------------------------------------------------------


def fetch_owned_sequence(settings: Settings, token: str, key: str) -> tuple[MapillaryUser, Feature]:
    """The token's Mapillary user and the v3 sequence, which that user must own (else 403)."""
    try:
        with MapillaryV3(mapillary_config(settings)) as source:
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


def fill_draft(session: Session, sequence_id: uuid.UUID, record: SequenceRecord) -> int:
    """Fill the draft from ``record`` in the caller's transaction; 409 if that cannot be done."""
    try:
        with session.begin_nested():
            row = session.execute(
                text(read_sql("uploader_fill_sequence")),
                {
                    "sequence_id": sequence_id,
                    "key": record.key,
                    "user_key": record.user_key,
                    "username": record.username,
                    "camera_make": record.camera_make,
                    "captured_at": record.captured_at,
                    "created_at": record.created_at,
                    "pano": record.pano,
                    "lons": record.lons,
                    "lats": record.lats,
                    "cas": record.cas,
                    "image_keys": record.image_keys,
                },
            ).one()
    except IntegrityError:  # a concurrent writer took the key or an image key
        raise ConflictError(f"Mapillary sequence {record.key} was imported meanwhile") from None
    if row.sequence_id is not None:
        return int(row.photos)
    if not row.was_draft:
        raise ConflictError("the sequence is no longer a draft")
    if row.existing_id is not None:
        raise ConflictError(f"Mapillary sequence {record.key} is imported as another sequence")
    raise ConflictError("an image of this Mapillary sequence already belongs to another sequence")


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
    try:
        sequence_id = uuid.UUID(unique_id)
    except ValueError:
        raise NotFoundError(f"no sequence {unique_id}") from None
    session = get_session()
    row = session.execute(
        text("SELECT owner_id, status, mapillary_key FROM sequences WHERE id = :id"),
        {"id": sequence_id},
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"no sequence {unique_id}")
    if row.owner_id != user.id:
        raise ForbiddenError("only the owner of the sequence may import into it")
    token, key = _import_fields(_body())
    if row.status != "draft":
        if row.mapillary_key == key:  # the uploader retrying a request that succeeded
            return _success("Sequence already imported from Mapillary.", sequence_id)
        raise ConflictError("the sequence is not a draft: it was filled already")
    taken = session.execute(
        text("SELECT 1 FROM sequences WHERE mapillary_key = :k AND id <> :id"),
        {"k": key, "id": sequence_id},
    ).first()
    if taken is not None:
        raise ConflictError(f"Mapillary sequence {key} is already imported as another sequence")
    session.rollback()  # hold no transaction while Mapillary answers
    settings: Settings = current_app.config["GEOAPI"]
    _who, feature = fetch_owned_sequence(settings, token, key)
    try:
        record = parse_feature(feature)
    except FeatureError as exc:
        raise UpstreamError(f"Mapillary sent an unusable sequence: {exc.message}") from None
    photos = fill_draft(session, sequence_id, record)
    session.commit()
    return _success(f"Sequence imported from Mapillary with {photos} photos.", sequence_id)
