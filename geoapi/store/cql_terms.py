"""The spatial and temporal terms of a CQL2 filter (see :mod:`geoapi.store.cql`).

Spatial functions compare the collection's geometry with a literal checked by
:func:`geoapi.cql2.check_geometry` (in ``filter-crs``, made valid and brought to SRID 4326 in
SQL); ``S_DWITHIN`` is geodesic (metres on the spheroid) behind an indexed box. Temporal
functions compare a timestamp queryable (an instant) with an instant or an interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pygeofilter import ast, values
from sqlalchemy import and_, func, not_
from sqlalchemy import false as sql_false
from sqlalchemy import true as sql_true

from geoapi.cql2 import UNITS, GeometryLiteral, TimeIntersects, check_geometry, literal_instant
from geoapi.crs import Crs
from geoapi.errors import bad_parameter
from geoapi.queryables import Queryable
from geoapi.store.columns import Condition

MAX_DISTANCE_M = 20_000_000.0
Box = tuple[float, ...]


class GeoTerms:
    """Spatial and temporal predicates; mixed into the translator, which provides ``prop``
    (a queryable and its column, or None) and ``bind`` (a literal as a bind parameter)."""

    crs: Crs
    # The lon/lat box of each spatial term (by node id), for the photos' sequence prefilter.
    boxes: dict[int, Box]
    last_box: Box

    def prop(self, node: Any) -> tuple[Queryable, Any] | None:
        raise NotImplementedError

    def bind(self, value: Any) -> Any:
        raise NotImplementedError

    def spatial(self, node: ast.SpatialComparisonPredicate) -> Condition:
        name = type(node)
        found, other = self.prop(node.lhs), node.rhs
        if found is None:
            found, other = self.prop(node.rhs), node.lhs
            name = MIRRORED.get(name, name)
        if found is None or found[0].kind != "geometry":
            raise bad_parameter("filter", "a spatial function compares the geometry with a literal")
        literal = self.geometry(other)
        col = found[1]
        if name is ast.GeometryDisjoint:
            return not_(func.ST_Intersects(col, literal))
        self.boxes[id(node)] = self.last_box
        result: Condition = SPATIAL[name](col, literal)
        return result

    def bbox(self, node: ast.BBox) -> Condition:
        found = self.prop(node.lhs)
        if found is None or found[0].kind != "geometry" or node.crs is not None:
            raise bad_parameter("filter", "BBOX(geometry, minx, miny, maxx, maxy) in filter-crs")
        box = values.Envelope(node.minx, node.maxx, node.miny, node.maxy)
        literal = self.geometry(box)
        self.boxes[id(node)] = self.last_box
        result: Condition = func.ST_Intersects(found[1], literal)
        return result

    def dwithin(self, node: ast.DistanceWithin) -> Condition:
        found = self.prop(node.lhs)
        if found is None or found[0].kind != "geometry":
            raise bad_parameter("filter", "S_DWITHIN(geometry, literal, distance[, units])")
        factor = UNITS.get(str(node.units).lower())
        distance = node.distance
        if factor is None or isinstance(distance, bool) or not isinstance(distance, int | float):
            raise bad_parameter("filter", "S_DWITHIN takes a distance in meters or kilometers")
        metres = float(distance) * factor
        if not 0.0 <= metres <= MAX_DISTANCE_M:
            raise bad_parameter("filter", f"the distance must be 0 to {MAX_DISTANCE_M:.0f} m")
        literal = self.geometry(node.rhs)
        box = expand_box(self.last_box, metres)
        self.boxes[id(node)] = box
        col = found[1]
        envelope = func.ST_MakeEnvelope(*(self.bind(v) for v in box), self.bind(4326))
        geodesic = func.ST_DWithin(func.geography(col), func.geography(literal), self.bind(metres))
        return and_(col.op("&&")(envelope), geodesic)

    def geometry(self, value: Any) -> Any:
        checked: GeometryLiteral = check_geometry(value, self.crs)
        self.last_box = checked.bbox
        geojson = func.ST_GeomFromGeoJSON(self.bind(checked.geojson))
        parsed = func.ST_SetSRID(geojson, self.bind(self.crs.srid))
        if self.crs.srid == 3857:
            parsed = func.ST_Transform(parsed, self.bind(4326))
        elif self.crs.lat_first:
            parsed = func.ST_FlipCoordinates(parsed)
        return func.ST_MakeValid(parsed)

    def temporal(self, node: ast.TemporalPredicate) -> Condition:
        found = self.prop(node.lhs)
        if found is None or found[0].kind != "timestamp":
            raise bad_parameter("filter", f"{_op_name(node)} takes a timestamp queryable first")
        col = found[1]
        start, end = self.period(node.rhs)
        if isinstance(node, ast.TimeBefore):
            return sql_false() if start is None else col < self.bind(start)
        if isinstance(node, ast.TimeAfter):
            return sql_false() if end is None else col > self.bind(end)
        inside = and_(
            sql_true() if start is None else col >= self.bind(start),
            sql_true() if end is None else col <= self.bind(end),
            col.is_not(None),
        )
        if isinstance(node, TimeIntersects):
            return inside
        if isinstance(node, ast.TimeDisjoint):
            return and_(col.is_not(None), not_(inside))
        if isinstance(node, ast.TimeEquals) and start is not None and start == end:
            equal: Condition = col == self.bind(start)
            return equal
        if isinstance(node, ast.TimeEquals):
            return sql_false()
        raise unsupported(node)

    @staticmethod
    def period(value: Any) -> tuple[datetime | None, datetime | None]:
        if isinstance(value, values.Interval):
            start = literal_instant(value.start) if value.start is not None else None
            end = literal_instant(value.end) if value.end is not None else None
            if (value.start is not None and start is None) or (
                value.end is not None and end is None
            ):
                raise bad_parameter("filter", "an interval's ends are instants or '..'")
            return start, end
        instant = literal_instant(value)
        if instant is None:
            raise bad_parameter("filter", "a temporal function takes a timestamp, date or interval")
        return instant, instant


def expand_box(box: Box, metres: float) -> Box:
    """A lon/lat box grown by at least ``metres`` on every side (whole longitudes near the
    poles or across the antimeridian), for an indexed && before the geodesic test."""
    minx, miny, maxx, maxy = box
    dlat = metres / 110_000.0 * 1.01
    south, north = max(-90.0, miny - dlat), min(90.0, maxy + dlat)
    extreme = max(abs(south), abs(north))
    if extreme >= 89.0:
        return (-180.0, south, 180.0, north)
    dlon = metres / (111_320.0 * math.cos(math.radians(extreme))) * 1.01
    if minx - dlon < -180.0 or maxx + dlon > 180.0:
        return (-180.0, south, 180.0, north)
    return (minx - dlon, south, maxx + dlon, north)


def _op_name(node: Any) -> str:
    op = getattr(node, "op", None)
    name = getattr(op, "name", None) or type(node).__name__
    return str(name).upper()


def unsupported(node: Any) -> Exception:
    """The 400 for a construct geoapi does not translate, naming it."""
    names = {
        ast.TimeOverlaps: "T_OVERLAPS",
        ast.Relate: "RELATE",
        ast.Function: "functions",
        ast.Arithmetic: "arithmetic",
        ast.ArrayPredicate: "array functions",
        ast.Exists: "EXISTS",
        ast.DistanceBeyond: "BEYOND",
    }
    label = next((text for kind, text in names.items() if isinstance(node, kind)), None)
    if label is None and isinstance(node, ast.TemporalPredicate):
        label = "T_" + _op_name(node).replace("TOVERLAPS", "OVERLAPS")
    label = label or _op_name(node)
    if isinstance(node, ast.Function):
        label = f"function {node.name[:32]}()"
    return bad_parameter("filter", f"{label} is not supported")


SPATIAL: dict[type, Callable[[Any, Any], Condition]] = {
    ast.GeometryIntersects: func.ST_Intersects,
    ast.GeometryContains: func.ST_Contains,
    ast.GeometryWithin: func.ST_Within,
    ast.GeometryTouches: func.ST_Touches,
    ast.GeometryCrosses: func.ST_Crosses,
    ast.GeometryOverlaps: func.ST_Overlaps,
    ast.GeometryEquals: func.ST_Equals,
}
MIRRORED: dict[type, type] = {
    ast.GeometryContains: ast.GeometryWithin,
    ast.GeometryWithin: ast.GeometryContains,
}
