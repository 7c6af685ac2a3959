"""Soak: slow clients against ``geoapi serve`` while /healthz and a tile are probed.

    .venv/bin/python bench/soak.py [--seconds 60] [--slow-headers 200] [--slow-bodies 50]
                                   [--unread-exports 50] [--no-proxy]

Against the bench database (``bench/common.py``), with the command people run (nginx in front of
gunicorn, 2 workers x 4 threads), it holds at once: connections that send their request headers
one byte every second, uploads that send an import body 1 KiB a second, and photo exports that
are requested and then never read. Meanwhile a probe fetches /healthz and a city tile in turn
every 100 ms (5 s timeout each). Reported: probe latency p50/p95/p99/max and failures, and the
database connections left idle in transaction 5 s after the crowd left. Exports beyond the
workers' stream slots (GEOAPI_MAX_STREAMS) are told to retry (503). Target (issue 11): probe
p99 under 1 s.
``--no-proxy`` runs gunicorn alone, for comparison. Writes bench/results/soak[-no-proxy].json.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time

import requests
from common import BENCH_URL, ROOT, ensure_bench_database, free_port, percentile, start_geoapi, stop
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from geoapi.store.users import create_token

TILE = "/tiles/14/8862/5829.mvt"  # the Ljubljana city centre


def slow_headers(port: int, stop_event: threading.Event) -> None:
    """A client trickling its request headers, a byte a second, for as long as it may."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
            for byte in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 500:
                if stop_event.wait(1.0):
                    return
                sock.sendall(bytes([byte]))
    except OSError:
        pass  # the server gave up on it (client_header_timeout): that is the point


def slow_body(port: int, token: str, stop_event: threading.Event) -> None:
    """An upload announcing 1 MiB and sending 1 KiB a second."""
    head = (
        "POST /api/v1/imports/geojson HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {1024 * 1024}\r\n\r\n"
    ).encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
            sock.sendall(head)
            while not stop_event.wait(1.0):
                sock.sendall(b" " * 1024)
    except OSError:
        pass


EXPORTS: list[bytes] = []  # the status line each unread export got (read, then never more)


def unread_export(port: int, stop_event: threading.Event) -> None:
    """An export requested and then never read (past its status line)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
            sock.sendall(
                b"GET /api/v1/exports/sequences.geojson?collection=photos HTTP/1.1\r\n"
                b"Host: 127.0.0.1\r\n\r\n"
            )
            EXPORTS.append(sock.recv(12))
            stop_event.wait(600)
    except OSError:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--slow-headers", type=int, default=200)
    parser.add_argument("--slow-bodies", type=int, default=50)
    parser.add_argument("--unread-exports", type=int, default=50)
    parser.add_argument("--no-proxy", action="store_true")
    args = parser.parse_args()
    url = ensure_bench_database(BENCH_URL)
    engine = create_engine(url)
    with engine.begin() as conn:
        owner = conn.execute(text("SELECT id FROM users WHERE username = 'bench'")).scalar_one()

    with Session(engine) as session:
        token = create_token(session, owner, name="soak")
        session.commit()
    port = free_port()
    extra = ("--no-proxy",) if args.no_proxy else ()
    server = start_geoapi(url, port, 2, 4, *extra)
    stop_event = threading.Event()
    crowd = [
        threading.Thread(target=slow_headers, args=(port, stop_event))
        for _ in range(args.slow_headers)
    ]
    crowd += [
        threading.Thread(target=slow_body, args=(port, token, stop_event))
        for _ in range(args.slow_bodies)
    ]
    crowd += [
        threading.Thread(target=unread_export, args=(port, stop_event))
        for _ in range(args.unread_exports)
    ]
    latencies: list[float] = []
    failures = 0
    idle_seen = 0
    try:
        for thread in crowd:
            thread.start()
        time.sleep(3)  # let the crowd connect and the exports start
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + args.seconds
        probes = 0
        while time.monotonic() < deadline:
            path = "/healthz" if probes % 2 == 0 else TILE
            probes += 1
            started = time.perf_counter()
            try:
                status = requests.get(base + path, timeout=5).status_code
                if status >= 500:
                    failures += 1
            except requests.RequestException:
                failures += 1
                latencies.append(5.0)
                continue
            latencies.append(time.perf_counter() - started)
            time.sleep(0.1)
        stop_event.set()  # the crowd leaves; what does it leave behind?
        time.sleep(5)
        with engine.connect() as conn:
            idle_seen = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'"
                    " AND application_name LIKE 'geoapi%'"
                )
            ).scalar_one()
    finally:
        stop_event.set()
        stop(server)
        engine.dispose()
    ms = [value * 1000 for value in latencies]
    result = {
        "proxy": not args.no_proxy,
        "slow_headers": args.slow_headers,
        "slow_bodies": args.slow_bodies,
        "unread_exports": args.unread_exports,
        "probes": len(ms),
        "failures": failures,
        "p50_ms": round(percentile(ms, 50), 1),
        "p95_ms": round(percentile(ms, 95), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1) if ms else None,
        "exports_streamed": sum(1 for line in EXPORTS if line.endswith(b"200")),
        "exports_told_to_retry": sum(1 for line in EXPORTS if line.endswith(b"503")),
        "idle_in_transaction_after": idle_seen,
    }
    suffix = "-no-proxy" if args.no_proxy else ""
    out = ROOT / "bench" / "results" / f"soak{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
