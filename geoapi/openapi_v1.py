"""OpenAPI paths and schemas of the ``/api/v1`` resources, operations and web pages.

``geoapi.openapi.openapi_document`` merges these with the features and tiles description.
"""

from __future__ import annotations

from typing import Any

from geoapi.geo import MAX_LIMIT

Json = dict[str, Any]
BEARER: list[Json] = [{"bearerAuth": []}]
OPTIONAL_BEARER: list[Json] = [{}, {"bearerAuth": []}]
UUID = {"type": "string", "format": "uuid"}
NULLABLE_STRING = {"type": "string", "nullable": True}
NULLABLE_TIME = {"type": "string", "format": "date-time", "nullable": True}
JSON_MEDIA = "application/json"
GEOJSON_MEDIA = "application/geo+json"


def ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def problem(description: str) -> Json:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": ref("Problem")}},
    }


def ok(description: str, schema: Json, media_type: str = JSON_MEDIA) -> Json:
    return {"description": description, "content": {media_type: {"schema": schema}}}


def path_id(name: str, what: str) -> Json:
    """A path id; anything that is not a UUID is a 404 (no such object), never a 500."""
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The {what}'s id (a UUID; anything else is 404).",
        "schema": {"type": "string"},
    }


def query(name: str, description: str, schema: Json) -> Json:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def json_body(schema: Json, description: str) -> Json:
    return {
        "required": True,
        "description": description,
        "content": {JSON_MEDIA: {"schema": schema}},
    }


def op(
    operation_id: str,
    summary: str,
    responses: Json,
    *,
    tag: str,
    parameters: list[Json] | None = None,
    body: Json | None = None,
    security: list[Json] | None = None,
) -> Json:
    """One operation; a bearer-secured one also documents its 401."""
    result: Json = {"operationId": operation_id, "summary": summary, "tags": [tag]}
    if parameters:
        result["parameters"] = parameters
    if body is not None:
        result["requestBody"] = body
    if security is not None:
        result["security"] = security
        if security == BEARER:
            responses = {"401": problem("A valid bearer token is required"), **responses}
    result["responses"] = responses
    return result


LIMIT = query(
    "limit",
    f"Items per page, 1 to {MAX_LIMIT} (default 100).",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100},
)
CURSOR = query(
    "cursor", "Opaque paging token from the previous page's 'next' link.", {"type": "string"}
)


def _sequence_paths(filter_params: list[Json]) -> Json:
    seq_id = path_id("sequence_id", "sequence")
    not_found = problem("No such sequence (or a draft of another user)")
    sequence = ok("The sequence", ref("SequenceFeature"), GEOJSON_MEDIA)
    return {
        "/api/v1/sequences": {
            "get": op(
                "listSequences",
                "Published sequences, filtered, newest captured first or most liked, keyset-paged",
                {
                    "200": ok("A page of sequences", ref("SequencePage"), GEOJSON_MEDIA),
                    "400": problem("A bad filter, limit, sort or cursor"),
                },
                tag="Sequences",
                parameters=[
                    *filter_params,
                    query("sort", "Order.", {"type": "string", "enum": ["newest", "most_liked"]}),
                    LIMIT,
                    CURSOR,
                ],
                security=OPTIONAL_BEARER,
            )
        },
        "/api/v1/sequences/{sequence_id}": {
            "get": op(
                "getSequence",
                "One sequence with its metadata, like count and tours",
                {"200": sequence, "404": not_found},
                tag="Sequences",
                parameters=[seq_id],
                security=OPTIONAL_BEARER,
            ),
            "patch": op(
                "updateSequence",
                "The owner edits title, description, transport type (a leaf) and tags",
                {
                    "200": sequence,
                    "403": problem("Not the owner"),
                    "404": not_found,
                    "422": problem("Invalid or unknown fields"),
                },
                tag="Sequences",
                parameters=[seq_id],
                body=json_body(ref("SequenceChanges"), "The fields to change"),
                security=BEARER,
            ),
            "delete": op(
                "deleteSequence",
                "The owner deletes a sequence with its photos, likes and tour memberships",
                {
                    "204": {"description": "Deleted"},
                    "403": problem("Not the owner"),
                    "404": not_found,
                },
                tag="Sequences",
                parameters=[seq_id],
                security=BEARER,
            ),
        },
        "/api/v1/sequences/{sequence_id}/export.geojson": {
            "get": op(
                "exportSequence",
                "The sequence in the Mapillary v3 shape plus geoapi metadata (re-importable)",
                {
                    "200": ok("A FeatureCollection download", ref("V3Collection"), GEOJSON_MEDIA),
                    "404": not_found,
                    "409": problem("A draft has no photos to export yet"),
                },
                tag="Sequences",
                parameters=[seq_id],
                security=OPTIONAL_BEARER,
            )
        },
        "/api/v1/sequences/{sequence_id}/like": {
            "put": op(
                "likeSequence",
                "Like or unlike a sequence (idempotent); the owner cannot",
                {
                    "200": ok("The caller's like and the new count", ref("LikeResult")),
                    "403": problem("The owner cannot like their own sequence"),
                    "404": not_found,
                    "422": problem('The body is not {"liked": true|false}'),
                },
                tag="Sequences",
                parameters=[seq_id],
                body=json_body(ref("LikeRequest"), "Like (true) or unlike (false)"),
                security=BEARER,
            )
        },
    }


