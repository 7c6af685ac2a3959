"""``geoapi import FILE...``: bulk import of Mapillary v3 GeoJSON, streamed, with progress."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click
from flask.cli import with_appcontext
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from geoapi.db import get_engine
from geoapi.documents import inspect_document, iter_document_features
from geoapi.store.bulkload import build_photo_indexes, defer_photo_indexes
from geoapi.store.importer import FeatureOutcome, import_records
from geoapi.store.taxonomy import load_transport_types
from geoapi.store.users import find_user
from geoapi.taxonomy import TaxonomyError, TransportTypes, normalize_tags
from geoapi.validation import (
    DocumentError,
    FeatureError,
    ImportOptions,
    SequenceRecord,
    parse_features,
)

NOT_BUILT = (
    "the photo spatial indexes are not built yet (this import found photos empty and deferred"
    " them): the next geoapi import, or geoapi db upgrade, builds them"
)
UNLIMITED = 2**63 - 1  # a bulk file may hold any number of features

_DONE = object()


def _stream_features(handle: IO[bytes], path: Path) -> Iterator[Any]:
    """Features of a FeatureCollection (or Feature) file, parsed incrementally (constant
    memory): one read to check the document, then the features one by one."""
    try:
        document = inspect_document(handle, max_features=UNLIMITED)
        yield from iter_document_features(handle, document)
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
    engine = get_engine()
    with Session(engine) as session:
        user = find_user(session, username)
        if user is None:
            raise click.ClickException(
                f"no user {username!r}; create it with: geoapi users create {username}"
            )
        types = load_transport_types(session)
        options = validate_cli_options(types, transport_type, tags)
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

    build_photo_indexes(engine)  # any that an interrupted load left unbuilt
    deferred = defer_photo_indexes(engine)
    try:
        with click.progressbar(length=total_bytes, label="importing", hidden=quiet) as bar:
            records = _parse_in_background(list(files), options, bar)
            outcomes = import_records(
                engine,
                user.id,
                records,
                on_outcome=on_outcome,
                batch_size=batch_size,
                writers=writers,
                transport_types=types,
                durable=False,  # one WAL flush at the end (geoapi.store.importer.import_records)
            )
            for _ in outcomes:
                pass
    except KeyboardInterrupt:
        if deferred:
            click.echo(NOT_BUILT, err=True)
        raise
    except BaseException:
        if deferred:
            _build_after_failure(engine)
        raise
    if deferred:
        if not quiet:
            click.echo("building the photo indexes", err=True)
        build_photo_indexes(engine)
    click.echo(summarise(counts, photos))
    if counts["failed"]:
        raise SystemExit(1)


def _build_after_failure(engine: Engine) -> None:
    """The deferred indexes after a failed load: built if the database lets us, else named."""
    try:
        build_photo_indexes(engine)
    except Exception:
        click.echo(NOT_BUILT, err=True)


def validate_cli_options(
    types: TransportTypes, transport_type: str | None, tags: tuple[str, ...]
) -> ImportOptions:
    try:
        if transport_type is not None:
            types.leaf_id(transport_type)
        normalized = normalize_tags(list(tags)) if tags else None
    except TaxonomyError as exc:
        raise click.ClickException(str(exc)) from None
    return ImportOptions(transport_type=transport_type, tags=normalized)


def summarise(counts: dict[str, int], photos: int) -> str:
    return (
        f"imported {counts['imported']} sequence(s) with {photos} photo(s); "
        f"{counts['exists']} already existed; {counts['failed']} failed"
    )
