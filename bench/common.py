"""Shared by the serving benchmarks (features, tiles): the bench database, servers, timing.

``ensure_bench_database(url)`` creates ``geoapi_bench`` (PostGIS), migrates it and, only when it
holds no sequences, bulk-imports 10,000 generated sequences x 100 photos (10% of them in a dense
city, Ljubljana) with ``geoapi.store.importer.import_records``. Deterministic: the same
arguments give the same data, so figures from different runs compare.
"""

from __future__ import annotations

import itertools
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from geoapi.store.importer import import_records  # noqa: E402
from geoapi.store.migrations import upgrade  # noqa: E402
from geoapi.store.provision import ensure_database  # noqa: E402
from geoapi.store.users import create_user, find_user  # noqa: E402
from geoapi.synthetic import generate_features  # noqa: E402
from geoapi.validation import ImportOptions, parse_features  # noqa: E402

BENCH_URL = os.environ.get(
    "GEOAPI_BENCH_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/geoapi_bench"
)
CITY = (14.5058, 46.0569)  # Ljubljana: the dense city area
CITY_SHARE = 0.1
SEED = 7
GEOAPI = str(ROOT / ".venv" / "bin" / "geoapi")
# Transport types and tags spread over the generated sequences (deterministic by index).
TRANSPORT_TYPES = ["Walk", "Bicycle", "Car", "Walk", "Electric Scooter", "Kayak", "Ski", "Drone"]
TAGS = [["city"], ["trail", "forest"], [], ["coast"], ["city", "night"], [], ["mountain"], []]


def _decorated(sequences: int, photos: int) -> Iterator[dict[str, Any]]:
    features = generate_features(sequences, photos, seed=SEED, city=CITY, city_share=CITY_SHARE)
    for index, feature in enumerate(features):
        props = feature["properties"]
        props["transport_type"] = TRANSPORT_TYPES[index % len(TRANSPORT_TYPES)]
        props["tags"] = TAGS[index % len(TAGS)]
        props["title"] = f"Bench sequence {index}"
        yield feature


def ensure_bench_database(url: str = BENCH_URL, sequences: int = 10_000, photos: int = 100) -> str:
    """Create, migrate and (only when it has no sequences) load the bench database; return url."""
    ensure_database(url)
    engine = create_engine(url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            present = conn.execute(text("SELECT count(*) FROM sequences")).scalar_one()
        if present:
            return url
        with Session(engine) as session:
            owner = find_user(session, "bench") or create_user(session, "bench")
            session.commit()
        started = time.perf_counter()
        records = parse_features(_decorated(sequences, photos), ImportOptions(source="bench"))
        outcomes = import_records(engine, owner.id, records, source="bench")
        for done, outcome in enumerate(outcomes, start=1):
            if outcome.status == "failed":
                raise RuntimeError(f"bench import failed: {outcome.reason}")
            if done % 1000 == 0:
                print(f"  loaded {done}/{sequences} sequences", file=sys.stderr, flush=True)
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        elapsed = time.perf_counter() - started
        print(f"loaded {sequences} x {photos} into {url} in {elapsed:.0f}s", file=sys.stderr)
    finally:
        engine.dispose()
    return url


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(url: str, timeout: float = 60.0) -> None:
    """Poll ``url`` until it answers (any status below 500)."""
    import requests

    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up within {timeout:.0f}s")
        time.sleep(0.2)


def start_geoapi(
    url: str, port: int, workers: int = 2, threads: int = 4, *extra: str, **settings: str
) -> subprocess.Popen[bytes]:
    """``geoapi serve`` on ``port`` against ``url`` (output discarded), as ``make run`` serves
    (nginx in front); ``extra`` arguments and ``GEOAPI_*`` ``settings`` added; caller stops it."""
    env = {
        **os.environ,
        "GEOAPI_DATABASE_URL": url,
        "GEOAPI_LOG_LEVEL": "WARNING",
        "GEOAPI_SECRET_KEY": secrets.token_urlsafe(48),
        **{f"GEOAPI_{name.upper()}": value for name, value in settings.items()},
    }
    cmd = [GEOAPI, "serve", "--port", str(port), "--workers", str(workers)]
    cmd += ["--threads", str(threads), *extra]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(f"http://127.0.0.1:{port}/healthz")
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (0-100) by linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return ([min(values), *cuts, max(values)])[round(pct)]


def chunked(items: list[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


# tipg, the peer both benchmarks run against -------------------------------------------------

TIPG_VENV = ROOT / "bench" / ".tipg-venv"


def ensure_tipg() -> Path:
    """tipg and uvicorn in their own venv (bench/.tipg-venv), installed once."""
    uvicorn = TIPG_VENV / "bin" / "uvicorn"
    if not uvicorn.exists():
        print("installing tipg into bench/.tipg-venv ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
        pip = str(TIPG_VENV / "bin" / "pip")
        subprocess.run([pip, "install", "-q", "tipg", "uvicorn"], check=True)
    return uvicorn


def start_tipg(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    """tipg with its defaults on the bench database (asyncpg wants a plain postgresql:// URL)."""
    env = {
        **os.environ,
        "DATABASE_URL": url.replace("postgresql+psycopg2://", "postgresql://"),
        "TIPG_DEBUG": "FALSE",
    }
    cmd = [str(ensure_tipg()), "tipg.main:app", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(f"http://127.0.0.1:{port}/collections", timeout=120)
    return proc
