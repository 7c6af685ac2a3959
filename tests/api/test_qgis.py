"""QGIS (Debian's python3-qgis, 3.22) reads both layers with the right feature counts and a
filtered layer, against a live server on the demo data (QT_QPA_PLATFORM=offscreen)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from helpers import load_demo, serve_in_thread
from sqlalchemy import text

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).parents[1] / "clients" / "qgis_layers.py"


def _has_qgis() -> bool:
    if not os.path.exists(SYSTEM_PYTHON):
        return False
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True, check=False
    )
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    not _has_qgis(), reason="QGIS is not installed (Debian: qgis-providers python3-qgis)"
)


@pytest.fixture(scope="module")
def demo(_session_app: Flask) -> Iterator[tuple[str, int]]:
    photos = load_demo(_session_app)
    with serve_in_thread(_session_app) as url:
        yield url, photos


def test_qgis_counts_both_layers_and_filters(demo: tuple[str, int], _session_app: Flask) -> None:
    url, photos = demo
    where = "photo_count > 40 AND title LIKE 'Walk%'"
    engine = _session_app.extensions["geoapi.engine"]
    with engine.connect() as conn:
        sequences = conn.execute(text("SELECT count(*) FROM sequences")).scalar_one()
        titles = conn.execute(
            text(
                "SELECT title FROM sequences WHERE photo_count > 40 AND title LIKE 'Walk%'"
                " ORDER BY title"
            )
        ).scalars()
        expected = sorted(titles)
    env = {"PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen", "HOME": "/tmp"}
    result = subprocess.run(
        [SYSTEM_PYTHON, str(SCRIPT), url, where],
        capture_output=True, text=True, timeout=300, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["sequences"] == [True, sequences]  # featureCount() was 0 before issue 12
    assert seen["photos"] == [True, photos]
    assert seen["subset_ok"] is True
    assert len(expected) > 0 and seen["filtered_count"] == len(expected)
    assert seen["filtered_titles"] == expected
