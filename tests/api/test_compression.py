"""gzip and Brotli on JSON responses and exports, streamed ones chunk by chunk."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import brotli
import mapbox_vector_tile
import pytest
from flask.testing import FlaskClient
from helpers import make_feature
from sqlalchemy import Engine
from test_features import MakeUser, line, load


@pytest.fixture
def data(engine: Engine, make_user: MakeUser) -> None:
    user, _ = make_user("squeeze")
    load(
        engine,
        user.id,
        *(
            make_feature(f"sq-{i}", line(10 + i * 0.01, 45, 20), title=f"Walk {i}")
            for i in range(30)
        ),
    )


def decode(body: bytes, encoding: str) -> bytes:
    return brotli.decompress(body) if encoding == "br" else gzip.decompress(body)


@pytest.mark.parametrize(
    ("accept", "encoding"),
    [("gzip", "gzip"), ("gzip, deflate, br", "br"), ("br;q=0, gzip", "gzip"), ("br", "br")],
)
def test_json_pages_are_compressed_as_accepted(
    client: FlaskClient, data: None, accept: str, encoding: str
) -> None:
    plain = client.get("/collections/photos/items?limit=200")
    assert "Content-Encoding" not in plain.headers
    assert "Accept-Encoding" in plain.headers["Vary"]
    packed = client.get("/collections/photos/items?limit=200", headers={"Accept-Encoding": accept})
    assert packed.headers["Content-Encoding"] == encoding
    assert int(packed.headers["Content-Length"]) == len(packed.data) < len(plain.data) / 4
    unpacked = json.loads(decode(packed.data, encoding))
    expected = json.loads(plain.data)
    unpacked.pop("timeStamp"), expected.pop("timeStamp")
    assert unpacked == expected


def test_identity_and_small_bodies_stay_plain(client: FlaskClient, data: None) -> None:
    assert (
        "Content-Encoding"
        not in client.get(
            "/collections/photos/items", headers={"Accept-Encoding": "identity"}
        ).headers
    )
    small = client.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in small.headers


@pytest.mark.parametrize("encoding", ["gzip", "br"])
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/exports/sequences.geojson?collection=photos",
        "/collections/photos/items?limit=5000",  # over 1000: streamed
    ],
)
def test_streams_are_compressed_chunk_by_chunk(
    client: FlaskClient, data: None, url: str, encoding: str
) -> None:
    response = client.get(url, headers={"Accept-Encoding": encoding}, buffered=False)
    assert response.headers["Content-Encoding"] == encoding
    assert "Content-Length" not in response.headers
    chunks = [chunk for chunk in response.response if chunk]
    response.close()
    assert len(chunks) > 1  # batch by batch, each flushed to the client as it comes
    if encoding == "gzip":
        # every chunk so far decodes on its own: a client sees features before the end
        partial = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(b"".join(chunks[:2]))
        assert partial.startswith(b'{"type":"FeatureCollection","features":[{')
    body = json.loads(decode(b"".join(chunks), encoding))
    assert len(body["features"]) == 600


def test_vector_tiles_are_not_compressed_twice(client: FlaskClient, data: None) -> None:
    tilejson = client.get("/tiles.json", headers={"Accept-Encoding": "gzip"})
    etag = tilejson.headers["ETag"]
    assert etag.endswith('-gzip"')
    again = client.get("/tiles.json", headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert again.status_code == 304
    url = json.loads(gzip.decompress(tilejson.data))["tiles"][0]
    path = url.split("localhost", 1)[1].format(z=14, x=8647, y=5893)
    tile = client.get(path, headers={"Accept-Encoding": "gzip, br"})
    assert tile.status_code == 200 and tile.headers["Content-Encoding"] == "gzip"
    decoded: dict[str, Any] = mapbox_vector_tile.decode(gzip.decompress(tile.data))
    assert "photos" in decoded