def _tour_paths() -> Json:
    tour_id = path_id("tour_id", "tour")
    not_found = problem("No such tour")
    tour = ok("The tour", ref("Tour"))
    owner_only = {"403": problem("Not the owner"), "404": not_found}
    return {
        "/api/v1/tours": {
            "get": op(
                "listTours",
                "Tours, newest first, optionally one user's, keyset-paged",
                {"200": ok("A page of tours", ref("TourPage")), "400": problem("A bad parameter")},
                tag="Tours",
                parameters=[
                    query("username", "Only this user's tours.", {"type": "string"}),
                    LIMIT,
                    CURSOR,
                ],
                security=OPTIONAL_BEARER,
            ),
            "post": op(
                "createTour",
                "Create a tour: title, description, tags and optional ordered sequence ids",
                {
                    "201": {**tour, "description": "Created"},
                    "403": problem("A listed sequence belongs to another user"),
                    "404": problem("A listed sequence does not exist"),
                    "422": problem("Invalid or unknown fields"),
                },
                tag="Tours",
                body=json_body(ref("TourCreate"), "The new tour"),
                security=BEARER,
            ),
        },
        "/api/v1/tours/{tour_id}": {
            "get": op(
                "getTour",
                "A tour with its ordered sequences and totals",
                {"200": tour, "404": not_found},
                tag="Tours",
                parameters=[tour_id],
                security=OPTIONAL_BEARER,
            ),
            "patch": op(
                "updateTour",
                "The owner edits title, description, tags (and optionally the sequence list)",
                {"200": tour, **owner_only, "422": problem("Invalid or unknown fields")},
                tag="Tours",
                parameters=[tour_id],
                body=json_body(ref("TourChanges"), "The fields to change"),
                security=BEARER,
            ),
            "delete": op(
                "deleteTour",
                "The owner deletes a tour; its sequences stay",
                {"204": {"description": "Deleted"}, **owner_only},
                tag="Tours",
                parameters=[tour_id],
                security=BEARER,
            ),
        },
        "/api/v1/tours/{tour_id}/sequences": {
            "put": op(
                "setTourSequences",
                "Set the ordered sequences (all the owner's; all or nothing)",
                {"200": tour, **owner_only, "422": problem("Invalid sequence list")},
                tag="Tours",
                parameters=[tour_id],
                body=json_body(ref("SequenceList"), "The sequences in tour order"),
                security=BEARER,
            )
        },
        "/api/v1/tours/{tour_id}/export.geojson": {
            "get": op(
                "exportTour",
                "The tour's published sequences in tour order, in the Mapillary v3 shape",
                {
                    "200": ok("A FeatureCollection download", ref("V3Collection"), GEOJSON_MEDIA),
                    "404": not_found,
                },
                tag="Tours",
                parameters=[tour_id],
                security=OPTIONAL_BEARER,
            )
        },
    }


