"""CQL2 AST (pygeofilter, via :mod:`geoapi.cql2`) → a SQL condition over the items SQL.

The condition is a SQLAlchemy Core expression over fixed columns (:data:`COLUMNS`: each
queryable's column in ``feature_sequences.sql`` / ``feature_photos.sql``), compiled by
SQLAlchemy with every literal a bind parameter (``cql_<n>``): no value and no name from the
request is ever written into SQL text. What is not supported is a 400 naming ``filter`` and the
construct. The compiled text fills the ``/*@cql*/`` regions of the items and count SQL.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pygeofilter import ast
from sqlalchemy import Text, and_, bindparam, func, not_, or_
from sqlalchemy import false as sql_false
from sqlalchemy import true as sql_true

from geoapi.cql2 import TimeIntersects, literal_instant
from geoapi.crs import Crs
from geoapi.errors import bad_parameter
from geoapi.fields import TextError, check_text
from geoapi.ogc import CollectionId
from geoapi.queryables import QUERYABLES, Kind, Queryable, queryable
from geoapi.store.columns import COLUMNS, SEQUENCE_GEOMETRY, Condition, compile_condition
from geoapi.store.cql_terms import SPATIAL, Box, GeoTerms, unsupported

MAX_NODES = 500
MAX_IN = 1000
INT64 = 2**63


@dataclass(frozen=True)
class CqlFilter:
    """A compiled filter: the condition on the feature rows, a prefilter on sequence lines
    (photos: found by their sequence first), the binds, and whether a count may be cached."""

    where: str
    sequence_where: str | None
    params: tuple[tuple[str, Any], ...]
    versioned: bool

    def bind_values(self) -> dict[str, Any]:
        return dict(self.params)


@dataclass
class _Translator(GeoTerms):
    collection: CollectionId
    crs: Crs
    counter: int = 0
    nodes: int = 0
    names: set[str] = field(default_factory=set)
    # The lon/lat box of each spatial term (by node id), for the photos' sequence prefilter.
    boxes: dict[int, Box] = field(default_factory=dict)
    last_box: Box = (-180.0, -90.0, 180.0, 90.0)

    def bind(self, value: Any) -> Any:
        self.counter += 1
        return bindparam(f"cql_{self.counter}", value)

    # Properties and literals ------------------------------------------------------------

    def prop(self, node: Any) -> tuple[Queryable, Any] | None:
        if isinstance(node, ast.Function | ast.Arithmetic):
            raise unsupported(node)
        if not isinstance(node, ast.Attribute):
            return None
        item = queryable(self.collection, node.name)
        if item is None:
            names = ", ".join(q.name for q in QUERYABLES[self.collection])
            raise bad_parameter(
                "filter", f"unknown property {node.name[:64]!r}; queryables: {names}"
            )
        self.names.add(item.name)
        return item, COLUMNS[self.collection][item.name]

    def scalar(self, item: Queryable, value: Any) -> Any:
        """A literal checked against the property's kind, as a bind parameter."""
        kind = item.kind
        if kind in ("integer", "number"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self.mismatch(item, value)
            if isinstance(value, float) and not math.isfinite(value):
                raise bad_parameter("filter", f"{value} is not a finite number")
            if isinstance(value, int) and not -INT64 < value < INT64:
                raise bad_parameter("filter", "an integer literal is out of range")
            return self.bind(value)
        if kind == "boolean":
            if not isinstance(value, bool):
                raise self.mismatch(item, value)
            return self.bind(value)
        if kind == "timestamp":
            instant = literal_instant(value)
            if instant is None:
                raise self.mismatch(item, value)
            return self.bind(instant)
        if not isinstance(value, str):
            raise self.mismatch(item, value)
        try:
            check_text(value)
        except TextError as exc:
            raise bad_parameter("filter", f"a text literal {exc}") from None
        if kind == "uuid":
            try:
                return self.bind(str(uuid.UUID(value)))
            except ValueError:
                raise bad_parameter(
                    "filter", f"{value[:64]!r} is not a UUID ({item.name})"
                ) from None
        if kind == "geometry":
            raise self.mismatch(item, value)
        return self.bind(value)

    @staticmethod
    def mismatch(item: Queryable, value: Any) -> Exception:
        what = type(value).__name__
        return bad_parameter("filter", f"{item.name} ({item.kind}) cannot be compared with {what}")

    def operand(self, node: Any, other: Queryable | None) -> tuple[Queryable | None, Any]:
        found = self.prop(node)
        if found is not None:
            return found[0], found[1]
        if isinstance(node, ast.Node):
            raise unsupported(node)
        if other is None:
            raise bad_parameter("filter", "a comparison needs a queryable on one side")
        return None, self.scalar(other, node)

    # Predicates -------------------------------------------------------------------------

    def condition(self, node: Any) -> Condition:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise bad_parameter("filter", f"more than {MAX_NODES} terms")
        if isinstance(node, ast.And):
            return and_(self.condition(node.lhs), self.condition(node.rhs))
        if isinstance(node, ast.Or):
            return or_(self.condition(node.lhs), self.condition(node.rhs))
        if isinstance(node, ast.Not):
            return not_(self.condition(node.sub_node))
        if isinstance(node, ast.Include):
            return sql_false() if node.not_ else sql_true()
        handler = _HANDLERS.get(type(node))
        if handler is None:
            raise unsupported(node)
        return handler(self, node)

    def comparison(self, node: ast.Comparison) -> Condition:
        left = self.prop(node.lhs)
        op = node.op.value
        if left is None:  # literal on the left: swap the sides
            node = _SWAPPED[type(node)](node.rhs, node.lhs)
            left = self.prop(node.lhs)
            if left is None:
                raise bad_parameter("filter", "a comparison needs a queryable on one side")
        item, col = left
        if item.kind == "geometry":
            raise bad_parameter("filter", f"compare {item.name} with the spatial functions")
        other, rhs = self.operand(node.rhs, item)
        if other is not None and _family(other.kind) != _family(item.kind):
            raise bad_parameter("filter", f"cannot compare {item.name} with {other.name}")
        if item.kind == "boolean" and op not in ("=", "<>"):
            raise bad_parameter("filter", f"{item.name} is a boolean: only = and <> apply")
        result: Condition = _OPERATORS[type(node)](col, rhs)
        return result

    def between(self, node: ast.Between) -> Condition:
        item, col = self.required(node.lhs, "BETWEEN")
        if item.kind in ("boolean", "geometry"):
            raise bad_parameter("filter", f"BETWEEN does not apply to {item.name}")
        result: Condition = col.between(self.scalar(item, node.low), self.scalar(item, node.high))
        return not_(result) if node.not_ else result

    def like(self, node: ast.Like) -> Condition:
        item, col = self.required(node.lhs, "LIKE")
        if item.kind not in ("string", "uuid") or not isinstance(node.pattern, str):
            raise bad_parameter("filter", "LIKE compares a text queryable with a text pattern")
        text_col = col if item.kind == "string" else col.cast(Text())
        pattern = self.bind(node.pattern)  # CQL2 and PostgreSQL agree: % _ and \ escapes
        result: Condition = text_col.ilike(pattern) if node.nocase else text_col.like(pattern)
        return not_(result) if node.not_ else result

    def in_list(self, node: ast.In) -> Condition:
        item, col = self.required(node.lhs, "IN")
        if item.kind == "geometry" or not 0 < len(node.sub_nodes) <= MAX_IN:
            raise bad_parameter(
                "filter", f"IN takes 1 to {MAX_IN} literals of a non-spatial queryable"
            )
        result: Condition = col.in_([self.scalar(item, value) for value in node.sub_nodes])
        return not_(result) if node.not_ else result

    def is_null(self, node: ast.IsNull) -> Condition:
        _item, col = self.required(node.lhs, "IS NULL")
        result: Condition = col.is_not(None) if node.not_ else col.is_(None)
        return result

    def required(self, node: Any, what: str) -> tuple[Queryable, Any]:
        found = self.prop(node)
        if found is None:
            raise bad_parameter("filter", f"{what} needs a queryable on its left")
        return found


def _family(kind: Kind) -> str:
    return "number" if kind in ("integer", "number") else kind


_OPERATORS: dict[type, Callable[[Any, Any], Condition]] = {
    ast.Equal: lambda a, b: a == b,
    ast.NotEqual: lambda a, b: a != b,
    ast.LessThan: lambda a, b: a < b,
    ast.LessEqual: lambda a, b: a <= b,
    ast.GreaterThan: lambda a, b: a > b,
    ast.GreaterEqual: lambda a, b: a >= b,
}
_SWAPPED: dict[type, type] = {
    ast.Equal: ast.Equal,
    ast.NotEqual: ast.NotEqual,
    ast.LessThan: ast.GreaterThan,
    ast.LessEqual: ast.GreaterEqual,
    ast.GreaterThan: ast.LessThan,
    ast.GreaterEqual: ast.LessEqual,
}
_HANDLERS: dict[type, Callable[[_Translator, Any], Condition]] = {
    **{kind: _Translator.comparison for kind in _OPERATORS},
    ast.Between: _Translator.between,
    ast.Like: _Translator.like,
    ast.In: _Translator.in_list,
    ast.IsNull: _Translator.is_null,
    **{kind: _Translator.spatial for kind in (*SPATIAL, ast.GeometryDisjoint)},
    ast.BBox: _Translator.bbox,
    ast.DistanceWithin: _Translator.dwithin,
    **{
        kind: _Translator.temporal
        for kind in (
            TimeIntersects,
            ast.TimeBefore,
            ast.TimeAfter,
            ast.TimeDisjoint,
            ast.TimeEquals,
        )
    },
}


def compile_filter(node: ast.Node, collection: CollectionId, crs: Crs) -> CqlFilter:
    """The filter's SQL over ``collection``'s columns, with geometry literals in ``crs``.

    For photos, the bounding boxes of the spatial terms that every match must satisfy (top-level
    AND terms) also select the sequences first (``s.geom &&``), as the bbox parameter does.
    """
    translator = _Translator(collection, crs)
    try:
        condition = translator.condition(node)
        required = _required_boxes(node, translator)
    except RecursionError:
        raise bad_parameter("filter", "nested too deeply") from None
    where, params = compile_condition(condition)
    sequence_where = None
    if collection == "photos" and required:
        prefilter = and_(
            *(
                SEQUENCE_GEOMETRY.op("&&")(
                    func.ST_MakeEnvelope(*(translator.bind(v) for v in box), translator.bind(4326))
                )
                for box in required
            )
        )
        sequence_where, more = compile_condition(prefilter)
        params.update(more)
    versioned = all(q.versioned for q in QUERYABLES[collection] if q.name in translator.names)
    return CqlFilter(where, sequence_where, tuple(sorted(params.items())), versioned)


def _required_boxes(node: Any, translator: _Translator) -> list[tuple[float, ...]]:
    """Boxes of the spatial terms joined by AND at the top: every match lies in each."""
    boxes: list[tuple[float, ...]] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.And):
            stack.extend((current.rhs, current.lhs))
        elif id(current) in translator.boxes:
            boxes.append(translator.boxes[id(current)])
    return boxes
