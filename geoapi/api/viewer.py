"""``GET /map``: the MapLibre map viewer, its own scripts (``geoapi/web``) and static files.

The viewer opens ``/style.json`` (geoapi's layers over the basemap). MapLibre GL JS and the
bundled Natural Earth basemap are built from npm packages into ``geoapi/static/vendor`` by
``.ci/build-web``; with the default basemap nothing is loaded from the internet. Static files
are gzipped for clients that accept it (the 1:50m basemap is 1.6 MB raw, 0.5 MB gzipped).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import mimetypes
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, render_template, request, send_file, url_for
from werkzeug.security import safe_join

from geoapi.errors import NotFoundError

PACKAGE_DIR = Path(__file__).resolve().parent.parent
WEB_DIR = PACKAGE_DIR / "web"
STATIC_DIR = PACKAGE_DIR / "static"
VENDOR_FILES = (
    "vendor/maplibre-gl.js",
    "vendor/maplibre-gl.css",
    "vendor/basemap/ne-110m.geojson",
    "vendor/basemap/ne-50m.geojson",
)
WEB_ASSETS = ("map.js", "map.css")
ASSET_MAX_AGE = 86400  # asset URLs carry a content hash (``?v=``), so a new build is a new URL
MEDIA_TYPES = {".geojson": "application/geo+json", ".js": "text/javascript", ".css": "text/css"}
COMPRESSIBLE = (".geojson", ".json", ".js", ".css", ".txt")
# Where a photo opens on Mapillary: a link the viewer shows, never something it loads.
MAPILLARY_PHOTO_URL = "https://www.mapillary.com/app/?pKey="

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
        "style": "/style.json",
        "tilejson": "/tiles.json",
        "sequences": "/api/v1/sequences/",
        "tours": "/api/v1/tours/",
        "photo_items": "/collections/photos/items",
        "transport_types": "/api/v1/transport-types",
        "tags": "/api/v1/tags",
        "mapillary_photo": MAPILLARY_PHOTO_URL,
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


@lru_cache(maxsize=8)
def _gzipped(path: Path, mtime_ns: int) -> bytes:
    """The file gzipped (cached per modification time: the basemap takes ~0.1 s to compress)."""
    return gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)


def _send(directory: Path, filename: str) -> Response:
    """A small file from memory (no open file handle outlives the request), with ETag and 304;
    text files gzipped when the client accepts it."""
    joined = safe_join(str(directory), filename)
    if joined is None or not Path(joined).is_file():
        raise NotFoundError(f"no static file {filename!r}")
    path = Path(joined)
    stat = path.stat()
    etag = _fingerprint(path, stat.st_mtime_ns)
    zipped = path.suffix in COMPRESSIBLE and request.accept_encodings["gzip"] > 0
    data = _gzipped(path, stat.st_mtime_ns) if zipped else path.read_bytes()
    response = send_file(
        io.BytesIO(data),
        mimetype=MEDIA_TYPES.get(path.suffix)
        or mimetypes.guess_type(path.name)[0]
        or "application/octet-stream",
        etag=etag + "-gzip" if zipped else etag,
        last_modified=stat.st_mtime,
        max_age=ASSET_MAX_AGE,
        conditional=True,
    )
    if zipped:
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
