"""What the views share, written once: settings, bodies, responses, URLs, ids, query parsing,
streamed GeoJSON. No view imports another view; they all import from here."""

from __future__ import annotations

import json
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any, cast
from urllib.parse import urlencode

from flask import Response, current_app, request, stream_with_context

from geoapi.config import Settings
from geoapi.db import read_session
from geoapi.documents import MAX_DEPTH, json_depth
from geoapi.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    ValidationError,
    bad_parameter,
    field_error,
)
from geoapi.fields import parse_uuid
from geoapi.filters import FILTER_NAMES, QueryArgs, parse_filters
from geoapi.geo import parse_bbox
from geoapi.ogc import COLLECTIONS, CollectionId
from geoapi.paging import LimitRule
from geoapi.store.features import ItemQuery
from geoapi.store.taxonomy import load_transport_types
from geoapi.taxonomy import TransportTypes

JSON = "application/json"
GEOJSON = "application/geo+json"
GEOJSON_SEQ = "application/geo+json-seq"
HTML = "text/html"
SCHEMA_JSON = "application/schema+json"
# The query parameters of the items and exports of each collection (beyond their own).
SPATIAL_PARAMS = ("bbox", "bbox-crs")
COLLECTION_PARAMS: dict[str, frozenset[str]] = {
    "sequences": frozenset((*SPATIAL_PARAMS, *FILTER_NAMES, "sequence_id")),
    "photos": frozenset((*SPATIAL_PARAMS, *FILTER_NAMES, "sequence_id")),
}
Batches = Iterator[list[tuple[str, Any]]]
MAPILLARY_LOGIN_PATH = "/auth/mapillary/login"
STREAM_SLOTS = "geoapi.stream_slots"


def settings() -> Settings:
    """The app's validated settings."""
    value: Settings = current_app.config["GEOAPI"]
    return value


def transport_types() -> TransportTypes:
    """The transport type tree, loaded once per app (it only changes with a migration)."""
    cached: TransportTypes | None = current_app.extensions.get("geoapi.transport_types")
    if cached is None:
        cached = load_transport_types(read_session())
        current_app.extensions["geoapi.transport_types"] = cached
    return cached


# Bodies and responses ---------------------------------------------------------------------------


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"the request body is larger than the limit of {limit} bytes",
        errors=[field_error("body", f"at most {limit} bytes")],
    )


def _more_than_read() -> bool:
    """Whether a body without Content-Length (chunked) goes on past what the limit let through
    (werkzeug cuts such a body at the limit silently)."""
    return request.content_length is None and bool(request.environ["wsgi.input"].read(1))


def read_body(limit: int | None = None) -> bytes:
    """The whole (small) body; 413 over ``limit`` (default GEOAPI_MAX_BODY_BYTES), chunked too."""
    limit = limit or settings().max_body_bytes
    request.max_content_length = limit
    data = request.stream.read(limit + 1)
    if len(data) > limit or _more_than_read():
        raise _too_large(limit)
    return data


