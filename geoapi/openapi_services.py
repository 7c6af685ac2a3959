"""OpenAPI paths of the vector tiles, the Mapillary connection, import jobs and the uploader."""

from __future__ import annotations

from geoapi.openapi_v1 import (
    BEARER,
    JSON_MEDIA,
    NULLABLE_STRING,
    NULLABLE_TIME,
    UUID,
    Json,
    json_body,
    ok,
    op,
    path_id,
    problem,
    query,
    ref,
)
from geoapi.tile_store import MAX_ZOOM, MVT_MEDIA_TYPE

LEGACY_ERROR = {
    "description": "An error in the uploader's shape",
    "content": {JSON_MEDIA: {"schema": ref("UploaderError")}},
}
LEGACY_SECURITY = {"401": LEGACY_ERROR}
NULLABLE_TEXT = {"type": "string", "nullable": True}
MAPILLARY_ACCOUNT = {
    "type": "object",
    "required": ["linked"],
    "properties": {
        "linked": {"type": "boolean"},
        "login_url": {"type": "string", "format": "uri"},
        "username": NULLABLE_TEXT,
        "user_key": NULLABLE_TEXT,
        "api_version": {"type": "string", "enum": ["v3", "v4"]},
        "expires_at": {**NULLABLE_TEXT, "format": "date-time"},
        "linked_at": {"type": "string", "format": "date-time"},
    },
}


