"""Deterministic generator of realistic Mapillary API v3 sequence Features (no database).

Sequences cluster in towns near real populated places, move like a walk, a bike ride or a drive
(smoothly wandering heading, occasional street-corner turns) and carry Mapillary-shaped keys,
users, cameras and timestamps. Output is a pure function of the arguments: every sequence has its
own RNG derived from (seed, index), so sequence ``i`` is the same whatever ``count`` is.
Coordinates are lon/lat (SRID 4326) rounded to 6 decimals.
"""

from __future__ import annotations

import binascii
import bisect
import hashlib
import itertools
import json
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

Feature = dict[str, Any]
Coords = list[list[float]]
BBox = tuple[float, float, float, float]

WORLD_LAND_DEFAULT: BBox = (-170.0, -56.0, 179.0, 72.0)
LAT_LIMIT = 85.0
EARTH_RADIUS_M = 6371008.8
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180.0
CITY_RADIUS_M = 5000.0
# mode: (weight, min step m, max step m, turn-rate noise deg, corner probability per photo)
MODES: dict[str, tuple[float, float, float, float, float]] = {
    "walk": (0.35, 2.0, 5.0, 1.0, 0.008),
    "bicycle": (0.15, 5.0, 10.0, 0.6, 0.012),
    "car": (0.50, 10.0, 25.0, 0.4, 0.02),
}
CAMERAS = ["Apple", "Samsung", "GoPro", "Garmin", "Sony", "Xiaomi", "Huawei", "Google", "Nikon"]
CAMERA_WEIGHTS = [30, 22, 16, 8, 7, 7, 5, 4, 1]
PANO_CAMERAS = ["Insta360", "GoPro", "Ricoh", "Insta360"]
N_TOWNS, N_USERS = 300, 600
_STEP_MARGIN_M = 0.15  # keeps steps measured after 6-decimal rounding inside the mode's range
_MASK128 = (1 << 128) - 1
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_MUL1, _MUL2 = 0x9E3779B97F4A7C15F39CC0605CEDC835, 0xD1B54A32D192ED03AEF0D1C0E2F3A4B7
_START_MS = int(datetime(2014, 1, 1, tzinfo=UTC).timestamp() * 1000)
_END_MS = int(datetime(2021, 12, 31, tzinfo=UTC).timestamp() * 1000)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Real populated places (lon, lat) that anchor the generated towns.
# fmt: off
ANCHORS: list[tuple[float, float]] = [
    (-74.006, 40.713), (-118.244, 34.052), (-87.630, 41.878), (-99.133, 19.433),
    (-74.072, 4.711), (-77.043, -12.046), (-46.633, -23.551), (-58.382, -34.604),
    (-70.669, -33.449), (-0.128, 51.507), (2.352, 48.857), (13.405, 52.520),
    (-3.704, 40.417), (12.496, 41.903), (-9.139, 38.722), (14.506, 46.057),
    (21.012, 52.230), (18.069, 59.329), (28.978, 41.008), (37.618, 55.756),
    (31.236, 30.044), (3.379, 6.524), (36.822, -1.292), (28.047, -26.204),
    (15.266, -4.442), (16.433, 7.248), (55.271, 25.205), (51.389, 35.689),
    (77.209, 28.614), (72.878, 19.076), (85.324, 27.717), (100.502, 13.756),
    (106.845, -6.208), (120.984, 14.600), (116.407, 39.904), (121.474, 31.230),
    (126.978, 37.567), (139.692, 35.690), (151.209, -33.869), (144.963, -37.814),
    (174.763, -36.848), (-79.383, 43.653), (-123.121, 49.283), (-105.271, 40.015),
    (-104.990, 39.739), (-43.173, -22.907), (10.752, 59.914), (24.754, 59.437),
]
DEMO_PLACES: list[tuple[float, float]] = [
    (-9.1393, 38.7223), (14.5058, 46.0569), (85.3240, 27.7172), (-105.2705, 40.0150),
    (16.4330, 7.2480),
]
_FIRST = [
    "anna", "pierre", "marco", "sita", "li", "juan", "olga", "tom", "nadia", "raj", "emma", "kofi",
    "yuki", "lena", "ivan", "sara", "mateo", "aiko", "ben", "chloe", "diego", "eva", "femi", "hana",
    "igor", "jonas", "kim", "lucas", "maya", "nils",
]
_LAST = [
    "geo", "maps", "mapper", "walks", "rides", "photo", "osm", "360", "travels", "street", "trails",
    "cam", "view", "hikes", "roads", "explorer", "lens",
]
# fmt: on


