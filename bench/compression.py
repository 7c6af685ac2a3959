"""Benchmark: what gzip and Brotli cost and save on real items pages and exports.

    .venv/bin/python bench/compression.py [--repeat 5]

Builds pages from the bench database (bench/common.py) through the app in process: a
1,000-feature sequences page, a 1,000-feature photos page and a 10,000-photo export stream.
For each encoder and level it reports the compressed size, the CPU time to compress, and the
net time saved on the wire at 10 and 100 Mbit/s (wire time of the bytes saved minus the CPU
spent); a level pays while that stays positive at the faster link. The levels geoapi uses
(``geoapi.compress``) are marked with ``*``. Writes bench/results/compression.json.
"""

from __future__ import annotations

import argparse
import json
import time
import zlib
from typing import Any

import brotli
from common import BENCH_URL, ROOT, ensure_bench_database

from geoapi import create_app
from geoapi.compress import BROTLI_QUALITY, GZIP_LEVEL

RESULTS = ROOT / "bench" / "results" / "compression.json"
PAGES = {
    "sequences page (1,000)": "/collections/sequences/items?limit=1000&bbox=-10,35,40,60",
    "photos page (1,000)": "/collections/photos/items?limit=1000&bbox=14.40,45.98,14.62,46.13",
    "photos export (10,000)": "/api/v1/exports/sequences.geojson?collection=photos&limit=10000",
}
LINKS_MBIT = (10, 100)


def gzip_chunks(chunks: list[bytes], level: int) -> int:
    z = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return sum(len(z.compress(c) + z.flush(zlib.Z_SYNC_FLUSH)) for c in chunks) + len(z.flush())


def brotli_chunks(chunks: list[bytes], quality: int) -> int:
    b = brotli.Compressor(quality=quality)
    return sum(len(b.process(c) + b.flush()) for c in chunks) + len(b.finish())


def measure(chunks: list[bytes], repeat: int) -> list[dict[str, Any]]:
    raw = sum(len(c) for c in chunks)
    rows = []
    encoders: list[tuple[str, int, Any]] = [("gzip", lv, gzip_chunks) for lv in (1, 3, 5, 6, 9)]
    encoders += [("br", q, brotli_chunks) for q in (1, 3, 4, 5, 7)]
    for name, level, encode in encoders:
        best = float("inf")
        size = 0
        for _ in range(repeat):
            started = time.process_time()
            size = encode(chunks, level)
            best = min(best, time.process_time() - started)
        saved = raw - size
        row = {
            "encoding": name,
            "level": level,
            "chosen": (name, level) in (("gzip", GZIP_LEVEL), ("br", BROTLI_QUALITY)),
            "bytes": size,
            "ratio": size / raw,
            "cpu_ms": best * 1000,
            "mb_per_s": raw / best / 1e6,
        }
        for mbit in LINKS_MBIT:
            row[f"net_ms_{mbit}mbit"] = saved * 8 / (mbit * 1e6) * 1000 - best * 1000
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=BENCH_URL)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    url = ensure_bench_database(args.url)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    client = app.test_client()
    results: dict[str, Any] = {}
    for label, path in PAGES.items():
        response = client.get(path, buffered=False)
        chunks = [c if isinstance(c, bytes) else c.encode() for c in response.response if c]
        response.close()
        raw = sum(len(c) for c in chunks)
        rows = measure(chunks, args.repeat)
        results[label] = {"bytes": raw, "chunks": len(chunks), "encoders": rows}
        print(f"\n{label}: {raw / 1e6:.2f} MB in {len(chunks)} chunk(s)")
        print(f"  {'enc':4} {'lvl':>3} {'size KB':>8} {'ratio':>6} {'CPU ms':>7} {'MB/s':>6}"
              f" {'net@10Mbit':>11} {'net@100Mbit':>12}")  # fmt: skip
        for r in rows:
            mark = "*" if r["chosen"] else " "
            print(
                f" {mark}{r['encoding']:4} {r['level']:3d} {r['bytes'] / 1024:8.0f} "
                f"{r['ratio']:6.3f} {r['cpu_ms']:7.1f} {r['mb_per_s']:6.0f} "
                f"{r['net_ms_10mbit']:9.0f}ms {r['net_ms_100mbit']:10.0f}ms"
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
