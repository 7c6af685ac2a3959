"""Benchmark: does a tile cost what it shows, at 1M and at 10M photos?

    .venv/bin/python bench/scale.py [--sizes 10000,100000] [--repeat 5] [--no-http]

For each size (sequences of 100 photos; 10% of them in one dense city, Ljubljana) it builds,
once, the set ``bench/generate.py --sequences N --photos 100 --files 100 --seed 7
--city-sequences N/10`` into bench/data/ and imports it with ``geoapi import`` into its own
database ``geoapi_scale_N`` (kept: later runs reuse it; the import's photos/s are reported the
time it runs). Then, for a fixed tile set:

- the dense city at z0-z17 (the tile holding its centre at each zoom; 17, TileJSON's maxzoom,
  is beyond issue 13's set: reported, not judged by the growth rule),
- a rural area (the sequence start nearest to 60W 15S) at z4, z8 and z14: sparse at 1M, but
  the generator spreads ten times as many sequences over it at 10M, so its tiles show up to
  ten times as much (below every cap) and the growth rule does not apply to them,
- the world at z0-z5 (the tile holding 0,0 at each zoom),

it measures the SQL floor (``geoapi.store.tiles.get_tile`` on a direct connection, JIT off as the
service runs it; the median of ``--repeat`` runs after one warm-up) and the HTTP p50 of
``geoapi serve`` (nginx and gunicorn as ``make run`` serves them, no cache, no If-None-Match),
with the tile's bytes. It prints one table with both sizes side by side, checks the criteria of
issue 13 (at the largest size no tile over 50 ms of SQL or 500 KB; no city or world tile more
than 1.5x slower than at the smallest size, or 2 ms, whichever is more: sub-millisecond tiles
jitter) and writes
bench/results/scale.json. It exits 1 when a criterion fails.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from common import GEOAPI, ROOT, free_port, percentile, start_geoapi, stop
from sqlalchemy import create_engine, text

from geoapi.filters import SequenceFilters
from geoapi.store.provision import ensure_database
from geoapi.store.tiles import get_tile
from geoapi.tiling import tile_of

CITY = (14.5058, 46.0569)  # bench/generate.py's default city (Ljubljana)
SPARSE_NEAR = (-60.0, -15.0)
PHOTOS = 100
SQL_LIMIT_MS = 50.0
BYTES_LIMIT = 500_000
GROWTH_LIMIT = 1.5
GROWTH_SLACK_MS = 2.0
# Not judged by the growth rule: the rural area (its content grows tenfold with the data, see
# above) and z17 (TileJSON's maxzoom, beyond issue 13's set of z0-z16; reported).
GROWTH_EXEMPT = ("rural", "city 17/")
RESULTS = ROOT / "bench" / "results" / "scale.json"


def database_url(sequences: int) -> str:
    base = os.environ.get("GEOAPI_BENCH_SCALE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432")
    return f"{base.rstrip('/')}/geoapi_scale_{sequences}"


def ensure_files(sequences: int) -> list[Path]:
    out = ROOT / "bench" / "data" / f"scale-{sequences}x{PHOTOS}"
    if not (out / "DONE").exists():
        started = time.perf_counter()
        generate = [sys.executable, str(ROOT / "bench" / "generate.py")]
        shape = ["--sequences", str(sequences), "--photos", str(PHOTOS), "--files", "100"]
        city = ["--seed", "7", "--city-sequences", str(sequences // 10), "--out", str(out)]
        subprocess.run([*generate, *shape, *city], check=True)
        (out / "DONE").write_text("ok")
        print(f"generated {sequences} x {PHOTOS} in {time.perf_counter() - started:.0f}s")
    return sorted(out.glob("sequences-*.json"))


def ensure_loaded(sequences: int) -> tuple[str, dict[str, Any] | None]:
    """The database of ``sequences`` sequences, imported now if it does not hold them all; the
    import's figures when it ran."""
    url = database_url(sequences)
    ensure_database(url)
    engine = create_engine(url)
    env = {**os.environ, "GEOAPI_DATABASE_URL": url, "GEOAPI_LOG_LEVEL": "WARNING"}
    try:
        subprocess.run([GEOAPI, "db", "upgrade"], env=env, check=True, capture_output=True)
        with engine.connect() as conn:
            present = conn.execute(text("SELECT count(*) FROM sequences")).scalar_one()
        if present == sequences:
            return url, None
        files = ensure_files(sequences)
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE users, sequences, photos CASCADE"))
        subprocess.run([GEOAPI, "users", "create", "bench"], env=env, check=True)
        started = time.perf_counter()
        subprocess.run(
            [GEOAPI, "import", *map(str, files), "--user", "bench", "--quiet"], env=env, check=True
        )
        elapsed = time.perf_counter() - started
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
            photos = conn.execute(text("SELECT count(*) FROM photos")).scalar_one()
        figures = {
            "seconds": round(elapsed, 1),
            "photos": photos,
            "photos_per_second": round(photos / elapsed),
            "peak_rss_mb": round(peak_kb / 1024, 1),
        }
        print(f"imported {sequences} sequences: {json.dumps(figures)}")
        return url, figures
    finally:
        engine.dispose()


