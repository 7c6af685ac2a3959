"""OWSLib (PyPI) against a live server on the demo data: queryables, CQL2-filtered items and
sortby, as an analyst's script would call them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from helpers import load_demo, serve_in_thread
from sqlalchemy import text

features_module = pytest.importorskip("owslib.ogcapi.features")


@pytest.fixture(scope="module")
def api(_session_app: Flask) -> Iterator[object]:
    load_demo(_session_app)
    with serve_in_thread(_session_app) as url:
        yield features_module.Features(url)


def test_owslib_reads_the_queryables(api: object) -> None:
    queryables = api.collection_queryables("sequences")  # type: ignore[attr-defined]
    properties = queryables["properties"]
    assert properties["photo_count"]["type"] == "integer"
    assert properties["geometry"]["format"] == "geometry-linestring"
    photos = api.collection_queryables("photos")  # type: ignore[attr-defined]
    assert photos["properties"]["ca"]["type"] == "number"


def test_owslib_filters_and_sorts(api: object, _session_app: Flask) -> None:
    engine = _session_app.extensions["geoapi.engine"]
    with engine.connect() as conn:
        expected = conn.execute(
            text(
                "SELECT id::text FROM sequences WHERE photo_count > 40"
                " AND transport_type_id = (SELECT id FROM transport_types WHERE name = 'Car')"
            )
        ).scalars()
        expected_ids = set(expected)
        top = conn.execute(
            text("SELECT photo_count FROM sequences ORDER BY photo_count DESC, id LIMIT 5")
        ).scalars()
        top_counts = list(top)
    assert expected_ids
    page = api.collection_items(  # type: ignore[attr-defined]
        "sequences", filter="photo_count > 40 AND transport_type = 'Car'", limit=1000
    )
    assert {f["id"] for f in page["features"]} == expected_ids
    assert page["numberMatched"] == len(expected_ids)
    json_filter = '{"op": ">", "args": [{"property": "photo_count"}, 40]}'
    page = api.collection_items(  # type: ignore[attr-defined]
        "sequences", filter=json_filter, **{"filter-lang": "cql2-json"}, limit=1
    )
    assert page["numberReturned"] == 1 and page["numberMatched"] >= len(expected_ids)
    ranked = api.collection_items("sequences", sortby=("photo_count", "desc"), limit=5)  # type: ignore[attr-defined]
    assert [f["properties"]["photo_count"] for f in ranked["features"]] == top_counts
