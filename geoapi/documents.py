"""Import documents read incrementally (ijson): their shape, their size, their features (pure).

An import document is a Mapillary v3 FeatureCollection, one Feature, or a wrapper
``{"geojson": <either>, "title": ..., "tags": [...]}``. :func:`inspect_document` reads it once,
as a stream of parser events in constant memory, to learn which of these it is, how many
features it holds and the wrapper's metadata, refusing nesting deeper than ``max_depth`` and
more features than ``max_features`` before any feature is built. :func:`iter_document_features`
then yields the features one by one (each file may be read as often as needed).
"""

from __future__ import annotations

import io
import mmap
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import ijson

from geoapi.validation import DocumentError

WRAPPER_KEYS = ("geojson", "feature_collection")
# Metadata a wrapper may carry for every feature (the rest of its keys are refused later).
WRAPPER_META = ("title", "description", "transport_type", "tags")
MAX_DEPTH = 32  # a v3 Feature needs 5 levels (collection, features, feature, geometry, coords)
# The parser prepares the events of a whole buffer at once, and their prefixes grow with the
# depth: a small buffer lets the depth check stop a deep document after a few levels (64 KiB
# of "[" took 15 s, 4 KiB takes 25 ms) at no cost to ordinary documents.
PARSE_BUFFER = 4096


_STRUCTURE = re.compile(rb'\\.|["\[\]{}]')


def json_depth(data: bytes) -> int:
    """How deep JSON text nests (brackets outside strings), without parsing it: so a body
    cannot drive a recursive parser into the ground before it is refused."""
    depth = deepest = 0
    in_string = False
    for match in _STRUCTURE.finditer(data):
        token = match.group()
        if token == b'"':
            in_string = not in_string
        elif in_string or len(token) == 2:  # inside a string, or an escape (\" or \\)
            continue
        elif token in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def lone_surrogate(raw: bytes | mmap.mmap) -> bool:
    """Whether JSON text escapes half a surrogate pair (``"\\ud800"``): it decodes to no
    character at all, and the streaming parser would turn it into "?" or fail."""
    for match in _SURROGATE_ESCAPE.finditer(raw):
        start = backslash = match.start()
        while backslash > 0 and raw[backslash - 1 : backslash] == b"\\":
            backslash -= 1
        if (start - backslash) % 2:  # "\\\\ud800": an escaped backslash, then "ud800"
            continue
        if match.group()[3:4].lower() in b"89ab":  # high half: a low half must follow
            following = raw[match.end() : match.end() + 6]
            if not (following[:3].lower() == b"\\ud" and following[3:4].lower() in b"cdef"):
                return True
        else:  # low half: a high half must precede
            preceding = raw[max(0, start - 6) : start]
            if not (preceding[:3].lower() == b"\\ud" and preceding[3:4].lower() in b"89ab"):
                return True
    return False


def has_lone_surrogate(handle: IO[bytes]) -> bool:
    """:func:`lone_surrogate` over a whole file, mapped rather than read into memory."""
    handle.seek(0, io.SEEK_END)
    size = handle.tell()
    handle.seek(0)
    if size == 0:
        return False
    with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
        return lone_surrogate(view)


# What ijson's C backend (yajl) says of an integer it cannot hold in 64 bits, and ours.
INTEGER_OVERFLOW = "integer overflow"
BEYOND_64_BITS = "an integer beyond 64 bits"


class DocumentTooDeepError(DocumentError):
    """The JSON nests deeper than any import document does."""


