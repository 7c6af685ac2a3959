"""CQL2 filters (OGC API Features Part 3) parsed with pygeofilter into its AST (pure).

``filter-lang=cql2-text`` (the default; ``cql-text``, the draft name that GDAL before 3.7
sends, is read the same way) or ``cql2-json``. Both parsers are pygeofilter's: the text
grammar is pygeofilter's own, extended where it lags CQL2 1.0 (function-call temporal
operators, ``INTERVAL`` with open ends, ``ILIKE`` (GDAL sends it), ``''`` inside strings,
one-letter property names, ``BBOX(...)`` literals) and by
``S_DWITHIN(geometry, literal, distance[, units])``. The JSON tree is pre-walked for what
pygeofilter reads wrongly (three-argument ``between``, ``bbox`` literals, ``s_dwithin``,
``t_intersects``).

Hostile input is refused before it reaches a parser: too long, NUL, lone surrogates, nesting
deeper than :data:`MAX_DEPTH`; any parser failure is a 400 naming ``filter``. Geometry literals
are checked by :func:`check_geometry`. ``geoapi.store.cql`` turns the AST into SQL.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources
from typing import Any, ClassVar

from lark import Lark, v_args
from pygeofilter import ast, values
from pygeofilter.cql2 import TEMPORAL_PREDICATES_MAP
from pygeofilter.parsers.cql2_json.parser import walk_cql_json
from pygeofilter.parsers.cql2_text.parser import CQLTransformer

from geoapi.crs import MERCATOR_HALF, Crs, to_lonlat
from geoapi.errors import BadRequestError, bad_parameter
from geoapi.fields import TextError, check_text
from geoapi.times import InvalidTimestampError, parse_timestamp

FILTER_LANGS = ("cql2-text", "cql2-json")
LEGACY_TEXT_LANG = "cql-text"  # GDAL < 3.7 sends this draft name for CQL2 text
MAX_FILTER = 20_000  # characters
MAX_DEPTH = 40  # nested parentheses (text) or brackets (JSON)
MAX_POSITIONS = 10_000  # in one geometry literal
UNITS = {"meters": 1.0, "metres": 1.0, "m": 1.0, "kilometers": 1000.0, "km": 1000.0}


class TimeIntersects(ast.TemporalPredicate):  # type: ignore[misc]
    """``T_INTERSECTS`` (pygeofilter folds it into T_OVERLAPS, which means something else)."""

    op: ClassVar[ast.TemporalComparisonOp] = ast.TemporalComparisonOp.TOVERLAPS


_TEXT_EXTENSION = (
    "\n%extend temporal_predicate: _binary_temporal_predicate_func"
    ' "(" expression "," expression ")" -> temporal_call'
    '\n%extend spatial_predicate: "S_DWITHIN"i "(" expression "," expression "," full_number'
    ' ["," DWITHIN_UNITS] ")" -> s_dwithin'
    '\n%extend predicate: expression "ILIKE"i expression -> ilike'
    '\n    | expression "NOT"i "ILIKE"i expression -> not_ilike'
    + r"""
%override interval: "INTERVAL"i "(" SINGLE_QUOTED "," SINGLE_QUOTED ")"
%override attribute: /[a-zA-Z_][a-zA-Z_:0-9.]*/ | DOUBLE_QUOTED
%override SINGLE_QUOTED: /'(?:[^']|'')*'/
DWITHIN_UNITS: /[a-zA-Z]+/
"""
)


@v_args(meta=False, inline=True)
class _Transformer(CQLTransformer):  # type: ignore[misc]
    """pygeofilter's transformer, plus the extensions of :data:`_TEXT_EXTENSION`."""

    def temporal_call(self, op: Any, lhs: Any, rhs: Any) -> ast.Node:
        return self.binary_temporal_predicate(lhs, op, rhs)

    def binary_temporal_predicate(self, lhs: Any, op: Any, rhs: Any) -> ast.Node:
        name = str(op).lower()
        if name == "t_intersects":
            return TimeIntersects(lhs, rhs)
        node: ast.Node = TEMPORAL_PREDICATES_MAP[name](lhs, rhs)
        return node

    def s_dwithin(self, lhs: Any, rhs: Any, distance: Any, units: Any = None) -> ast.Node:
        return ast.DistanceWithin(lhs, rhs, distance, str(units or "meters").lower())

    def interval(self, start: str, end: str) -> values.Interval:
        return values.Interval(_instant(start), _instant(end))

    def SINGLE_QUOTED(self, token: Any) -> str:
        return str(token)[1:-1].replace("''", "'")

    def function(self, func_name: Any, *expressions: Any) -> Any:
        name = str(getattr(func_name, "name", func_name)).lower()
        if name == "bbox":
            return envelope([*expressions])
        return super().function(func_name, *expressions)


