"""The OpenAPI 3.0 document of every route: ``GET /api/openapi.json``, and ``GET /docs``, a
plain HTML page (no scripts, no CDN) describing every operation of it.

Paths and schemas are written by hand in ``openapi.json`` beside this module. The parameters
whose rules live in code (page sizes, property filters, bbox, zoom levels) are filled in here
from those very rules, so the contract and the server cannot drift apart. The document is built
once per process. ``tests/api/test_openapi_schemathesis.py`` walks the app's routes against it and
runs schemathesis over it.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from flask import Blueprint, Response, render_template

from geoapi.cql2 import FILTER_LANGS, LEGACY_TEXT_LANG, MAX_FILTER
from geoapi.crs import SUPPORTED_URIS
from geoapi.filters import PROPERTY_FILTERS
from geoapi.ogc import COLLECTIONS
from geoapi.paging import EXPORT_LIMIT, ITEMS_LIMIT, LIST_LIMIT, LimitRule
from geoapi.queryables import FEATURE_PROPERTIES, MAX_PARAM_TEXT, MAX_SORT_KEYS
from geoapi.tilesets import TMS_ID
from geoapi.tiling import MAX_ZOOM

bp = Blueprint("openapi", __name__)

OPENAPI_MEDIA_TYPE = "application/vnd.oai.openapi+json;version=3.0"
Json = dict[str, Any]
# In openapi.json, ``{"$ref": "#/components/parameters/<name>"}`` names a rule parameter; the
# built document carries the parameter itself in its place.
RULE_REF = "#/components/parameters/"


def _query(name: str, description: str, schema: Json, **extra: Any) -> Json:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
        **extra,
    }


def _limit(rule: LimitRule, what: str) -> Json:
    schema: Json = {"type": "integer", "minimum": 1, "maximum": rule.maximum}
    default = "default: all"
    if rule.default is not None:
        schema["default"] = rule.default
        default = f"default {rule.default:,}"
    above = "larger values are served as the maximum" if rule.clamp else "larger ones are refused"
    return _query("limit", f"{what}: 1 to {rule.maximum:,} ({default}; {above}).", schema)


def rule_parameters() -> Json:
    """The ``components.parameters`` that code defines: limits, filters, bbox, CRS, CQL2,
    sorting, cursor, zoom."""
    crs_list = ", ".join(SUPPORTED_URIS) + " (or EPSG:4326-style codes)"
    parameters: Json = {
        "limit_items": _limit(ITEMS_LIMIT, "Features per page"),
        "limit_list": _limit(LIST_LIMIT, "Items per page"),
        "limit_export": _limit(EXPORT_LIMIT, "At most this many features"),
        "cursor": _query(
            "cursor", "Opaque paging token taken from a 'next' link.", {"type": "string"}
        ),
        "bbox": _query(
            "bbox",
            "minx,miny,maxx,maxy (or 6 numbers with heights, which are ignored) in bbox-crs "
            "axis order, CRS84 lon/lat by default; minx > maxx crosses the antimeridian.",
            {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
            style="form",
            explode=False,
        ),
        "bbox-crs": _query("bbox-crs", f"The CRS of bbox: {crs_list}.", {"type": "string"}),
        "crs": _query(
            "crs",
            f"The CRS of the response's coordinates: {crs_list} (EPSG:4326 is latitude first).",
            {"type": "string"},
        ),
        "filter-crs": _query(
            "filter-crs",
            f"The CRS of the filter's geometry literals: {crs_list}.",
            {"type": "string"},
        ),
        "filter": _query(
            "filter",
            "A CQL2 expression over the queryables (see /collections/{collectionId}/queryables):"
            " comparisons, LIKE, IN, BETWEEN, IS NULL, NOT/AND/OR; S_INTERSECTS, S_WITHIN,"
            " S_CONTAINS, S_DISJOINT, S_TOUCHES, S_CROSSES, S_OVERLAPS, S_EQUALS, BBOX and"
            " S_DWITHIN(geometry, literal, metres) with a geometry literal; T_INTERSECTS,"
            " T_BEFORE, T_AFTER, T_EQUALS, T_DISJOINT on the timestamps.",
            {"type": "string", "maxLength": MAX_FILTER},
        ),
        "filter-lang": _query(
            "filter-lang",
            f"cql2-text (default) or cql2-json; {LEGACY_TEXT_LANG} (the draft name older GDAL"
            " sends) is read as cql2-text.",
            {"type": "string", "enum": [*FILTER_LANGS, LEGACY_TEXT_LANG], "default": "cql2-text"},
        ),
        "sortby": _query(
            "sortby",
            f"Up to {MAX_SORT_KEYS} queryables, comma-separated, each with + (ascending, the"
            " default) or - (descending), e.g. -captured_at,+title; NULLs sort last ascending.",
            {"type": "string", "maxLength": MAX_PARAM_TEXT},
        ),
        "properties": _query(
            "properties",
            "Only these feature properties, comma-separated (empty: none). Sequences: "
            + ", ".join(FEATURE_PROPERTIES["sequences"])
            + ". Photos: "
            + ", ".join(FEATURE_PROPERTIES["photos"])
            + ".",
            {"type": "string", "maxLength": MAX_PARAM_TEXT},
        ),
        "f_json_html": _query(
            "f",
            "json, or html (also chosen by Accept: text/html).",
            {"type": "string", "enum": ["json", "html"]},
        ),
        "collectionId": {
            "name": "collectionId",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "enum": list(COLLECTIONS)},
        },
        "tileMatrixSetId": {
            "name": "tileMatrixSetId",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "enum": [TMS_ID]},
        },
        "tileMatrix": {
            "name": "tileMatrix",
            "in": "path",
            "required": True,
            "description": f"Zoom, 0..{MAX_ZOOM}.",
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ZOOM},
        },
        "tileRow": {
            "name": "tileRow",
            "in": "path",
            "required": True,
            "description": "Row (from the north), 0..2^tileMatrix-1.",
            "schema": {"type": "integer", "minimum": 0},
        },
        "tileCol": {
            "name": "tileCol",
            "in": "path",
            "required": True,
            "description": "Column (from the west), 0..2^tileMatrix-1.",
            "schema": {"type": "integer", "minimum": 0},
        },
        "f_mvt": _query(
            "f", "Tile format: mvt (the only one).", {"type": "string", "enum": ["mvt"]}
        ),
        "v": _query(
            "v",
            "The version of the tile's area, as in the Link (rel=canonical) of an unpinned "
            "tile: that URL is immutable; any other value is redirected (302) to it.",
            {"type": "integer", "minimum": 0},
        ),
        "tile_z": {
            "name": "z",
            "in": "path",
            "required": True,
            "description": f"Zoom, 0..{MAX_ZOOM}.",
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ZOOM},
        },
    }
    for param in PROPERTY_FILTERS:
        extra = {"style": "form", "explode": True} if param.explode else {}
        parameters[param.name] = _query(param.name, param.description, param.schema, **extra)
    return parameters


@functools.cache
def _document_json() -> str:
    """The OpenAPI 3.0.3 document as JSON text: the hand-written paths and schemas plus the
    rule parameters. Built once per process."""
    text = (resources.files("geoapi.api") / "openapi.json").read_text(encoding="utf-8")
    document: Json = json.loads(text)
    rules = rule_parameters()
    for item in document["paths"].values():
        for operation in item.values():
            if "parameters" in operation:
                operation["parameters"] = [
                    rules[param["$ref"].removeprefix(RULE_REF)]
                    if param.get("$ref", "").startswith(RULE_REF)
                    else param
                    for param in operation["parameters"]
                ]
    return json.dumps(document)


def openapi_document() -> Json:
    """The document (a fresh copy: callers may change it)."""
    document: Json = json.loads(_document_json())
    return document


@bp.get("/api/openapi.json")
def openapi_json() -> Response:
    return Response(_document_json(), content_type=OPENAPI_MEDIA_TYPE)


# /docs ---------------------------------------------------------------------------------------

METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str
    required: bool
    schema: str
    description: str


@dataclass(frozen=True)
class Reply:
    status: str
    description: str
    media_types: tuple[str, ...]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    anchor: str
    summary: str
    description: str
    tags: tuple[str, ...]
    secured: bool
    parameters: list[Parameter] = field(default_factory=list)
    request_body: tuple[str, ...] = ()
    responses: list[Reply] = field(default_factory=list)


def resolve(document: dict[str, Any], node: Any) -> Any:
    """Follow a local ``$ref`` (``#/components/...``) to its target."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        target: Any = document
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def schema_label(document: dict[str, Any], schema: Any) -> str:
    """A short human description of a schema: ``integer (1-10000, default 100)``, ``Problem``."""
    if not isinstance(schema, dict):
        return ""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for combinator in ("oneOf", "anyOf", "allOf"):
        if combinator in schema:
            parts = [schema_label(document, part) for part in schema[combinator]]
            return (" | " if combinator != "allOf" else " & ").join(parts)
    kind = str(schema.get("type", "any"))
    if kind == "array":
        kind = f"array of {schema_label(document, schema.get('items', {})) or 'any'}"
    if "format" in schema:
        kind += f" ({schema['format']})"
    details = []
    if "enum" in schema:
        details.append("one of " + ", ".join(str(value) for value in schema["enum"]))
    if "minimum" in schema or "maximum" in schema:
        details.append(f"{schema.get('minimum', '')}-{schema.get('maximum', '')}")
    if "default" in schema:
        details.append(f"default {schema['default']}")
    return f"{kind} ({'; '.join(details)})" if details else kind


def operations(document: dict[str, Any]) -> list[Operation]:
    """Every operation of ``document`` in path order, with resolved parameters and responses."""
    result = []
    global_security = bool(document.get("security"))
    for path, item in document.get("paths", {}).items():
        shared = item.get("parameters", [])
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            params = [resolve(document, p) for p in [*shared, *op.get("parameters", [])]]
            body = resolve(document, op.get("requestBody", {}))
            result.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    anchor=op.get("operationId") or f"{method}-{path}",
                    summary=op.get("summary", ""),
                    description=op.get("description", ""),
                    tags=tuple(op.get("tags", ())),
                    secured=bool(op.get("security", global_security)),
                    parameters=[
                        Parameter(
                            name=p["name"],
                            location=p.get("in", ""),
                            required=bool(p.get("required")),
                            schema=schema_label(document, p.get("schema")),
                            description=p.get("description", ""),
                        )
                        for p in params
                    ],
                    request_body=tuple(body.get("content", {})) if isinstance(body, dict) else (),
                    responses=[
                        Reply(
                            status=str(status),
                            description=resolve(document, reply).get("description", ""),
                            media_types=tuple(resolve(document, reply).get("content", {})),
                        )
                        for status, reply in op.get("responses", {}).items()
                    ],
                )
            )
    return result


@bp.get("/docs")
def docs_page() -> Response:
    """The API reference as HTML, rendered from ``/api/openapi.json`` (no scripts, no CDN)."""
    document = openapi_document()
    html = render_template(
        "docs.html",
        info=document.get("info", {}),
        operations=operations(document),
        openapi_url="/api/openapi.json",
    )
    return Response(html, mimetype="text/html")