@dataclass(frozen=True)
class Town:
    """A populated place: sequences start near (lon, lat) and stay inside ``box``."""

    lon: float
    lat: float
    radius_m: float
    box: BBox


@dataclass(frozen=True)
class User:
    username: str
    user_key: str
    camera: str
    home: int


def _clip_box(box: BBox) -> BBox:
    lon0, lat0, lon1, lat1 = box
    return (max(lon0, -180.0), max(lat0, -LAT_LIMIT), min(lon1, 180.0), min(lat1, LAT_LIMIT))


def _box_around(lon: float, lat: float, metres: float) -> BBox:
    dlat = metres / METRES_PER_DEGREE
    dlon = dlat / max(math.cos(math.radians(lat)), 0.05)
    return _clip_box((lon - dlon, lat - dlat, lon + dlon, lat + dlat))


def _seed_int(*parts: object) -> int:
    data = ":".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=16).digest(), "big")


def make_key(seed_mix: int, kind: int, index: int, position: int = 0) -> str:
    """A 22-char URL-safe key; a bijection of (kind, index, position), so never a collision."""
    x = ((kind << 120) | (index << 32) | position) ^ seed_mix
    x = (x * _MUL1) & _MASK128
    x ^= x >> 67
    x = (x * _MUL2) & _MASK128
    x ^= x >> 59
    return binascii.b2a_base64(x.to_bytes(16, "big"))[:22].translate(_URLSAFE).decode()


def _iso(ms: int) -> str:
    stamp = (_EPOCH + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ms % 1000:03d}Z"


def _angle(value: float) -> float:
    a = round(value % 360.0, 3)
    return 0.0 if a >= 360.0 else a


def _zipf_cum(n: int, exponent: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank + 1) ** exponent for rank in range(n)))


def _pick(rng: random.Random, cum: list[float]) -> int:
    return min(bisect.bisect(cum, rng.random() * cum[-1]), len(cum) - 1)


def _make_towns(rng: random.Random, bbox: BBox) -> list[Town]:
    anchors = [a for a in ANCHORS if bbox[0] < a[0] < bbox[2] and bbox[1] < a[1] < bbox[3]]
    sigma = min(0.4, (bbox[2] - bbox[0]) / 6, (bbox[3] - bbox[1]) / 6)
    mx, my = (bbox[2] - bbox[0]) * 0.01, (bbox[3] - bbox[1]) * 0.01
    towns = []
    for rank in range(N_TOWNS):
        if anchors:
            alon, alat = rng.choice(anchors)
            lat = alat + rng.gauss(0.0, sigma)
            lon = alon + rng.gauss(0.0, sigma) / max(math.cos(math.radians(alat)), 0.2)
        else:
            lon, lat = rng.uniform(bbox[0], bbox[2]), rng.uniform(bbox[1], bbox[3])
        lon = min(max(lon, bbox[0] + mx), bbox[2] - mx)
        lat = min(max(lat, bbox[1] + my), bbox[3] - my)
        towns.append(Town(lon, lat, 500.0 + 6000.0 / (1.0 + rank / 15.0), bbox))
    return towns


def _username(rng: random.Random) -> str:
    style = rng.choice(("{f}{l}", "{f}_{l}", "{f}{n}", "{i}{g}{l}", "{f}.{g}"))
    first, last, given = rng.choice(_FIRST), rng.choice(_LAST), rng.choice(_FIRST)
    return style.format(f=first, l=last, g=given, i=first[0], n=rng.randrange(1, 99))


def _make_users(rng: random.Random, seed_mix: int, town_cum: list[float]) -> list[User]:
    users, names = [], set()
    for i in range(N_USERS):
        name = _username(rng)
        while name in names:
            name += str(rng.randrange(10))
        names.add(name)
        camera = rng.choices(CAMERAS, CAMERA_WEIGHTS)[0]
        users.append(User(name, make_key(seed_mix, 2, i), camera, _pick(rng, town_cum)))
    return users


