"""``GET /api/v1/exports/sequences.geojson``: a streamed GeoJSON download in constant memory.

Rows come from a server-side cursor in batches and are written as they arrive, either as one
FeatureCollection (``application/geo+json``) or as RFC 8142 GeoJSON text sequences
(``application/geo+json-seq``: each Feature prefixed by RS ``\\x1e`` and ended by ``\\n``),
chosen by ``?format=geojson|geojsonseq`` or the ``Accept`` header. ``collection=photos``
exports photos instead of sequences. Every parameter is validated before the first byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, cast

from flask import Blueprint, Response, current_app, json, request, stream_with_context

from geoapi.db import get_engine, get_session
from geoapi.feature_store import (
    COLLECTIONS,
    CollectionId,
    ItemQuery,
    Key,
    iter_feature_batches,
    parse_item_query,
)
from geoapi.filters import QueryArgs
from geoapi.geo import bad_parameter
from geoapi.taxonomy import TransportTypes, load_transport_types

bp = Blueprint("exports", __name__)

GEOJSON = "application/geo+json"
GEOJSON_SEQ = "application/geo+json-seq"
RS = "\x1e"
EXPORT_PARAMS = frozenset({"collection", "format", "limit", "f"})
FORMATS = {"geojson": GEOJSON, "geojsonseq": GEOJSON_SEQ}
Batches = Iterator[list[tuple[str, Key]]]


def transport_types() -> TransportTypes:
    """The transport type tree, loaded once per app (it only changes with a migration)."""
    cached: TransportTypes | None = current_app.extensions.get("geoapi.features.transport_types")
    if cached is None:
        cached = load_transport_types(get_session())
        current_app.extensions["geoapi.features.transport_types"] = cached
    return cached


def primed(batches: Batches) -> Batches:
    """Run the query now (so a database error is still a problem response), then stream."""
    first = next(batches, None)

    def rest() -> Batches:
        if first is not None:
            yield first
            yield from batches

    return rest()


def capped(batches: Batches, limit: int, state: dict[str, bool]) -> Batches:
    """At most ``limit`` rows of ``batches`` (run with a limit one higher);
    ``state["more"]`` tells afterwards whether a row beyond them existed."""
    left = limit
    for batch in batches:
        if len(batch) > left:
            state["more"] = True
            batch = batch[:left]
        if batch:
            yield batch
        left -= len(batch)


def feature_collection_chunks(
    batches: Batches, head: str, tail: Callable[[int, Key | None], dict[str, Any]]
) -> Iterator[str]:
    """A FeatureCollection written batch by batch; ``tail(count, last_key)`` adds the members
    that are only known at the end (numberReturned, next link)."""
    yield head
    count, last = 0, None
    for batch in batches:
        yield ("," if count else "") + ",".join(feature for feature, _key in batch)
        count, last = count + len(batch), batch[-1][1]
    members = tail(count, last)
    yield "]" + ("," + json.dumps(members)[1:] if members else "}")


def geojson_seq_chunks(batches: Batches) -> Iterator[str]:
    """RFC 8142 text sequence: RS + Feature + LF for every Feature."""
    for batch in batches:
        yield "".join(f"{RS}{feature}\n" for feature, _key in batch)


def _export_format() -> str:
    raw = request.args.get("format")
    if raw is not None:
        if raw not in FORMATS:
            raise bad_parameter("format", f"{raw!r} is not one of geojson, geojsonseq")
        return raw
    best = request.accept_mimetypes.best_match([GEOJSON, GEOJSON_SEQ, "application/json"])
    return "geojsonseq" if best == GEOJSON_SEQ else "geojson"


@bp.get("/api/v1/exports/sequences.geojson")
def export_sequences() -> Response:
    """Stream every matching sequence (or photo) as one download; bbox and filters as items."""
    raw_collection = request.args.get("collection", "sequences")
    if raw_collection not in COLLECTIONS:
        raise bad_parameter("collection", f"{raw_collection!r} is not sequences or photos")
    collection: CollectionId = "photos" if raw_collection == "photos" else "sequences"
    fmt = _export_format()
    query = parse_item_query(
        cast(QueryArgs, request.args),
        collection,
        transport_types(),
        names=list(request.args.keys()),
        extra=EXPORT_PARAMS,
        max_limit=None,
        default_limit=None,
    )
    batches = primed(iter_feature_batches(get_engine(), query))
    if fmt == "geojsonseq":
        chunks = geojson_seq_chunks(batches)
    else:
        chunks = feature_collection_chunks(
            batches,
            '{"type":"FeatureCollection","features":[',
            lambda count, _last: {"numberReturned": count},
        )
    return streamed(chunks, FORMATS[fmt], f"{collection}.{fmt}")


def streamed(chunks: Iterator[str], mimetype: str, filename: str | None) -> Response:
    """A streaming response kept inside the request context until the last chunk."""
    response = Response(stream_with_context(chunks), mimetype=mimetype)
    if filename:
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["X-Accel-Buffering"] = "no"  # proxies pass chunks on as they come
    return response


__all__ = ["ItemQuery", "bp", "capped", "feature_collection_chunks", "primed", "streamed"]
