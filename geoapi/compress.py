"""Response compression: gzip or Brotli on every JSON (and HTML) response the client accepts
it for, streamed responses compressed chunk by chunk.

Levels are chosen so that compressing costs less time than the bytes it saves take on the
wire (``bench/compression.py`` measures both on real pages: see bench/README.md). The lowest
levels win: on a 2.7 MB page of 1,000 sequences gzip 1 takes 16 ms for a ratio of 0.33 (level
5: 45 ms for 0.27, which saves less time than it costs beyond 100 Mbit/s), and Brotli quality 1
takes 10 ms for 0.29. Brotli is preferred where the client accepts it (``br``). Responses that
already carry a ``Content-Encoding`` (vector tiles, compressed in their view), bodies under
:data:`MIN_SIZE` and files sent from disk are left as they are. A strong ``ETag`` gets the
encoding appended, since the bytes differ.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

import brotli
from flask import Flask, Response, request

GZIP_LEVEL = 1
BROTLI_QUALITY = 1
MIN_SIZE = 1024  # bytes: below one packet, compression saves nothing
COMPRESSIBLE = frozenset(
    {
        "application/json",
        "application/geo+json",
        "application/geo+json-seq",
        "application/problem+json",
        "application/schema+json",
        "application/vnd.oai.openapi+json",
        "text/html",
    }
)


class _Gzip:
    """gzip framing (RFC 1952) around zlib's deflate: what ``Content-Encoding: gzip`` means."""

    def __init__(self) -> None:
        self._z = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    def chunk(self, data: bytes) -> bytes:
        # A sync flush per chunk: each chunk reaches the client as soon as it is written.
        return self._z.compress(data) + self._z.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._z.flush(zlib.Z_FINISH)


class _Brotli:
    def __init__(self) -> None:
        self._b = brotli.Compressor(quality=BROTLI_QUALITY)

    def chunk(self, data: bytes) -> bytes:
        return bytes(self._b.process(data)) + bytes(self._b.flush())

    def finish(self) -> bytes:
        return bytes(self._b.finish())


def _encoder(encoding: str) -> _Gzip | _Brotli:
    return _Brotli() if encoding == "br" else _Gzip()


def chosen_encoding() -> str | None:
    """``br`` or ``gzip`` as the request accepts them (br first), else None."""
    accepted = request.accept_encodings
    for encoding in ("br", "gzip"):
        if accepted[encoding] > 0:
            return encoding
    return None


def compress_all(data: bytes, encoding: str) -> bytes:
    """``data`` compressed whole with ``encoding`` (br or gzip)."""
    encoder = _encoder(encoding)
    return encoder.chunk(data) + encoder.finish()


def _stream(chunks: Iterable[bytes | str], encoding: str) -> Iterator[bytes]:
    encoder = _encoder(encoding)
    try:
        for chunk in chunks:
            data = chunk.encode() if isinstance(chunk, str) else chunk
            if data:
                yield encoder.chunk(data)
        yield encoder.finish()
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def compress_response(response: Response) -> Response:
    """The ``after_request`` hook: compress ``response`` when it and the request allow it."""
    if response.mimetype not in COMPRESSIBLE or request.method == "HEAD":
        return response
    response.vary.add("Accept-Encoding")
    if response.status_code < 200 or response.status_code in (204, 206, 304):
        return response
    if "Content-Encoding" in response.headers or response.direct_passthrough:
        return response
    encoding = chosen_encoding()
    if encoding is None:
        return response
    if response.is_streamed:
        response.response = _stream(response.response, encoding)
        response.headers.pop("Content-Length", None)
    else:
        data = response.get_data()
        if len(data) < MIN_SIZE:
            return response
        response.set_data(compress_all(data, encoding))
    response.headers["Content-Encoding"] = encoding
    etag = response.headers.get("ETag")
    if etag and etag.endswith('"') and not etag.startswith("W/"):
        response.headers["ETag"] = f'{etag[:-1]}-{encoding}"'
    return response


def init_app(app: Flask) -> None:
    """Compress every compressible response (registered after the blueprints' hooks)."""
    app.after_request(compress_response)