def _instant(text: str) -> datetime | None:
    """An interval end: ``..`` (open), a date or a date-time."""
    if text in ("..", ""):
        return None
    try:
        return parse_timestamp(text)
    except InvalidTimestampError as exc:
        raise bad_parameter("filter", str(exc)) from None


def envelope(numbers: list[Any]) -> values.Envelope:
    """A CQL2 ``BBOX`` literal of 4 (or 6, heights dropped) numbers → pygeofilter Envelope."""
    if len(numbers) not in (4, 6) or not all(_is_number(n) for n in numbers):
        raise bad_parameter("filter", "a BBOX literal takes 4 or 6 numbers")
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    minx, miny, maxx, maxy = (float(n) for n in numbers)
    return values.Envelope(minx, maxx, miny, maxy)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@functools.cache
def _text_parser() -> Lark:
    """pygeofilter's CQL2 text grammar with geoapi's extensions; built on first use."""
    package = resources.files("pygeofilter.parsers")
    grammar = (package / "cql2_text" / "grammar.lark").read_text(encoding="utf-8")
    return Lark(
        grammar + _TEXT_EXTENSION,
        parser="lalr",
        maybe_placeholders=False,
        transformer=_Transformer(),
        import_paths=[str(package)],
    )


def _json_prewalk(node: Any) -> Any:
    """Rewrite the CQL2 JSON constructs pygeofilter reads wrongly into AST nodes it keeps."""
    if isinstance(node, list):
        return [_json_prewalk(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "bbox" in node and isinstance(node["bbox"], list):
        return envelope(node["bbox"])
    if "interval" in node and isinstance(node["interval"], list) and len(node["interval"]) == 2:
        if not all(isinstance(v, str) for v in node["interval"]):
            raise bad_parameter("filter", "an interval's ends are strings ('..' for open)")
        return values.Interval(*(_instant(v) for v in node["interval"]))
    op, args = node.get("op"), node.get("args")
    if not isinstance(op, str) or not isinstance(args, list):
        return {key: _json_prewalk(value) for key, value in node.items()}
    walked = [walk_cql_json(_json_prewalk(arg)) for arg in args]
    name = op.lower()
    if name == "between" and len(walked) == 3:
        return ast.Between(walked[0], walked[1], walked[2], False)
    if name == "s_dwithin" and len(walked) in (3, 4):
        units = walked[3] if len(walked) == 4 else "meters"
        return ast.DistanceWithin(walked[0], walked[1], walked[2], str(units).lower())
    if name == "t_intersects" and len(walked) == 2:
        return TimeIntersects(walked[0], walked[1])
    if name in ("and", "or") and len(walked) >= 2:
        return (ast.And if name == "and" else ast.Or).from_items(*walked)
    return {"op": op, "args": walked}


def _depth(text: str, opening: str, closing: str, quote: str) -> int:
    """The deepest nesting of ``opening`` brackets outside ``quote``-delimited strings."""
    depth = deepest = 0
    inside = escaped = False
    for char in text:
        if inside:
            if escaped:
                escaped = False
            elif char == "\\" and quote == '"':
                escaped = True
            elif char == quote:
                inside = False
        elif char == quote:
            inside = True
        elif char in opening:
            depth += 1
            deepest = max(deepest, depth)
        elif char in closing:
            depth -= 1
    return deepest


def filter_lang(raw: str | None) -> str:
    """``filter-lang``: cql2-text (default; ``cql-text`` read as it) or cql2-json."""
    if raw is None or raw.strip() == "" or raw.strip() == LEGACY_TEXT_LANG:
        return "cql2-text"
    if raw.strip() not in FILTER_LANGS:
        raise bad_parameter("filter-lang", f"{raw[:32]!r} is not one of {', '.join(FILTER_LANGS)}")
    return raw.strip()


def parse_filter(raw: str, lang: str) -> ast.Node:
    """A CQL2 filter → pygeofilter AST; a 400 naming ``filter`` for anything malformed."""
    if len(raw) > MAX_FILTER:
        raise bad_parameter("filter", f"longer than {MAX_FILTER} characters")
    try:
        check_text(raw)
    except TextError as exc:
        raise bad_parameter("filter", str(exc)) from None
    brackets = ("[{", "]}", '"') if lang == "cql2-json" else ("(", ")", "'")
    if _depth(raw, *brackets) > MAX_DEPTH:
        raise bad_parameter("filter", f"nested deeper than {MAX_DEPTH} levels")
    parser = _text_parser() if lang == "cql2-text" else None  # a grammar error is ours: 500
    try:
        if parser is None:
            node = walk_cql_json(_json_prewalk(json.loads(raw)))
        else:
            node = parser.parse(raw)
    except BadRequestError:
        raise
    except RecursionError:
        raise bad_parameter("filter", "nested too deeply") from None
    except Exception as exc:  # lark, json and pygeofilter raise many kinds; all are the input's
        raise bad_parameter("filter", f"not valid {lang}: {_short(exc)}") from None
    if not isinstance(node, ast.Node):
        raise bad_parameter("filter", "is not a condition (a predicate or a combination)")
    return node


def _short(exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return first[:200]


# Geometry literals ---------------------------------------------------------------------------

GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class GeometryLiteral:
    """A checked literal: its GeoJSON (in ``crs`` axis order) and its lon/lat bounding box."""

    geojson: str
    bbox: Box


def check_geometry(value: Any, crs: Crs) -> GeometryLiteral:
    """A pygeofilter geometry or envelope literal → GeoJSON text with its lon/lat box; a 400
    naming ``filter`` for unknown types, malformed coordinates or positions outside ``crs``."""
    if isinstance(value, values.Envelope):
        geometry: dict[str, Any] = value.geometry
    elif isinstance(value, values.Geometry):
        geometry = value.geometry
    else:
        raise bad_parameter("filter", "a spatial function needs a geometry literal")
    if "crs" in geometry:
        raise bad_parameter("filter", "give the literal's CRS with filter-crs, not SRID=")
    kind = geometry.get("type")
    if kind not in GEOMETRY_TYPES:
        raise bad_parameter("filter", f"geometry type {str(kind)[:32]!r} is not supported")
    depth = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2}.get(kind, 2)
    depth += 1 if kind == "MultiPolygon" else 0
    positions: list[tuple[float, float]] = []
    _positions(geometry.get("coordinates"), depth, kind, positions)
    lonlat = [_lonlat(x, y, crs) for x, y in positions]
    lons, lats = [p[0] for p in lonlat], [p[1] for p in lonlat]
    coordinates = _plain(geometry["coordinates"])
    text = json.dumps({"type": kind, "coordinates": coordinates})
    return GeometryLiteral(text, (min(lons), min(lats), max(lons), max(lats)))


def _positions(node: Any, depth: int, kind: str, out: list[tuple[float, float]]) -> None:
    if not isinstance(node, list | tuple):
        raise bad_parameter("filter", f"malformed {kind} coordinates")
    if depth == 0:
        if len(node) not in (2, 3) or not all(_is_number(v) for v in node):
            raise bad_parameter("filter", "a position is 2 or 3 numbers")
        if not all(math.isfinite(float(v)) for v in node):
            raise bad_parameter("filter", "a position holds a number that is not finite")
        out.append((float(node[0]), float(node[1])))
        if len(out) > MAX_POSITIONS:
            raise bad_parameter("filter", f"a geometry literal has over {MAX_POSITIONS} positions")
        return
    minimum = {"LineString": 2, "MultiLineString": 2}.get(kind, 1) if depth == 1 else 1
    if kind in ("Polygon", "MultiPolygon") and depth == 1:
        minimum = 4
    if len(node) < minimum:
        raise bad_parameter("filter", f"too few positions in a {kind}")
    for child in node:
        _positions(child, depth - 1, kind, out)


def _lonlat(x: float, y: float, crs: Crs) -> tuple[float, float]:
    if crs.srid == 3857 and (abs(x) > MERCATOR_HALF or abs(y) > MERCATOR_HALF):
        raise bad_parameter("filter", f"position ({x}, {y}) is outside the Web Mercator world")
    lon, lat = to_lonlat(x, y, crs)
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise bad_parameter("filter", f"position ({x}, {y}) is outside {crs.uri}")
    return lon, lat


def _plain(node: Any) -> Any:
    return [_plain(item) for item in node] if isinstance(node, list | tuple) else node


def literal_instant(value: Any) -> datetime | None:
    """A temporal literal as an aware UTC datetime: a timestamp, a date (its midnight UTC),
    or text holding either (GDAL before 3.7 sends timestamps as plain strings); else None."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            return parse_timestamp(value)
        except InvalidTimestampError:
            return None
    return None
