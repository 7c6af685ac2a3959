"""Benchmark: vector tiles, geoapi against tipg, on the same viewport tiles of the same database.

    .venv/bin/python bench/tiles.py [--viewports 16] [--concurrency 4] [--workers 2] [--no-tipg]

Loads the bench database once (bench/common.py: 10,000 sequences x 100 photos, a dense city),
picks viewports of 4x3 tiles centred on the data (the dense city first, then sequence starts
spread over the data, deterministic) at z4, z8, z12, z14 and z16, and measures per zoom:

- the raw SQL time of each tile (``geoapi.store.tiles.get_tile`` on a direct connection: the
  database's floor), with JIT off as the service runs it, and on a sample with JIT on and forced;
- ``geoapi serve`` (gunicorn) through its own /tiles.json URL, less its ``v`` (which a client
  follows by a redirect to each tile's pinned URL: the same bytes): one client (latency
  p50/p95), then ``--concurrency`` clients (tiles/s, latency under load); wire and MVT bytes,
  the largest tile;
- tipg (its defaults, installed on first use into bench/.tipg-venv, uvicorn with the same number
  of worker processes) on the same tiles: ``public.sequences`` at every zoom plus
  ``public.photos`` from z14 (two requests for one of our tiles, since tipg serves a table per
  tile), timed the same way.

No cache: geoapi has none on the server and the clients send no If-None-Match; both servers get
one warm-up pass first. Writes bench/results/tiles.json.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from common import (
    BENCH_URL,
    CITY,
    ROOT,
    ensure_bench_database,
    free_port,
    percentile,
    start_geoapi,
    start_tipg,
    stop,
)
from sqlalchemy import create_engine, text

from geoapi.config import load_settings
from geoapi.filters import SequenceFilters
from geoapi.store.tiles import get_tile
from geoapi.tiling import PHOTOS_MINZOOM, TileLimits, tile_of

ZOOMS = (4, 8, 12, 14, 16)
RESULTS = ROOT / "bench" / "results" / "tiles.json"
TILE_LIMIT = 500_000
JIT_SAMPLE = 10  # tiles per zoom timed with JIT on and forced (after the JIT-off pass warmed up)
JIT_MODES = {
    "off": "-c jit=off",
    "on": "-c jit=on",
    "forced": "-c jit=on -c jit_above_cost=0 -c jit_inline_above_cost=0"
    " -c jit_optimize_above_cost=0",
}
Tile = tuple[int, int, int]


# Tiles -------------------------------------------------------------------------------------------


def viewport_centres(url: str, count: int) -> list[tuple[float, float]]:
    """The dense city, then the start points of sequences picked evenly over the data."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT ST_X(ST_StartPoint(geom)), ST_Y(ST_StartPoint(geom)) FROM sequences"
                    " WHERE status = 'published' ORDER BY md5(mapillary_key) LIMIT :n"
                ),
                {"n": count - 1},
            ).all()
    finally:
        engine.dispose()
    return [CITY, *((float(lon), float(lat)) for lon, lat in rows)]


def viewport_tiles(centres: list[tuple[float, float]], z: int) -> list[Tile]:
    """The tiles of 4x3-tile viewports around each centre, each tile once, in viewport order."""
    seen: dict[Tile, None] = {}
    n = 2**z
    for lon, lat in centres:
        cx, cy = tile_of(lon, lat, z)
        for y in range(cy - 1, cy + 2):
            for x in range(cx - 2, cx + 2):
                if 0 <= x < n and 0 <= y < n:
                    seen.setdefault((z, x, y), None)
    return list(seen)


# Measuring ---------------------------------------------------------------------------------------


@dataclass
class Sample:
    seconds: float
    wire_bytes: int
    body_bytes: int
    status: int


@dataclass
class ZoomRun:
    tiles: int = 0
    sequential: list[Sample] = field(default_factory=list)
    concurrent: list[Sample] = field(default_factory=list)
    wall_s: float = 0.0