def tile_set(url: str) -> list[tuple[str, int, int, int]]:
    """(label, z, x, y) of the fixed tiles; the sparse point comes from the data."""
    engine = create_engine(url)
    with engine.connect() as conn:
        lon, lat = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_StartPoint(geom) AS p FROM sequences"
                " ORDER BY geom <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) LIMIT 1) s"
            ),
            {"lon": SPARSE_NEAR[0], "lat": SPARSE_NEAR[1]},
        ).one()
    engine.dispose()
    tiles = [("city", z, *tile_of(*CITY, z)) for z in range(18)]  # z17: maxzoom
    tiles += [("rural", z, *tile_of(lon, lat, z)) for z in (4, 8, 14)]
    tiles += [("world", z, *tile_of(0.0, 0.0, z)) for z in range(1, 6)]  # z0 is the city's
    return tiles


def sql_floor(
    url: str, tiles: list[tuple[str, int, int, int]], repeat: int
) -> list[dict[str, Any]]:
    engine = create_engine(url, connect_args={"options": "-c jit=off"})
    rows = []
    with engine.connect() as conn:
        for label, z, x, y in tiles:
            get_tile(conn, z, x, y, SequenceFilters())  # warm-up
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                data = get_tile(conn, z, x, y, SequenceFilters())
                times.append((time.perf_counter() - started) * 1000)
            conn.rollback()
            rows.append(
                {
                    "tile": f"{label} {z}/{x}/{y}",
                    "sql_ms": statistics.median(times),
                    "bytes": len(data),
                }
            )
    engine.dispose()
    return rows


def http_p50(url: str, tiles: list[tuple[str, int, int, int]], repeat: int) -> list[float]:
    port = free_port()
    server = start_geoapi(url, port)
    try:
        session = requests.Session()
        result = []
        for _label, z, x, y in tiles:
            tile_url = f"http://127.0.0.1:{port}/tiles/{z}/{x}/{y}.mvt"
            session.get(tile_url, timeout=60).raise_for_status()  # warm-up
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                response = session.get(tile_url, headers={"Accept-Encoding": "gzip"}, timeout=60)
                response.raise_for_status()
                times.append((time.perf_counter() - started) * 1000)
            result.append(percentile(times, 50))
        return result
    finally:
        stop(server)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="10000,100000", help="sequences per size, smallest first"
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-http", action="store_true", help="the SQL floor only")
    args = parser.parse_args()
    sizes = [int(part) for part in args.sizes.split(",")]

    result: dict[str, Any] = {"sizes": {}, "cpus": os.cpu_count()}
    tiles: list[tuple[str, int, int, int]] | None = None
    for sequences in sizes:
        url, imported = ensure_loaded(sequences)
        tiles = tiles or tile_set(url)  # the same tiles at every size: from the smallest
        rows = sql_floor(url, tiles, args.repeat)
        if not args.no_http:
            for row, p50 in zip(rows, http_p50(url, tiles, args.repeat), strict=True):
                row["http_p50_ms"] = p50
        result["sizes"][str(sequences * PHOTOS)] = {"import": imported, "tiles": rows}

    failures = report(result, sizes)
    result["failures"] = failures
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


def report(result: dict[str, Any], sizes: list[int]) -> list[str]:
    """Print the table; return the criteria that fail."""
    runs = [result["sizes"][str(s * PHOTOS)]["tiles"] for s in sizes]
    head = "| tile |" + "".join(
        f" {s * PHOTOS / 1e6:g}M SQL ms | HTTP p50 ms | KB |" for s in sizes
    )
    print(head + (" growth |" if len(sizes) > 1 else ""))
    print("|---|" + "---:|---:|---:|" * len(sizes) + ("---:|" if len(sizes) > 1 else ""))
    failures = []
    for index, first in enumerate(runs[0]):
        cells = [first["tile"]]
        for run in runs:
            row = run[index]
            http = f"{row['http_p50_ms']:.1f}" if "http_p50_ms" in row else "-"
            cells += [f"{row['sql_ms']:.1f}", http, f"{row['bytes'] / 1000:.0f}"]
        last = runs[-1][index]
        if len(runs) > 1:
            growth = last["sql_ms"] / max(first["sql_ms"], 0.01)
            cells.append(f"{growth:.2f}x")
            exempt = last["tile"].startswith(GROWTH_EXEMPT)
            if not exempt and last["sql_ms"] > max(
                first["sql_ms"] * GROWTH_LIMIT, first["sql_ms"] + GROWTH_SLACK_MS
            ):
                failures.append(f"{last['tile']}: {growth:.2f}x slower at the largest size")
        if last["sql_ms"] > SQL_LIMIT_MS:
            failures.append(f"{last['tile']}: {last['sql_ms']:.1f} ms of SQL")
        if last["bytes"] > BYTES_LIMIT:
            failures.append(f"{last['tile']}: {last['bytes']} bytes")
        print("| " + " | ".join(cells) + " |")
    return failures


if __name__ == "__main__":
    sys.exit(main())
