"""``GET /style.json``: a MapLibre style (version 8) of geoapi's layers over the basemap, and
``GET /style/sprite[@2x].{json,png}``, the sprite it names.

Any web map opens it as is (``new maplibregl.Map({style: "<geoapi>/style.json"})``; every URL
in it is absolute and CORS is open). The basemap is ``GEOAPI_BASEMAP_STYLE_URL`` when set, else
the bundled Natural Earth one (``?basemap=natural-earth`` asks for that one anyway). The
property filters of the tiles (``transport_type``, ``tag``, ...) pass on to the TileJSON URL.
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, request

from geoapi.api._http import JSON, filter_args, public_url, request_filters, settings
from geoapi.basemap import BasemapCache, natural_earth_basemap
from geoapi.errors import NotFoundError, bad_parameter
from geoapi.mapstyle import Style, compose_style, legend
from geoapi.sprite import sprite

bp = Blueprint("style", __name__)
BASEMAP_CACHE = "geoapi.basemap"
BASEMAPS = ("configured", "natural-earth")
# Where the viewer's static route serves the GeoJSON that .ci/build-web builds.
NATURAL_EARTH_PATH = "/map/static/vendor/basemap/"
SPRITE_FILES = {
    "sprite.json": (1, JSON),
    "sprite.png": (1, "image/png"),
    "sprite@2x.json": (2, JSON),
    "sprite@2x.png": (2, "image/png"),
}
SPRITE_MAX_AGE = 86400


def _base_style(basemap: str) -> Style:
    """The configured basemap style (fetched, kept a while), or the bundled one."""
    url = settings().basemap_style_url
    if url and basemap == "configured":
        cache = current_app.extensions.setdefault(BASEMAP_CACHE, BasemapCache())
        fetched: Style = cache.get(url)
        return fetched
    return natural_earth_basemap(lambda name: public_url(NATURAL_EARTH_PATH + name))


@bp.get("/style.json")
def style() -> Response:
    """The style: 200, 304 for a matching ETag, 400 naming a bad filter, 502 when the
    configured basemap style cannot be fetched."""
    request_filters()  # a bad filter is a 400 here, not on every tile
    basemap = request.args.get("basemap", "configured")
    if basemap not in BASEMAPS:
        raise bad_parameter("basemap", f"{basemap[:64]!r} is not one of {', '.join(BASEMAPS)}")
    args = filter_args()
    tilejson = public_url("/tiles.json") + (f"?{urlencode(args)}" if args else "")
    document = compose_style(
        _base_style(basemap),
        tilejson_url=tilejson,
        sprite_url=public_url("/style/sprite"),
        legend_rows=legend(),
    )
    body = json.dumps(document).encode()
    etag = hashlib.blake2b(body, digest_size=16).hexdigest()
    headers = {"Cache-Control": "no-cache", "ETag": f'"{etag}"'}
    if request.if_none_match.contains_weak(etag):
        response = Response(status=304, headers=headers)
        response.headers.remove("Content-Type")
        return response
    return Response(body, status=200, headers=headers, mimetype=JSON)


@bp.get("/style/<filename>")
def sprite_file(filename: str) -> Response:
    """The geoapi sprite: its index (JSON) or image (PNG), at pixel ratio 1 or 2 (``@2x``)."""
    if filename not in SPRITE_FILES:
        raise NotFoundError(f"no sprite file {filename[:64]!r}; try sprite.json or sprite.png")
    ratio, mimetype = SPRITE_FILES[filename]
    index, png = sprite(ratio)
    response = Response(png if mimetype == "image/png" else index, mimetype=mimetype)
    response.headers["Cache-Control"] = f"public, max-age={SPRITE_MAX_AGE}"
    return response
