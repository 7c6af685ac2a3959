"""The HTTP API: thin blueprints, one per resource, sharing helpers from ``api/_http.py``.

A view parses and validates its request, calls one store function per unit of work and
serialises the result; no view imports another view.
"""

from __future__ import annotations

import threading

from flask import Flask, Response, request

from geoapi.api import (
    exports,
    features,
    health,
    imports,
    items,
    likes,
    mapillary,
    openapi,
    queryables,
    reference,
    sequences,
    style,
    tiles,
    tokens,
    tours,
    uploader,
    viewer,
)
from geoapi.api._http import STREAM_SLOTS

BLUEPRINTS = (
    health,
    imports,
    sequences,
    likes,
    tours,
    reference,
    features,
    items,
    queryables,
    tiles,
    style,
    exports,
    openapi,
    viewer,
    mapillary,
    uploader,
    tokens,
)
# CORS: any origin may call the API from a browser. Nothing rides on cookies (writes need an
# explicit bearer token), so allowing every origin gives a web page no power it would not have
# with the token anyway. Preflights are Flask's automatic OPTIONS answers, completed here.
ALLOWED_HEADERS = "Authorization, Content-Type, If-None-Match, Accept"
EXPOSED_HEADERS = "ETag, Link, Location, Content-Disposition, Content-Encoding, Retry-After"


def add_cors_headers(response: Response) -> Response:
    response.headers.setdefault("Access-Control-Allow-Origin", "*")
    response.headers.setdefault("Access-Control-Expose-Headers", EXPOSED_HEADERS)
    if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
        allowed = response.headers.get("Allow") or "GET, HEAD, OPTIONS"
        response.headers.setdefault("Access-Control-Allow-Methods", allowed)
        response.headers.setdefault("Access-Control-Allow-Headers", ALLOWED_HEADERS)
        response.headers.setdefault("Access-Control-Max-Age", "86400")
    return response


def init_app(app: Flask) -> None:
    """Register every blueprint, the CORS headers and the worker's stream slots."""
    for module in BLUEPRINTS:
        app.register_blueprint(module.bp)
    app.after_request(add_cors_headers)
    app.extensions[STREAM_SLOTS] = threading.BoundedSemaphore(app.config["GEOAPI"].max_streams)