def _walk(
    rng: random.Random, lon: float, lat: float, n: int, mode: str, box: BBox
) -> tuple[Coords, list[float]]:
    """Points of one walk, ride or drive from (lon, lat), and the bearing of each step (deg)."""
    _, lo, hi, turn_sigma, corner_p = MODES[mode]
    lo, hi = lo + _STEP_MARGIN_M, hi - _STEP_MARGIN_M
    rnd, speed = rng.random, rng.uniform(lo, hi)
    heading, turn, turn_k = rng.uniform(0.0, 360.0), 0.0, turn_sigma * 6**0.5
    coords, bearings = [[lon, lat]], []
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    for _ in range(n - 1):
        # Random-walk turn rate (triangular noise: as smooth as gauss, cheaper), rare corners.
        turn = 0.8 * turn + (rnd() - rnd()) * turn_k
        heading += turn
        if rnd() < corner_p:
            heading += (90.0 if rnd() < 0.5 else -90.0) + (rnd() - rnd()) * 8.0
        step = min(max(speed * (1.0 + (rnd() - rnd()) * 0.2), lo), hi)
        coslat = math.cos(math.radians(lat))
        for attempt in range(3):
            h = math.radians(heading)
            nlon = round(lon + step * math.sin(h) / (METRES_PER_DEGREE * coslat), 6)
            nlat = round(lat + step * math.cos(h) / METRES_PER_DEGREE, 6)
            if box[0] <= nlon <= box[2] and box[1] <= nlat <= box[3]:
                break
            # Leaving the area: turn back; in a corner, head straight (in lon/lat) for the
            # centre, which from inside a convex box always lands inside.
            turn, back = 0.0, heading + 180.0 + rng.uniform(-30.0, 30.0)
            toward = math.degrees(math.atan2((cx - lon) * coslat, cy - lat))
            heading = back if attempt == 0 else toward
        # Bearing of the rounded step (a local plane is exact enough over metres).
        bearings.append(math.degrees(math.atan2((nlon - lon) * coslat, nlat - lat)))
        lon, lat = nlon, nlat
        coords.append([lon, lat])
    return coords, bearings