def _tile_paths(filter_params: list[Json]) -> Json:
    zxy = [
        {
            "name": "z",
            "in": "path",
            "required": True,
            "description": f"Zoom, 0..{MAX_ZOOM}.",
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ZOOM},
        },
        {
            "name": "x",
            "in": "path",
            "required": True,
            "description": "Column, 0..2^z-1.",
            "schema": {"type": "integer", "minimum": 0},
        },
        {
            "name": "y",
            "in": "path",
            "required": True,
            "description": "Row (XYZ), 0..2^z-1.",
            "schema": {"type": "integer", "minimum": 0},
        },
    ]
    tile_filters = [p for p in filter_params if p["name"] not in ("bbox", "bbox-crs")]
    version = query("v", "The data version from /tiles.json (cache busting).", {"type": "integer"})
    responses = {
        "200": {
            "description": "A Mapbox Vector Tile (layers overview, sequences, photos by zoom)",
            "content": {MVT_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        },
        "204": {"description": "An empty tile"},
        "304": {"description": "Not modified (If-None-Match)"},
        "400": problem("z/x/y outside the grid, not integers, or a bad filter"),
        "503": problem("The tile took too long"),
    }
    paths: Json = {}
    for ext in ("mvt", "pbf"):
        paths[f"/tiles/{{z}}/{{x}}/{{y}}.{ext}"] = {
            "get": op(
                f"getTile{ext.capitalize()}",
                f"One vector tile (.{ext})",
                responses,
                tag="Tiles",
                parameters=[*zxy, version, *tile_filters],
            )
        }
    paths["/tiles.json"] = {
        "get": op(
            "getTileJSON",
            "TileJSON 3.0.0: tile URL (with data version and filters), layers, bounds",
            {
                "200": ok("The TileJSON", ref("TileJSON")),
                "304": {"description": "Not modified (If-None-Match)"},
                "400": problem("A bad filter"),
            },
            tag="Tiles",
            parameters=tile_filters,
        )
    }
    return paths


def _mapillary_paths() -> Json:
    bad_state = problem("A missing, bad or expired state, or no code")
    return {
        "/auth/mapillary/login": {
            "get": op(
                "mapillaryLogin",
                "Start linking a Mapillary account: a redirect to Mapillary's authorize page",
                {
                    "302": {"description": "To Mapillary's authorize URL (signed state)"},
                    "503": problem("Mapillary is not configured on this server"),
                },
                tag="Mapillary",
                security=BEARER,
            ),
            "post": op(
                "mapillaryLoginUrl",
                "Start linking: the authorize URL for clients that open the browser themselves",
                {
                    "200": ok("The URL", ref("AuthorizeUrl")),
                    "503": problem("Mapillary is not configured on this server"),
                },
                tag="Mapillary",
                security=BEARER,
            ),
        },
        "/auth/mapillary/callback": {
            "get": op(
                "mapillaryCallback",
                "Mapillary's redirect back: trade the code, store the token encrypted",
                {
                    "200": {
                        "description": "Linked",
                        "content": {
                            JSON_MEDIA: {"schema": ref("MapillaryLink")},
                            "text/html": {"schema": {"type": "string"}},
                        },
                    },
                    "400": bad_state,
                    "502": problem("Mapillary failed"),
                    "503": problem("Mapillary is not configured on this server"),
                },
                tag="Mapillary",
                parameters=[
                    query("state", "The signed state from the login.", {"type": "string"}),
                    query("code", "Mapillary's authorization code.", {"type": "string"}),
                    query(
                        "error", "Mapillary's error, when access was denied.", {"type": "string"}
                    ),
                    query("error_description", "Mapillary's error text.", {"type": "string"}),
                ],
            )
        },
        "/api/v1/mapillary/account": {
            "get": op(
                "getMapillaryAccount",
                "Whether the caller has linked a Mapillary account (never its tokens)",
                {"200": ok("The link", MAPILLARY_ACCOUNT)},
                tag="Mapillary",
                security=BEARER,
            ),
            "delete": op(
                "unlinkMapillaryAccount",
                "Forget the caller's Mapillary tokens",
                {"204": {"description": "Unlinked"}, "404": problem("No account linked")},
                tag="Mapillary",
                security=BEARER,
            ),
        },
        "/api/v1/mapillary/sequences": {
            "get": op(
                "listMapillarySequences",
                "The caller's Mapillary sequences (all pages) with imported flags",
                {
                    "200": ok("The sequences", ref("MapillarySequences")),
                    "400": problem("A bad start_time or end_time"),
                    "409": problem("No Mapillary account linked (login_url says where)"),
                    "502": problem("Mapillary failed"),
                },
                tag="Mapillary",
                parameters=[
                    query("start_time", "ISO 8601 date or date-time.", {"type": "string"}),
                    query("end_time", "ISO 8601 (a bare date is inclusive).", {"type": "string"}),
                ],
                security=BEARER,
            )
        },
        "/api/v1/imports/mapillary": {
            "post": op(
                "importFromMapillary",
                "Queue one import job per Mapillary sequence key",
                {
                    "202": ok("The jobs", ref("ImportJobs")),
                    "409": problem("No Mapillary account linked"),
                    "422": problem("Invalid or unknown fields"),
                },
                tag="Mapillary",
                body=json_body(ref("MapillaryImport"), "The keys and metadata"),
                security=BEARER,
            )
        },
        "/api/v1/imports/{job_id}": {
            "get": op(
                "getImportJob",
                "One of the caller's import jobs",
                {"200": ok("The job", ref("ImportJob")), "404": problem("No such job")},
                tag="Mapillary",
                parameters=[{**path_id("job_id", "job"), "schema": UUID}],
                security=BEARER,
            )
        },
    }


def _uploader_paths() -> Json:
    form = ref("UploaderCreate")
    created = ok("The draft", ref("UploaderSuccess"))
    create = op(
        "uploaderCreate",
        "Desktop uploader: create a draft sequence (errors carry an 'error' key)",
        {"201": created, "400": LEGACY_ERROR, **LEGACY_SECURITY},
        tag="Uploader",
        body={
            "required": True,
            "content": {
                JSON_MEDIA: {"schema": form},
                "application/x-www-form-urlencoded": {"schema": form},
            },
        },
        security=[{"bearerAuth": []}],
    )
    unique_id = {"name": "unique_id", "in": "path", "required": True, "schema": {"type": "string"}}
    fill = op(
        "uploaderImport",
        "Desktop uploader: fill the draft from Mapillary with the user's Mapillary token",
        {
            "200": ok("Imported (or already)", ref("UploaderSuccess")),
            **{code: LEGACY_ERROR for code in ("400", "401", "403", "404", "409", "502", "503")},
        },
        tag="Uploader",
        parameters=[unique_id],
        body={
            "required": True,
            "content": {
                JSON_MEDIA: {"schema": ref("UploaderImport")},
                "application/x-www-form-urlencoded": {"schema": ref("UploaderImport")},
            },
        },
        security=[{"bearerAuth": []}],
    )
    return {
        "/api/v1/sequence/create/": {"post": create},
        "/api/v1/sequence/create": {"post": {**create, "operationId": "uploaderCreateNoSlash"}},
        "/api/v1/sequence/import/{unique_id}/": {"put": fill},
        "/api/v1/sequence/import/{unique_id}": {
            "put": {**fill, "operationId": "uploaderImportNoSlash"}
        },
    }


def service_paths(filter_params: list[Json]) -> Json:
    """Tiles, Mapillary and uploader paths."""
    return {**_tile_paths(filter_params), **_mapillary_paths(), **_uploader_paths()}


def service_schemas() -> Json:
    """Component schemas of the tiles, Mapillary and uploader operations."""
    layer = {
        "type": "object",
        "required": ["id", "fields"],
        "properties": {
            "id": {"type": "string"},
            "fields": {"type": "object"},
            "minzoom": {"type": "integer"},
            "maxzoom": {"type": "integer"},
        },
    }
    job = {
        "type": "object",
        "required": ["id", "sequence_key", "status"],
        "properties": {
            "id": UUID,
            "sequence_key": {"type": "string"},
            "status": {"type": "string"},
            "reason": NULLABLE_STRING,
            "sequence_id": {**UUID, "nullable": True},
            "attempts": {"type": "integer"},
            "max_attempts": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "finished_at": NULLABLE_TIME,
            "url": {"type": "string"},
        },
    }
    account_fields: Json = {
        "mapillary_user_key": NULLABLE_STRING,
        "mapillary_username": NULLABLE_STRING,
        "api_version": {"type": "string"},
        "expires_at": NULLABLE_STRING,
    }
    account = {"type": "object", "properties": account_fields}
    text = {"type": "string"}
    return {
        "TileJSON": {
            "type": "object",
            "required": ["tilejson", "tiles", "vector_layers"],
            "properties": {
                "tilejson": {"type": "string", "enum": ["3.0.0"]},
                "tiles": {"type": "array", "items": text, "minItems": 1},
                "minzoom": {"type": "integer"},
                "maxzoom": {"type": "integer"},
                "bounds": {"type": "array", "items": {"type": "number"}, "minItems": 4},
                "center": {"type": "array", "items": {"type": "number"}},
                "vector_layers": {"type": "array", "items": layer},
            },
        },
        "AuthorizeUrl": {
            "type": "object",
            "required": ["authorize_url"],
            "properties": {"authorize_url": text, "expires_in": {"type": "integer"}},
        },
        "MapillaryLink": {
            "type": "object",
            "properties": {"linked": {"type": "boolean"}, **account_fields},
        },
        "MapillarySequences": {
            "type": "object",
            "required": ["account", "count", "sequences"],
            "properties": {
                "account": account,
                "count": {"type": "integer"},
                "sequences": {"type": "array", "items": {"type": "object"}},
            },
        },
        "MapillaryImport": {
            "type": "object",
            "required": ["sequence_keys"],
            "additionalProperties": False,
            "properties": {
                "sequence_keys": {"type": "array", "items": text, "minItems": 1, "maxItems": 1000},
                "title": text,
                "description": text,
                "transport_type": text,
                "tags": {"type": "array", "items": text},
            },
        },
        "ImportJob": job,
        "ImportJobs": {
            "type": "object",
            "required": ["jobs"],
            "properties": {"jobs": {"type": "array", "items": job}},
        },
        "UploaderCreate": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": text,
                "description": text,
                "transport_type": text,
                "tag": {"type": "string", "description": "Comma-separated tags"},
                "source": text,
            },
        },
        "UploaderImport": {
            "type": "object",
            "required": ["mapillary_user_token", "mapillary_sequence_key"],
            "properties": {"mapillary_user_token": text, "mapillary_sequence_key": text},
        },
        "UploaderSuccess": {
            "type": "object",
            "required": ["status", "message", "unique_id"],
            "properties": {
                "status": {"type": "string", "enum": ["success"]},
                "message": text,
                "unique_id": UUID,
            },
        },
        "UploaderError": {
            "type": "object",
            "required": ["status", "error"],
            "properties": {"status": {"type": "boolean", "enum": [False]}, "error": text},
        },
    }
