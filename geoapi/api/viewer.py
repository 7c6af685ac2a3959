"""``GET /map``: the MapLibre map viewer, its own scripts (``geoapi/web``) and static files.

MapLibre GL JS is copied from the npm package into ``geoapi/static/vendor`` by
``.ci/build-web``; nothing is loaded from the internet.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, render_template, send_file, url_for
from werkzeug.security import safe_join

from geoapi.errors import NotFoundError

PACKAGE_DIR = Path(__file__).resolve().parent.parent
WEB_DIR = PACKAGE_DIR / "web"
STATIC_DIR = PACKAGE_DIR / "static"
VENDOR_FILES = ("vendor/maplibre-gl.js", "vendor/maplibre-gl.css")
WEB_ASSETS = ("map.js", "map.css")
ASSET_MAX_AGE = 86400  # asset URLs carry a content hash (``?v=``), so a new build is a new URL

bp = Blueprint("viewer", __name__)


@lru_cache(maxsize=32)
def _fingerprint(path: Path, mtime_ns: int) -> str:
    """A short content hash of ``path`` (cached per modification time) for cache busting."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def asset_version(path: Path) -> str:
    """The cache-busting version of a file, or ``missing``."""
    try:
        return _fingerprint(path, path.stat().st_mtime_ns)
    except FileNotFoundError:
        return "missing"


def vendor_ready() -> bool:
    """Whether ``.ci/build-web`` has put MapLibre into the static folder."""
    return all((STATIC_DIR / name).is_file() for name in VENDOR_FILES)


@bp.get("/map")
def map_page() -> Response:
    """The viewer page: the view lives in the URL hash, the filters in the query string."""
    config = {
        "tilejson": "/tiles.json",
        "sequences": "/api/v1/sequences/",
        "transport_types": "/api/v1/transport-types",
        "tags": "/api/v1/tags",
    }

    def static(name: str) -> str:
        return url_for(".static_file", filename=name, v=asset_version(STATIC_DIR / name))

    def web(name: str) -> str:
        return url_for(".web_asset", filename=name, v=asset_version(WEB_DIR / name))

    html = render_template(
        "map.html",
        config=config,
        maplibre_js=static(VENDOR_FILES[0]),
        maplibre_css=static(VENDOR_FILES[1]),
        map_js=web("map.js"),
        map_css=web("map.css"),
        vendor_ready=vendor_ready(),
        home_url="/",
        docs_url="/docs",
        tilejson_url=config["tilejson"],
    )
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/map/<filename>")
def web_asset(filename: str) -> Response:
    """The viewer's own script and stylesheet."""
    if filename not in WEB_ASSETS:
        raise NotFoundError(f"no viewer asset {filename!r}")
    return _send(WEB_DIR, filename)


@bp.get("/map/static/<path:filename>")
def static_file(filename: str) -> Response:
    """Files under ``geoapi/static`` (MapLibre GL JS after ``.ci/build-web``)."""
    return _send(STATIC_DIR, filename)


def _send(directory: Path, filename: str) -> Response:
    """A small file from memory (no open file handle outlives the request), with ETag and 304."""
    joined = safe_join(str(directory), filename)
    if joined is None or not Path(joined).is_file():
        raise NotFoundError(f"no static file {filename!r}")
    path = Path(joined)
    stat = path.stat()
    response = send_file(
        io.BytesIO(path.read_bytes()),
        mimetype=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
        etag=_fingerprint(path, stat.st_mtime_ns),
        last_modified=stat.st_mtime,
        max_age=ASSET_MAX_AGE,
        conditional=True,
    )
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
