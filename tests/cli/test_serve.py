"""``geoapi serve`` as people run it: nginx in front of gunicorn. Slow clients do not starve it,
and the servers' own answers (405, 413, 414, 431) are problem+json like the app's."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from helpers import bearer, geoapi_env, geoapi_serve, make_feature
from sqlalchemy import Engine, text

MakeUser = Any
pytestmark = pytest.mark.slow


@pytest.fixture(name="served", scope="module")
def served_fixture(database_url: str) -> Iterator[Any]:
    # One worker, one thread: anything that held a thread would stall every other request.
    env = geoapi_env(database_url, GEOAPI_MAX_IMPORT_BYTES=str(256 * 1024))
    with geoapi_serve(env, "--workers", "1", "--threads", "1") as served:
        yield served


def _problem(answer: requests.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    assert body["status"] == status
    return body


def test_the_servers_own_errors_are_problem_json(served: Any, make_user: MakeUser) -> None:
    _user, token = make_user("big")
    _problem(requests.get(f"{served.base}/{'a' * 20_000}", timeout=5), 414)
    # nginx answers TRACE itself (never forwarded): a 405 with the route's Allow, like the app.
    trace = requests.request("TRACE", f"{served.base}/api/v1/tours?limit=1", timeout=5)
    _problem(trace, 405)
    assert trace.headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    put = requests.put(f"{served.base}/api/v1/tours?limit=1", timeout=5)
    assert put.status_code == 405 and set(put.headers["Allow"].split(", ")) == {
        "GET",
        "HEAD",
        "OPTIONS",
        "POST",
    }
    _problem(
        requests.get(f"{served.base}/healthz", headers={"X-Big": "b" * 20_000}, timeout=5), 431
    )
    url = f"{served.base}/api/v1/imports/geojson"
    big = b"x" * (300 * 1024)
    body = _problem(requests.post(url, data=big, headers=bearer(token), timeout=10), 413)
    assert str(256 * 1024) in body["detail"]
    # Chunked (no Content-Length): refused as too large too, not "not valid JSON".
    chunks = (big[i : i + 8192] for i in range(0, len(big), 8192))
    _problem(requests.post(url, data=chunks, headers=bearer(token), timeout=10), 413)


def test_a_chunked_import_under_the_limit_goes_through(
    served: Any, make_user: MakeUser, engine: Engine
) -> None:
    _user, token = make_user("chunks")
    document = str(make_feature("chunked-1", [(1.0, 1.0), (1.0001, 1.0)])).replace("'", '"')
    document = document.replace("False", "false").replace("None", "null")
    payload = document.encode()
    chunks = (payload[i : i + 64] for i in range(0, len(payload), 64))
    answer = requests.post(
        f"{served.base}/api/v1/imports/geojson",
        data=chunks,
        headers={**bearer(token), "Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM photos")).scalar_one() == 2


def _trickle(base: str, stop: threading.Event) -> None:
    """A client sending its headers one byte at a time, never finishing."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        for byte in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ":
            if stop.wait(0.05):
                return
            sock.sendall(bytes([byte]))
        stop.wait(20)


def test_slow_and_unread_clients_do_not_hold_the_only_thread(
    served: Any, make_user: MakeUser, engine: Engine
) -> None:
    owner, _token = make_user("exporter")
    with engine.begin() as conn:  # enough photos that an export does not fit in socket buffers
        conn.execute(text("SET LOCAL statement_timeout = 0"))
        conn.execute(
            text(
                "INSERT INTO sequences (owner_id, mapillary_key, title, geom, photo_count)"
                " SELECT :o, 'slow-' || i, 'slow', ST_SetSRID(ST_MakeLine(ST_MakePoint(i*1e-4, 0),"
                " ST_MakePoint(i*1e-4, 0.01)), 4326), 100 FROM generate_series(1, 200) i"
            ),
            {"o": owner.id},
        )
        conn.execute(
            text(
                "INSERT INTO photos (sequence_id, image_key, position, geom) SELECT s.id,"
                " s.mapillary_key || '-' || p, p, ST_SetSRID(ST_MakePoint(0, p * 1e-4), 4326)"
                " FROM sequences s, generate_series(0, 99) p"
            )
        )
    stop = threading.Event()
    tricklers = [threading.Thread(target=_trickle, args=(served.base, stop)) for _ in range(20)]
    unread = [
        requests.get(
            f"{served.base}/api/v1/exports/sequences.geojson?collection=photos",
            stream=True,
            timeout=10,
        )
        for _ in range(5)
    ]
    try:
        for thread in tricklers:
            thread.start()
        for response in unread:
            assert response.status_code == 200  # answered, and never read
        # The one gunicorn thread is free: nginx holds the slow and the unread.
        for _ in range(5):
            assert requests.get(f"{served.base}/healthz", timeout=5).status_code == 200
            tile = requests.get(f"{served.base}/tiles/0/0/0.mvt", timeout=5)
            assert tile.status_code in (200, 204)
    finally:
        stop.set()
        for response in unread:
            response.close()
        for thread in tricklers:
            thread.join(5)
    with engine.connect() as conn:
        idle = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'"
                " AND application_name LIKE 'geoapi%'"
            )
        ).scalar_one()
    assert idle == 0  # every export finished its transaction (nginx took the whole stream)
