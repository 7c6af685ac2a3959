"""Benchmark: ``geoapi import`` end to end on generated sequences (default 10,000 x 100 photos).

    .venv/bin/python bench/import_bench.py [--sequences 10000] [--photos 100] [--files 100]

Generates the data once into bench/data/ (deterministic), imports it with the real command
into a fresh database (``geoapi_bench_import``, dropped and re-created), and reports wall time,
photos per second and the importer process's peak RSS. Then it checks the database holds every
sequence and photo exactly once, and that a second run of the same command imports nothing.
Target (issue 2): >= 20,000 photos/s, peak RSS < 1 GB on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geoapi.store.provision import drop_database, ensure_database  # noqa: E402
from geoapi.synthetic import generate_features, write_feature_collections  # noqa: E402

GEOAPI = str(ROOT / ".venv" / "bin" / "geoapi")
DEFAULT_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/geoapi_bench_import"


def ensure_data(sequences: int, photos: int, files: int) -> list[Path]:
    out = ROOT / "bench" / "data" / f"import-{sequences}x{photos}-{files}"
    done = out / "DONE"
    if not done.exists():
        out.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        per_file = -(-sequences // files)
        write_feature_collections(
            generate_features(sequences, photos, seed=1), out, files=files, per_file=per_file
        )
        done.write_text("ok")
        print(f"generated {sequences} x {photos} in {time.perf_counter() - started:.1f}s -> {out}")
    return sorted(out.glob("sequences-*.json"))


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stdout, result.stderr, file=sys.stderr)
        raise SystemExit(f"command failed: {' '.join(cmd[:3])} ... ({result.returncode})")
    return elapsed, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=10_000)
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--url", default=os.environ.get("GEOAPI_BENCH_IMPORT_URL", DEFAULT_URL))
    args = parser.parse_args()

    files = ensure_data(args.sequences, args.photos, args.files)
    drop_database(args.url)
    ensure_database(args.url)
    env = {**os.environ, "GEOAPI_DATABASE_URL": args.url, "GEOAPI_LOG_LEVEL": "WARNING"}
    run([GEOAPI, "db", "upgrade"], env)
    run([GEOAPI, "users", "create", "bench"], env)

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    elapsed, output = run([GEOAPI, "import", *map(str, files), "--user", "bench", "--quiet"], env)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    photos = args.sequences * args.photos

    engine = create_engine(args.url)
    with engine.connect() as conn:
        counts = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM sequences) AS sequences,"
                " (SELECT count(*) FROM photos) AS photos,"
                " (SELECT count(DISTINCT image_key) FROM photos) AS keys"
            )
        ).one()
    engine.dispose()
    rerun_elapsed, rerun_output = run(
        [GEOAPI, "import", *map(str, files), "--user", "bench", "--quiet"], env
    )
    result = {
        "sequences": args.sequences,
        "photos": photos,
        "files": len(files),
        "seconds": round(elapsed, 2),
        "photos_per_second": round(photos / elapsed),
        "peak_rss_mb": round(max(peak_kb, before) / 1024, 1),
        "db_sequences": counts.sequences,
        "db_photos": counts.photos,
        "db_distinct_image_keys": counts.keys,
        "rerun_seconds": round(rerun_elapsed, 2),
        "import_output": output.strip().splitlines()[-1],
        "rerun_output": rerun_output.strip().splitlines()[-1],
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "import.json").write_text(json.dumps(result, indent=2))
    ok = counts.sequences == args.sequences and counts.photos == counts.keys == photos
    if not ok:
        raise SystemExit("the database does not hold every sequence and photo exactly once")


if __name__ == "__main__":
    main()
