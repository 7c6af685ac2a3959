"""The MapLibre style (version 8) of ``GET /style.json`` (pure): geoapi's layers over a basemap.

The basemap (``geoapi.basemap``) is the bundled Natural Earth one or any MapLibre style fetched
from ``GEOAPI_BASEMAP_STYLE_URL``; :func:`compose_style` puts geoapi's source (the TileJSON),
sprite and layers on top of it. The viewer at ``/map`` uses the same document.

Symbols: lines in their transport type's colour at every zoom; photos as small dots in their
line's colour at z14-15 and as arrows along the compass angle (an SDF icon of the geoapi
sprite, coloured the same) from z16; pano photos ringed; ``sequence-hover``, ``photos-hover``
and ``sequence-selected`` draw nothing until a client sets their filter to a sequence id.
"""

from __future__ import annotations

import copy
from typing import Any

Style = dict[str, Any]
SOURCE_ID = "geoapi"
SPRITE_ID = "geoapi"
ARROW_ICON = f"{SPRITE_ID}:photo-arrow"
PHOTO_DOTS_MAXZOOM = 16  # dots below, arrows from here on
PHOTOS_MINZOOM = 14
FALLBACK_COLOUR = "#37474f"
HIGHLIGHT_COLOUR = "#ffd600"
# (legend label, line colour, the leaf transport types drawn in it)
TRANSPORT_COLOURS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Walk", "#2e7d32", ("Walk", "Wheelchair", "Rock Climbing")),
    ("Bicycle", "#1565c0", ("Bicycle", "Electric Bicycle")),
    ("Car", "#c62828", ("Car", "Electric Car")),
    ("Scooter, skates", "#8e24aa", ("Scooter", "Electric Scooter", "Rollerskate", "Skateboard")),
    (
        "Water",
        "#00838f",
        (
            *("Canoe", "Kayak", "Kiteboard", "Paddleboard", "Row", "Scuba Dive", "Sail"),
            *("Surf", "Swim", "Windsurf", "Boat", "Freedive"),
        ),
    ),
    ("Snow", "#5c6bc0", ("Ski", "Snowboard", "Snowshoe", "Ice Skating", "Snowmobile")),
    (
        "Air",
        "#ef6c00",
        (
            *("BASE Jump", "Glider", "Hang Glide", "Parachute", "Paraglide", "Wingsuit"),
            *("Helicopter", "Plane", "Drone"),
        ),
    ),
)


def transport_colour() -> list[Any]:
    """The style expression: a feature's ``transport_type`` → its colour."""
    expression: list[Any] = ["match", ["coalesce", ["get", "transport_type"], ""]]
    for _label, colour, names in TRANSPORT_COLOURS:
        expression.extend([list(names), colour])
    expression.append(FALLBACK_COLOUR)
    return expression


def legend() -> list[list[str]]:
    """[label, colour] pairs for a map legend, the fallback last."""
    rows = [[label, colour] for label, colour, _names in TRANSPORT_COLOURS]
    return [*rows, ["Other or none", FALLBACK_COLOUR]]


def _zoomed(*stops: float) -> list[Any]:
    """A value interpolated linearly between ``zoom, value`` stops."""
    return ["interpolate", ["linear"], ["zoom"], *stops]


def _none(key: str) -> list[Any]:
    """A filter that matches nothing until a client sets it to ``["==", ["get", key], id]``."""
    return ["==", ["get", key], ""]