def _sequence(
    rng: random.Random, seed_mix: int, index: int, n: int, town: Town, user: User
) -> Feature:
    angle, dist = rng.uniform(0.0, 2 * math.pi), abs(rng.gauss(0.0, town.radius_m / 2))
    dist, (lon0, lat0, lon1, lat1) = min(dist, town.radius_m), town.box
    lat = town.lat + dist * math.cos(angle) / METRES_PER_DEGREE
    lon = town.lon + dist * math.sin(angle) / (METRES_PER_DEGREE * math.cos(math.radians(lat)))
    # 1e-5 degrees inside the box, so that rounding to 6 decimals cannot leave it
    lon = round(min(max(lon, lon0 + 1e-5), lon1 - 1e-5), 6)
    lat = round(min(max(lat, lat0 + 1e-5), lat1 - 1e-5), 6)
    mode = rng.choices(list(MODES), [m[0] for m in MODES.values()])[0]
    coords, bearings = _walk(rng, lon, lat, n, mode, town.box)
    pano, rnd = rng.random() < 0.10, rng.random
    if pano or n == 1:  # a pano looks everywhere; a lone photo has no direction of travel
        cas = [_angle(rnd() * 360.0) for _ in coords]
    else:  # direction of travel to the next photo (the last keeps its own), noise within 3.7 deg
        bearings.append(bearings[-1])
        cas = [_angle(b + (rnd() - rnd()) * 3.7) for b in bearings]
    day = rng.randrange((_END_MS - _START_MS) // 86_400_000)
    local_hour = rng.uniform(7.0, 19.0) - lon / 15.0
    captured = _START_MS + day * 86_400_000 + int(local_hour * 3_600_000)
    captured = min(max(captured, _START_MS), _END_MS)
    created = captured + int(3_600_000 * 10 ** rng.uniform(math.log10(2), math.log10(240)))
    camera = rng.choice(PANO_CAMERAS) if pano else user.camera
    return {
        "type": "Feature",
        "properties": {
            "camera_make": camera,
            "captured_at": _iso(captured),
            "coordinateProperties": {
                "cas": cas,
                "image_keys": [make_key(seed_mix, 0, index, j) for j in range(n)],
            },
            "created_at": _iso(created),
            "key": make_key(seed_mix, 1, index),
            "pano": pano,
            "user_key": user.user_key,
            "username": user.username,
        },
        "geometry": {"type": "LineString", "coordinates": coords},
    }


def _iterate(
    seed: int,
    count: int,
    photos: tuple[int, int],
    towns: list[Town],
    city: Town | None,
    share: float,
) -> Iterator[Feature]:
    seed_mix, town_cum = _seed_int("keys", seed), _zipf_cum(len(towns), 0.9)
    users = _make_users(random.Random(_seed_int("world", seed)), seed_mix, town_cum)
    user_cum = _zipf_cum(len(users), 1.0)
    for index in range(count):
        rng = random.Random(_seed_int("sequence", seed, index))
        user = users[_pick(rng, user_cum)]
        n = rng.randint(*photos)
        # City sequences are spread evenly, so that every chunk of the output holds its share.
        due = math.floor((index + 1) * share + 1e-9) > math.floor(index * share + 1e-9)
        if city is not None and due:
            town = city
        else:
            town = towns[user.home if rng.random() < 0.75 else _pick(rng, town_cum)]
        yield _sequence(rng, seed_mix, index, n, town, user)


def generate_features(
    count: int,
    photos_per_sequence: int | tuple[int, int] = 100,
    *,
    seed: int = 0,
    bbox: BBox = WORLD_LAND_DEFAULT,
    city: tuple[float, float] | None = None,
    city_share: float = 0.0,
) -> Iterator[Feature]:
    """Lazily yield ``count`` Mapillary v3 sequence Features; deterministic for the arguments."""
    pps = photos_per_sequence
    photos = (pps, pps) if isinstance(pps, int) else pps
    if count < 0 or not 1 <= photos[0] <= photos[1] < 2**32:
        raise ValueError(f"need count >= 0 and 1 <= photos_per_sequence (min <= max), got {pps!r}")
    box = _clip_box(bbox)
    if box[2] - box[0] < 0.01 or box[3] - box[1] < 0.01:
        raise ValueError(f"bbox {bbox!r} must span at least 0.01 degrees within lat +-85")
    if not 0.0 <= city_share <= 1.0:
        raise ValueError("city_share must be within [0, 1]")
    city_town = None
    if city is not None:
        if not (-180.0 <= city[0] <= 180.0 and -LAT_LIMIT <= city[1] <= LAT_LIMIT):
            raise ValueError(f"city {city!r} is outside lon [-180, 180], lat [-85, 85]")
        city_town = Town(city[0], city[1], CITY_RADIUS_M * 0.6, _box_around(*city, CITY_RADIUS_M))
    towns = _make_towns(random.Random(_seed_int("towns", seed)), box)
    return _iterate(seed, count, photos, towns, city_town, city_share)


def demo_features(count: int = 300, seed: int = 42) -> list[Feature]:
    """A few hundred sequences of 5-150 photos around a few real places, for a demo map."""
    towns = [Town(lon, lat, 2500.0, _box_around(lon, lat, 8000.0)) for lon, lat in DEMO_PLACES]
    return list(_iterate(seed, count, (5, 150), towns, None, 0.0))


def write_feature_collections(
    features: Iterable[Feature], out_dir: Path, files: int, per_file: int
) -> list[Path]:
    """Stream up to ``files * per_file`` features into FeatureCollection files in ``out_dir``.

    Each file is written under a temporary name and renamed when complete, so an importer
    watching the directory never sees half a file. Stops early when ``features`` runs out.
    """
    if files < 1 or per_file < 1:
        raise ValueError("files and per_file must be >= 1")
    out_dir.mkdir(parents=True, exist_ok=True)
    it, written = iter(features), []
    width = max(5, len(str(files - 1)))
    for number in range(files):
        first = next(it, None)
        if first is None:
            break
        path = out_dir / f"sequences-{number:0{width}d}.json"
        tmp = path.with_suffix(".json.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write('{"type":"FeatureCollection","features":[\n')
            rest = itertools.islice(it, per_file - 1)
            for i, feature in enumerate(itertools.chain([first], rest)):
                fh.write((",\n" if i else "") + json.dumps(feature, separators=(",", ":")))
            fh.write("\n]}\n")
        tmp.replace(path)
        written.append(path)
    return written
