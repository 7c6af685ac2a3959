"""``GET /api/openapi.json``: the OpenAPI 3.0 document describing every endpoint of the app.

``openapi_document()`` builds it: the features and export paths here, the ``/api/v1`` resources,
operations and web pages from ``geoapi.openapi_v1`` (schemas in ``geoapi.openapi_schemas``), the
tiles, Mapillary and uploader paths from ``geoapi.openapi_services``.
``tests/test_openapi_schemathesis.py`` checks that it covers every route of the app.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, json

from geoapi.geo import DEFAULT_LIMIT, MAX_LIMIT

bp = Blueprint("openapi", __name__)

OPENAPI_MEDIA_TYPE = "application/vnd.oai.openapi+json;version=3.0"
COLLECTION_IDS = ["sequences", "photos"]


def _param(name: str, description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
        **extra,
    }


def _filter_params() -> list[dict[str, Any]]:
    return [
        _param(
            "bbox",
            "minlon,minlat,maxlon,maxlat in CRS84; minlon > maxlon crosses the antimeridian.",
            {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}},
            style="form",
            explode=False,
        ),
        _param(
            "bbox-crs",
            "Only http://www.opengis.net/def/crs/OGC/1.3/CRS84.",
            {"type": "string", "format": "uri"},
        ),
        _param(
            "datetime",
            "An RFC 3339 instant or interval (a/b, '..' open) on captured_at.",
            {"type": "string"},
        ),
        _param(
            "transport_type",
            "A transport type; a parent includes its children.",
            {"type": "string"},
        ),
        _param(
            "tag",
            "Tags, all of which must be present (repeat or comma-separate).",
            {"type": "array", "items": {"type": "string"}},
            style="form",
            explode=True,
        ),
        _param("username", "The owner's username (case-insensitive).", {"type": "string"}),
        _param("camera_make", "Camera make (case-insensitive).", {"type": "string"}),
        _param("pano", "Panoramas only (true) or none (false).", {"type": "boolean"}),
    ]


def _feature_collection_response() -> dict[str, Any]:
    return {
        "description": "A GeoJSON FeatureCollection",
        "content": {
            "application/geo+json": {"schema": {"$ref": "#/components/schemas/FeatureCollection"}}
        },
    }


PROBLEM = {
    "description": "A problem (RFC 9457) naming the bad parameter",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def _json_ok(description: str) -> dict[str, Any]:
    return {
        "200": {
            "description": description,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.0.3 description of the API."""
    from geoapi.openapi_schemas import v1_schemas
    from geoapi.openapi_services import service_paths, service_schemas
    from geoapi.openapi_v1 import v1_paths

    document = _features_document()
    document["paths"].update(v1_paths(_filter_params()))
    document["paths"].update(service_paths(_filter_params()))
    document["components"]["schemas"].update(v1_schemas())
    document["components"]["schemas"].update(service_schemas())
    document["components"]["securitySchemes"] = {
        "bearerAuth": {"type": "http", "scheme": "bearer", "description": "An API token"}
    }
    landing = document["paths"]["/"]["get"]
    landing["parameters"] = [
        _param(
            "f",
            "json, or html (also chosen by Accept: text/html).",
            {"type": "string", "enum": ["json", "html"]},
        ),
    ]
    landing["responses"]["200"]["content"]["text/html"] = {"schema": {"type": "string"}}
    landing["responses"]["400"] = PROBLEM
    for path, item in document["paths"].items():
        for operation in item.values():
            operation.setdefault("tags", ["Features" if "/api/" not in path else "Exports"])
    return document