class Client:
    """One keep-alive HTTP/1.1 connection per server, like a browser's; lean (http.client), so
    that the client's own overhead stays small next to the servers'. Sends Accept-Encoding: gzip."""

    def __init__(self) -> None:
        self.connections: dict[str, http.client.HTTPConnection] = {}

    def get(self, url: str) -> tuple[int, str | None, bytes]:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        for attempt in (1, 2):
            conn = self.connections.get(parts.netloc)
            if conn is None:
                conn = self.connections[parts.netloc] = http.client.HTTPConnection(
                    parts.netloc, timeout=120
                )
            try:
                conn.request("GET", path, headers={"Accept-Encoding": "gzip"})
                response = conn.getresponse()
                return response.status, response.getheader("Content-Encoding"), response.read()
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                del self.connections[parts.netloc]
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def fetch_all(client: Client, urls: list[str], unzip: bool = True) -> Sample:
    """One tile's worth of requests, in order; their times and bytes (unzipped too) summed."""
    seconds = 0.0
    wire = body = 0
    status = 200
    for url in urls:
        started = time.perf_counter()
        code, encoding, data = client.get(url)
        seconds += time.perf_counter() - started
        if code not in (200, 204):
            status = code
        wire += len(data)
        body += len(gzip.decompress(data)) if unzip and encoding == "gzip" else len(data)
    return Sample(seconds, wire, body, status)


def run_zoom(urls_of: Callable[[Tile], list[str]], tiles: list[Tile], concurrency: int) -> ZoomRun:
    """Warm up, then one client over every tile, then ``concurrency`` clients over them all."""
    local = threading.local()

    def client() -> Client:
        if not hasattr(local, "client"):
            local.client = Client()
        current: Client = local.client
        return current

    run = ZoomRun(tiles=len(tiles))
    for tile in tiles:  # warm-up
        fetch_all(client(), urls_of(tile))
    run.sequential = [fetch_all(client(), urls_of(tile)) for tile in tiles]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        started = time.perf_counter()
        run.concurrent = list(
            pool.map(lambda t: fetch_all(client(), urls_of(t), unzip=False), tiles)
        )
        run.wall_s = time.perf_counter() - started
    return run


def sql_times(url: str, options: str, tiles: list[Tile], warm_up: bool = True) -> list[float]:
    """Seconds per tile of the tile statement alone, on one warm connection."""
    timeout = load_settings(overrides={"DATABASE_URL": url}).tile_statement_timeout_ms
    options = f"-c statement_timeout={timeout} {options}"
    engine = create_engine(url, connect_args={"options": options})
    times = []
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            for z, x, y in tiles if warm_up else []:
                get_tile(conn, z, x, y, SequenceFilters(), TileLimits())
            for z, x, y in tiles:
                started = time.perf_counter()
                get_tile(conn, z, x, y, SequenceFilters(), TileLimits())
                times.append(time.perf_counter() - started)
    finally:
        engine.dispose()
    return times


# tipg --------------------------------------------------------------------------------------------


# Report ------------------------------------------------------------------------------------------


def ms(values: list[float], pct: float) -> float:
    return round(percentile(sorted(values), pct) * 1000, 1)


