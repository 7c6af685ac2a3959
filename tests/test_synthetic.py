"""Tests for the synthetic sequence generator (pure Python, no database)."""

from __future__ import annotations

import json
import math
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from itertools import islice, pairwise
from pathlib import Path
from typing import Any

import pytest

from geoapi.synthetic import (
    ANCHORS,
    DEMO_PLACES,
    EARTH_RADIUS_M,
    MODES,
    demo_features,
    generate_features,
    write_feature_collections,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "mapillary" / "v3-sequences-example.json"
KEY_RE = re.compile(r"[A-Za-z0-9_-]{22}")
ISO_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
LJUBLJANA = (14.5058, 46.0569)
Feature = dict[str, Any]


def haversine_m(a: list[float], b: list[float]) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def bearing_deg(a: list[float], b: list[float]) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    y = math.sin(lon2 - lon1) * math.cos(lat2)
    x = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(lon2 - lon1)
    return math.degrees(math.atan2(y, x)) % 360.0


def angle_diff(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def key_tree(value: Any) -> Any:
    """The nested key structure of a Feature (dict keys, recursively; not list contents)."""
    if isinstance(value, dict):
        return {k: key_tree(v) for k, v in value.items()}
    return type(value).__name__ if not isinstance(value, int | float) else "number"


@pytest.fixture(scope="module")
def sample() -> list[Feature]:
    """200 sequences x 100 photos = 20,000 photos with the defaults."""
    return list(generate_features(200, 100, seed=7))


@pytest.fixture(scope="module")
def varied() -> list[Feature]:
    return list(generate_features(600, (1, 300), seed=3))


def test_same_seed_same_output_different_seed_different() -> None:
    a = list(generate_features(50, (1, 40), seed=11))
    assert a == list(generate_features(50, (1, 40), seed=11))
    b = list(generate_features(50, (1, 40), seed=12))
    assert a != b
    assert not {f["properties"]["key"] for f in a} & {f["properties"]["key"] for f in b}


def test_sequences_do_not_depend_on_count() -> None:
    assert list(generate_features(5, seed=4)) == list(islice(generate_features(40, seed=4), 5))


def test_shape_equals_fixture(sample: list[Feature]) -> None:
    expected = key_tree(json.loads(FIXTURE.read_text())["features"][0])
    for feature in sample:
        assert key_tree(feature) == expected
        assert feature["type"] == "Feature" and feature["geometry"]["type"] == "LineString"
        json.dumps(feature, allow_nan=False)  # plain JSON, no NaN


def test_lengths_ranges_and_rounding(varied: list[Feature]) -> None:
    for feature in varied:
        coords = feature["geometry"]["coordinates"]
        cp = feature["properties"]["coordinateProperties"]
        assert len(coords) == len(cp["cas"]) == len(cp["image_keys"]) >= 1
        for lon, lat in coords:
            assert math.isfinite(lon) and math.isfinite(lat)
            assert -180.0 <= lon <= 180.0 and -85.0 <= lat <= 85.0
            assert round(lon, 6) == lon and round(lat, 6) == lat
        for ca in cp["cas"]:
            assert isinstance(ca, float) and 0.0 <= ca < 360.0 and round(ca, 3) == ca
        assert all(a != b for a, b in pairwise(coords)), "consecutive photos must differ"


def test_ca_is_direction_of_travel(varied: list[Feature]) -> None:
    checked = 0
    for feature in varied:
        coords, cas = (
            feature["geometry"]["coordinates"],
            feature["properties"]["coordinateProperties"]["cas"],
        )
        if feature["properties"]["pano"] or len(coords) < 2:
            continue
        for i, ca in enumerate(cas):
            a, b = (coords[i], coords[i + 1]) if i + 1 < len(coords) else (coords[i - 1], coords[i])
            assert angle_diff(ca, bearing_deg(a, b)) < 6.0
            checked += 1
    assert checked > 10_000


def test_keys_unique_and_mapillary_like(sample: list[Feature]) -> None:
    image_keys = [k for f in sample for k in f["properties"]["coordinateProperties"]["image_keys"]]
    assert len(image_keys) == 20_000
    seq_keys = [f["properties"]["key"] for f in sample]
    user_keys = {f["properties"]["user_key"] for f in sample}
    everything = image_keys + seq_keys
    assert len(set(everything)) == len(everything)
    assert not user_keys & set(everything)
    assert all(KEY_RE.fullmatch(k) for k in [*everything, *user_keys])


def test_step_lengths_fit_one_transport_mode(varied: list[Feature]) -> None:
    ranges = {name: (lo, hi) for name, (_, lo, hi, _, _) in MODES.items()}
    seen: Counter[str] = Counter()
    for feature in varied:
        steps = [haversine_m(a, b) for a, b in pairwise(feature["geometry"]["coordinates"])]
        if len(steps) < 5:
            continue
        fits = [n for n, (lo, hi) in ranges.items() if lo <= min(steps) and max(steps) <= hi]
        assert fits, f"steps {min(steps):.2f}..{max(steps):.2f} m fit no mode"
        seen[fits[0]] += 1
    assert set(seen) == set(MODES)


def test_lines_wander_and_are_not_a_grid(varied: list[Feature]) -> None:
    long_ones = [f for f in varied if len(f["geometry"]["coordinates"]) >= 50]
    assert len(long_ones) > 100
    near_axis = total = straight = 0
    turns: list[float] = []
    for feature in long_ones:
        coords = feature["geometry"]["coordinates"]
        # headings over 10-photo windows, so 6-decimal rounding noise does not count as turning
        headings = [bearing_deg(coords[i], coords[i + 10]) for i in range(0, len(coords) - 10, 5)]
        straight += max(angle_diff(h, headings[0]) for h in headings) < 5.0
        near_axis += sum(angle_diff(h, round(h / 90) * 90) < 1.0 for h in headings)
        total += len(headings)
        bearings = [bearing_deg(a, b) for a, b in pairwise(coords)]
        turns += [angle_diff(a, b) for a, b in pairwise(bearings)]
    assert straight / len(long_ones) < 0.02, "too many dead-straight lines"
    assert near_axis / total < 0.05, "headings cluster on N/E/S/W like a grid"
    sharp = sum(t > 20.0 for t in turns) / len(turns)
    assert 0.002 < sharp < 0.05, "smooth wandering with occasional street corners expected"
    assert sum(70.0 < t < 110.0 for t in turns) > 0.5 * sum(t > 20.0 for t in turns)
    # not straight: a path is longer than the distance between its ends
    ratios = [
        haversine_m(f["geometry"]["coordinates"][0], f["geometry"]["coordinates"][-1])
        / sum(haversine_m(a, b) for a, b in pairwise(f["geometry"]["coordinates"]))
        for f in long_ones
    ]
    assert statistics.median(ratios) < 0.98


def test_dates_parse_and_are_plausible(varied: list[Feature]) -> None:
    for feature in varied:
        props = feature["properties"]
        assert ISO_RE.fullmatch(props["captured_at"]) and ISO_RE.fullmatch(props["created_at"])
        captured = datetime.fromisoformat(props["captured_at"])
        created = datetime.fromisoformat(props["created_at"])
        assert captured.utcoffset() == timedelta(0)
        assert 2014 <= captured.year <= 2021
        assert timedelta(hours=1) < created - captured < timedelta(days=11)


def test_users_cameras_and_panos() -> None:
    features = list(generate_features(4000, 1, seed=5))
    users = Counter(f["properties"]["username"] for f in features)
    assert len(users) >= 300
    counts = sorted(users.values(), reverse=True)
    assert counts[0] >= 20 * statistics.median(counts), "expected a long tail of users"
    keys_of: dict[str, str] = {}
    for f in features:
        p = f["properties"]
        assert keys_of.setdefault(p["username"], p["user_key"]) == p["user_key"]
        assert re.fullmatch(r"[a-z0-9_.]{3,30}", p["username"])
    makes = Counter(f["properties"]["camera_make"] for f in features)
    assert {"Apple", "Samsung", "GoPro", "Garmin", "Sony", "Insta360"} <= set(makes)
    panos = [f for f in features if f["properties"]["pano"]]
    assert 0.05 < len(panos) / len(features) < 0.15
    assert all(f["properties"]["camera_make"] in {"Insta360", "GoPro", "Ricoh"} for f in panos)


def test_photos_per_sequence_int_and_range() -> None:
    assert {len(f["geometry"]["coordinates"]) for f in generate_features(30, 17)} == {17}
    lengths = [len(f["geometry"]["coordinates"]) for f in generate_features(300, (1, 4))]
    assert set(lengths) == {1, 2, 3, 4}
    one = next(generate_features(1, 1))
    assert len(one["geometry"]["coordinates"]) == 1
    assert len(one["properties"]["coordinateProperties"]["image_keys"]) == 1


def test_mostly_in_populated_places() -> None:
    near = 0
    features = list(generate_features(1000, 1, seed=9))
    for f in features:
        point = f["geometry"]["coordinates"][0]
        near += any(haversine_m(point, list(a)) < 150_000 for a in ANCHORS)
    assert near / len(features) > 0.95


def test_bbox_is_respected_even_at_the_edges_of_the_world() -> None:
    for bbox in [
        (14.4, 46.0, 14.6, 46.1),
        (179.9, 84.9, 180.0, 85.0),
        (-180.0, -85.0, -179.0, -84.0),
    ]:
        for f in generate_features(60, (1, 400), seed=2, bbox=bbox):
            for lon, lat in f["geometry"]["coordinates"]:
                assert bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]


def test_city_share_puts_that_share_near_the_city() -> None:
    features = list(generate_features(1000, (1, 200), seed=1, city=LJUBLJANA, city_share=0.3))
    in_city = [
        all(haversine_m(p, list(LJUBLJANA)) <= 5_100 for p in f["geometry"]["coordinates"])
        for f in features
    ]
    assert 0.3 <= sum(in_city) / len(features) <= 0.33
    assert sum(in_city[:100]) >= 30, "city sequences are spread evenly, chunks hold their share"


def test_generator_is_lazy() -> None:
    started = time.perf_counter()
    first = list(islice(generate_features(10**9, 100), 3))
    assert len(first) == 3 and time.perf_counter() - started < 2.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"count": -1},
        {"photos_per_sequence": 0},
        {"photos_per_sequence": (5, 2)},
        {"bbox": (10.0, 10.0, 10.001, 10.001)},
        {"city": (200.0, 0.0), "city_share": 0.5},
        {"city_share": 1.5},
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        generate_features(**{"count": 1, **kwargs})