class TooManyFeaturesError(DocumentError):
    """More features than the server accepts in one document (GEOAPI_IMPORT_MAX_FEATURES)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the document holds more than {limit} features")
        self.limit = limit


@dataclass(frozen=True)
class Document:
    """What one read of a document found: where its features are, how many, the metadata."""

    prefix: str  # ijson prefix of the features ("features.item", "geojson", "", ...)
    count: int
    wrapped: bool
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Scan:
    depth: int = 0
    top_type: object = None
    keys: set[str] = field(default_factory=set)
    inner_type: dict[str, object] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def inspect_document(
    handle: IO[bytes], *, max_features: int, max_depth: int = MAX_DEPTH
) -> Document:
    """Read ``handle`` once as parser events; DocumentError (or a subclass) if it is not an
    importable document, too deep, or holds more than ``max_features`` features."""
    scan = _Scan()
    place = ""
    try:
        for prefix, event, value in ijson.parse(handle, buf_size=PARSE_BUFFER, use_float=True):
            _event(scan, prefix, event, value, max_depth, max_features)
            place = (
                (f"{prefix}.{value}" if prefix else str(value)) if event == "map_key" else prefix
            )
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        if INTEGER_OVERFLOW in str(exc):
            # Valid JSON that the parser cannot hold: no field of an import takes such a number.
            where = _field_path(place, scan.counts)
            raise DocumentError(f"{where}: {BEYOND_64_BITS}", field=where) from None
        raise DocumentError(f"the request body is not valid JSON ({str(exc)[:200]})") from None
    return _document(scan)


def _field_path(prefix: str, counts: dict[str, int]) -> str:
    """An ijson prefix as a field name: ``features.item.properties.ca`` of the third feature
    is ``features[2].properties.ca`` (array items beyond the features unnumbered)."""
    for features in ("geojson.features.item", "features.item"):
        if prefix == features or prefix.startswith(features + "."):
            index = counts.get(features, 1) - 1
            rest = prefix[len(features) :].replace(".item", "")
            return f"{features[: -len('.item')]}[{index}]{rest}"
    return prefix.replace(".item", "") or "body"


def _event(
    scan: _Scan, prefix: str, event: str, value: Any, max_depth: int, max_features: int
) -> None:
    if event in ("start_map", "start_array"):
        scan.depth += 1
        if scan.depth > max_depth:
            raise DocumentTooDeepError(f"the JSON nests deeper than {max_depth} levels")
        if event == "start_map" and prefix in ("features.item", "geojson.features.item"):
            scan.counts[prefix] = scan.counts.get(prefix, 0) + 1
            if scan.counts[prefix] > max_features:
                raise TooManyFeaturesError(max_features)
        return
    if event in ("end_map", "end_array"):
        scan.depth -= 1
        return
    if event == "map_key" and prefix == "":
        scan.keys.add(value)
    elif prefix == "type" and event == "string":
        scan.top_type = value
    elif prefix in ("geojson.type", "feature_collection.type") and event == "string":
        scan.inner_type[prefix.partition(".")[0]] = value
    elif prefix in WRAPPER_META and event in ("string", "null"):
        scan.meta[prefix] = value
    elif prefix == "tags.item":
        scan.meta.setdefault("tags", [])
        if isinstance(scan.meta["tags"], list):
            scan.meta["tags"].append(value)
    elif prefix == "tags" and event == "start_array":
        scan.meta["tags"] = []
    elif prefix in WRAPPER_META:  # a number, a bool: kept so validation names the field
        scan.meta[prefix] = value


def _document(scan: _Scan) -> Document:
    if not scan.keys and scan.top_type is None:
        raise DocumentError("the document is not a GeoJSON object")
    if scan.top_type is None and (
        wrapper := next((k for k in WRAPPER_KEYS if k in scan.keys), None)
    ):
        kind = scan.inner_type.get(wrapper)
        count = scan.counts.get(f"{wrapper}.features.item", 0)
        return Document(*_located(kind, wrapper, count), wrapped=True, meta=scan.meta)
    return Document(
        *_located(scan.top_type, "", scan.counts.get("features.item", 0)), wrapped=False
    )


def _located(kind: object, root: str, count: int) -> tuple[str, int]:
    """The features' prefix and count for a document (or wrapped document) of ``kind``."""
    if kind == "Feature":
        return root, 1
    if kind == "FeatureCollection":
        if count == 0:
            raise DocumentError("the FeatureCollection has no features")
        return (f"{root}.features.item" if root else "features.item"), count
    raise DocumentError(
        f"expected a GeoJSON FeatureCollection or Feature, got type {str(kind)[:64]!r}"
        if kind is not None
        else "the document has no GeoJSON 'type'"
    )


def iter_document_features(handle: IO[bytes], document: Document) -> Iterator[Any]:
    """The document's features, one at a time, from the start of ``handle``."""
    handle.seek(0)
    try:
        yield from ijson.items(handle, document.prefix, use_float=True)
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        raise DocumentError(f"the request body is not valid JSON ({str(exc)[:200]})") from None