def summarise_server(runs: dict[int, ZoomRun], concurrency: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for z, run in runs.items():
        seq = [s.seconds for s in run.sequential]
        conc = [s.seconds for s in run.concurrent]
        bodies = [s.body_bytes for s in run.sequential]
        out[str(z)] = {
            "tiles": run.tiles,
            "p50_ms": ms(seq, 50),
            "p95_ms": ms(seq, 95),
            "loaded_p50_ms": ms(conc, 50),
            "loaded_p95_ms": ms(conc, 95),
            "tiles_per_s": round(run.tiles / run.wall_s, 1) if run.wall_s else 0.0,
            "clients": concurrency,
            "mvt_bytes_total": sum(bodies),
            "mvt_bytes_mean": round(sum(bodies) / max(len(bodies), 1)),
            "wire_bytes_total": sum(s.wire_bytes for s in run.sequential),
            "largest_tile_bytes": max(bodies, default=0),
            "errors": sum(1 for s in run.sequential + run.concurrent if s.status >= 300),
        }
    total_tiles = sum(run.tiles for run in runs.values())
    total_wall = sum(run.wall_s for run in runs.values())
    out["all"] = {"tiles": total_tiles, "tiles_per_s": round(total_tiles / total_wall, 1)}
    return out


def print_table(result: dict[str, Any]) -> None:
    geo, sql, tipg = result["geoapi"], result["sql"], result.get("tipg")
    head = (
        f"{'zoom':>4} {'tiles':>5} | {'SQL p50':>7} {'HTTP p50':>8} {'p95':>6} {'x SQL':>5}"
        f" | {'tiles/s':>7} {'ld p50':>6} {'ld p95':>6} | {'MVT KB':>7} {'wire KB':>7}"
        f" {'max KB':>6}"
    )
    if tipg:
        head += f" || {'tipg p50':>8} {'p95':>6} {'tiles/s':>7} {'max KB':>6} {'speedup':>7}"
    print(head)
    print("-" * len(head))
    for z in map(str, ZOOMS):
        g, s = geo[z], sql["off"][z]
        ratio = g["p50_ms"] / s["p50_ms"] if s["p50_ms"] else 0.0
        line = (
            f"{z:>4} {g['tiles']:>5} | {s['p50_ms']:>7} {g['p50_ms']:>8} {g['p95_ms']:>6}"
            f" {ratio:>5.2f} | {g['tiles_per_s']:>7} {g['loaded_p50_ms']:>6}"
            f" {g['loaded_p95_ms']:>6} | {g['mvt_bytes_mean'] / 1000:>7.1f}"
            f" {g['wire_bytes_total'] / g['tiles'] / 1000:>7.1f}"
            f" {g['largest_tile_bytes'] / 1000:>6.1f}"
        )
        if tipg:
            t = tipg[z]
            speedup = g["tiles_per_s"] / t["tiles_per_s"] if t["tiles_per_s"] else 0.0
            line += (
                f" || {t['p50_ms']:>8} {t['p95_ms']:>6} {t['tiles_per_s']:>7}"
                f" {t['largest_tile_bytes'] / 1000:>6.1f} {speedup:>6.1f}x"
            )
        print(line)
    all_geo = geo["all"]["tiles_per_s"]
    print(f"\nall zooms: geoapi {all_geo} tiles/s", end="")
    if tipg:
        all_tipg = tipg["all"]["tiles_per_s"]
        print(f", tipg {all_tipg} tiles/s ({all_geo / all_tipg:.1f}x)", end="")
    print()
    print("HTTP (one client) vs SQL floor: per-tile overhead p50; p50s over tiles with data:")
    for z in map(str, ZOOMS):
        c = result["http_vs_sql"][z]
        ratio = c["data_http_p50_ms"] / c["data_sql_p50_ms"] if c["data_sql_p50_ms"] else 0.0
        print(
            f"  z{z:<3} overhead {c['overhead_p50_ms']:>4} ms | {c['data_tiles']:>3} tiles with"
            f" data: SQL {c['data_sql_p50_ms']:>5} ms, HTTP {c['data_http_p50_ms']:>5} ms"
            f" ({ratio:.2f}x)"
        )
    print("SQL p50 ms by JIT mode (sample of", JIT_SAMPLE, "tiles per zoom):")
    for mode in JIT_MODES:
        cells = "  ".join(f"z{z} {sql[mode][str(z)]['p50_ms']}" for z in ZOOMS)
        print(f"  jit {mode:<6} {cells}")


def compare_http_sql(runs: dict[int, ZoomRun], sql: dict[int, list[float]]) -> dict[str, Any]:
    """Per zoom: HTTP (one client) against the SQL floor, tile by tile, on all tiles and on the
    tiles that hold data (not 204)."""
    out: dict[str, Any] = {}
    for z, run in runs.items():
        http = [sample.seconds for sample in run.sequential]
        data = [i for i, sample in enumerate(run.sequential) if sample.body_bytes > 0]
        out[str(z)] = {
            "data_tiles": len(data),
            "overhead_p50_ms": ms([h - q for h, q in zip(http, sql[z], strict=True)], 50),
            "data_sql_p50_ms": ms([sql[z][i] for i in data], 50),
            "data_http_p50_ms": ms([http[i] for i in data], 50),
        }
    return out


def summarise_sql(times: dict[int, list[float]]) -> dict[str, Any]:
    return {str(z): {"p50_ms": ms(v, 50), "p95_ms": ms(v, 95)} for z, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewports", type=int, default=16, help="viewports per zoom")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--threads", type=int, default=4, help="geoapi threads per worker")
    parser.add_argument("--no-tipg", action="store_true", help="benchmark geoapi only")
    args = parser.parse_args()

    url = ensure_bench_database(BENCH_URL)
    centres = viewport_centres(url, args.viewports)
    tiles = {z: viewport_tiles(centres, z) for z in ZOOMS}
    print(
        f"{sum(map(len, tiles.values()))} tiles: "
        + ", ".join(f"z{z} {len(t)}" for z, t in tiles.items()),
        file=sys.stderr,
    )

    result: dict[str, Any] = {
        "command": "python bench/tiles.py " + " ".join(sys.argv[1:]),
        "viewports": args.viewports,
        "concurrency": args.concurrency,
        "workers": args.workers,
        "zooms": list(ZOOMS),
        "sql": {},
        "load_average_before": [round(v, 2) for v in os.getloadavg()],
    }
    for mode, options in JIT_MODES.items():
        print(f"timing SQL (jit {mode}) ...", file=sys.stderr)
        times = {}
        for z, zoom_tiles in tiles.items():
            sample = zoom_tiles if mode == "off" else zoom_tiles[:JIT_SAMPLE]
            times[z] = sql_times(url, options, sample, warm_up=mode == "off")
        result["sql"][mode] = summarise_sql(times)
        if mode == "off":
            sql_off = times

    servers: dict[str, Callable[[Tile], list[str]]] = {}
    procs = []
    try:
        port = free_port()
        print(f"geoapi serve on :{port} ...", file=sys.stderr)
        procs.append(start_geoapi(url, port, workers=args.workers, threads=args.threads))
        base = f"http://127.0.0.1:{port}"
        # TileJSON's template carries the data version, which the server redirects to each
        # tile's pinned URL; the bench times the tiles themselves, by the unpinned URL (the same
        # bytes, one statement, as an ETag-revalidating client sends it).
        template = requests.get(f"{base}/tiles.json", timeout=30).json()["tiles"][0]
        template = re.sub(r"([?&])v=\d+&?", r"\1", template).rstrip("?&")

        def geoapi_urls(tile: Tile) -> list[str]:
            z, x, y = tile
            return [template.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))]

        servers["geoapi"] = geoapi_urls
        if not args.no_tipg:
            port = free_port()
            print(f"tipg on :{port} ...", file=sys.stderr)
            procs.append(start_tipg(url, port, args.workers))
            tipg_base = f"http://127.0.0.1:{port}/collections"

            def tipg_urls(tile: Tile) -> list[str]:
                z, x, y = tile
                tables = ["sequences"] + (["photos"] if z >= PHOTOS_MINZOOM else [])
                return [f"{tipg_base}/public.{t}/tiles/WebMercatorQuad/{z}/{x}/{y}" for t in tables]

            servers["tipg"] = tipg_urls
        # Zoom by zoom, the servers take turns (first one, then the other first), so that
        # background load on a shared machine falls on both alike.
        runs: dict[str, dict[int, ZoomRun]] = {name: {} for name in servers}
        for turn, z in enumerate(ZOOMS):
            order = list(servers) if turn % 2 == 0 else list(reversed(servers))
            for name in order:
                print(f"  z{z} {name} ...", file=sys.stderr)
                runs[name][z] = run_zoom(servers[name], tiles[z], args.concurrency)
    finally:
        for proc in procs:
            stop(proc)
    result["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    for name, server_runs in runs.items():
        result[name] = summarise_server(server_runs, args.concurrency)
    result["http_vs_sql"] = compare_http_sql(runs["geoapi"], sql_off)
    result["geoapi"]["tiles_over_500kb_at"] = [
        z
        for z, run in runs["geoapi"].items()
        if any(s.body_bytes >= TILE_LIMIT for s in run.sequential)
    ]

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
