"""Write synthetic Mapillary v3 sequences as FeatureCollection files for bulk-import benchmarks.

    python bench/generate.py --sequences 10000 --photos 100 --out bench/data/10k --files 20
    python bench/generate.py --sequences 2000 --photos 5-150 --out DIR \\
        --city-sequences 500 --city 14.5058,46.0569

The output is deterministic for the same arguments (see geoapi/synthetic.py).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere, without installing geoapi
    sys.path.insert(0, str(ROOT))

from geoapi.synthetic import (  # noqa: E402
    WORLD_LAND_DEFAULT,
    generate_features,
    write_feature_collections,
)

DEFAULT_CITY = (14.5058, 46.0569)  # Ljubljana


def _floats(text: str, n: int) -> tuple[float, ...]:
    parts = [float(p) for p in text.split(",")]
    if len(parts) != n or not all(math.isfinite(p) for p in parts):
        raise argparse.ArgumentTypeError(f"expected {n} comma-separated numbers, got {text!r}")
    return tuple(parts)


def _photos(text: str) -> int | tuple[int, int]:
    try:
        if "-" in text:
            lo, hi = (int(p) for p in text.split("-", 1))
            return lo, hi
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or MIN-MAX, got {text!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sequences", type=int, default=10_000, help="number of sequences")
    p.add_argument("--photos", type=_photos, default=100, help="photos per sequence: N or MIN-MAX")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument(
        "--files", type=int, default=1, help="spread the sequences over (at most) N files"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--bbox",
        type=lambda t: _floats(t, 4),
        default=WORLD_LAND_DEFAULT,
        help="minlon,minlat,maxlon,maxlat (default: the populated world)",
    )
    p.add_argument(
        "--city-sequences", type=int, default=0, help="how many sequences to put in a dense city"
    )
    p.add_argument(
        "--city",
        type=lambda t: _floats(t, 2),
        default=None,
        help="lon,lat of the dense city (default: centre of --bbox if given, else Ljubljana)",
    )
    args = p.parse_args(argv)
    if args.sequences < 1 or args.files < 1:
        p.error("--sequences and --files must be >= 1")
    if not 0 <= args.city_sequences <= args.sequences:
        p.error("--city-sequences must be between 0 and --sequences")
    if args.city is None:
        b = args.bbox
        given = b != WORLD_LAND_DEFAULT
        args.city = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) if given else DEFAULT_CITY
    return args


def _counting(features: Iterable[dict[str, Any]], totals: list[int]) -> Iterator[dict[str, Any]]:
    for feature in features:
        totals[0] += 1
        totals[1] += len(feature["geometry"]["coordinates"])
        yield feature


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    per_file = math.ceil(args.sequences / args.files)
    try:
        features = generate_features(
            args.sequences,
            args.photos,
            seed=args.seed,
            bbox=args.bbox,
            city=args.city if args.city_sequences else None,
            city_share=args.city_sequences / args.sequences,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    totals = [0, 0]
    started = time.perf_counter()
    paths = write_feature_collections(_counting(features, totals), args.out, args.files, per_file)
    elapsed = time.perf_counter() - started
    size = sum(p.stat().st_size for p in paths)
    for path in paths:
        print(f"{path}\t{path.stat().st_size / 1e6:.1f} MB")
    city = f", {args.city_sequences} in the city at {args.city}" if args.city_sequences else ""
    print(
        f"wrote {totals[0]} sequences ({totals[1]} photos{city}) in {len(paths)} files, "
        f"{size / 1e6:.1f} MB, seed {args.seed}, in {elapsed:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