def geoapi_layers() -> list[dict[str, Any]]:
    """geoapi's layers over the ``geoapi`` source, bottom to top."""
    colour = transport_colour()
    pano = ["to-boolean", ["get", "pano"]]
    rounded = {"line-cap": "round", "line-join": "round"}

    def layer(layer_id: str, kind: str, source_layer: str) -> dict[str, Any]:
        return {"id": layer_id, "type": kind, "source": SOURCE_ID, "source-layer": source_layer}

    return [
        {
            **layer("overview", "circle", "overview"),
            "maxzoom": 6,
            "paint": {
                "circle-radius": _zoomed(0, 3.5, 5, 5),
                "circle-color": ["case", pano, "#8e24aa", "#1565c0"],
                "circle-opacity": 0.85,
                "circle-stroke-color": "#ffffff",
                "circle-stroke-width": 1,
            },
        },
        {
            **layer("sequence-hover", "line", "sequences"),
            "minzoom": 6,
            "filter": _none("id"),
            "layout": rounded,
            "paint": {
                "line-color": HIGHLIGHT_COLOUR,
                "line-width": _zoomed(6, 7, 14, 12, 18, 18),
                "line-opacity": 0.55,
            },
        },
        {
            **layer("sequence-selected", "line", "sequences"),
            "minzoom": 6,
            "filter": _none("id"),
            "layout": rounded,
            "paint": {"line-color": HIGHLIGHT_COLOUR, "line-width": _zoomed(6, 5, 14, 10, 18, 14)},
        },
        {
            **layer("sequences-casing", "line", "sequences"),
            "minzoom": 6,
            "layout": rounded,
            "paint": {
                "line-color": "#ffffff",
                "line-width": _zoomed(6, 2.5, 14, 5.5, 18, 9),
                "line-opacity": 0.85,
            },
        },
        {
            **layer("sequences", "line", "sequences"),
            "minzoom": 6,
            "layout": rounded,
            "paint": {"line-color": colour, "line-width": _zoomed(6, 1.5, 14, 2.5, 16, 3.5, 18, 6)},
        },
        {
            **layer("photos-hover", "circle", "photos"),
            "minzoom": PHOTOS_MINZOOM,
            "filter": _none("sequence_id"),
            "paint": {
                "circle-radius": _zoomed(14, 4, 16, 9, 18, 14),
                "circle-color": HIGHLIGHT_COLOUR,
                "circle-opacity": 0.6,
            },
        },
        {
            **layer("photo-dots", "circle", "photos"),
            "minzoom": PHOTOS_MINZOOM,
            "maxzoom": PHOTO_DOTS_MAXZOOM,
            "paint": {
                # Dots without an outline: overlapping outlines would pale the line's colour.
                # Pano photos: a larger dot with a dark ring.
                "circle-radius": ["case", pano, 3.2, 2.4],
                "circle-color": colour,
                "circle-stroke-color": "#212121",
                "circle-stroke-width": ["case", pano, 1, 0],
            },
        },
        {
            **layer("photos-pano", "circle", "photos"),
            "minzoom": PHOTO_DOTS_MAXZOOM,
            "filter": pano,
            "paint": {
                "circle-radius": _zoomed(16, 9, 18, 14),
                "circle-opacity": 0,
                "circle-stroke-color": colour,
                "circle-stroke-width": 1.5,
            },
        },
        {
            **layer("photos-no-ca", "circle", "photos"),
            "minzoom": PHOTO_DOTS_MAXZOOM,
            "filter": ["!", ["has", "ca"]],
            "paint": {
                "circle-radius": _zoomed(16, 3.5, 18, 5),
                "circle-color": colour,
                "circle-stroke-color": "#ffffff",
                "circle-stroke-width": 1.5,
            },
        },
        {
            **layer("photos", "symbol", "photos"),
            "minzoom": PHOTO_DOTS_MAXZOOM,
            "filter": ["has", "ca"],
            "layout": {
                "icon-image": ARROW_ICON,
                "icon-rotate": ["get", "ca"],
                "icon-rotation-alignment": "map",
                "icon-allow-overlap": True,
                "icon-ignore-placement": True,
                "icon-size": _zoomed(16, 0.75, 18, 1.1),
            },
            "paint": {"icon-color": colour, "icon-halo-color": "#ffffff", "icon-halo-width": 0.8},
        },
    ]


def compose_style(
    base: Style, *, tilejson_url: str, sprite_url: str, legend_rows: list[list[str]]
) -> Style:
    """``base`` (a valid version 8 style) with geoapi's source, sprite and layers on top.

    geoapi's ids win: a base source or layer whose id geoapi uses is renamed ``basemap-<id>``
    (its layers follow a renamed source), so clients can rely on geoapi's names.
    """
    style = copy.deepcopy(base)
    ours = geoapi_layers()
    taken = {layer["id"] for layer in ours}
    sources: dict[str, Any] = {}
    renamed: dict[str, str] = {}
    for source_id, source in (style.get("sources") or {}).items():
        new_id = f"basemap-{source_id}" if source_id == SOURCE_ID else source_id
        renamed[source_id] = new_id
        sources[new_id] = source
    layers = []
    for layer in style.get("layers") or []:
        layer = dict(layer)
        if layer.get("id") in taken:
            layer["id"] = f"basemap-{layer['id']}"
        if "source" in layer:
            layer["source"] = renamed.get(layer["source"], layer["source"])
        layers.append(layer)
    sources[SOURCE_ID] = {"type": "vector", "url": tilejson_url}
    style["sources"] = sources
    style["layers"] = layers + ours
    style["sprite"] = [*_sprites(style.get("sprite")), {"id": SPRITE_ID, "url": sprite_url}]
    style["version"] = 8
    style["name"] = f"geoapi over {base.get('name') or 'a basemap'}"
    metadata = dict(style.get("metadata") or {})
    metadata["geoapi:legend"] = legend_rows
    style["metadata"] = metadata
    return style


def _sprites(sprite: Any) -> list[dict[str, str]]:
    """A base style's ``sprite`` (absent, one URL, or a list of ids and URLs) as a list."""
    if not sprite:
        return []
    if isinstance(sprite, str):
        return [{"id": "default", "url": sprite}]
    return [dict(entry) for entry in sprite if entry.get("id") != SPRITE_ID]