def test_demo_features_are_small_and_near_real_places() -> None:
    demo = demo_features()
    assert demo == demo_features()
    assert len(demo) == 300
    assert all(5 <= len(f["geometry"]["coordinates"]) <= 150 for f in demo)
    places: Counter[tuple[float, float]] = Counter()
    for f in demo:
        start = f["geometry"]["coordinates"][0]
        nearest = min(DEMO_PLACES, key=lambda p: haversine_m(start, list(p)))
        assert haversine_m(start, list(nearest)) < 12_000
        places[nearest] += 1
    assert len(places) == len(DEMO_PLACES)


def test_write_feature_collections_streams_chunks(tmp_path: Path) -> None:
    consumed = 0

    def source() -> Any:
        nonlocal consumed
        for f in generate_features(100, (1, 5), seed=8):
            consumed += 1
            yield f

    paths = write_feature_collections(source(), tmp_path / "out", files=3, per_file=10)
    assert [p.name for p in paths] == [f"sequences-0000{i}.json" for i in range(3)]
    assert consumed <= 31, "must not read ahead past what it writes"
    loaded = [json.loads(p.read_text()) for p in paths]
    assert all(c["type"] == "FeatureCollection" and len(c["features"]) == 10 for c in loaded)
    assert [f for c in loaded for f in c["features"]] == list(generate_features(30, (1, 5), seed=8))
    assert not list((tmp_path / "out").glob("*.tmp"))
    short = write_feature_collections(generate_features(5), tmp_path / "short", 3, 2)
    assert [len(json.loads(p.read_text())["features"]) for p in short] == [2, 2, 1]


def test_bench_generate_cli(tmp_path: Path) -> None:
    out = tmp_path / "data"
    cmd = [sys.executable, str(ROOT / "bench" / "generate.py"), "--sequences", "25"]
    cmd += ["--photos", "2-6", "--out", str(out), "--files", "5", "--city-sequences", "5"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60)
    assert "wrote 25 sequences" in result.stdout
    files = sorted(out.glob("*.json"))
    assert len(files) == 5
    total = sum(len(json.loads(p.read_text())["features"]) for p in files)
    assert total == 25
