"""``GET /docs``: a plain HTML page describing every operation of the OpenAPI document."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, render_template

from geoapi.api.openapi import openapi_document

bp = Blueprint("docs", __name__)
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
