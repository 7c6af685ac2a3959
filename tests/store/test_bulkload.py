"""Bulk loads into an empty photos table defer its spatial indexes and build them, exactly as the
migrations made them, at the end; an interrupted load's indexes are built by the next run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask.testing import FlaskCliRunner
from helpers import make_feature
from sqlalchemy import Engine, text

from geoapi.store.bulkload import build_photo_indexes, defer_photo_indexes
from geoapi.store.importer import import_records
from geoapi.validation import parse_features

WALK = [(16.4329, 7.2465), (16.4330, 7.2466), (16.4331, 7.2468)]


def _indexes(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'photos'")
        )
        return {name: definition for name, definition in rows}


def test_deferred_indexes_come_back_as_the_migrations_made_them(engine: Engine) -> None:
    migrated = _indexes(engine)
    assert defer_photo_indexes(engine)
    left = _indexes(engine)
    assert set(migrated) - set(left) == {"photos_geom_idx", "photos_tile_idx"}
    assert build_photo_indexes(engine) == ["photos_geom_idx", "photos_tile_idx"]
    assert _indexes(engine) == migrated
    assert build_photo_indexes(engine) == []  # nothing missing: nothing built


def test_a_table_with_photos_keeps_its_indexes(
    engine: Engine, make_user: Callable[..., Any]
) -> None:
    user, _ = make_user("owner")
    list(import_records(engine, user.id, parse_features([make_feature("one", WALK)])))
    before = _indexes(engine)
    assert not defer_photo_indexes(engine)
    assert _indexes(engine) == before


def test_the_import_command_builds_what_it_deferred(
    engine: Engine, runner: FlaskCliRunner, make_user: Callable[..., Any], tmp_path: Path
) -> None:
    migrated = _indexes(engine)
    make_user("bulk")
    path = tmp_path / "load.json"
    features = [make_feature(f"k{i}", [(i * 0.01, 1.0), (i * 0.01, 1.001)]) for i in range(30)]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    result = runner.invoke(args=["import", str(path), "--user", "bulk", "--batch-size", "7"])
    assert result.exit_code == 0, result.output
    assert "imported 30 sequence(s) with 60 photo(s)" in result.output
    assert _indexes(engine) == migrated
    with engine.connect() as conn:  # the planner knows the loaded table (ANALYZE ran)
        analyzed = conn.execute(
            text(
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'photos'"
            )
        ).scalar_one()
    assert analyzed


def test_an_interrupted_load_is_built_by_db_upgrade(engine: Engine, runner: FlaskCliRunner) -> None:
    migrated = _indexes(engine)
    assert defer_photo_indexes(engine)  # ... and the load dies here
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "deferred: photos_geom_idx, photos_tile_idx" in result.output
    assert _indexes(engine) == migrated
