"""``GET /api/v1/exports/sequences.geojson``: a streamed GeoJSON download in constant memory.

Rows come from a server-side cursor in batches and are written as they arrive, either as one
FeatureCollection (``application/geo+json``) or as RFC 8142 GeoJSON text sequences
(``application/geo+json-seq``: each Feature prefixed by RS ``\\x1e`` and ended by ``\\n``),
chosen by ``?format=geojson|geojsonseq`` or the ``Accept`` header. ``collection=photos``
exports photos instead of sequences. Every parameter is validated before the first byte.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response, request

from geoapi.api._http import (
    GEOJSON,
    GEOJSON_SEQ,
    JSON,
    Batches,
    feature_collection_chunks,
    item_query,
    primed,
    streamed,
)
from geoapi.db import read_engine
from geoapi.errors import bad_parameter
from geoapi.paging import EXPORT_LIMIT
from geoapi.store.features import COLLECTIONS, CollectionId, iter_feature_batches

bp = Blueprint("exports", __name__)

RS = "\x1e"
EXPORT_PARAMS = frozenset({"collection", "format", "limit", "f"})
FORMATS = {"geojson": GEOJSON, "geojsonseq": GEOJSON_SEQ}


def geojson_seq_chunks(batches: Batches) -> Iterator[str]:
    """RFC 8142 text sequence: RS + Feature + LF for every Feature."""
    for batch in batches:
        yield "".join(f"{RS}{feature}\n" for feature, _key in batch)


def _export_format() -> str:
    raw = request.args.get("format")
    if raw is not None:
        if raw not in FORMATS:
            raise bad_parameter("format", f"{raw[:32]!r} is not one of geojson, geojsonseq")
        return raw
    best = request.accept_mimetypes.best_match([GEOJSON, GEOJSON_SEQ, JSON])
    return "geojsonseq" if best == GEOJSON_SEQ else "geojson"


@bp.get("/api/v1/exports/sequences.geojson")
def export_sequences() -> Response:
    """Stream every matching sequence (or photo) as one download; bbox and filters as items."""
    raw_collection = request.args.get("collection", "sequences")
    if raw_collection not in COLLECTIONS:
        raise bad_parameter("collection", f"{raw_collection[:32]!r} is not sequences or photos")
    collection: CollectionId = "photos" if raw_collection == "photos" else "sequences"
    fmt = _export_format()
    query = item_query(collection, extra=EXPORT_PARAMS, limit=EXPORT_LIMIT)
    batches = primed(iter_feature_batches(read_engine(), query))
    if fmt == "geojsonseq":
        chunks = geojson_seq_chunks(batches)
    else:
        chunks = feature_collection_chunks(batches, lambda count, _last: {"numberReturned": count})
    return streamed(chunks, FORMATS[fmt], f"{collection}.{fmt}")
