"""Benchmark: a 60 MB Mapillary v3 document imported over HTTP (``POST /api/v1/imports/geojson``).

    .venv/bin/python bench/http_import.py [--sequences 10000] [--photos 100]

The document is the import benchmark's data (deterministic, ``bench/data/``) as one
FeatureCollection; it is posted to ``geoapi serve`` (nginx in front, 1 worker) on a fresh
database (``geoapi_bench_http``) with a streamed body. Reported: wall time, photos per second,
and the peak RSS of the gunicorn worker that served it (sampled from /proc every 50 ms), then a
second post of the same document (everything ``exists``). Target (issue 11): >= 10,000
photos/s with worker RSS under 200 MB. Writes bench/results/http_import.json.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import requests
from common import ROOT, free_port, start_geoapi, stop
from import_bench import ensure_data
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from geoapi.store.migrations import upgrade
from geoapi.store.provision import drop_database, ensure_database
from geoapi.store.users import create_token, find_user

URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/geoapi_bench_http"
JSON = "application/json"


def one_document(files: list[Path], out: Path) -> Path:
    """The files' features as one FeatureCollection, written once."""
    if not out.exists():
        with out.open("w", encoding="utf-8") as handle:
            handle.write('{"type":"FeatureCollection","features":[')
            first = True
            for path in files:
                for feature in json.loads(path.read_text())["features"]:
                    handle.write(("" if first else ",") + json.dumps(feature))
                    first = False
            handle.write("]}")
    return out


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


class PeakRss(threading.Thread):
    """The highest RSS of any gunicorn worker (the master's children but nginx) while running."""

    def __init__(self, master: int) -> None:
        super().__init__(daemon=True)
        self.master, self.peak_kb, self.stop_event = master, 0, threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(0.05):
            for child in _children(self.master):
                try:
                    if "nginx" in Path(f"/proc/{child}/cmdline").read_text():
                        continue
                    self.peak_kb = max(self.peak_kb, _rss_kb(child))
                except OSError:
                    continue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=10_000)
    parser.add_argument("--photos", type=int, default=100)
    args = parser.parse_args()
    files = ensure_data(args.sequences, args.photos, 100)
    document = one_document(files, files[0].parent / "one-document.geojson")
    size_mb = document.stat().st_size / 1e6
    drop_database(URL)
    ensure_database(URL)
    engine = create_engine(URL)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (username) VALUES ('bench')"))

    with Session(engine) as session:
        user = find_user(session, "bench")
        assert user is not None
        token = create_token(session, user.id)
        session.commit()
    port = free_port()
    server = start_geoapi(URL, port, 1, 4, max_import_bytes=str(64 * 1024 * 1024))
    results: dict[str, object] = {"document_mb": round(size_mb, 1)}
    try:
        for run in ("first", "again"):
            sampler = PeakRss(server.pid)
            sampler.start()
            started = time.perf_counter()
            with document.open("rb") as body:
                answer = requests.post(
                    f"http://127.0.0.1:{port}/api/v1/imports/geojson",
                    data=body,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/json",
                    },
                    timeout=3600,
                )
            elapsed = time.perf_counter() - started
            sampler.stop_event.set()
            sampler.join()
            report = answer.json()
            photos = args.sequences * args.photos
            results[run] = {
                "status": answer.status_code,
                "seconds": round(elapsed, 2),
                "photos_per_second": round(photos / elapsed),
                "worker_peak_rss_mb": round(sampler.peak_kb / 1024, 1),
                "imported": report.get("imported"),
                "exists": report.get("exists"),
                "failed": report.get("failed"),
            }
            print(run, json.dumps(results[run]))
    finally:
        stop(server)
    with engine.connect() as conn:
        counts = conn.execute(text("SELECT count(*), count(DISTINCT image_key) FROM photos")).one()
    engine.dispose()
    results["db_photos"], results["db_distinct_image_keys"] = counts
    out = ROOT / "bench" / "results" / "http_import.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
