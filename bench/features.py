"""Benchmark: OGC API Features bbox pages of 1,000 features, geoapi against tipg, same database;
and filtered pages: a CQL2 filter on a property plus S_INTERSECTS with the viewport's polygon.

    .venv/bin/python bench/features.py [--pages 10] [--concurrency 4] [--workers 2] [--no-tipg]

Loads the bench database once (bench/common.py: 10,000 sequences x 100 photos, a dense city),
serves it with ``geoapi serve`` and with tipg (installed on first use into bench/.tipg-venv,
served by uvicorn with the same number of worker processes), then for each viewport and
collection walks ``--pages`` pages of ``limit=1000`` from the first page through the servers'
own ``next`` links (geoapi: keyset cursor; tipg: offset). Reported per server and collection:
sequential latency p50/p95 of first and deep pages, and pages/s when every recorded page URL is
replayed by ``--concurrency`` client threads. The filtered walks ("sequences+cql",
"photos+cql") send the same CQL2 text to both servers (only the geometry's name differs:
``geometry`` in geoapi's queryables, the column ``geom`` in tipg's). Writes
bench/results/features.json.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests
from common import (
    BENCH_URL,
    ROOT,
    ensure_bench_database,
    free_port,
    percentile,
    start_geoapi,
    start_tipg,
    stop,
)

RESULTS = ROOT / "bench" / "results" / "features.json"
LIMIT = 1000
# Viewports (minlon, minlat, maxlon, maxlat): the dense city, two busy 1-degree cells, two
# continental boxes and the world.
VIEWPORTS: dict[str, tuple[float, float, float, float]] = {
    "ljubljana": (14.40, 45.98, 14.62, 46.13),
    "beijing-cell": (116.0, 40.0, 117.0, 41.0),
    "buenos-aires-cell": (-59.0, -35.0, -58.0, -34.0),
    "europe": (-10.0, 35.0, 40.0, 60.0),
    "east-asia": (60.0, 0.0, 145.0, 50.0),
    "world": (-180.0, -90.0, 180.0, 90.0),
}
COLLECTIONS = ("sequences", "photos")
# Filtered walks: collection + CQL2 property condition (same text for both servers).
FILTERS = {"sequences+cql": "camera_make = 'Apple'", "photos+cql": "ca < 180"}
FILTER_VIEWPORTS = ("ljubljana", "buenos-aires-cell", "europe")
KINDS = (*COLLECTIONS, *FILTERS)


@dataclass
class Sample:
    url: str
    collection: str
    viewport: str
    page: int  # 0 = first page
    seconds: float
    features: int
    size: int


@dataclass
class ServerRun:
    name: str
    samples: list[Sample] = field(default_factory=list)
    throughput: dict[str, float] = field(default_factory=dict)  # collection -> pages/s


def items_url(base: str, server: str, kind: str, bbox: tuple[float, ...]) -> str:
    """A first page: a bbox for a plain walk; a CQL2 filter with S_INTERSECTS for a filtered one."""
    collection = kind.split("+")[0]
    cid = collection if server == "geoapi" else f"public.{collection}"
    if kind in FILTERS:
        w, s, e, n = bbox
        polygon = f"POLYGON(({w} {s}, {e} {s}, {e} {n}, {w} {n}, {w} {s}))"
        geometry = "geometry" if server == "geoapi" else "geom"
        cql = f"{FILTERS[kind]} AND S_INTERSECTS({geometry}, {polygon})"
        return f"{base}/collections/{cid}/items?" + urlencode({"filter": cql, "limit": LIMIT})
    box = ",".join(str(v) for v in bbox)
    return f"{base}/collections/{cid}/items?bbox={box}&limit={LIMIT}"


def fetch(session: requests.Session, url: str) -> tuple[float, dict[str, Any], int]:
    started = time.perf_counter()
    response = session.get(url, timeout=120)
    body = response.content
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{url} -> {response.status_code}: {body[:300]!r}")
    return elapsed, json.loads(body), len(body)


def next_link(body: dict[str, Any], base: str) -> str | None:
    for link in body.get("links", []):
        if link.get("rel") == "next":
            href: str = link["href"]
            return href if href.startswith("http") else base + href
    return None


def walk(run: ServerRun, base: str, pages: int, collection: str, viewport: str) -> None:
    """The first page and up to ``pages - 1`` deep pages of one viewport, sequentially."""
    session = requests.Session()
    url: str | None = items_url(base, run.name, collection, VIEWPORTS[viewport])
    for page in range(pages):
        if url is None:
            break
        seconds, body, size = fetch(session, url)
        count = len(body["features"])
        run.samples.append(Sample(url, collection, viewport, page, seconds, count, size))
        url = next_link(body, base)


def replay(run: ServerRun, urls: list[str], concurrency: int) -> tuple[int, float]:
    """``urls`` fetched by ``concurrency`` threads (bodies read, not parsed): (pages, seconds)."""
    local = threading.local()

    def get(url: str) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        response = local.session.get(url, timeout=120)
        if response.status_code != 200 or not response.content:
            raise RuntimeError(f"{url} -> {response.status_code}")

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(get, urls))
    return len(urls), time.perf_counter() - started


def bench(servers: dict[str, str], pages: int, concurrency: int, rounds: int) -> list[ServerRun]:
    """Both servers side by side: walks alternate per viewport and replays alternate per round,
    so background load on a shared machine hits both alike."""
    runs = {name: ServerRun(name) for name in servers}
    for collection in KINDS:
        for viewport in FILTER_VIEWPORTS if collection in FILTERS else VIEWPORTS:
            for name, base in servers.items():  # warm-up: connections, caches, plans
                walk(ServerRun(name), base, 2, collection, viewport)
            for name, base in servers.items():
                walk(runs[name], base, pages, collection, viewport)
    for collection in KINDS:
        totals = {name: [0, 0.0] for name in servers}
        for _ in range(rounds):
            for name in servers:
                urls = [s.url for s in runs[name].samples if s.collection == collection]
                count, seconds = replay(runs[name], urls, concurrency)
                totals[name][0] += count
                totals[name][1] += seconds
        for name, (count, seconds) in totals.items():
            runs[name].throughput[collection] = count / seconds
    return list(runs.values())


def summarise(run: ServerRun) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for collection in KINDS:
        mine = [s for s in run.samples if s.collection == collection]
        first = [s.seconds * 1000 for s in mine if s.page == 0]
        deep = [s.seconds * 1000 for s in mine if s.page > 0]
        out[collection] = {
            "pages": len(mine),
            "features": sum(s.features for s in mine),
            "mean_kb": sum(s.size for s in mine) / max(len(mine), 1) / 1024,
            "first_p50_ms": percentile(first, 50),
            "first_p95_ms": percentile(first, 95),
            "deep_p50_ms": percentile(deep, 50),
            "deep_p95_ms": percentile(deep, 95),
            "pages_per_s": run.throughput[collection],
        }
    return out


def check_same_results(runs: list[ServerRun]) -> list[str]:
    """Both servers must return the same number of features per viewport walk."""
    notes = []
    if len(runs) < 2:
        return notes
    counts = [{(s.collection, s.viewport): 0 for s in run.samples} for run in runs]
    for run, table in zip(runs, counts, strict=True):
        for s in run.samples:
            table[(s.collection, s.viewport)] += s.features
    for key, mine in counts[0].items():
        theirs = counts[1].get(key)
        if theirs != mine:
            notes.append(f"{key}: geoapi {mine} features, tipg {theirs}")
    return notes


def print_table(summary: dict[str, dict[str, Any]]) -> None:
    head = f"{'server':8} {'collection':13} {'pages':>5} {'KB/page':>8} {'first p50':>10} "
    head += f"{'first p95':>10} {'deep p50':>9} {'deep p95':>9} {'pages/s':>8}"
    print(head)
    for server, per in summary.items():
        for collection, s in per.items():
            print(
                f"{server:8} {collection:13} {s['pages']:5d} {s['mean_kb']:8.0f} "
                f"{s['first_p50_ms']:8.1f}ms {s['first_p95_ms']:8.1f}ms "
                f"{s['deep_p50_ms']:7.1f}ms {s['deep_p95_ms']:7.1f}ms {s['pages_per_s']:8.1f}"
            )
    if "tipg" in summary:
        for collection in KINDS:
            ratio = (
                summary["geoapi"][collection]["pages_per_s"]
                / summary["tipg"][collection]["pages_per_s"]
            )
            print(f"geoapi / tipg throughput, {collection}: {ratio:.1f}x (target >= 2x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=BENCH_URL)
    parser.add_argument("--pages", type=int, default=10, help="pages walked per viewport")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads in replay")
    parser.add_argument("--rounds", type=int, default=2, help="replays of the recorded pages")
    parser.add_argument("--workers", type=int, default=2, help="server processes (both servers)")
    parser.add_argument("--no-tipg", action="store_true", help="benchmark geoapi only")
    args = parser.parse_args()

    url = ensure_bench_database(args.url)
    procs = []
    servers: dict[str, str] = {}
    try:
        port = free_port()
        procs.append(start_geoapi(url, port, workers=args.workers))
        servers["geoapi"] = f"http://127.0.0.1:{port}"
        if not args.no_tipg:
            port = free_port()
            procs.append(start_tipg(url, port, args.workers))
            servers["tipg"] = f"http://127.0.0.1:{port}"
        runs = bench(servers, args.pages, args.concurrency, args.rounds)
    finally:
        for proc in procs:
            stop(proc)

    summary = {run.name: summarise(run) for run in runs}
    print_table(summary)
    notes = check_same_results(runs)
    for note in notes:
        print("result mismatch:", note)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "settings": vars(args) | {"limit": LIMIT, "viewports": VIEWPORTS},
                "summary": summary,
                "mismatches": notes,
                "samples": {run.name: [asdict(s) for s in run.samples] for run in runs},
            },
            indent=1,
        )
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