@contextmanager
def spooled_body(limit: int) -> Iterator[IO[bytes]]:
    """The body in a temporary file (in memory up to 1 MiB, then on disk), copied in chunks:
    constant memory for a document of any size up to ``limit``; 413 past it, chunked too."""
    request.max_content_length = limit
    with tempfile.SpooledTemporaryFile(max_size=1024 * 1024) as spool:
        size = 0
        while chunk := request.stream.read(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            spool.write(chunk)
        if _more_than_read():
            raise _too_large(limit)
        spool.seek(0)
        yield cast(IO[bytes], spool)


def json_body() -> Any:
    """The request body as JSON, nesting at most MAX_DEPTH deep (checked before parsing); 422
    naming ``body`` when it is not JSON; 413 over GEOAPI_MAX_BODY_BYTES."""
    data = read_body() or b"null"
    invalid = ValidationError(
        "the request body is not valid JSON", errors=[field_error("body", "invalid JSON")]
    )
    if data.count(b"[") + data.count(b"{") > MAX_DEPTH and json_depth(data) > MAX_DEPTH:
        raise ValidationError(
            f"the request body nests deeper than {MAX_DEPTH} levels",
            errors=[field_error("body", f"nests deeper than {MAX_DEPTH} levels")],
        )
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise invalid from None


def json_response(payload: Any, status: int = 200, mimetype: str = JSON) -> Response:
    return Response(json.dumps(payload), status=status, mimetype=mimetype)


def geojson_response(payload: Any, status: int = 200) -> Response:
    return json_response(payload, status, GEOJSON)


# URLs -------------------------------------------------------------------------------------------


def public_url(path: str = "/") -> str:
    """``path`` (from the app's root) as an absolute URL: under ``GEOAPI_PUBLIC_URL`` when set,
    else under the request's root, path prefix (``SCRIPT_NAME``) included."""
    base = settings().public_url or request.url_root
    return base.rstrip("/") + "/" + path.lstrip("/")


def this_url(cursor: str | None = None, *, keep_cursor: bool = False) -> str:
    """This request's absolute URL with its query kept (repeated parameters too), the cursor
    replaced by ``cursor`` (or kept as it came with ``keep_cursor``)."""
    pairs = [(k, v) for k, v in request.args.items(multi=True) if keep_cursor or k != "cursor"]
    if cursor is not None:
        pairs.append(("cursor", cursor))
    query = urlencode(pairs)
    return public_url(request.path) + (f"?{query}" if query else "")


def base_url() -> str:
    """The public root, without a final '/'."""
    return public_url("/").rstrip("/")


def with_query(url: str, pairs: Iterable[tuple[str, str]]) -> str:
    """``url`` with the query ``pairs`` (none: no '?')."""
    query = urlencode(list(pairs))
    return url + (f"?{query}" if query else "")


def format_links(fmt: str, formats: Iterable[tuple[str, str, str]]) -> list[dict[str, str]]:
    """``self`` and ``alternate`` links of this request's resource in each format
    ``(f, media type, title)``: the same URL and query, ``f`` set to the format."""
    pairs = [(k, v) for k, v in request.args.items(multi=True) if k != "f"]
    here = public_url(request.path)
    return [
        link(with_query(here, [*pairs, ("f", name)]), "self" if name == fmt else "alternate",
             media_type, title)
        for name, media_type, title in formats
    ]  # fmt: skip


def link_header(links: Iterable[dict[str, str]]) -> str:
    """An RFC 8288 ``Link`` header of ``links`` (href, rel, type; commas and semicolons in the
    href percent-encoded, so naive parsers that split on them read it right)."""
    return ", ".join(
        f'<{item["href"].replace(",", "%2C").replace(";", "%3B")}>; rel="{item["rel"]}"; '
        f'type="{item["type"]}"'
        for item in links
    )


def negotiate(allowed: tuple[str, ...]) -> str:
    """The response format: the ``f`` parameter (one of ``allowed``; ``geojson`` means json),
    else HTML when allowed and the client prefers ``text/html``, else json."""
    raw = request.args.get("f")
    if raw is None:
        if "html" in allowed and request.accept_mimetypes.best_match([JSON, HTML]) == HTML:
            return "html"
        return "json"
    value = raw.lower()
    if value not in allowed:
        raise bad_parameter("f", f"{raw[:32]!r} is not one of {', '.join(allowed)}")
    return "json" if value == "geojson" else value


def collection_id(cid: str) -> CollectionId:
    """A path's collection id; 404 for any other."""
    if cid not in COLLECTIONS:
        raise NotFoundError(f"there is no collection {cid[:64]!r}; try sequences or photos")
    return "photos" if cid == "photos" else "sequences"


def not_linked(detail: str) -> ConflictError:
    """409 carrying ``login_url``: the caller must link (or re-link) a Mapillary account."""
    return ConflictError(detail, extra={"login_url": public_url(MAPILLARY_LOGIN_PATH)})


def link(href: str, rel: str, media_type: str, title: str | None = None) -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": media_type}
    if title:
        out["title"] = title
    return out


def page_links(next_cursor: str | None, media_type: str = JSON) -> list[dict[str, str]]:
    """``self`` and, when there is more, ``next`` (the same query with the new cursor)."""
    links = [link(this_url(keep_cursor=True), "self", media_type)]
    if next_cursor is not None:
        links.append(link(this_url(next_cursor), "next", media_type))
    return links


# Ids and query parameters -----------------------------------------------------------------------


def path_id(raw: str, what: str) -> uuid.UUID:
    """A path id → UUID; anything else is a 404 (no such object), never a 500."""
    parsed = parse_uuid(raw)
    if parsed is None:
        raise NotFoundError(f"no {what} with id {raw[:64]!r}")
    return parsed


def query_id(name: str, raw: str) -> uuid.UUID:
    """A query parameter holding an id → UUID; 400 naming it otherwise."""
    parsed = parse_uuid(raw)
    if parsed is None:
        raise bad_parameter(name, f"{raw[:64]!r} is not a UUID")
    return parsed


def reject_nul(args: Iterable[tuple[str, str]]) -> None:
    """400 naming the first query parameter holding a NUL character (PostgreSQL text cannot)."""
    for name, value in args:
        if "\x00" in value or "\x00" in name:
            raise bad_parameter(name[:64].replace("\x00", ""), "must not contain a NUL character")


def check_known(names: Iterable[str], allowed: frozenset[str]) -> None:
    """400 naming every query parameter not in ``allowed`` (OGC: unknown parameters fail)."""
    unknown = sorted(set(names) - allowed)
    if unknown:
        listed = ", ".join(name[:64] for name in unknown)
        raise BadRequestError(
            f"unknown query parameter(s): {listed}",
            errors=[field_error(name[:64], "unknown query parameter") for name in unknown],
        )


def filter_args() -> list[tuple[str, str]]:
    """The request's property filter arguments (repeats kept, empty ones dropped), to pass on
    to another URL (tile URLs, the style's TileJSON)."""
    return [(key, value) for key in FILTER_NAMES for value in request.args.getlist(key) if value]


def request_filters(types: TransportTypes | None = None) -> Any:
    """The request's property filters (``geoapi.filters``); 400 naming a bad one."""
    return parse_filters(cast(QueryArgs, request.args), types or transport_types())


def item_query(collection: CollectionId, *, extra: frozenset[str], limit: LimitRule) -> ItemQuery:
    """Every query parameter of an items or export request, validated; 400 naming the first bad
    one. Parameters outside the collection's set plus ``extra`` are refused."""
    args = request.args
    names = list(args.keys())
    check_known(names, COLLECTION_PARAMS[collection] | extra)
    reject_nul(args.items(multi=True))
    bbox = parse_bbox(args.get("bbox"), args.get("bbox-crs"))
    page_size = limit.parse(args.get("limit"))
    filters = request_filters()
    sequence_id = None
    if "sequence_id" in args:  # empty too is not a UUID (the document says uuid)
        sequence_id = query_id("sequence_id", args["sequence_id"])
    return ItemQuery(
        collection=collection, filters=filters, bbox=bbox, limit=page_size, sequence_id=sequence_id
    )


# Streamed GeoJSON -------------------------------------------------------------------------------


class _Stream(Iterator[list[tuple[str, Any]]]):
    """Batches of a streamed response holding one of the worker's stream slots (and, through
    ``batches``, a database connection) until exhausted or closed; never longer."""

    def __init__(self, first: list[tuple[str, Any]] | None, batches: Batches, release: Any):
        self._first, self._batches, self._release = first, batches, release

    def __next__(self) -> list[tuple[str, Any]]:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        try:
            return next(self._batches)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            close = getattr(self._batches, "close", None)
            if close is not None:
                close()  # the cursor's connection goes back to the pool
            release()

    def __del__(self) -> None:  # a response never iterated (the client went away first)
        self.close()


def primed(batches: Batches) -> Batches:
    """Take one of this worker's stream slots (GEOAPI_MAX_STREAMS; 503 to retry when all are
    streaming, so streams never take every thread), run the query now (a database error is
    still a problem response), then stream."""
    slots: threading.BoundedSemaphore = current_app.extensions[STREAM_SLOTS]
    if not slots.acquire(blocking=False):
        limit = settings().max_streams
        raise ServiceUnavailableError(
            f"this server streams {limit} downloads at once per worker already; retry shortly",
            headers={"Retry-After": "10"},
        )
    try:
        first = next(batches, None)
    except BaseException:
        slots.release()
        raise
    return _Stream(first, batches, slots.release)


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
    batches: Batches, tail: Callable[[int, Any], dict[str, Any]]
) -> Iterator[str]:
    """A FeatureCollection written batch by batch; ``tail(count, last_key)`` adds the members
    that are only known at the end (numberReturned, next link)."""
    yield '{"type":"FeatureCollection","features":['
    count, last = 0, None
    for batch in batches:
        yield ("," if count else "") + ",".join(feature for feature, _key in batch)
        count, last = count + len(batch), batch[-1][1]
    members = tail(count, last)
    yield "]" + ("," + json.dumps(members)[1:] if members else "}")


def streamed(chunks: Iterator[str], mimetype: str, filename: str | None = None) -> Response:
    """A streaming response kept inside the request context until the last chunk."""
    response = Response(stream_with_context(chunks), mimetype=mimetype)
    if filename:
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    # A buffering proxy (geoapi serve's nginx) takes the whole stream at once, so a client
    # that reads slowly holds no worker thread and no database connection.
    response.headers["X-Accel-Buffering"] = "yes"
    return response
