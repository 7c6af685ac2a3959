"""A real OGC API Features client: GDAL's OAPIF driver (ogrinfo, ogr2ogr) against a live server."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from helpers import make_feature, serve_in_thread
from sqlalchemy import Engine

from geoapi.store.importer import import_feature_collection
from geoapi.validation import ImportOptions

pytestmark = pytest.mark.skipif(
    shutil.which("ogrinfo") is None, reason="GDAL's ogrinfo is not installed (Debian: gdal-bin)"
)
SEQUENCES = 14  # more than GDAL's page of 10, so it must follow a next link


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    """The app on a free port, served by werkzeug in a thread; yields the OAPIF datasource."""
    with serve_in_thread(app) as url:
        yield f"OAPIF:{url}/"


@pytest.fixture
def data(engine: Engine, make_user: Callable[[str], Any]) -> list[uuid.UUID]:
    user, _ = make_user("gdal")
    features = [
        make_feature(
            f"gdal-{i}",
            [(2.35 + i * 0.01, 48.85), (2.35 + i * 0.01, 48.8501), (2.35 + i * 0.01, 48.8502)],
            title=f"Paris walk {i}",
            transport_type="Walk",
            tags=["paris"],
        )
        for i in range(SEQUENCES)
    ]
    document = {"type": "FeatureCollection", "features": features}
    report = import_feature_collection(engine, user.id, document, ImportOptions())
    assert report.count("imported") == SEQUENCES
    return [outcome.sequence_id for outcome in report.outcomes if outcome.sequence_id]


def run(*args: str) -> str:
    result = subprocess.run(
        list(args),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def test_ogrinfo_lists_both_layers(server: str, data: list[uuid.UUID]) -> None:
    out = run("ogrinfo", "-ro", "-so", server)
    assert "sequences (title: Sequences) (Line String)" in out
    assert "photos (title: Photos) (Point)" in out


def test_ogrinfo_reads_sequences_and_their_attributes(server: str, data: list[uuid.UUID]) -> None:
    out = run("ogrinfo", "-ro", server, "sequences")
    assert f"Feature Count: {SEQUENCES}" in out
    assert out.count("OGRFeature(sequences)") == SEQUENCES  # every page, through next links
    assert "title (String) = Paris walk 13" in out
    assert "transport_type (String) = Walk" in out
    assert "transport_type_parent (String) = Earth" in out
    assert "photo_count (Integer) = 3" in out
    assert f"id (String) = {data[0]}" in out
    assert "LINESTRING (2.35 48.85,2.35 48.8501,2.35 48.8502)" in out


def test_ogr2ogr_exports_photos_in_a_bbox(
    server: str, data: list[uuid.UUID], tmp_path: Path
) -> None:
    out = tmp_path / "photos.geojson"
    # the first three sequences' middle and last photos
    run(
        "ogr2ogr", "-f", "GeoJSON", str(out), server, "photos",
        "-spat", "2.345", "48.85005", "2.375", "48.8503",
    )  # fmt: skip
    features = json.loads(out.read_text())["features"]
    got = sorted((f["properties"]["sequence_id"], f["properties"]["position"]) for f in features)
    assert got == sorted((str(data[i]), p) for i in range(3) for p in (1, 2))
    assert all(f["properties"]["image_key"].startswith("gdal-") for f in features)
    assert all(f["geometry"]["type"] == "Point" for f in features)