def _features_document() -> dict[str, Any]:
    """The OGC API Features part: landing page, conformance, collections, items, exports."""
    collection_id = {
        "name": "collectionId",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": COLLECTION_IDS},
    }
    page_params = [
        _param(
            "limit",
            f"Features per page (larger values are clamped to {MAX_LIMIT}).",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        ),
        _param("cursor", "Opaque paging token taken from a 'next' link.", {"type": "string"}),
        *_filter_params(),
        _param(
            "sequence_id",
            "Photos of this sequence only (photos).",
            {"type": "string", "format": "uuid"},
        ),
        _param("f", "Response format.", {"type": "string", "enum": ["json", "geojson"]}),
    ]
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "geoapi",
            "version": "1.0.0",
            "description": "Street-level photo sequences: OGC API Features, vector tiles, exports.",
        },
        "servers": [{"url": "/"}],
        "paths": {
            "/": {
                "get": {
                    "operationId": "getLandingPage",
                    "summary": "Landing page",
                    "responses": _json_ok("The landing page"),
                }
            },
            "/conformance": {
                "get": {
                    "operationId": "getConformance",
                    "summary": "Conformance classes",
                    "responses": _json_ok("The conformance classes"),
                }
            },
            "/collections": {
                "get": {
                    "operationId": "getCollections",
                    "summary": "Feature collections",
                    "responses": _json_ok("The collections"),
                }
            },
            "/collections/{collectionId}": {
                "get": {
                    "operationId": "describeCollection",
                    "summary": "One feature collection",
                    "parameters": [collection_id],
                    "responses": {**_json_ok("The collection"), "404": PROBLEM},
                }
            },
            "/collections/{collectionId}/items": {
                "get": {
                    "operationId": "getFeatures",
                    "summary": "Features, filtered and paged by keyset (follow the 'next' link)",
                    "parameters": [collection_id, *page_params],
                    "responses": {
                        "200": _feature_collection_response(),
                        "400": PROBLEM,
                        "404": PROBLEM,
                    },
                }
            },
            "/collections/{collectionId}/items/{featureId}": {
                "get": {
                    "operationId": "getFeature",
                    "summary": "One feature",
                    "parameters": [
                        collection_id,
                        {
                            "name": "featureId",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "format": "uuid"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "A GeoJSON Feature",
                            "content": {"application/geo+json": {"schema": {"type": "object"}}},
                        },
                        "404": PROBLEM,
                    },
                }
            },
            "/api/v1/exports/sequences.geojson": {
                "get": {
                    "operationId": "exportSequences",
                    "summary": "Streamed download of every matching sequence (or photo)",
                    "parameters": [
                        _param(
                            "collection",
                            "What to export.",
                            {"type": "string", "enum": COLLECTION_IDS, "default": "sequences"},
                        ),
                        _param(
                            "format",
                            "geojson (a FeatureCollection) or geojsonseq (RFC 8142).",
                            {"type": "string", "enum": ["geojson", "geojsonseq"]},
                        ),
                        _param(
                            "limit",
                            "At most this many features.",
                            {"type": "integer", "minimum": 1},
                        ),
                        *_filter_params(),
                        _param(
                            "sequence_id",
                            "Photos of this sequence only.",
                            {"type": "string", "format": "uuid"},
                        ),
                    ],
                    "responses": {
                        "200": {
                            "description": "The download",
                            "content": {
                                "application/geo+json": {"schema": {"type": "object"}},
                                "application/geo+json-seq": {"schema": {"type": "string"}},
                            },
                        },
                        "400": PROBLEM,
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "FeatureCollection": {
                    "type": "object",
                    "required": ["type", "features"],
                    "properties": {
                        "type": {"type": "string", "enum": ["FeatureCollection"]},
                        "features": {"type": "array", "items": {"type": "object"}},
                        "numberReturned": {"type": "integer"},
                        "numberMatched": {"type": "integer"},
                        "timeStamp": {"type": "string", "format": "date-time"},
                        "links": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "Problem": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "errors": {"type": "array", "items": {"type": "object"}},
                    },
                },
            }
        },
    }


@bp.get("/api/openapi.json")
def openapi_json() -> Response:
    return Response(json.dumps(openapi_document()), content_type=OPENAPI_MEDIA_TYPE)
