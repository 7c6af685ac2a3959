"""Streamed exports: GeoJSON and RFC 8142 GeoJSON text sequences, filters, errors, and memory that
does not grow with the result (100,000 photos through a real server)."""

from __future__ import annotations

import http.client
import json
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import make_feature, serve_in_thread
from sqlalchemy import Engine, text

from geoapi.store.importer import import_feature_collection
from geoapi.validation import ImportOptions

URL = "/api/v1/exports/sequences.geojson"
RS = "\x1e"


@pytest.fixture
def three(engine: Engine, make_user: Callable[[str], Any]) -> list[str]:
    """Three sequences (2, 3 and 4 photos): two in Lisbon tagged, one in Porto."""
    user, _ = make_user("exporter")
    features = [
        make_feature("a", [(-9.14, 38.71), (-9.1401, 38.7101)], tags=["river"], title="A"),
        make_feature("b", [(-9.15, 38.72)] * 3, transport_type="Bicycle", title="B"),
        make_feature("c", [(-8.6, 41.15)] * 4, tags=["river"], pano=True, title="C"),
    ]
    document = {"type": "FeatureCollection", "features": features}
    report = import_feature_collection(engine, user.id, document, ImportOptions())
    assert report.count("imported") == 3
    return [str(o.sequence_id) for o in report.outcomes]


def parse_seq(body: str) -> list[dict[str, Any]]:
    """RFC 8142: every record is RS, one JSON text, LF."""
    assert body == "" or body.startswith(RS)
    records = body.split(RS)[1:]
    assert all(record.endswith("\n") for record in records)
    return [json.loads(record) for record in records]


def test_export_is_a_feature_collection_download(client: FlaskClient, three: list[str]) -> None:
    response = client.get(URL)
    assert response.status_code == 200
    assert "Content-Length" not in response.headers  # streamed, not built in memory
    assert response.mimetype == "application/geo+json"
    assert response.headers["Content-Disposition"] == 'attachment; filename="sequences.geojson"'
    body = json.loads(response.get_data(as_text=True))
    assert body["type"] == "FeatureCollection"
    assert [f["id"] for f in body["features"]] == sorted(three)
    assert body["numberReturned"] == 3
    titles = {f["properties"]["title"] for f in body["features"]}
    assert titles == {"A", "B", "C"}


def test_export_filters_and_bbox(client: FlaskClient, three: list[str]) -> None:
    def exported(query: str) -> set[str]:
        response = client.get(f"{URL}?{query}")
        assert response.status_code == 200, response.data
        return {f["id"] for f in json.loads(response.get_data(as_text=True))["features"]}

    a, b, c = three
    assert exported("bbox=-9.2,38.7,-9.1,38.8") == {a, b}
    assert exported("tag=river") == {a, c}
    assert exported("bbox=-9.2,38.7,-9.1,38.8&tag=river") == {a}
    assert exported("transport_type=Earth") == {b}
    assert exported("pano=true") == {c}
    assert exported("bbox=0,0,1,1") == set()
    assert len(exported("limit=2")) == 2


def test_export_photos(client: FlaskClient, three: list[str]) -> None:
    response = client.get(f"{URL}?collection=photos&tag=river")
    assert response.headers["Content-Disposition"] == 'attachment; filename="photos.geojson"'
    features = json.loads(response.get_data(as_text=True))["features"]
    keys = [(f["properties"]["sequence_id"], f["properties"]["position"]) for f in features]
    assert sorted(keys) == sorted(
        [(three[0], 0), (three[0], 1)] + [(three[2], p) for p in range(4)]
    )
    assert {f["geometry"]["type"] for f in features} == {"Point"}
    one = client.get(f"{URL}?collection=photos&sequence_id={three[1]}").get_data(as_text=True)
    assert len(json.loads(one)["features"]) == 3


def test_geojson_seq_by_parameter_and_by_accept(client: FlaskClient, three: list[str]) -> None:
    requests_ = [
        (f"{URL}?format=geojsonseq&collection=photos", {}),
        (f"{URL}?collection=photos", {"Accept": "application/geo+json-seq"}),
    ]
    for url, headers in requests_:
        response = client.get(url, headers=headers)
        assert response.status_code == 200
        assert response.mimetype == "application/geo+json-seq"
        assert response.headers["Content-Disposition"] == 'attachment; filename="photos.geojsonseq"'
        records = parse_seq(response.get_data(as_text=True))
        assert len(records) == 2 + 3 + 4
        assert all(r["type"] == "Feature" for r in records)
    empty = client.get(f"{URL}?format=geojsonseq&bbox=0,0,1,1")
    assert empty.status_code == 200 and empty.get_data() == b""


def test_items_stream_for_large_limits(client: FlaskClient, three: list[str]) -> None:
    small = client.get("/collections/photos/items?limit=5")
    large = client.get("/collections/photos/items?f=geojson&limit=5000")
    assert "Content-Length" in small.headers and "Content-Length" not in large.headers
    body = json.loads(large.get_data(as_text=True))
    assert body["numberReturned"] == 9 and len(body["features"]) == 9
    assert not any(link["rel"] == "next" for link in body["links"])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("collection=tours", "collection"),
        ("format=csv", "format"),
        ("bbox=1,2,3", "bbox"),
        ("bbox=10,10,0,0", "bbox"),
        ("limit=0", "limit"),
        ("datetime=soon", "datetime"),
        ("pano=perhaps", "pano"),
        ("transport_type=Rocket", "transport_type"),
        ("collection=photos&sequence_id=nope", "sequence_id"),
        ("sequence_id=", "sequence_id"),  # empty is no UUID either
        ("cursor=abc", "cursor"),
        ("colour=red", "colour"),
        ("username=x%00", "username"),
    ],
)
def test_bad_export_parameters_are_400(client: FlaskClient, query: str, field: str) -> None:
    response = client.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.json["errors"][0]["field"] == field


