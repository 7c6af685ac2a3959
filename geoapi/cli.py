"""The ``geoapi`` command: db upgrade, users create, import, demo, serve."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click
import ijson
from flask import Flask
from flask.cli import AppGroup, FlaskGroup, with_appcontext
from sqlalchemy.orm import Session

from geoapi import db
from geoapi.auth import CurrentUser, create_token, create_user, find_user
from geoapi.errors import GeoAPIError
from geoapi.importer import (
    DocumentError,
    FeatureError,
    FeatureOutcome,
    ImportOptions,
    SequenceRecord,
    import_records,
    iter_features,
    parse_features,
)
from geoapi.provision import ensure_database
from geoapi.taxonomy import TaxonomyError, load_transport_types, normalize_tags

db_cli = AppGroup("db", help="Database schema.")
users_cli = AppGroup("users", help="Users and API tokens.")
_DONE = object()


@db_cli.command("upgrade")
@with_appcontext
def db_upgrade() -> None:
    """Create the database (with PostGIS) if missing and apply pending migrations."""
    engine = db.get_engine()
    if ensure_database(engine.url):
        click.echo(f"created database {engine.url.database}")
    applied = db.upgrade(engine)
    click.echo(
        f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else "")
    )


def _get_or_create_user(session: Session, username: str) -> tuple[CurrentUser, bool]:
    user = find_user(session, username)
    if user is not None:
        return user, False
    return create_user(session, username), True


@users_cli.command("create")
@click.argument("username")
@with_appcontext
def users_create(username: str) -> None:
    """Create a user (or a new token for an existing one); the token is on the last line."""
    with Session(db.get_engine()) as session:
        try:
            user, created = _get_or_create_user(session, username)
        except GeoAPIError as exc:
            raise click.ClickException(exc.detail) from None
        token = create_token(session, user.id)
        session.commit()
    click.echo(f"{'created user' if created else 'new token for user'} {user.username} ({user.id})")
    click.echo(token)


def _stream_features(handle: IO[bytes], path: Path) -> Iterator[Any]:
    """Features of a FeatureCollection file, parsed incrementally (constant memory)."""
    found = False
    try:
        for feature in ijson.items(handle, "features.item", use_float=True):
            found = True
            yield feature
    except ijson.JSONError as exc:
        done = "; the features before it were imported" if found else ""
        raise click.ClickException(f"{path}: not valid JSON ({exc}){done}") from None
    if not found:  # a single Feature, or not a FeatureCollection at all
        handle.seek(0)
        try:
            document = json.load(handle)
        except ValueError as exc:
            raise click.ClickException(f"{path}: not valid JSON ({exc})") from None
        try:
            yield from iter_features(document)
        except DocumentError as exc:
            raise click.ClickException(f"{path}: {exc}") from None


def _parse_in_background(
    files: list[Path], options: ImportOptions, progress: Any
) -> Iterator[SequenceRecord | FeatureError]:
    """Parse and validate on a thread while the database writes: Python and PostgreSQL overlap."""
    items: queue.Queue[Any] = queue.Queue(maxsize=256)

    def produce() -> None:
        try:
            for path in files:
                with path.open("rb") as handle:
                    last = 0
                    for item in parse_features(_stream_features(handle, path), options):
                        items.put(item)
                        position = handle.tell()
                        items.put(("progress", position - last))
                        last = position
                    items.put(("progress", path.stat().st_size - last))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            items.put(("error", exc))
        items.put(_DONE)

    thread = threading.Thread(target=produce, name="geoapi-import-parser", daemon=True)
    thread.start()
    while (item := items.get()) is not _DONE:
        if isinstance(item, tuple):
            kind, value = item
            if kind == "error":
                raise value
            progress.update(value)
            continue
        yield item
    thread.join()


@click.command("import")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--user", "username", required=True, help="Owner of the imported sequences.")
@click.option("--transport-type", default=None, help="Transport type for every sequence.")
@click.option("--tag", "tags", multiple=True, help="Tag for every sequence (repeatable).")
@click.option("--quiet", is_flag=True, help="No progress bar, no per-failure lines.")
@click.option(
    "--batch-size",
    default=50,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Sequences per commit (each sequence stays atomic).",
)
@click.option(
    "--writers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 32),
    help="Database connections writing in parallel.",
)
@with_appcontext
def import_command(
    files: tuple[Path, ...],
    username: str,
    transport_type: str | None,
    tags: tuple[str, ...],
    quiet: bool,
    batch_size: int,
    writers: int,
) -> None:
    """Bulk-import Mapillary v3 GeoJSON files (FeatureCollections or Features)."""
    engine = db.get_engine()
    with Session(engine) as session:
        user = find_user(session, username)
        if user is None:
            raise click.ClickException(
                f"no user {username!r}; create it with: geoapi users create {username}"
            )
        options = validate_cli_options(session, transport_type, tags)
    counts = {"imported": 0, "exists": 0, "failed": 0}
    photos = 0
    total_bytes = sum(path.stat().st_size for path in files)

    def on_outcome(outcome: FeatureOutcome) -> None:
        nonlocal photos
        counts[outcome.status] += 1
        photos += outcome.photos
        if outcome.status == "failed" and not quiet:
            click.echo(
                f"\nfailed: feature {outcome.index} {outcome.key or ''}: {outcome.reason}", err=True
            )

    with click.progressbar(length=total_bytes, label="importing", hidden=quiet) as bar:
        records = _parse_in_background(list(files), options, bar)
        for _ in import_records(
            engine, user.id, records, on_outcome=on_outcome, batch_size=batch_size, writers=writers
        ):
            pass
    click.echo(summarise(counts, photos))
    if counts["failed"]:
        raise SystemExit(1)


def validate_cli_options(
    session: Session, transport_type: str | None, tags: tuple[str, ...]
) -> ImportOptions:
    try:
        if transport_type is not None:
            load_transport_types(session).leaf_id(transport_type)
        normalized = normalize_tags(list(tags)) if tags else None
    except TaxonomyError as exc:
        raise click.ClickException(str(exc)) from None
    return ImportOptions(transport_type=transport_type, tags=normalized)


def summarise(counts: dict[str, int], photos: int) -> str:
    return (
        f"imported {counts['imported']} sequence(s) with {photos} photo(s); "
        f"{counts['exists']} already existed; {counts['failed']} failed"
    )


def init_app(app: Flask) -> None:
    from geoapi.demo import demo_command

    app.cli.add_command(db_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(import_command)
    app.cli.add_command(demo_command)
    from geoapi.serve import serve_command

    app.cli.add_command(serve_command)
    app.cli.add_command(__import__("geoapi.worker", fromlist=["worker_command"]).worker_command)


def main() -> None:
    from geoapi import create_app

    cli = FlaskGroup(create_app=create_app, add_version_option=False, load_dotenv=False)
    cli(prog_name="geoapi")
