"""``geoapi db upgrade``: create the database (with PostGIS) if missing, apply migrations, build
the photo indexes an interrupted bulk load left unbuilt."""

from __future__ import annotations

import click
from flask.cli import AppGroup, with_appcontext

from geoapi.db import get_engine
from geoapi.store.bulkload import build_photo_indexes
from geoapi.store.migrations import upgrade
from geoapi.store.provision import ensure_database

db_cli = AppGroup("db", help="Database schema.")


@db_cli.command("upgrade")
@with_appcontext
def db_upgrade() -> None:
    """Create the database (with PostGIS) if missing and apply pending migrations."""
    engine = get_engine()
    if ensure_database(engine.url):
        click.echo(f"created database {engine.url.database}")
    applied = upgrade(engine)
    click.echo(
        f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else "")
    )
    built = build_photo_indexes(engine)  # those a bulk load that died left unbuilt
    if built:
        click.echo(f"built the photo index(es) a bulk load had deferred: {', '.join(built)}")