# Constant memory --------------------------------------------------------------------------------


def load_photos(engine: Engine, owner_id: uuid.UUID, sequences: int, photos: int) -> None:
    """``sequences`` published sequences of ``photos`` photos each, inserted in bulk by SQL.

    Test data, not a request: no request-time statement timeout (a busy machine takes longer).
    """
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL statement_timeout = 0"))
        conn.execute(
            text(
                "INSERT INTO sequences (owner_id, mapillary_key, title, geom, photo_count)"
                " SELECT :owner, 'mem-' || i, 'Memory ' || i, ST_SetSRID(ST_MakeLine("
                "  ST_MakePoint(i * 0.0001, 0), ST_MakePoint(i * 0.0001, :n * 0.0001)), 4326), :n"
                " FROM generate_series(1, :count) i"
            ),
            {"owner": owner_id, "count": sequences, "n": photos},
        )
        conn.execute(
            text(
                "INSERT INTO photos (sequence_id, image_key, position, ca, geom)"
                " SELECT s.id, s.mapillary_key || '-' || p, p, p % 360,"
                "  ST_SetSRID(ST_MakePoint(ST_X(ST_StartPoint(s.geom)), p * 0.0001), 4326)"
                " FROM sequences s, generate_series(0, :n - 1) p"
            ),
            {"n": photos},
        )


def _status_kb(field: str) -> int:
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith(field + ":"):
            return int(row.split()[1])
    raise AssertionError(f"{field} missing from /proc/self/status")


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process, where Linux allows it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def stream_export(base: str, query: str) -> dict[str, float]:
    """Download an export chunk by chunk; report features, bytes, Python peak and RSS growth."""
    can_reset = _reset_peak_rss()
    rss_before = _status_kb("VmRSS")
    tracemalloc.reset_peak()
    traced_before = tracemalloc.get_traced_memory()[0]
    records = size = 0
    started = time.perf_counter()
    # http.client reads chunk by chunk without buffering ahead (requests/urllib3 may hold ~10 MB,
    # which would hide the server's own figure, measured in this same process).
    connection = http.client.HTTPConnection(*base.split(":"), timeout=120)
    try:
        connection.request("GET", f"{URL}?{query}")
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "application/geo+json-seq"
        while chunk := response.read(64 * 1024):
            records += chunk.count(b"\x1e")
            size += len(chunk)
    finally:
        connection.close()
    peak = tracemalloc.get_traced_memory()[1] - traced_before
    rss_growth = (_status_kb("VmHWM") - rss_before) if can_reset else -1
    return {
        "records": records,
        "bytes": size,
        "python_peak": peak,
        "rss_growth_kb": rss_growth,
        "seconds": time.perf_counter() - started,
    }


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    with serve_in_thread(app) as url:
        yield url.removeprefix("http://")


def test_100k_photos_stream_in_constant_memory(
    live_server: str, engine: Engine, make_user: Callable[[str], Any]
) -> None:
    user, _ = make_user("memory")
    load_photos(engine, user.id, sequences=1000, photos=100)
    query = "collection=photos&format=geojsonseq"
    tracemalloc.start()
    try:
        stream_export(live_server, f"{query}&limit=10000")  # warm up pools and caches
        small = stream_export(live_server, f"{query}&limit=10000")
        large = stream_export(live_server, query)
    finally:
        tracemalloc.stop()
    assert small["records"] == 10_000 and large["records"] == 100_000
    assert large["bytes"] > 9 * small["bytes"]
    # A buffered export holds at least the whole body (~28 MB) at its peak, ten times the small
    # one's; the margin absorbs an occasional unrelated ~9 MB transient seen in long sessions.
    assert large["python_peak"] < large["bytes"] / 2, (small, large)
    assert large["python_peak"] < 2 * small["python_peak"] + 10_000_000, (small, large)
    if large["rss_growth_kb"] >= 0:
        # a client-side cursor keeps every row in libpq (~37 MB here), invisible to tracemalloc
        assert large["rss_growth_kb"] * 1024 < large["bytes"] / 3, (small, large)


def test_streams_at_once_are_bounded_and_released(
    database_url: str, make_user: Callable[..., Any], engine: Engine
) -> None:
    """GEOAPI_MAX_STREAMS per worker: one more is a 503 to retry, never a stuck thread; a slot
    comes back when its stream ends, is closed, or is never read at all."""
    from geoapi import create_app

    owner, _token = make_user("streams")
    load_photos(engine, owner.id, 3, 5)
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "MAX_STREAMS": 1})
    client = app.test_client()
    first = client.get(URL, buffered=False)
    assert first.status_code == 200
    second = client.get(URL)
    assert second.status_code == 503 and second.headers["Retry-After"]
    assert second.mimetype == "application/problem+json"
    first.close()  # the client went away
    finished = client.get(URL)
    assert finished.status_code == 200 and len(finished.json["features"]) == 3
    never_read = client.get(URL, buffered=False)
    del never_read
    assert client.get(URL).status_code == 200
    app.extensions["geoapi.engine"].dispose()
