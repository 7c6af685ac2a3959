"""Small helpers shared by the tests (import as ``from helpers import ...``)."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import make_server

from geoapi.tiling import tile_of as tile_of  # re-exported: the tests import it from here


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_feature(key: str, points: list[tuple[float, float]], **props: Any) -> dict[str, Any]:
    """A Mapillary v3 sequence Feature with one photo per point."""
    properties: dict[str, Any] = {
        "camera_make": "Apple",
        "captured_at": "2020-05-01T10:00:00.000Z",
        "created_at": "2020-05-02T10:00:00.000Z",
        "coordinateProperties": {
            "cas": [float(i * 10 % 360) for i in range(len(points))],
            "image_keys": [f"{key}-img-{i}" for i in range(len(points))],
        },
        "key": key,
        "pano": False,
        "user_key": "user-key-1",
        "username": "someone",
    }
    properties.update(props)
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": {"type": "LineString", "coordinates": [list(p) for p in points]},
    }


def tile_lonlat(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(west, south, east, north) of an XYZ tile."""
    n = 2**z

    def lat(row: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y)


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve a WSGI app over real HTTP on a free 127.0.0.1 port; yields ``http://host:port``."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


ROOT = Path(__file__).resolve().parents[1]
GEOAPI = str(ROOT / ".venv" / "bin" / "geoapi")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def geoapi_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a ``geoapi`` command: this test database, a real secret, no other
    GEOAPI_* variable of the caller's."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GEOAPI_")}
    env.update(
        {
            "GEOAPI_DATABASE_URL": database_url,
            "GEOAPI_SECRET_KEY": "served-by-the-test-suite-" + "s" * 32,
            **extra,
        }
    )
    return env


@dataclass
class Served:
    base: str
    process: subprocess.Popen[str]
    output: str = ""


@contextmanager
def geoapi_serve(env: dict[str, str], *args: str) -> Iterator[Served]:
    """``geoapi serve`` as a real process on a free port, up once /healthz answers; its
    output (access log included) is in ``served.output`` after the block."""
    port = free_port()
    process = subprocess.Popen(
        [GEOAPI, "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = Served(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{served.base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError("geoapi serve did not start")
            time.sleep(0.2)
        yield served
    finally:
        process.terminate()
        served.output, _ = process.communicate(timeout=60)


class RecordingApp:
    """A WSGI app that remembers every request's path and query (what a client really sent)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        query = environ.get("QUERY_STRING", "")
        self.requests.append(environ.get("PATH_INFO", "") + (f"?{query}" if query else ""))
        return self.app(environ, start_response)


def load_demo(app: Any, count: int = 300) -> int:
    """The data of ``geoapi demo`` (the seed example and ``count`` generated sequences) in the
    app's emptied database; returns the number of photos."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from geoapi.cli.demo import load_demo as load

    engine = app.extensions["geoapi.engine"]
    with engine.begin() as conn:
        conn.execute(
            text(
                "TRUNCATE users, api_tokens, mapillary_accounts, mapillary_link_attempts, tags,"
                " sequences, sequence_tags, photos, likes, tours, tour_sequences, tour_tags,"
                " import_jobs RESTART IDENTITY CASCADE"
            )
        )
    with Session(engine) as session:
        load(session, count)
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM photos")).scalar_one())
