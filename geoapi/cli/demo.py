"""``geoapi demo``: the seed example plus a few hundred generated, realistic sequences."""

from __future__ import annotations

import itertools
import json
import math
from importlib import resources
from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from geoapi.db import get_engine
from geoapi.store.importer import ImportReport, import_feature_collection
from geoapi.store.users import create_token, create_user, find_user
from geoapi.synthetic import demo_features

DEMO_USER = "demo"
EARTH_RADIUS_M = 6_371_008.8


def seed_example() -> dict[str, object]:
    """The Mapillary v3 example of the seed document, shipped with the package."""
    text = (resources.files("geoapi") / "data" / "seed_example.json").read_text(encoding="utf-8")
    document: dict[str, object] = json.loads(text)
    return document


def _mean_step_m(coordinates: list[list[float]]) -> float:
    """Mean distance between consecutive photos (equirectangular; fine at street scale)."""
    if len(coordinates) < 2:
        return 0.0
    total = 0.0
    for (lon0, lat0), (lon1, lat1) in itertools.pairwise(coordinates):
        dx = math.radians(lon1 - lon0) * math.cos(math.radians((lat0 + lat1) / 2))
        total += math.hypot(dx, math.radians(lat1 - lat0)) * EARTH_RADIUS_M
    return total / (len(coordinates) - 1)


def describe(feature: dict[str, Any]) -> dict[str, Any]:
    """Give a generated sequence the metadata a person would: title, transport type, tags."""
    props = feature["properties"]
    step = _mean_step_m(feature["geometry"]["coordinates"])
    transport = "Walk" if step <= 5.2 else "Bicycle" if step <= 10.2 else "Car"
    day = str(props.get("captured_at", ""))[:10]
    tags = ["demo", transport.lower()] + (["360"] if props.get("pano") else [])
    extra = {"title": f"{transport} on {day}", "transport_type": transport, "tags": tags}
    return {**feature, "properties": {**props, **extra}}


def load_demo(session: Session, count: int) -> tuple[ImportReport, ImportReport, str]:
    """Import the demo data for the ``demo`` user; idempotent (a re-run reports ``exists``)."""
    user = find_user(session, DEMO_USER) or create_user(session, DEMO_USER)
    token = create_token(session, user.id, name="demo")
    session.commit()
    engine = session.get_bind()
    seed = import_feature_collection(engine, user.id, seed_example())  # type: ignore[arg-type]
    generated = import_feature_collection(
        engine,  # type: ignore[arg-type]
        user.id,
        {"type": "FeatureCollection", "features": [describe(f) for f in demo_features(count)]},
    )
    return seed, generated, token


@click.command("demo")
@click.option("--count", default=300, show_default=True, help="Generated sequences to add.")
@with_appcontext
def demo_command(count: int) -> None:
    """Load the demo data; the demo user's API token is printed on the last line."""
    with Session(get_engine()) as session:
        seed, generated, token = load_demo(session, count)
    for name, report in (("seed example", seed), ("generated", generated)):
        click.echo(
            f"{name}: {report.count('imported')} imported, {report.count('exists')} existed, "
            f"{report.count('failed')} failed"
        )
    click.echo(f"demo user {DEMO_USER!r}, API token:")
    click.echo(token)