def _other_paths() -> Json:
    html = {"text/html": {"schema": {"type": "string"}}}
    filename = {"name": "filename", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "/api/v1/transport-types": {
            "get": op(
                "listTransportTypes",
                "The transport type tree: categories and their leaf types",
                {"200": ok("The tree", {"type": "array", "items": ref("TransportCategory")})},
                tag="Reference",
            )
        },
        "/api/v1/tags": {
            "get": op(
                "listTags",
                "Tags with the number of published sequences carrying each, most used first",
                {
                    "200": ok("Tag counts", {"type": "array", "items": ref("TagCount")}),
                    "400": problem("A bad q or limit"),
                },
                tag="Reference",
                parameters=[
                    query("q", "A tag prefix (a-z, 0-9, '-').", {"type": "string"}),
                    query(
                        "limit",
                        "At most this many (1-500, default 50).",
                        {"type": "integer", "minimum": 1, "maximum": 500},
                    ),
                ],
            )
        },
        "/api/v1/imports/geojson": {
            "post": op(
                "importGeojson",
                "Import a Mapillary v3 FeatureCollection (or one Feature) for the caller",
                {
                    "200": ok("Everything already existed", ref("ImportReport")),
                    "201": ok("Something was imported", ref("ImportReport")),
                    "409": problem("Every key belongs to another user"),
                    "413": problem("Larger than GEOAPI_MAX_IMPORT_BYTES"),
                    "422": problem("Not GeoJSON, or no feature could be imported"),
                },
                tag="Import",
                parameters=[
                    query("title", "Title for every imported sequence.", {"type": "string"}),
                    query("description", "Description for every sequence.", {"type": "string"}),
                    query("transport_type", "A leaf transport type.", {"type": "string"}),
                    query("tags", "Comma-separated tags.", {"type": "string"}),
                ],
                body=json_body(
                    {"type": "object"},
                    "A v3 FeatureCollection or Feature, or a wrapper {geojson, title, ...}",
                ),
                security=BEARER,
            )
        },
        "/healthz": {
            "get": op(
                "health",
                "Liveness with a database round trip",
                {"200": ok("Healthy", ref("Health")), "503": problem("The database is down")},
                tag="Operations",
            )
        },
        "/api/openapi.json": {
            "get": op(
                "getOpenAPI",
                "This OpenAPI document",
                {
                    "200": ok(
                        "The document",
                        {"type": "object"},
                        "application/vnd.oai.openapi+json;version=3.0",
                    )
                },
                tag="Operations",
            )
        },
        "/docs": {
            "get": op(
                "getDocs",
                "This API reference as HTML",
                {"200": {"description": "HTML", "content": html}},
                tag="Web",
            )
        },
        "/map": {
            "get": op(
                "getMap",
                "The map viewer (MapLibre GL JS over /tiles.json)",
                {"200": {"description": "HTML", "content": html}},
                tag="Web",
            )
        },
        "/map/{filename}": {
            "get": op(
                "getMapAsset",
                "The viewer's script and stylesheet",
                {"200": {"description": "The file"}, "404": problem("No such asset")},
                tag="Web",
                parameters=[
                    {**filename, "schema": {"type": "string", "enum": ["map.js", "map.css"]}}
                ],
            )
        },
        "/map/static/{filename}": {
            "get": op(
                "getViewerStatic",
                "Static files of the viewer (MapLibre GL JS under vendor/)",
                {"200": {"description": "The file"}, "404": problem("No such file")},
                tag="Web",
                parameters=[filename],
            )
        },
        "/static/{filename}": {
            "get": op(
                "getStatic",
                "The package's static folder (Flask's default route)",
                {"200": {"description": "The file"}, "404": problem("No such file")},
                tag="Web",
                parameters=[filename],
            )
        },
    }


def v1_paths(filter_params: list[Json]) -> Json:
    """Every non-features path; ``filter_params`` are the shared property filters."""
    return {**_sequence_paths(filter_params), **_tour_paths(), **_other_paths()}
